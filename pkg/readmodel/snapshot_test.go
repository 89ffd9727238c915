package readmodel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Every field comes back, of a row kept packed (finished: its bytes go out
// and come back as they are) and of a live one (running: packed for the
// snapshot, unpacked on restore); fill fails for a field pack does not
// know.
func TestSnapshotKeepsEveryFieldOfLiveAndPackedRows(t *testing.T) {
	for _, status := range []workorder.Status{workorder.StatusRunning, workorder.StatusCompleted} {
		var seed int
		var wo WorkOrder
		fill(t, reflect.ValueOf(&wo).Elem(), &seed)
		wo.Status = status
		steps := make([]StepRecord, 2)
		for i := range steps {
			fill(t, reflect.ValueOf(&steps[i]).Elem(), &seed)
		}
		m := NewMemory()
		m.mu.Lock()
		m.putRow(wo, steps, 7)
		m.applied = 9
		m.mu.Unlock()
		blob, _, err := m.Snapshot(SnapshotStamp{Build: "b"})
		if err != nil {
			t.Fatal(err)
		}
		restored := NewMemory()
		if _, err := restored.Restore(blob.Bytes()); err != nil {
			t.Fatal(err)
		}
		got, err := restored.Get(context.Background(), wo.AgentWorkOrderID)
		if err != nil || !reflect.DeepEqual(got, wo) {
			t.Fatalf("%s: work order after the snapshot (%v):\n got %+v\nwant %+v", status, err, got, wo)
		}
		gotSteps, err := restored.Steps(context.Background(), wo.AgentWorkOrderID)
		if err != nil || !reflect.DeepEqual(gotSteps, steps) {
			t.Fatalf("%s: steps after the snapshot (%v):\n got %+v\nwant %+v", status, err, gotSteps, steps)
		}
		assertSameMemory(t, restored, m)
	}
}

// history returns the events of n work orders over three repositories,
// interleaved as concurrent work orders leave them: each is requested,
// started, runs two steps (the second of every third one fails) and ends.
func history(n int) []events.Event {
	var evs []events.Event
	add := func(id workorder.ID, typ string, data any) {
		seq := uint64(len(evs) + 1)
		e := events.New(fmt.Sprintf("%s.%d", id, seq), typ, "test", id, t0.Add(time.Duration(seq)*time.Second), data)
		e.Seq = seq
		evs = append(evs, e)
	}
	id := func(i int) workorder.ID { return workorder.ID(fmt.Sprintf("wo-%08x", i)) }
	for i := range n + 2 {
		if i < n {
			add(id(i), events.TypeRequested, &events.Requested{WorkOrderID: id(i), RepositoryURL: fmt.Sprintf("https://github.com/acme/r%d", i%3),
				SandboxType: workorder.SandboxWorktree, UserRequest: strings.Repeat("do it ", i%7+1), SelectedCommands: workorder.DefaultSteps})
			add(id(i), events.TypeStarted, &events.Started{SandboxIdentifier: "sandbox-" + string(id(i))})
		}
		if j := i - 1; j >= 0 && j < n { // the one before runs its steps meanwhile
			add(id(j), events.TypeStepStarted, &events.StepStarted{Step: workorder.StepCreateBranch, Attempt: 1, AgentName: "BranchCreator"})
			add(id(j), events.TypeStepCompleted, &events.StepResult{Step: workorder.StepCreateBranch, Attempt: 1, AgentName: "BranchCreator",
				Success: true, Output: "feat/x", SessionID: "s", CostUSD: 0.25, BranchName: "feat/x", BaseBranch: "main", DurationSeconds: 1.5})
			ok := j%3 != 0
			add(id(j), events.TypeStepStarted, &events.StepStarted{Step: workorder.StepPlanning, Attempt: 1, AgentName: "Planner"})
			r := &events.StepResult{Step: workorder.StepPlanning, Attempt: 1, AgentName: "Planner", Success: ok, Output: "plan " + strings.Repeat("x", j%50),
				Usage: &events.Usage{InputTokens: 100, OutputTokens: 20}}
			typ := events.TypeStepCompleted
			if !ok {
				typ, r.ErrorMessage = events.TypeStepFailed, "boom"
			}
			add(id(j), typ, r)
		}
		if j := i - 2; j >= 0 && j < n {
			if j%3 != 0 {
				add(id(j), events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/pr/1"})
			} else {
				add(id(j), events.TypeFailed, &events.Failed{Step: workorder.StepPlanning, ErrorMessage: "boom"})
			}
		}
	}
	return evs
}

func applyAll(t testing.TB, m *Memory, evs []events.Event) {
	t.Helper()
	for _, e := range evs {
		if err := m.Apply(context.Background(), e); err != nil {
			t.Fatalf("applying %s: %v", e.ID, err)
		}
	}
}

// AssertSameMemory fails unless a and b answer every read alike: each
// work order and its steps, the list pages and counts of every filter,
// and the applied sequence.
func assertSameMemory(t *testing.T, got, want *Memory) {
	t.Helper()
	ctx := context.Background()
	var filters []Filter
	for _, repo := range []string{"", "https://github.com/acme/r0", "https://github.com/acme/r2"} {
		for _, st := range []workorder.Status{"", workorder.StatusCompleted, workorder.StatusFailed, workorder.StatusRunning} {
			filters = append(filters, Filter{RepositoryURL: repo, Status: st}, Filter{RepositoryURL: repo, Status: st, Limit: 3, Offset: 2})
		}
	}
	for _, f := range filters {
		gl, err1 := got.List(ctx, f)
		wl, err2 := want.List(ctx, f)
		gc, err3 := got.Count(ctx, f)
		wc, err4 := want.Count(ctx, f)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gl, wl) || gc != wc {
			t.Fatalf("List/Count(%+v) differ: got %d rows of %d, want %d of %d\n got %+v\nwant %+v", f, len(gl), gc, len(wl), wc, gl, wl)
		}
	}
	all, _ := want.List(ctx, Filter{})
	for _, wo := range all {
		gs, err1 := got.Steps(ctx, wo.AgentWorkOrderID)
		ws, err2 := want.Steps(ctx, wo.AgentWorkOrderID)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gs, ws) {
			t.Fatalf("steps of %s differ:\n got %+v\nwant %+v", wo.AgentWorkOrderID, gs, ws)
		}
	}
	ga, _ := got.AppliedSequence(ctx)
	wa, _ := want.AppliedSequence(ctx)
	if ga != wa {
		t.Fatalf("AppliedSequence = %d, want %d", ga, wa)
	}
}

func TestSnapshotRestoreThenTailEqualsFullReplay(t *testing.T) {
	evs := history(40)
	full := NewMemory()
	applyAll(t, full, evs)
	for _, cut := range []int{0, 1, 7, len(evs) / 2, len(evs) - 3, len(evs)} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			part := NewMemory()
			applyAll(t, part, evs[:cut])
			created := time.Date(2026, 5, 1, 0, 0, 0, 7, time.UTC)
			parts, stamp, err := part.Snapshot(SnapshotStamp{Build: "b1", Stream: "S", StreamCreated: created})
			if err != nil {
				t.Fatal(err)
			}
			blob := parts.Bytes()
			if read, err := io.ReadAll(parts.Reader()); err != nil || !bytes.Equal(read, blob) || len(blob) != parts.Len() {
				t.Fatalf("the blob's Reader, Bytes and Len disagree: %d, %d, %d bytes (%v)", len(read), len(blob), parts.Len(), err)
			}
			wantStamp := SnapshotStamp{Format: SnapshotFormat, Build: "b1", Stream: "S", StreamCreated: created, Applied: uint64(cut), Rows: uint64(min(cut, 40))}
			rows, _ := part.Count(context.Background(), Filter{})
			wantStamp.Rows = uint64(rows)
			if read, err := ReadSnapshotStamp(blob); err != nil || !reflect.DeepEqual(read, wantStamp) || !reflect.DeepEqual(stamp, wantStamp) {
				t.Fatalf("stamp: returned %+v, read back %+v (%v); want %+v", stamp, read, err, wantStamp)
			}
			restored := NewMemory()
			if _, err := restored.Restore(blob); err != nil {
				t.Fatal(err)
			}
			assertSameMemory(t, restored, part)
			applyAll(t, restored, evs[cut:])
			assertSameMemory(t, restored, full)
		})
	}
}

func TestSnapshotRestoreRefusesWhatItCannotRead(t *testing.T) {
	m := NewMemory()
	applyAll(t, m, history(10))
	parts, _, err := m.Snapshot(SnapshotStamp{Build: "b"})
	if err != nil {
		t.Fatal(err)
	}
	blob := parts.Bytes()
	header := len(blob) - 20
	cases := map[string][]byte{
		"empty":          nil,
		"not a snapshot": []byte("{\"rows\": []}"),
		"cut in header":  blob[:len(snapshotMagic)+3],
		"cut in body":    blob[:len(blob)-5],
		"byte flipped":   flip(blob, header+10),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			r := NewMemory()
			if _, err := r.Restore(data); !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("Restore = %v, want ErrBadSnapshot", err)
			}
			if n, _ := r.Count(context.Background(), Filter{}); n != 0 {
				t.Fatalf("a refused snapshot left %d rows", n)
			}
			if seq, _ := r.AppliedSequence(context.Background()); seq != 0 {
				t.Fatalf("a refused snapshot left applied seq %d", seq)
			}
		})
	}
	t.Run("store not empty", func(t *testing.T) {
		if _, err := m.Restore(blob); err == nil {
			t.Fatal("restored into a store that holds rows")
		}
	})
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x55
	return c
}

// BenchmarkSnapshot reports what a snapshot of 100,000 work orders costs:
// encoding (the part Apply waits behind is the row walk), its size, and
// the decode a start-up pays instead of the replay.
func BenchmarkSnapshot(b *testing.B) {
	m := NewMemory()
	applyAll(b, m, history(100_000))
	parts, _, err := m.Snapshot(SnapshotStamp{Build: "b"})
	if err != nil {
		b.Fatal(err)
	}
	blob := parts.Bytes()
	b.Run("encode", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			if _, _, err := m.Snapshot(SnapshotStamp{Build: "b"}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		b.ReportMetric(float64(len(blob))/1e6, "MB")
	})
	b.Run("restore", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			if _, err := NewMemory().Restore(blob); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	})
}

// More rows than a frame holds: the frames' counts add up, and a blob cut
// at a frame boundary (whole frames, each intact) is still refused.
func TestSnapshotManyFrames(t *testing.T) {
	evs := history(2*frameRows + 300)
	full := NewMemory()
	applyAll(t, full, evs)
	parts, stamp, err := full.Snapshot(SnapshotStamp{Build: "b"})
	if err != nil {
		t.Fatal(err)
	}
	blob := parts.Bytes()
	restored := NewMemory()
	if _, err := restored.Restore(blob); err != nil {
		t.Fatal(err)
	}
	assertSameMemory(t, restored, full)

	_, frames, _ := splitSnapshot(blob)
	var offsets []int // where each frame starts in blob
	for rest := frames; len(rest) > 0; {
		offsets = append(offsets, len(blob)-len(rest))
		size, k := binary.Uvarint(rest)
		rest = rest[k+4+int(size):]
	}
	if want := int(stamp.Rows+frameRows-1) / frameRows; len(offsets) != want {
		t.Fatalf("%d frames for %d rows, want %d", len(offsets), stamp.Rows, want)
	}
	if _, err := NewMemory().Restore(blob[:offsets[len(offsets)-1]]); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("Restore without the last frame = %v, want ErrBadSnapshot", err)
	}
}

// cpuTime is the process's user and system CPU time so far: on a shared
// machine a benchmark's CPU per operation means more than its wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A snapshot taken while events are being applied (the rows are encoded
// after the read lock is released) still reflects exactly the events up
// to its stamp: restored and given the rest, it equals the full replay.
// Under -race this also says the copies it encodes are never written.
func TestSnapshotWhileApplyingIsConsistent(t *testing.T) {
	evs := history(60)
	full := NewMemory()
	applyAll(t, full, evs)
	for range 5 {
		m := NewMemory()
		applyAll(t, m, evs[:len(evs)/3])
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, e := range evs[len(evs)/3:] {
				if err := m.Apply(context.Background(), e); err != nil {
					t.Errorf("applying %s: %v", e.ID, err)
					return
				}
			}
		}()
		blob, stamp, err := m.Snapshot(SnapshotStamp{Build: "b1", Stream: "S"})
		<-done
		if err != nil {
			t.Fatal(err)
		}
		restored := NewMemory()
		if _, err := restored.Restore(blob.Bytes()); err != nil {
			t.Fatal(err)
		}
		applyAll(t, restored, evs[stamp.Applied:])
		assertSameMemory(t, restored, full)
	}
}
