package bus

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// WatchedKV answers reads of a key-value bucket from memory, kept by a
// watch of the keys it was started for: a read on a hot path (a flag asked
// before every agent run, a total asked on every request) costs a map
// look-up instead of a request to the server.
//
// A read is answered from memory only while the watch is current: it has
// delivered every key's value as it stood when the watch started, and the
// connection has not dropped since. Before that, and from a disconnect
// until the watch started again on the new connection has caught up, a
// read goes to the bucket (Get), so what it answers is never older than
// what a Get would have answered before the disconnect. While connected,
// the watch's ordered consumer follows every write in order; a stream
// leader change that loses its consumer is noticed by the consumer's idle
// heartbeat (5 s) and the consumer re-created from the last revision seen,
// so in that case alone a read may be a few seconds behind the bucket.
// Writes that must be exact (compare-and-set) read the bucket themselves.
type WatchedKV struct {
	kv     jetstream.KeyValue
	filter []string
	log    *slog.Logger

	mu      sync.RWMutex
	entries map[string]jetstream.KeyValueEntry // the latest of each key; deletes kept, with their revision
	current bool
}

// WatchKV starts watching the keys of kv that match filter (subject
// wildcards, e.g. "limit.>") until ctx ends. nc is the connection the
// watch runs on, whose disconnects make reads go to the bucket until the
// watch is current again. It returns at once: reads go to the bucket
// until the first watch has caught up.
func WatchKV(ctx context.Context, kv jetstream.KeyValue, nc *nats.Conn, log *slog.Logger, filter ...string) *WatchedKV {
	if log == nil {
		log = slog.Default()
	}
	w := &WatchedKV{kv: kv, filter: filter, log: log}
	var status chan nats.Status
	if nc != nil {
		status = nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	}
	go func() {
		if nc != nil {
			defer nc.RemoveStatusListener(status)
		}
		w.run(ctx, status)
	}()
	return w
}

// watchRestart is the pause before a watch that could not start (or
// ended) is tried again.
const watchRestart = time.Second

// run keeps a watch going until ctx ends: one watch per connection, a new
// one after each reconnect.
func (w *WatchedKV) run(ctx context.Context, status <-chan nats.Status) {
	for ctx.Err() == nil {
		reason := w.follow(ctx, status)
		w.setCurrent(false)
		if ctx.Err() != nil {
			return
		}
		w.log.Debug("key-value watch restarts; reads go to the bucket until it has caught up",
			"bucket", w.kv.Bucket(), "reason", reason)
		if reason != "reconnected" {
			select {
			case <-ctx.Done():
				return
			case <-time.After(watchRestart):
			}
		}
	}
}

// follow runs one watch until ctx ends, the connection drops or the
// watch ends; it says why it stopped.
func (w *WatchedKV) follow(ctx context.Context, status <-chan nats.Status) string {
	keys := append([]string(nil), w.filter...) // WatchFiltered rewrites its argument
	watch, err := w.kv.WatchFiltered(ctx, keys)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("key-value watch not started; reads go to the bucket", "bucket", w.kv.Bucket(), "err", err)
		}
		return "not started"
	}
	defer func() { _ = watch.Stop() }()
	fresh := map[string]jetstream.KeyValueEntry{}
	initial := true
	for {
		select {
		case <-ctx.Done():
			return "stopped"
		case s, ok := <-status:
			if !ok {
				status = nil
				continue
			}
			if s == nats.CONNECTED {
				return "reconnected" // a watch of the new connection catches up before reads trust memory
			}
			w.setCurrent(false) // disconnected: writes meanwhile are unseen
		case e, ok := <-watch.Updates():
			if !ok {
				return "watch ended"
			}
			if e == nil { // every key's value as the watch started: memory is current
				w.replace(fresh)
				initial, fresh = false, nil
				continue
			}
			if initial {
				fresh[e.Key()] = e
				continue
			}
			w.apply(e)
		}
	}
}

func (w *WatchedKV) setCurrent(c bool) {
	w.mu.Lock()
	w.current = c
	w.mu.Unlock()
}

// replace makes entries (a new watch's snapshot) the memory, and the
// memory current. What an earlier watch delivered is dropped, so a key
// removed meanwhile does not linger; only this process's own writes
// (Note) later than the snapshot are kept, until the watch delivers them.
func (w *WatchedKV) replace(entries map[string]jetstream.KeyValueEntry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, e := range w.entries {
		if _, own := e.(noted); !own {
			continue
		}
		if have, ok := entries[k]; !ok || have.Revision() < e.Revision() {
			entries[k] = e
		}
	}
	w.entries, w.current = entries, true
}

// apply records e unless memory holds a later revision of its key.
func (w *WatchedKV) apply(e jetstream.KeyValueEntry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.entries == nil {
		w.entries = map[string]jetstream.KeyValueEntry{}
	}
	if have, ok := w.entries[e.Key()]; ok && have.Revision() >= e.Revision() {
		return
	}
	w.entries[e.Key()] = e
}

// Note records a write of this process (its entry as the bucket answered
// it), so a read right after it sees it before the watch delivers it.
func (w *WatchedKV) Note(key string, value []byte, revision uint64, op jetstream.KeyValueOp) {
	w.apply(noted{bucket: w.kv.Bucket(), key: key, value: value, revision: revision, op: op, created: time.Now()})
}

// Current reports whether reads are answered from memory.
func (w *WatchedKV) Current() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.current
}

// Get is the latest entry under key, jetstream.ErrKeyNotFound when there
// is none (or it was deleted): from memory while the watch is current,
// else from the bucket. key must match the watch's filter: memory knows
// nothing of other keys.
func (w *WatchedKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	w.mu.RLock()
	e, ok := w.entries[key]
	current := w.current
	w.mu.RUnlock()
	if !current {
		return w.kv.Get(ctx, key)
	}
	if !ok || e.Operation() != jetstream.KeyValuePut {
		return nil, jetstream.ErrKeyNotFound
	}
	return e, nil
}

// noted is an entry Note recorded.
type noted struct {
	bucket, key string
	value       []byte
	revision    uint64
	op          jetstream.KeyValueOp
	created     time.Time
}

func (n noted) Bucket() string                  { return n.bucket }
func (n noted) Key() string                     { return n.key }
func (n noted) Value() []byte                   { return n.value }
func (n noted) Revision() uint64                { return n.revision }
func (n noted) Created() time.Time              { return n.created }
func (n noted) Delta() uint64                   { return 0 }
func (n noted) Operation() jetstream.KeyValueOp { return n.op }
