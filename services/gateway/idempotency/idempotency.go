// Package idempotency remembers which work order a client's Idempotency-Key
// created, so a create retried after a lost answer returns the same work
// order instead of a second one. The keys live in a JetStream key-value
// bucket that every gateway replica shares, and a key is claimed with the
// bucket's atomic create, so two replicas handed the same key at once
// agree on one work order.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// HTTP header names.
const (
	Header         = "Idempotency-Key"
	ReplayedHeader = "Idempotent-Replayed" // "true" on an answer that repeats an earlier one
)

// Bucket is the key-value bucket of claimed keys.
const Bucket = "AWO_IDEMPOTENCY"

// TTL is how long a key is remembered: a day covers any sensible retry,
// and the bucket stays small.
const TTL = 24 * time.Hour

// MaxKeyLen bounds a key, as common practice for the header does.
const MaxKeyLen = 255

// ErrInvalidKey is returned by ValidateKey.
var ErrInvalidKey = errors.New("invalid Idempotency-Key")

// ValidateKey accepts 1 to MaxKeyLen printable ASCII characters.
func ValidateKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: must be 1 to %d characters long, got %d", ErrInvalidKey, MaxKeyLen, len(key))
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: must be printable ASCII, got byte 0x%02x at position %d", ErrInvalidKey, c, i)
		}
	}
	return nil
}

// Record is what a claimed key remembers.
type Record struct {
	WorkOrderID workorder.ID `json:"work_order_id"`
	// RequestHash identifies the request the key was first used with (see
	// RequestHash), so the key reused for another request is refused.
	RequestHash string `json:"request_hash"`
}

// RequestHash identifies a validated create request. The work-order id
// counts only when the client chose it (pass it in r); a generated one is
// not part of the request.
func RequestHash(r events.Requested) string {
	b, err := json.Marshal(r)
	if err != nil {
		// A struct of strings always encodes.
		panic(fmt.Sprintf("encoding a create request: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Claim is the outcome of Store.Claim.
type Claim struct {
	Record   Record // the record under the key: the caller's, or the earlier one
	Revision uint64 // the record's revision, for Replace and Release
	Fresh    bool   // this call stored the record; false: the key was used before
}

// Store is the shared bucket of keys.
type Store struct {
	kv jetstream.KeyValue
}

// Open creates the bucket if missing (or updates it to r) and returns the
// store.
func Open(ctx context.Context, js jetstream.JetStream, r bus.Replication) (*Store, error) {
	kv, err := bus.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "Idempotency-Key → the work order it created (gateway)",
		TTL:         TTL,
		History:     1,
		Storage:     jetstream.FileStorage,
	}, r)
	if err != nil {
		return nil, err
	}
	return &Store{kv: bus.Retrying(kv)}, nil
}

// claimAttempts bounds the create/get race with a key released in between.
const claimAttempts = 3

// Claim stores rec under key unless the key is already there, and returns
// the record the key holds either way.
func (s *Store) Claim(ctx context.Context, key string, rec Record) (Claim, error) {
	val, err := json.Marshal(rec)
	if err != nil {
		return Claim{}, fmt.Errorf("encoding the idempotency record: %w", err)
	}
	k := storageKey(key)
	for range claimAttempts {
		rev, err := s.kv.Create(ctx, k, val)
		if err == nil {
			return Claim{Record: rec, Revision: rev, Fresh: true}, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return Claim{}, fmt.Errorf("claiming the idempotency key: %w", err)
		}
		entry, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released (or expired) since: claim it again
		}
		if err != nil {
			return Claim{}, fmt.Errorf("reading the idempotency key: %w", err)
		}
		var stored Record
		if err := json.Unmarshal(entry.Value(), &stored); err != nil {
			return Claim{}, fmt.Errorf("decoding the idempotency record: %w", err)
		}
		return Claim{Record: stored, Revision: entry.Revision()}, nil
	}
	return Claim{}, fmt.Errorf("claiming the idempotency key: it keeps being released while claimed")
}

// Replace points a key this caller claimed at another record (a generated
// id that turned out to be taken), unless the key changed since rev.
func (s *Store) Replace(ctx context.Context, key string, rev uint64, rec Record) (uint64, error) {
	val, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("encoding the idempotency record: %w", err)
	}
	rev, err = s.kv.Update(ctx, storageKey(key), val, rev)
	if err != nil {
		return 0, fmt.Errorf("updating the idempotency key: %w", err)
	}
	return rev, nil
}

// Release forgets a key this caller claimed (its request was refused), so
// the client may use it again, unless the key changed since rev.
func (s *Store) Release(ctx context.Context, key string, rev uint64) error {
	if err := s.kv.Delete(ctx, storageKey(key), jetstream.LastRevision(rev)); err != nil {
		return fmt.Errorf("releasing the idempotency key: %w", err)
	}
	return nil
}

// storageKey maps a client's key to a bucket key: bucket keys allow few
// characters, and a digest also keeps every stored key the same length.
func storageKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
