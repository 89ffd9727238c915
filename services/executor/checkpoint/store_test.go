package checkpoint_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/testkit/gitfixture"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/checkpoint"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

const wo = workorder.ID("wo-0000abcd")

func spec() sandbox.Spec {
	return sandbox.Spec{WorkOrderID: wo, RepositoryURL: gitfixture.DefaultURL, Type: workorder.SandboxWorktree}
}

func newManager(tb testing.TB, o *gitfixture.Origin) *sandbox.Manager {
	return &sandbox.Manager{Root: tb.TempDir(), Env: o.Env()}
}

func write(tb testing.TB, dir, name, content string) {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// A checkpoint stored by one executor is restored by another that shares
// nothing with it but the NATS server and origin.
func TestStore_CheckpointTravelsToAnotherExecutor(t *testing.T) {
	env := natstest.Start(t)
	store, err := checkpoint.Open(t.Context(), env.JS)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := store.Latest(t.Context(), wo); ok || err != nil {
		t.Fatalf("Latest before any checkpoint: ok %v, err %v", ok, err)
	}

	o := gitfixture.New(t)
	first := newManager(t, o)
	sb, err := first.Prepare(t.Context(), spec())
	if err != nil {
		t.Fatal(err)
	}
	o.Git(t, sb.Dir, "checkout", "--quiet", "-b", "feat/x")
	write(t, sb.Dir, "committed.txt", "c\n")
	o.Git(t, sb.Dir, "add", "committed.txt")
	o.Git(t, sb.Dir, "commit", "--quiet", "-m", "feat: c")
	write(t, sb.Dir, "PRPs/plan.md", "# Plan\n")
	write(t, sb.Dir, "README.md", "changed\n")

	bundle := filepath.Join(t.TempDir(), "out.bundle")
	cp, err := checkpointTo(t.Context(), first, spec(), sb, bundle)
	if err != nil {
		t.Fatal(err)
	}
	put, err := store.Put(t.Context(), wo, workorder.StepPlanning, 1, cp, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if put.Checkpoint != cp || put.Step != workorder.StepPlanning || put.Attempt != 1 || put.Size == 0 {
		t.Fatalf("Put = %+v, want %+v", put, cp)
	}
	latest, ok, err := store.Latest(t.Context(), wo)
	if err != nil || !ok || latest != put {
		t.Fatalf("Latest = %+v, %v, %v; want %+v", latest, ok, err, put)
	}

	in := filepath.Join(t.TempDir(), "in.bundle")
	got, err := store.Get(t.Context(), wo, in)
	if err != nil || got != put {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	second := newManager(t, o)
	restored, err := second.Restore(t.Context(), spec(), got.Checkpoint, in)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"committed.txt": "c\n", "PRPs/plan.md": "# Plan\n", "README.md": "changed\n"} {
		if b, err := os.ReadFile(filepath.Join(restored.Dir, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	if status := o.Git(t, restored.Dir, "status", "--porcelain"); status != "M README.md\n?? PRPs/" && status != " M README.md\n?? PRPs/" {
		t.Errorf("status %q", status)
	}
	if branch := o.Git(t, restored.Dir, "branch", "--show-current"); branch != "feat/x" {
		t.Errorf("branch %q", branch)
	}

	// A newer checkpoint replaces the older.
	write(t, sb.Dir, "later.txt", "later\n")
	cp2, err := checkpointTo(t.Context(), first, spec(), sb, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(t.Context(), wo, workorder.StepExecute, 2, cp2, bundle); err != nil {
		t.Fatal(err)
	}
	if latest, _, _ := store.Latest(t.Context(), wo); latest.ID != cp2.ID || latest.Step != workorder.StepExecute || latest.Attempt != 2 {
		t.Fatalf("Latest after a second Put = %+v", latest)
	}
}

// Bundles larger than a message travel in chunks, and the store keeps no
// more than the latest checkpoint and the one before: a head per work
// order and two slots of chunks, each subject holding its last message.
func TestStore_LargeBundles_InChunks_OldOnesReplaced(t *testing.T) {
	env := natstest.Start(t)
	store, err := checkpoint.Open(t.Context(), env.JS)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var want [][]byte
	for i, size := range []int{2<<20 + 12345, 100, 3 << 20, 1 << 20} {
		data := make([]byte, size)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		want = append(want, data)
		path := filepath.Join(dir, fmt.Sprintf("%d.bundle", i))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cp := sandbox.Checkpoint{ID: fmt.Sprintf("cp-%d", i), BaseBranch: "main"}
		if _, err := store.Put(t.Context(), wo, workorder.StepExecute, i+1, cp, path); err != nil {
			t.Fatal(err)
		}
		got, err := store.Get(t.Context(), wo, filepath.Join(dir, "got"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "got"))
		if err != nil || !bytes.Equal(b, data) || got.ID != cp.ID || got.Size != uint64(size) || got.Attempt != i+1 {
			t.Fatalf("checkpoint %d of %d bytes came back as %d bytes, %+v, %v", i, size, len(b), got, err)
		}
	}
	info, err := env.JS.Stream(t.Context(), bus.StreamCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	// The head, the 4 chunks of the 3 MiB bundle in one slot and the 2 of
	// the 1 MiB one (1 MiB is a little over a chunk) in the other.
	if n := info.CachedInfo().State.Msgs; n > 1+4+2 {
		t.Errorf("the stream holds %d messages after four checkpoints; want at most the latest two", n)
	}
}

// A checkpoint's bundle never overwrites the latest one's: a store cut
// short (chunks written, the head not) leaves the previous checkpoint
// whole. A chunk that is not the head's checkpoint's (two writers at once)
// is refused rather than restored.
func TestStore_TornWrites_NeverMixTwoCheckpoints(t *testing.T) {
	env := natstest.Start(t)
	store, err := checkpoint.Open(t.Context(), env.JS)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := env.JS.Stream(t.Context(), bus.StreamCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cp.bundle")
	for _, id := range []string{"cp-1", "cp-2"} {
		if err := os.WriteFile(path, []byte("bundle of "+id), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Put(t.Context(), wo, workorder.StepPlanning, 1, sandbox.Checkpoint{ID: id}, path); err != nil {
			t.Fatal(err)
		}
	}
	// Both bundles are there, one per slot: storing cp-2 left cp-1 whole.
	slotOf := map[string]string{}
	for _, slot := range []string{"a", "b"} {
		msg, err := stream.GetLastMsgForSubject(t.Context(), bus.CheckpointChunkSubject(wo, slot, 0))
		if err != nil {
			t.Fatalf("slot %s: %v", slot, err)
		}
		slotOf[msg.Header.Get("Awo-Checkpoint")] = slot
	}
	if len(slotOf) != 2 || slotOf["cp-1"] == "" || slotOf["cp-2"] == "" {
		t.Fatalf("chunks per checkpoint: %v; want cp-1 and cp-2 in different slots", slotOf)
	}
	chunk := func(slot, id, data string) {
		t.Helper()
		msg := nats.NewMsg(bus.CheckpointChunkSubject(wo, slot, 0))
		msg.Header.Set("Awo-Checkpoint", id)
		msg.Data = []byte(data)
		if _, err := env.JS.PublishMsg(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
	}
	chunk(slotOf["cp-1"], "cp-3", "bundle of cp-3, its head never written") // the next store, cut short
	got := filepath.Join(t.TempDir(), "got")
	if saved, err := store.Get(t.Context(), wo, got); err != nil || saved.ID != "cp-2" {
		t.Fatalf("after a torn store: Get = %+v, %v; want cp-2", saved, err)
	}
	if b, _ := os.ReadFile(got); string(b) != "bundle of cp-2" {
		t.Fatalf("after a torn store the bundle is %q", b)
	}
	chunk(slotOf["cp-2"], "cp-9", "another writer's chunk")
	if _, err := store.Get(t.Context(), wo, got); err == nil || !strings.Contains(err.Error(), "belongs to checkpoint") {
		t.Fatalf("Get with a foreign chunk = %v; want it refused", err)
	}
}

// BenchmarkCheckpoint measures what a step pays: a checkpoint (snapshot,
// bundle, store) after it, and on another executor a restore (fetch from
// the store, clone cache already warm, worktree, working tree).
func BenchmarkCheckpoint(b *testing.B) {
	env := natstest.Start(b)
	store, err := checkpoint.Open(b.Context(), env.JS)
	if err != nil {
		b.Fatal(err)
	}
	o := gitfixture.New(b)
	// A small repository: 200 files of history in origin.
	for i := range 20 {
		o.Commit(b, "main", filepath.Join("src", "f"+strings.Repeat("x", i)+".go"), strings.Repeat("package src\n", 200), "history")
	}
	m := newManager(b, o)
	sb, err := m.Prepare(b.Context(), spec())
	if err != nil {
		b.Fatal(err)
	}
	o.Git(b, sb.Dir, "checkout", "--quiet", "-b", "feat/bench")
	for i := range 10 {
		write(b, sb.Dir, filepath.Join("new", "file"+strings.Repeat("y", i)+".txt"), strings.Repeat("line\n", 100))
	}
	bundle := filepath.Join(b.TempDir(), "cp.bundle")
	var last sandbox.Checkpoint

	b.Run("checkpoint", func(b *testing.B) {
		for b.Loop() {
			cp, err := checkpointTo(b.Context(), m, spec(), sb, bundle)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := store.Put(b.Context(), wo, workorder.StepExecute, 1, cp, bundle); err != nil {
				b.Fatal(err)
			}
			last = cp
		}
		if fi, err := os.Stat(bundle); err == nil {
			b.ReportMetric(float64(fi.Size()), "bundle-bytes")
		}
	})
	other := newManager(b, o)
	if _, err := other.Prepare(b.Context(), sandbox.Spec{WorkOrderID: "wo-0000ffff", RepositoryURL: gitfixture.DefaultURL}); err != nil {
		b.Fatal(err) // warms the other executor's clone cache, as earlier work orders would
	}
	in := filepath.Join(b.TempDir(), "in.bundle")
	b.Run("restore", func(b *testing.B) {
		for b.Loop() {
			got, err := store.Get(b.Context(), wo, in)
			if err != nil {
				b.Fatal(err)
			}
			if got.ID != last.ID {
				b.Fatalf("restoring %s, want %s", got.ID, last.ID)
			}
			if _, err := other.Restore(b.Context(), spec(), got.Checkpoint, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("latest", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := store.Latest(b.Context(), wo); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// checkpointTo snapshots the sandbox and writes its bundle, as the
// executor does when a step changed it.
func checkpointTo(ctx context.Context, m *sandbox.Manager, s sandbox.Spec, sb sandbox.Sandbox, bundle string) (sandbox.Checkpoint, error) {
	cp, err := m.Snapshot(ctx, s, sb)
	if err != nil {
		return cp, err
	}
	return cp, m.Bundle(ctx, s, sb, cp, bundle)
}

// PutAfter stores the next checkpoint after the one Latest read, in the
// other slot; when another checkpoint was stored in between (the same step
// running twice), its guard refuses the stale head and the checkpoint is
// stored after the one that is there now: whole, the other left whole.
func TestStore_PutAfter_StoresAfterTheLatestOrWhatIsThereNow(t *testing.T) {
	env := natstest.Start(t)
	store, err := checkpoint.Open(t.Context(), env.JS)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	put := func(id string, latest checkpoint.Saved, found bool) {
		t.Helper()
		path := filepath.Join(dir, id)
		if err := os.WriteFile(path, []byte("bundle of "+id), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := store.PutAfter(t.Context(), wo, workorder.StepExecute, 1, sandbox.Checkpoint{ID: id, BaseBranch: "main"}, path, latest, found); err != nil {
			t.Fatalf("storing %s: %v", id, err)
		}
	}
	latestIs := func(id string) {
		t.Helper()
		got, err := store.Get(t.Context(), wo, filepath.Join(dir, "got"))
		if err != nil {
			t.Fatalf("want %s: %v", id, err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "got"))
		if got.ID != id || string(b) != "bundle of "+id {
			t.Fatalf("latest is %s (%q), want %s", got.ID, b, id)
		}
	}
	put("cp-1", checkpoint.Saved{}, false)
	latestIs("cp-1")
	first, ok, err := store.Latest(t.Context(), wo)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	put("cp-2", first, true)
	latestIs("cp-2")
	// A second run of the step began at cp-1 too: cp-2 was stored since.
	put("cp-2b", first, true)
	latestIs("cp-2b")
	// One that found none when it began, while there is one now.
	put("cp-3", checkpoint.Saved{}, false)
	latestIs("cp-3")
	second, _, _ := store.Latest(t.Context(), wo)
	put("cp-4", second, true)
	latestIs("cp-4")
}
