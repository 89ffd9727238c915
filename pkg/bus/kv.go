package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// RetryingKV is a key-value bucket whose reads and writes are retried
// through leader elections and reconnects like the bus's publishes
// (retryTransient). Writes carry no message id, so a retry after an attempt
// that was stored with its answer lost meets that attempt: a create or an
// update guarded by a revision then fails as if someone else had written
// (ErrKeyExists), and a guarded delete finds the key gone. Only after such
// a lost answer, RetryingKV reads the key back and counts it as the
// caller's own write when it holds exactly the caller's value (for a
// delete: when it is gone).
type RetryingKV struct {
	jetstream.KeyValue
}

// Retrying wraps kv.
func Retrying(kv jetstream.KeyValue) *RetryingKV { return &RetryingKV{KeyValue: kv} }

// Get is the latest entry under key, retried.
func (r *RetryingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	var entry jetstream.KeyValueEntry
	err := retryTransient(ctx, func(ctx context.Context, _ bool) error {
		var err error
		entry, err = r.KeyValue.Get(ctx, key)
		return err
	})
	return entry, err
}

// Put stores value under key unconditionally, retried: a second copy of
// the same value changes nothing anyone reads.
func (r *RetryingKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	var rev uint64
	err := retryTransient(ctx, func(ctx context.Context, _ bool) error {
		var err error
		rev, err = r.KeyValue.Put(ctx, key, value)
		return err
	})
	return rev, err
}

// Create stores value under key unless the key holds a value: ErrKeyExists.
func (r *RetryingKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	var rev uint64
	err := retryTransient(ctx, func(ctx context.Context, retried bool) error {
		var err error
		rev, err = r.KeyValue.Create(ctx, key, value, opts...)
		if retried && isKeyConflict(err) {
			if mine, ok := r.holds(ctx, key, value, 0); ok {
				rev, err = mine, nil
			}
		}
		return err
	})
	return rev, err
}

// Update stores value under key if the key's revision is still last:
// ErrKeyExists otherwise.
func (r *RetryingKV) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	var rev uint64
	err := retryTransient(ctx, func(ctx context.Context, retried bool) error {
		var err error
		rev, err = r.KeyValue.Update(ctx, key, value, last)
		if retried && isKeyConflict(err) {
			if mine, ok := r.holds(ctx, key, value, last); ok {
				rev, err = mine, nil
			}
		}
		return err
	})
	return rev, asKeyExists(err)
}

// Delete removes key (guarded by jetstream.LastRevision when given).
func (r *RetryingKV) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	return asKeyExists(retryTransient(ctx, func(ctx context.Context, retried bool) error {
		err := r.KeyValue.Delete(ctx, key, opts...)
		if retried && isKeyConflict(err) {
			if _, gerr := r.KeyValue.Get(ctx, key); errors.Is(gerr, jetstream.ErrKeyNotFound) {
				return nil // the lost attempt deleted it
			}
		}
		return err
	}))
}

// isKeyConflict reports whether a guarded write failed because the key is
// not at the revision it named.
func isKeyConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// asKeyExists makes a revision conflict match ErrKeyExists too: the client
// matches Update's and Delete's conflicts only to ErrKeyRevisionMismatch,
// and awo's stores test for ErrKeyExists, as Create answers.
func asKeyExists(err error) error {
	if err != nil && errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) &&
		!errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w: %w", err, jetstream.ErrKeyExists)
	}
	return err
}

// holds reports whether key now holds exactly value at a revision after
// after, and that revision.
func (r *RetryingKV) holds(ctx context.Context, key string, value []byte, after uint64) (uint64, bool) {
	entry, err := r.KeyValue.Get(ctx, key)
	if err != nil || entry.Revision() <= after || !bytes.Equal(entry.Value(), value) {
		return 0, false
	}
	return entry.Revision(), true
}
