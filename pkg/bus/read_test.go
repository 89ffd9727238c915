package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
)

// The generic reads over the log stream, whose subjects take any payload:
// Read from a point, Follow from a point on and into what is stored
// later, LastSeq and NextSeq by subject.
func TestReads_BySubjectFromAPoint(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, other := bus.LogSubject("wo-0000000a"), bus.LogSubject("wo-0000000b")
	var seqs []uint64
	publish := func(subject, data string) uint64 {
		ack, err := env.JS.Publish(ctx, subject, []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	for _, d := range []string{"a1", "a2"} {
		seqs = append(seqs, publish(a, d))
		publish(other, "b")
	}

	var got []string
	if err := b.Read(ctx, bus.StreamLogs, []string{a}, seqs[0], func(m bus.Message) { got = append(got, string(m.Data)) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "a2" {
		t.Errorf("Read after the first = %q, want [a2]", got)
	}
	if last, err := b.LastSeq(ctx, bus.StreamLogs, a); err != nil || last != seqs[1] {
		t.Errorf("LastSeq = %d, %v; want %d", last, err, seqs[1])
	}
	if last, err := b.LastSeq(ctx, bus.StreamLogs, bus.LogSubject("wo-0000000c")); err != nil || last != 0 {
		t.Errorf("LastSeq of an empty subject = %d, %v; want 0", last, err)
	}

	st, err := b.OpenStream(ctx, bus.StreamLogs)
	if err != nil {
		t.Fatal(err)
	}
	if next, ok, err := st.NextSeq(ctx, a, seqs[0]); err != nil || !ok || next != seqs[1] {
		t.Errorf("NextSeq after the first = %d, %v, %v; want %d", next, ok, err, seqs[1])
	}
	if _, ok, err := st.NextSeq(ctx, a, seqs[1]); err != nil || ok {
		t.Errorf("NextSeq after the last = %v, %v; want none", ok, err)
	}

	fctx, stop := context.WithCancel(ctx)
	msgs, err := b.Follow(fctx, bus.StreamLogs, []string{a}, 0)
	if err != nil {
		t.Fatal(err)
	}
	next := func() bus.Message {
		select {
		case m := <-msgs:
			return m
		case <-ctx.Done():
			t.Fatal("Follow delivered nothing")
			return bus.Message{}
		}
	}
	if m := next(); m.Seq != seqs[0] || m.Pending != 1 || m.Subject != a {
		t.Errorf("first = %+v, want seq %d with 1 pending", m, seqs[0])
	}
	if m := next(); m.Seq != seqs[1] || m.Pending != 0 {
		t.Errorf("second = %+v, want seq %d caught up", m, seqs[1])
	}
	later := publish(a, "a3")
	if m := next(); m.Seq != later || string(m.Data) != "a3" {
		t.Errorf("stored later = %+v, want seq %d", m, later)
	}
	stop()
	for range msgs { // closed once the follower's context ends
	}
}
