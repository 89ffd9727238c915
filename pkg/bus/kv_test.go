package bus_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// lostAnswers stores each write but, the first time, answers as if the
// answer had been lost in an election.
type lostAnswers struct {
	jetstream.KeyValue
	lost map[string]bool
}

func (l *lostAnswers) lose(op string) bool {
	if l.lost[op] {
		return false
	}
	l.lost[op] = true
	return true
}

func (l *lostAnswers) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	rev, err := l.KeyValue.Create(ctx, key, value, opts...)
	if err == nil && l.lose("create") {
		return 0, nats.ErrTimeout
	}
	return rev, err
}

func (l *lostAnswers) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	rev, err := l.KeyValue.Update(ctx, key, value, last)
	if err == nil && l.lose("update") {
		return 0, nats.ErrTimeout
	}
	return rev, err
}

func (l *lostAnswers) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	err := l.KeyValue.Delete(ctx, key, opts...)
	if err == nil && l.lose("delete") {
		return nats.ErrTimeout
	}
	return err
}

// A write whose answer was lost is retried; the retry meets the stored
// write and counts it as the caller's when the key holds exactly its
// value, and as someone else's (ErrKeyExists) when it does not.
func TestRetryingKV_AWriteWhoseAnswerWasLostIsTheCallers(t *testing.T) {
	ctx := context.Background()
	js := natstest.StartEmpty(t).JS
	raw, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "T"})
	if err != nil {
		t.Fatal(err)
	}
	kv := bus.Retrying(&lostAnswers{KeyValue: raw, lost: map[string]bool{}})

	rev, err := kv.Create(ctx, "k", []byte("mine"))
	if err != nil || rev != 1 {
		t.Fatalf("create with its answer lost: rev %d, %v; want 1, nil", rev, err)
	}
	if _, err := kv.Create(ctx, "k", []byte("mine")); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("a second create, answered: %v, want ErrKeyExists", err)
	}
	rev, err = kv.Update(ctx, "k", []byte("mine 2"), 1)
	if err != nil || rev != 2 {
		t.Fatalf("update with its answer lost: rev %d, %v; want 2, nil", rev, err)
	}
	if _, err := kv.Update(ctx, "k", []byte("other"), 1); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("update from a stale revision: %v, want ErrKeyExists", err)
	}
	if err := kv.Delete(ctx, "k", jetstream.LastRevision(2)); err != nil {
		t.Fatalf("delete with its answer lost: %v", err)
	}
	if _, err := raw.Get(ctx, "k"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("after the delete: %v", err)
	}
}

// Someone else's value under the key is not taken for the caller's own
// lost write.
func TestRetryingKV_SomeoneElsesValueIsAConflict(t *testing.T) {
	ctx := context.Background()
	js := natstest.StartEmpty(t).JS
	raw, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "T"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Create(ctx, "k", []byte("theirs")); err != nil {
		t.Fatal(err)
	}
	// Its first answer is a timeout: the retry finds "theirs".
	timeout := &timeoutOnce{KeyValue: raw}
	if _, err := bus.Retrying(timeout).Create(ctx, "k", []byte("mine")); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("create over someone else's value: %v, want ErrKeyExists", err)
	}
}

type timeoutOnce struct {
	jetstream.KeyValue
	done bool
}

func (o *timeoutOnce) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if !o.done {
		o.done = true
		return 0, nats.ErrTimeout
	}
	return o.KeyValue.Create(ctx, key, value, opts...)
}

// lostAck stores the first publish but answers it as if the answer had
// been lost.
type lostAck struct {
	jetstream.JetStream
	lost bool
}

func (l *lostAck) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := l.JetStream.PublishMsg(ctx, m, opts...)
	if err == nil && !l.lost {
		l.lost = true
		return nil, nats.ErrTimeout
	}
	return ack, err
}

// A guarded append stored but whose answer was lost is sent again and
// answered with the stored copy, not refused as a conflict with itself (a
// clustered stream answers a duplicate before it checks the guard; a
// single server checks the guard first, so the bus looks the copy up).
func TestAppend_RetriedAfterALostAnswerIsNotAConflictWithItself(t *testing.T) {
	ctx := context.Background()
	env := natstest.Start(t)
	b := bus.New(&lostAck{JetStream: env.JS}, "awo/test")
	const wo = workorder.ID("wo-00000001")
	var none uint64
	e := b.Event("wo-00000001.requested", events.TypeRequested, wo, &events.Requested{})
	ack, err := b.Append(ctx, e, &none)
	if err != nil || ack.Sequence != 1 {
		t.Fatalf("append whose answer was lost: %+v, %v; want seq 1", ack, err)
	}
	// Someone else's event in the same place is still a conflict.
	other := b.Event("wo-00000001.other", events.TypeRequested, wo, &events.Requested{})
	if _, err := b.Append(ctx, other, &none); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("another event guarded by the same sequence: %v, want ErrConflict", err)
	}
}
