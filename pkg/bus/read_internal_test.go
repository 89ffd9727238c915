package bus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/natsembed"
)

// flakyConsumer fails some fetches the way a cluster can: before any
// message (no responders: the pull reached a server that did not know the
// new consumer yet) or after some (the batch ended in a timeout).
type flakyConsumer struct {
	jetstream.Consumer
	fetches int
	fail    map[int]error // by fetch number, from 1
}

func (f *flakyConsumer) Fetch(n int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	f.fetches++
	if err, ok := f.fail[f.fetches]; ok {
		return nil, err
	}
	return f.Consumer.Fetch(n, opts...)
}

// A read that meets a passing failure carries on from where it got to:
// every message once, in order; one that meets a lasting failure stops.
func TestReadAll_TransientFailuresAskedAgain(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	const total = 600 // three batches of at most 256
	for i := range total {
		if _, err := js.Publish(ctx, "t.x", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(fail map[int]error) ([]string, int, error) {
		oc, err := js.OrderedConsumer(ctx, "T", jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		f := &flakyConsumer{Consumer: oc, fail: fail}
		var got []string
		err = readAll(ctx, f, total, func(m Message) { got = append(got, string(m.Data)) })
		return got, f.fetches, err
	}

	got, fetches, err := read(map[int]error{1: nats.ErrNoResponders, 3: fmt.Errorf("fetch: %w", nats.ErrTimeout)})
	if err != nil {
		t.Fatalf("read with passing failures: %v", err)
	}
	if len(got) != total || got[0] != "0" || got[total-1] != fmt.Sprint(total-1) {
		t.Fatalf("read %d messages (first %q), want %d in order", len(got), got[:min(len(got), 1)], total)
	}
	for i, d := range got {
		if d != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: a retry repeated or skipped messages", i, d)
		}
	}
	if fetches != 5 {
		t.Errorf("%d fetches, want 5 (3 batches and 2 failures asked again)", fetches)
	}

	lasting := errors.New("nats: permissions violation")
	if _, _, err := read(map[int]error{2: lasting}); !errors.Is(err, lasting) {
		t.Errorf("read with a lasting failure: %v, want it returned", err)
	}
}
