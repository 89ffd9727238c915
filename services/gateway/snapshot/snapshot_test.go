package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/syncbuf"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/projector"
	"github.com/agentworkorders/awo/services/gateway/snapshot"
)

func TestCheck(t *testing.T) {
	created := time.Date(2026, 12, 1, 10, 0, 0, 123, time.UTC)
	good := readmodel.SnapshotStamp{Format: readmodel.SnapshotFormat, Build: "v1 abc", Stream: bus.StreamEvents, StreamCreated: created, Applied: 50}
	want := snapshot.Want{Build: "v1 abc", Stream: bus.StreamEvents, StreamCreated: created, LastSeq: 80}
	change := func(f func(*readmodel.SnapshotStamp)) readmodel.SnapshotStamp { s := good; f(&s); return s }
	for _, tc := range []struct {
		name  string
		stamp readmodel.SnapshotStamp
		want  snapshot.Want
		why   string // "" valid
	}{
		{"valid", good, want, ""},
		{"at the stream's last sequence", change(func(s *readmodel.SnapshotStamp) { s.Applied = 80 }), want, ""},
		{"same instant in another zone", change(func(s *readmodel.SnapshotStamp) { s.StreamCreated = created.In(time.FixedZone("", 3600)) }), want, ""},
		{"ahead of the stream", change(func(s *readmodel.SnapshotStamp) { s.Applied = 81 }), want, "stream ends at 80"},
		{"another build", change(func(s *readmodel.SnapshotStamp) { s.Build = "v1 def" }), want, "build"},
		{"another format", change(func(s *readmodel.SnapshotStamp) { s.Format++ }), want, "format"},
		{"another stream", change(func(s *readmodel.SnapshotStamp) { s.Stream = "OTHER" }), want, "stream"},
		{"stream recreated", change(func(s *readmodel.SnapshotStamp) { s.StreamCreated = created.Add(-time.Nanosecond) }), want, "recreated"},
		{"empty stamp", readmodel.SnapshotStamp{}, want, "format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := snapshot.Check(tc.stamp, tc.want)
			switch {
			case tc.why == "" && err != nil:
				t.Fatalf("Check = %v, want valid", err)
			case tc.why != "" && (err == nil || !strings.Contains(err.Error(), tc.why)):
				t.Fatalf("Check = %v, want an error saying %q", err, tc.why)
			}
		})
	}
}

// publish appends the events of work orders from..to-1: each requested,
// started, one step run and completed, and every other one finished.
func publish(t *testing.T, env *natstest.Env, from, to int) {
	t.Helper()
	b := env.Bus("awo/test")
	ctx := context.Background()
	for i := from; i < to; i++ {
		id := workorder.ID(fmt.Sprintf("wo-%08x", i))
		evs := []events.Event{
			b.Event(string(id)+".requested", events.TypeRequested, id, &events.Requested{WorkOrderID: id,
				RepositoryURL: fmt.Sprintf("https://github.com/acme/r%d", i%3), SandboxType: workorder.SandboxWorktree,
				UserRequest: "Fix it " + strings.Repeat("!", i%5), SelectedCommands: workorder.DefaultSteps}),
			b.Event(string(id)+".started", events.TypeStarted, id, &events.Started{SandboxIdentifier: "sb-" + string(id)}),
			b.Event(string(id)+".s1", events.TypeStepStarted, id, &events.StepStarted{Step: workorder.StepCreateBranch, Attempt: 1, AgentName: "BranchCreator"}),
			b.Event(string(id)+".c1", events.TypeStepCompleted, id, &events.StepResult{Step: workorder.StepCreateBranch, Attempt: 1,
				AgentName: "BranchCreator", Success: true, Output: "feat/x", BranchName: "feat/x", BaseBranch: "main", CostUSD: 0.5}),
		}
		if i%2 == 0 {
			evs = append(evs, b.Event(string(id)+".done", events.TypeCompleted, id, &events.Completed{PullRequestURL: "https://github.com/acme/pr/1"}))
		}
		for _, e := range evs {
			if _, err := b.PublishEvent(ctx, e, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// project runs a projector into mem until it has caught up with the
// stream, then stops it.
func project(t *testing.T, env *natstest.Env, mem *readmodel.Memory) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := projector.New(env.JS, mem, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := p.WaitFor(wctx, 0); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type logged struct {
	buf *syncbuf.Buffer
	log *slog.Logger
}

func newLog() logged {
	buf := &syncbuf.Buffer{}
	return logged{buf: buf, log: slog.New(slog.NewTextHandler(buf, nil))}
}

func open(t *testing.T, env *natstest.Env, mem *readmodel.Memory, l logged, build string, every uint64) *snapshot.Keeper {
	t.Helper()
	k, err := snapshot.Open(context.Background(), env.JS, bus.Replication{}, mem, l.log, snapshot.Options{Build: build, Every: every})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// same fails unless got and want answer every read alike.
func same(t *testing.T, got, want *readmodel.Memory) {
	t.Helper()
	ctx := context.Background()
	for _, repo := range []string{"", "https://github.com/acme/r1"} {
		for _, st := range []workorder.Status{"", workorder.StatusCompleted, workorder.StatusRunning} {
			for _, f := range []readmodel.Filter{{RepositoryURL: repo, Status: st}, {RepositoryURL: repo, Status: st, Limit: 2, Offset: 1}} {
				gl, err1 := got.List(ctx, f)
				wl, err2 := want.List(ctx, f)
				gc, err3 := got.Count(ctx, f)
				wc, err4 := want.Count(ctx, f)
				if err := errors.Join(err1, err2, err3, err4); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(gl, wl) || gc != wc {
					t.Fatalf("List/Count(%+v): got %d of %d, want %d of %d\n got %+v\nwant %+v", f, len(gl), gc, len(wl), wc, gl, wl)
				}
			}
		}
	}
	all, _ := want.List(ctx, readmodel.Filter{})
	if len(all) == 0 {
		t.Fatal("the full replay has no rows: the test compares nothing")
	}
	for _, wo := range all {
		gs, err1 := got.Steps(ctx, wo.AgentWorkOrderID)
		ws, err2 := want.Steps(ctx, wo.AgentWorkOrderID)
		if err := errors.Join(err1, err2); err != nil || !reflect.DeepEqual(gs, ws) {
			t.Fatalf("steps of %s: got %+v, want %+v (%v)", wo.AgentWorkOrderID, gs, ws, err)
		}
	}
	ga, _ := got.AppliedSequence(ctx)
	wa, _ := want.AppliedSequence(ctx)
	if ga != wa {
		t.Fatalf("applied sequence %d, want %d", ga, wa)
	}
}

func applied(m *readmodel.Memory) uint64 { s, _ := m.AppliedSequence(context.Background()); return s }

func TestLoadThenTailEqualsFullReplay(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	publish(t, env, 0, 12)
	first := readmodel.NewMemory()
	project(t, env, first)
	if err := open(t, env, first, newLog(), "b1", 100).Write(ctx); err != nil {
		t.Fatal(err)
	}
	at := applied(first)
	publish(t, env, 12, 20) // the tail, and more events of nothing new
	publish(t, env, 3, 5)   // the tail also touches rows in the snapshot

	restored := readmodel.NewMemory()
	l := newLog()
	if !open(t, env, restored, l, "b1", 100).Load(ctx) {
		t.Fatalf("Load refused a fitting snapshot:\n%s", l.buf)
	}
	if got := applied(restored); got != at {
		t.Fatalf("after Load the store is at seq %d, want the snapshot's %d", got, at)
	}
	project(t, env, restored)
	full := readmodel.NewMemory()
	project(t, env, full)
	same(t, restored, full)
}

func TestLoadIgnoresWhatDoesNotFit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, env *natstest.Env, obs jetstream.ObjectStore)
		build string
		why   string
	}{
		{"other build", nil, "b2", "build"},
		{"stream recreated", recreateStream, "b1", "recreated"},
		{"garbage", putBytes([]byte("not a snapshot")), "b1", "corrupt"},
		{"cut short", cutShort, "b1", "corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := natstest.Start(t)
			ctx := context.Background()
			publish(t, env, 0, 4)
			mem := readmodel.NewMemory()
			project(t, env, mem)
			if err := open(t, env, mem, newLog(), "b1", 100).Write(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.spoil != nil {
				obs, err := env.JS.ObjectStore(ctx, bus.ReadModelSnapshots)
				if err != nil {
					t.Fatal(err)
				}
				tc.spoil(t, env, obs)
			}
			fresh := readmodel.NewMemory()
			l := newLog()
			if open(t, env, fresh, l, tc.build, 100).Load(ctx) {
				t.Fatal("Load took a snapshot that does not fit")
			}
			if n, _ := fresh.Count(ctx, readmodel.Filter{}); n != 0 || applied(fresh) != 0 {
				t.Fatalf("an ignored snapshot left %d rows at seq %d", n, applied(fresh))
			}
			if out := l.buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, tc.why) {
				t.Fatalf("want a warning saying %q; logged:\n%s", tc.why, out)
			}
			// The start goes on: the full replay fills the store.
			project(t, env, fresh)
			if n, _ := fresh.Count(ctx, readmodel.Filter{}); n == 0 {
				t.Fatal("the replay after an ignored snapshot left no rows")
			}
		})
	}
}

func recreateStream(t *testing.T, env *natstest.Env, _ jetstream.ObjectStore) {
	ctx := context.Background()
	if err := env.JS.DeleteStream(ctx, bus.StreamEvents); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, env.JS, bus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	publish(t, env, 100, 110) // more events than before: the sequence alone would not tell
}

func putBytes(data []byte) func(*testing.T, *natstest.Env, jetstream.ObjectStore) {
	return func(t *testing.T, _ *natstest.Env, obs jetstream.ObjectStore) {
		if _, err := obs.PutBytes(context.Background(), snapshot.Object, data); err != nil {
			t.Fatal(err)
		}
	}
}

// cutShort stores the valid snapshot less its last bytes: a stamp that
// checks out in front of a body that does not.
func cutShort(t *testing.T, env *natstest.Env, obs jetstream.ObjectStore) {
	data, err := obs.GetBytes(context.Background(), snapshot.Object)
	if err != nil {
		t.Fatal(err)
	}
	putBytes(data[:len(data)-8])(t, env, obs)
}

// storedSeq waits until the bucket's snapshot reflects at least seq and
// returns what it reflects.
func storedSeq(t *testing.T, env *natstest.Env, seq uint64) uint64 {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got uint64
		obs, err := env.JS.ObjectStore(ctx, bus.ReadModelSnapshots)
		if err == nil {
			var info *jetstream.ObjectInfo
			if info, err = obs.GetInfo(ctx, snapshot.Object); err == nil {
				_, err = fmt.Sscan(info.Metadata["applied_seq"], &got)
			}
		}
		if err == nil && got >= seq {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot at seq %d or later (last: %d, %v)", seq, got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunWritesAfterTheReplayEveryNAndAtStop(t *testing.T) {
	env := natstest.Start(t)
	publish(t, env, 0, 4) // 18 events
	mem := readmodel.NewMemory()
	kOpts := snapshot.Options{Build: "b1", Every: 10, After: 5}
	k, err := snapshot.Open(context.Background(), env.JS, bus.Replication{}, mem, slog.New(slog.DiscardHandler), kOpts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := projector.New(env.JS, mem, slog.New(slog.DiscardHandler))
	projDone, keepDone := make(chan error, 1), make(chan struct{})
	go func() { projDone <- p.Run(ctx) }()
	go func() { k.Run(ctx, p); close(keepDone) }()

	if got := storedSeq(t, env, 18); got != 18 {
		t.Fatalf("after the start-up replay: snapshot at %d, want 18", got)
	}
	publish(t, env, 4, 7) // 13 more: one periodic write past 28
	if got := storedSeq(t, env, 28); got < 28 {
		t.Fatalf("periodic snapshot at %d", got)
	}
	publish(t, env, 7, 8) // 5 more, fewer than Every: only the stop writes them
	if err := p.WaitFor(context.Background(), 36); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-keepDone
	if err := <-projDone; err != nil {
		t.Fatal(err)
	}
	if got := storedSeq(t, env, 36); got != 36 {
		t.Fatalf("after stop: snapshot at %d, want 36", got)
	}
}
