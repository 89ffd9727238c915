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

// The read of a flag before every agent run, as a KV get (what the
// executor did) and from a current watch (what it does): compare the two
// in one run, `go test -run - -bench KVRead ./bus/`.
func BenchmarkKVRead(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := natstest.StartEmpty(b)
	kv, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "T", Storage: jetstream.FileStorage})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := kv.Put(ctx, "limit.other", []byte(`{"until":"2026-12-06T04:35:00Z"}`)); err != nil {
		b.Fatal(err)
	}
	retrying := bus.Retrying(kv)
	watched := bus.WatchKV(ctx, retrying, srv.JS.Conn(), nil, "limit.>")
	for !watched.Current() {
		time.Sleep(time.Millisecond)
	}
	for _, r := range []struct {
		name string
		get  func(context.Context, string) (jetstream.KeyValueEntry, error)
	}{{"get", retrying.Get}, {"watched", watched.Get}} {
		b.Run(r.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := r.get(ctx, "limit.claude"); !errors.Is(err, jetstream.ErrKeyNotFound) {
					b.Fatal(err)
				}
			}
		})
	}
}
