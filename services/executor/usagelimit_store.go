package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
)

// AccountBucket is the key-value bucket of the agents' accounts: key
// limit.<agent> holds the account's usage limit flag (accountLimit).
const AccountBucket = "AWO_ACCOUNT"

// accountKeyPrefix prefixes the agent in the flag's key.
const accountKeyPrefix = "limit."

// AccountKV is what the usage limit flags ask of their bucket; a
// jetstream.KeyValue is one.
type AccountKV interface {
	Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error)
	Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error)
	Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error)
	Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error
}

// OpenAccounts creates (or updates to r) the AWO_ACCOUNT bucket. A flag
// outlives any executor; history 1 is enough, since every write is a
// compare-and-set on the latest revision.
func OpenAccounts(ctx context.Context, js jetstream.JetStream, r bus.Replication) (jetstream.KeyValue, error) {
	return bus.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      AccountBucket,
		Description: "awo: the agents' accounts, e.g. a usage limit flag shared by every executor (limit.<agent>)",
		History:     1,
	}, r)
}

// accountFlags reads and writes the flags in the bucket.
type accountFlags struct {
	kv AccountKV
	// seen, when set, lets clear skip its read while this executor has
	// seen no flag of the agent (nil: always read).
	seen *flagHints
	// watched, when set, answers the read before each run from memory,
	// kept by a watch of the bucket (nil: every read asks the bucket).
	// The compare-and-set writes read the bucket itself.
	watched *bus.WatchedKV
}

// watchFlags starts the watch that keeps every agent's flag in memory
// until ctx ends; kv must be the bucket f writes.
func (f *accountFlags) watchFlags(ctx context.Context, kv jetstream.KeyValue, nc *nats.Conn, log *slog.Logger) {
	f.watched = bus.WatchKV(ctx, kv, nc, log, accountKeyPrefix+">")
}

// flagHints remembers, per agent, whether this executor has seen its flag
// (read one, or set one) since it last found none. Only then can a
// successful run have a flag of its own time to clear, so the read after
// every success — on every step's path — is skipped while the account is
// fine. A flag another executor sets after this one's pre-run read is left
// to lift at its time, or to the next success after a read has seen it.
type flagHints struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (h *flagHints) note(agent string, seen bool) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string]bool{}
	}
	h.seen[agent] = seen
}

func (h *flagHints) mayHave(agent string) bool {
	if h == nil {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[agent]
}

// casAttempts bounds the compare-and-set loop: each lost race means
// another executor wrote the flag in between.
const casAttempts = 10

// peek is agent's flag as the check before a run reads it: from the
// watch's memory while it is current, else from the bucket. A flag set by
// another executor can reach the memory a moment after the bucket; the
// worst is a run that hits the limit itself, which then reads the bucket
// to set the flag.
func (f accountFlags) peek(ctx context.Context, agent string) (l accountLimit, found bool, err error) {
	l, _, found, err = f.read(ctx, agent, f.watched != nil)
	return l, found, err
}

// get is agent's flag and its revision as the bucket holds it; found is
// false when there is none.
func (f accountFlags) get(ctx context.Context, agent string) (l accountLimit, rev uint64, found bool, err error) {
	return f.read(ctx, agent, false)
}

func (f accountFlags) read(ctx context.Context, agent string, watched bool) (l accountLimit, rev uint64, found bool, err error) {
	var e jetstream.KeyValueEntry
	if watched {
		e, err = f.watched.Get(ctx, accountKeyPrefix+agent)
	} else {
		e, err = f.kv.Get(ctx, accountKeyPrefix+agent)
	}
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		f.seen.note(agent, false)
		return accountLimit{}, 0, false, nil
	}
	if err != nil {
		return accountLimit{}, 0, false, fmt.Errorf("reading the %s usage limit flag: %w", agent, err)
	}
	f.seen.note(agent, true)
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		// A flag nobody can read parks nobody; the next limit overwrites it.
		return accountLimit{}, e.Revision(), true, nil
	}
	return l, e.Revision(), true, nil
}

// limit sets agent's flag to next(the flag as stored, nil for none), by
// compare-and-set: another executor may write it at the same time, and
// then next sees its flag. It returns the flag stored.
func (f accountFlags) limit(ctx context.Context, agent string, next func(prev *accountLimit) accountLimit) (accountLimit, error) {
	var lastErr error
	for range casAttempts {
		prev, rev, found, err := f.get(ctx, agent)
		if err != nil {
			return accountLimit{}, err
		}
		var l accountLimit
		if found {
			l = next(&prev)
			if l.same(prev) {
				return l, nil // another executor's flag already says it
			}
		} else {
			l = next(nil)
		}
		b, err := json.Marshal(l)
		if err != nil {
			return accountLimit{}, fmt.Errorf("encoding the %s usage limit flag: %w", agent, err)
		}
		var stored uint64
		if found {
			stored, err = f.kv.Update(ctx, accountKeyPrefix+agent, b, rev)
		} else {
			stored, err = f.kv.Create(ctx, accountKeyPrefix+agent, b)
		}
		if err == nil {
			f.seen.note(agent, true)
			f.noteWrite(agent, b, stored, jetstream.KeyValuePut)
			return l, nil
		}
		if !isRevisionConflict(err) {
			return accountLimit{}, fmt.Errorf("setting the %s usage limit flag: %w", agent, err)
		}
		lastErr = err
	}
	return accountLimit{}, fmt.Errorf("setting the %s usage limit flag: lost %d races with other executors: %w", agent, casAttempts, lastErr)
}

// clear removes agent's flag after a run that began at started succeeded:
// the account works again. A flag set since started (by a run that hit the
// limit meanwhile) is kept. cleared says a flag was removed.
func (f accountFlags) clear(ctx context.Context, agent string, started time.Time) (cleared bool, err error) {
	if !f.seen.mayHave(agent) {
		return false, nil
	}
	l, rev, found, err := f.get(ctx, agent)
	if err != nil || !found || l.SetAt.After(started) {
		return false, err
	}
	err = f.kv.Delete(ctx, accountKeyPrefix+agent, jetstream.LastRevision(rev))
	if isRevisionConflict(err) {
		return false, nil // set again meanwhile: that flag is newer than this run
	}
	if err != nil {
		return false, fmt.Errorf("clearing the %s usage limit flag: %w", agent, err)
	}
	f.seen.note(agent, false)
	// The delete's own revision is not answered, but it is above rev and
	// any later write of the key is above it: rev+1 orders it right.
	f.noteWrite(agent, nil, rev+1, jetstream.KeyValueDelete)
	return true, nil
}

// noteWrite puts this executor's own write into the watch's memory, so
// its next run's check sees it before the watch delivers it.
func (f accountFlags) noteWrite(agent string, value []byte, rev uint64, op jetstream.KeyValueOp) {
	if f.watched != nil {
		f.watched.Note(accountKeyPrefix+agent, value, rev, op)
	}
}

// isRevisionConflict is a compare-and-set that lost: the key exists
// (Create) or moved on (Update, Delete with LastRevision).
func isRevisionConflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
