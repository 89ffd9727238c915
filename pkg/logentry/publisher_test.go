package logentry_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
)

const wo = workorder.ID("wo-1a2b3c4d")

func entry(msg string) logentry.Entry {
	return logentry.Entry{Timestamp: time.Now().UTC(), Level: logentry.LevelInfo, Event: logentry.EventAssistantText, Message: msg, WorkOrderID: wo}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPublisher_PublishesInOrder_ReadAndTailSeeThem(t *testing.T) {
	env := natstest.Start(t)
	ctx := ctxT(t)
	p := logentry.NewPublisher(env.JS, nil, 0, nil)
	defer p.Close(ctx)
	for i := range 3 {
		p.Publish(entry(fmt.Sprint("line ", i)))
	}
	// Another work order's entries must not show up.
	other := entry("elsewhere")
	other.WorkOrderID = "wo-99999999"
	p.Publish(other)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	got, err := logentry.Read(ctx, env.Bus("awo/test"), wo)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("Read: %d entries, want 3: %+v", len(got), got)
	}
	for i, e := range got {
		if e.Message != fmt.Sprint("line ", i) || e.Seq == 0 {
			t.Errorf("entry %d = %q seq %d", i, e.Message, e.Seq)
		}
	}

	// Tail after the first entry: the two stored ones, then a live one.
	tctx, stop := context.WithCancel(ctx)
	ch, err := logentry.Tail(tctx, env.Bus("awo/test"), wo, got[0].Seq)
	if err != nil {
		t.Fatal(err)
	}
	if last, err := logentry.LastSeq(ctx, env.Bus("awo/test"), wo); err != nil || last != got[2].Seq {
		t.Errorf("LastSeq = %d, %v; want %d", last, err, got[2].Seq)
	}
	if last, err := logentry.LastSeq(ctx, env.Bus("awo/test"), "wo-00000000"); err != nil || last != 0 {
		t.Errorf("LastSeq of a work order without entries = %d, %v; want 0", last, err)
	}
	next := func() logentry.Delivery {
		t.Helper()
		select {
		case d, ok := <-ch:
			if !ok {
				t.Fatal("tail closed early")
			}
			return d
		case <-ctx.Done():
			t.Fatal("timed out waiting for an entry")
		}
		return logentry.Delivery{}
	}
	if d := next(); d.Entry.Message != "line 1" || d.Pending != 1 {
		t.Errorf("first tailed = %q pending %d, want line 1 pending 1", d.Entry.Message, d.Pending)
	}
	if d := next(); d.Entry.Message != "line 2" || d.Pending != 0 {
		t.Errorf("second tailed = %q pending %d, want line 2 pending 0", d.Entry.Message, d.Pending)
	}
	p.Publish(entry("live"))
	if d := next(); d.Entry.Message != "live" {
		t.Errorf("live = %q", d.Entry.Message)
	}
	stop()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("an entry arrived after the tail was stopped")
		}
	case <-time.After(5 * time.Second):
		t.Error("the tail channel was not closed after cancel")
	}
	if p.Dropped() != 0 || p.Failed() != 0 {
		t.Errorf("dropped %d failed %d", p.Dropped(), p.Failed())
	}
}

// stallingJS is a broker that answers no publish until released.
type stallingJS struct {
	jetstream.JetStream
	sent    *atomic.Int64 // publishes begun
	release chan struct{}
}

func (s stallingJS) PublishAsync(subj string, data []byte, _ ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	s.sent.Add(1)
	return stalledAck{s.release}, nil
}

// stalledAck succeeds once release is closed.
type stalledAck struct{ release chan struct{} }

func (a stalledAck) Ok() <-chan *jetstream.PubAck {
	ch := make(chan *jetstream.PubAck, 1)
	go func() { <-a.release; ch <- &jetstream.PubAck{} }()
	return ch
}
func (a stalledAck) Err() <-chan error { return make(chan error) }
func (a stalledAck) Msg() *nats.Msg    { return nil }

func TestPublisher_FullQueue_DropsInsteadOfBlocking(t *testing.T) {
	js := stallingJS{sent: &atomic.Int64{}, release: make(chan struct{})}
	p := logentry.NewPublisher(js, nil, 2, nil)
	const total = 2000
	start := time.Now()
	for i := range total {
		p.Publish(entry(fmt.Sprint(i)))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Publish blocked for %v with a stalled broker", d)
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Flush(short); err == nil {
		t.Error("Flush returned while the broker was stalled")
	}
	// Some entries are with the stalled broker, a bounded number of them;
	// the rest were dropped, and counted.
	if p.Dropped() == 0 || js.sent.Load() >= total/2 {
		t.Errorf("with a stalled broker: %d sent, %d dropped of %d", js.sent.Load(), p.Dropped(), total)
	}
	close(js.release)
	ctx := ctxT(t)
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush after release: %v", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if sent, dropped := js.sent.Load(), p.Dropped(); sent+int64(dropped) != total || p.Failed() != 0 {
		t.Errorf("%d sent + %d dropped != %d handed over (%d failed)", sent, dropped, total, p.Failed())
	}
	p.Publish(entry("after close"))
	if sent, dropped := js.sent.Load(), p.Dropped(); sent+int64(dropped) != total+1 {
		t.Errorf("an entry handed over after close was neither sent nor dropped (%d sent, %d dropped)", sent, dropped)
	}
}

// refusingJS is a broker that answers every publish with an error.
type refusingJS struct{ jetstream.JetStream }

func (refusingJS) PublishAsync(string, []byte, ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	return refusedAck{}, nil
}

type refusedAck struct{}

func (refusedAck) Ok() <-chan *jetstream.PubAck { return make(chan *jetstream.PubAck) }
func (refusedAck) Err() <-chan error {
	ch := make(chan error, 1)
	ch <- errors.New("maximum bytes exceeded")
	return ch
}
func (refusedAck) Msg() *nats.Msg { return nil }

// Entries the stream refuses are counted as failed, and a flush still
// returns: nothing waits on an answer that came back as an error.
func TestPublisher_RefusedEntries_AreCountedAndFlushReturns(t *testing.T) {
	p := logentry.NewPublisher(refusingJS{}, nil, 0, nil)
	ctx := ctxT(t)
	for i := range 5 {
		p.Publish(entry(fmt.Sprint(i)))
	}
	// Well inside the publisher's own give-up time (5 s): the refusals
	// themselves must end the wait.
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := p.Flush(short); err != nil {
		t.Fatal(err)
	}
	if got := p.Failed(); got != 5 {
		t.Errorf("Failed = %d after 5 refused entries", got)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
