package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
)

// countingKV counts the reads that reach the bucket.
type countingKV struct {
	jetstream.KeyValue
	gets int
}

func (c *countingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	c.gets++
	return c.KeyValue.Get(ctx, key)
}

// waitFor polls cond until it holds; the watch delivers asynchronously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func valueOf(t *testing.T, w *bus.WatchedKV, key string) string {
	t.Helper()
	e, err := w.Get(context.Background(), key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "<none>"
	}
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return string(e.Value())
}

// Once current, the watched reads answer from memory what the bucket
// holds: values there before the watch, puts and deletes after it, other
// processes' writes included; keys outside the filter are not kept.
func TestWatchedKV_ReadsFollowTheBucketFromMemory(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := natstest.StartEmpty(t)
	raw, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "T"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Put(ctx, "limit.a", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Put(ctx, "limit.gone", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := raw.Delete(ctx, "limit.gone"); err != nil {
		t.Fatal(err)
	}
	counted := &countingKV{KeyValue: raw}
	w := bus.WatchKV(ctx, counted, srv.JS.Conn(), nil, "limit.>")
	waitFor(t, "the watch current", w.Current)
	if got := valueOf(t, w, "limit.a"); got != "before" {
		t.Fatalf("a value stored before the watch: %q", got)
	}
	if got := valueOf(t, w, "limit.gone"); got != "<none>" {
		t.Fatalf("a key deleted before the watch: %q", got)
	}
	gets := counted.gets

	if _, err := raw.Put(ctx, "limit.b", []byte("after")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a put after the watch", func() bool { return valueOf(t, w, "limit.b") == "after" })
	if err := raw.Delete(ctx, "limit.a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a delete after the watch", func() bool { return valueOf(t, w, "limit.a") == "<none>" })
	if counted.gets != gets {
		t.Fatalf("reads of a current watch went to the bucket: %d gets", counted.gets-gets)
	}
}

// Before the watch is current, and after the connection drops until a new
// watch has caught up, reads go to the bucket: a write made meanwhile is
// never missed.
func TestWatchedKV_NotCurrentReadsTheBucket(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := natstest.StartEmpty(t)
	raw, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "T"})
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingKV{KeyValue: raw}
	w := bus.WatchKV(ctx, counted, srv.JS.Conn(), nil, "limit.>")
	waitFor(t, "the watch current", w.Current)

	cancel() // the watch ends: memory is no longer followed
	waitFor(t, "the watch no longer current", func() bool { return !w.Current() })
	if _, err := raw.Put(context.Background(), "limit.a", []byte("unwatched")); err != nil {
		t.Fatal(err)
	}
	gets := counted.gets
	if got := valueOf(t, w, "limit.a"); got != "unwatched" {
		t.Fatalf("a read while the watch is not current: %q, want the bucket's value", got)
	}
	if counted.gets != gets+1 {
		t.Fatalf("a read while the watch is not current did not ask the bucket")
	}
}

// A reconnect restarts the watch: what was written while the connection
// was down is in memory once the watch is current again.
func TestWatchedKV_CatchesUpAfterAReconnect(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := natstest.StartCluster(t, 3)
	nc, js := c.Connect(t, "watcher")
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "T", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	_, wjs := c.Connect(t, "writer")
	writer, err := wjs.KeyValue(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	w := bus.WatchKV(ctx, bus.Retrying(kv), nc, nil, "limit.>")
	waitFor(t, "the watch current", w.Current)

	if err := nc.ForceReconnect(); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Put(ctx, "limit.a", []byte("while reconnecting")); err != nil {
		t.Fatal(err)
	}
	// Whether memory or the bucket answers, the write is seen.
	waitFor(t, "the write made during the reconnect", func() bool { return valueOf(t, w, "limit.a") == "while reconnecting" })
	waitFor(t, "the watch current again", w.Current)
	if _, err := writer.Put(ctx, "limit.a", []byte("after")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a write after the reconnect", func() bool { return valueOf(t, w, "limit.a") == "after" })
}

// This process's own write is read back at once, before the watch has
// delivered it, and an older revision the watch delivers later does not
// replace it.
func TestWatchedKV_OwnWriteIsReadAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := natstest.StartEmpty(t)
	raw, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "T"})
	if err != nil {
		t.Fatal(err)
	}
	w := bus.WatchKV(ctx, raw, srv.JS.Conn(), nil, "limit.>")
	waitFor(t, "the watch current", w.Current)
	w.Note("limit.a", []byte("mine"), 100, jetstream.KeyValuePut)
	if got := valueOf(t, w, "limit.a"); got != "mine" {
		t.Fatalf("own write: %q", got)
	}
	if _, err := raw.Put(ctx, "limit.a", []byte("older")); err != nil { // revision 1 < 100
		t.Fatal(err)
	}
	if _, err := raw.Put(ctx, "limit.z", []byte("marker")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the watch past the older write", func() bool { return valueOf(t, w, "limit.z") == "marker" })
	if got := valueOf(t, w, "limit.a"); got != "mine" {
		t.Fatalf("an older revision replaced a later one: %q", got)
	}
}
