package bigrepo

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/natsembed"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/checkpoint"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// Config is one run of the benchmark.
type Config struct {
	Origin string   // file:// URL of the bare repository
	Env    []string // every git process's environment
	Tmp    string   // sandboxes, NATS and scratch files; removed by the caller
	Reps   int      // worktrees of each kind timed (median taken)
	// Untracked is what the second checkpointed step leaves untracked, in
	// a node_modules without .gitignore.
	Untracked int64
	MaxBytes  int64 // AWO_CHECKPOINT_MAX_BYTES
	Log       *slog.Logger
}

// Checkpointing is one checkpoint's save (snapshot, bundle, put into
// JetStream) and restore (get, restore into a fresh sandbox from the cache).
type Checkpointing struct {
	SaveSeconds    float64  `json:"save_seconds"`
	SnapshotSecond float64  `json:"snapshot_seconds"`
	BundleBytes    int64    `json:"bundle_bytes"`
	StreamBytes    uint64   `json:"stream_bytes"` // WORKORDERS_CHECKPOINTS after the put
	LeftOutBytes   int64    `json:"left_out_bytes"`
	LeftOut        []string `json:"left_out,omitempty"`
	RestoreSeconds float64  `json:"restore_seconds"`
}

// Result is what one run measured.
type Result struct {
	FirstPrepareSeconds  float64       `json:"first_prepare_seconds"`  // clone into the cache + worktree
	LaterPrepareSeconds  float64       `json:"later_prepare_seconds"`  // fetch + worktree from the cache (median)
	PlainWorktreeSeconds float64       `json:"plain_worktree_seconds"` // git worktree add alone, same clone (median)
	WorktreeRatio        float64       `json:"worktree_ratio"`
	CheckoutBytes        int64         `json:"checkout_bytes"`
	SmallChange          Checkpointing `json:"small_change"`
	UntrackedOutput      Checkpointing `json:"untracked_output"`
	UntrackedBytes       int64         `json:"untracked_bytes"`
}

// Run measures the sandboxes of work orders on the repository at
// cfg.Origin, checkpoints stored in an embedded JetStream.
func Run(ctx context.Context, cfg Config) (Result, error) {
	var r Result
	m := &sandbox.Manager{Root: filepath.Join(cfg.Tmp, "sandboxes"), AllowLocal: true, Env: cfg.Env,
		Logger: cfg.Log, CheckpointMaxBytes: cfg.MaxBytes}
	spec := func(n int) sandbox.Spec {
		id := workorder.ID(fmt.Sprintf("wo-%08x", 0xb16000+n))
		return sandbox.Spec{WorkOrderID: id, RepositoryURL: cfg.Origin, Type: workorder.SandboxWorktree,
			Identifier: "sandbox-" + string(id)}
	}
	start := time.Now()
	first, err := m.Prepare(ctx, spec(0))
	if err != nil {
		return r, err
	}
	r.FirstPrepareSeconds = time.Since(start).Seconds()
	r.CheckoutBytes = dirBytes(first.Dir) - dirBytes(filepath.Join(first.Dir, ".git"))
	cfg.Log.Info("first sandbox prepared", "seconds", r.FirstPrepareSeconds)

	later, plain, err := worktrees(ctx, cfg, m, first, spec)
	if err != nil {
		return r, err
	}
	r.LaterPrepareSeconds, r.PlainWorktreeSeconds = median(later), median(plain)
	r.WorktreeRatio = r.LaterPrepareSeconds / r.PlainWorktreeSeconds

	store, stream, stop, err := openStore(ctx, cfg.Tmp)
	if err != nil {
		return r, err
	}
	defer stop()
	small := func(dir string) error { return smallChange(dir) }
	if r.SmallChange, err = checkpointRound(ctx, cfg, m, store, stream, spec(100), small); err != nil {
		return r, err
	}
	r.UntrackedBytes = cfg.Untracked
	big := func(dir string) error {
		if err := smallChange(dir); err != nil {
			return err
		}
		return writeUntracked(filepath.Join(dir, "node_modules"), cfg.Untracked)
	}
	if r.UntrackedOutput, err = checkpointRound(ctx, cfg, m, store, stream, spec(101), big); err != nil {
		return r, err
	}
	return r, nil
}

// worktrees times a later work order's sandbox (Prepare: fetch, prune,
// worktree add from the cached clone) and a plain `git worktree add` of
// the same commit in the same clone, in turns and swapping which goes
// first, so that neither always follows the other's clean-up; each after a
// sync(2), so that neither pays for writing back what came before it.
func worktrees(ctx context.Context, cfg Config, m *sandbox.Manager, first sandbox.Sandbox, spec func(int) sandbox.Spec) (later, plain []float64, err error) {
	common, err := gitOut(ctx, cfg.Env, first.Dir, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		return nil, nil, err
	}
	// git runs in the cached clone's checkout, as the executor runs it.
	clone := strings.TrimSuffix(common, string(filepath.Separator)+".git")
	prepare := func(i int) error {
		syscall.Sync()
		start := time.Now()
		if _, err := m.Prepare(ctx, spec(1+i)); err != nil {
			return err
		}
		later = append(later, time.Since(start).Seconds())
		return m.Remove(ctx, spec(1+i))
	}
	add := func(i int) error {
		dir := filepath.Join(cfg.Tmp, fmt.Sprintf("plain-%d", i))
		syscall.Sync()
		start := time.Now()
		if err := runGit(ctx, cfg.Env, clone, nil, "worktree", "add", "--quiet", "--detach", dir, "refs/remotes/origin/"+first.BaseBranch); err != nil {
			return err
		}
		plain = append(plain, time.Since(start).Seconds())
		return runGit(ctx, cfg.Env, clone, nil, "worktree", "remove", "--force", dir)
	}
	for i := range cfg.Reps {
		order := []func(int) error{prepare, add}
		if i%2 == 1 {
			order[0], order[1] = add, prepare
		}
		for _, f := range order {
			if err := f(i); err != nil {
				return nil, nil, err
			}
		}
		cfg.Log.Info("worktrees timed", "later_prepare_seconds", later[i], "plain_worktree_seconds", plain[i])
	}
	return later, plain, nil
}

// checkpointRound prepares a sandbox, changes it as a step would, and
// saves it as the save stage does; then restores it as the next step on
// another sandbox would (the sandbox gone, the cache kept).
func checkpointRound(ctx context.Context, cfg Config, m *sandbox.Manager, store *checkpoint.Store, stream jetstream.Stream,
	s sandbox.Spec, step func(dir string) error) (Checkpointing, error) {
	var c Checkpointing
	sb, err := m.Prepare(ctx, s)
	if err != nil {
		return c, err
	}
	if err := step(sb.Dir); err != nil {
		return c, err
	}
	bundle := filepath.Join(cfg.Tmp, "scratch.bundle")
	defer os.Remove(bundle)
	start := time.Now()
	cp, left, err := m.SnapshotCapped(ctx, s, sb)
	if err != nil {
		return c, err
	}
	c.SnapshotSecond = time.Since(start).Seconds()
	if err := m.Bundle(ctx, s, sb, cp, bundle); err != nil {
		return c, err
	}
	saved, err := store.Put(ctx, s.WorkOrderID, workorder.StepExecute, 1, cp, bundle)
	if err != nil {
		return c, err
	}
	c.SaveSeconds = time.Since(start).Seconds()
	c.BundleBytes = int64(saved.Size)
	c.LeftOutBytes = sandbox.LeftOutBytes(left)
	for _, e := range left[:min(len(left), 5)] {
		c.LeftOut = append(c.LeftOut, e.Path)
	}
	if info, err := stream.Info(ctx); err == nil {
		c.StreamBytes = info.State.Bytes
	}
	_ = os.Remove(bundle)
	if err := m.Remove(ctx, s); err != nil {
		return c, err
	}
	start = time.Now()
	got, err := store.Get(ctx, s.WorkOrderID, bundle)
	if err != nil {
		return c, err
	}
	if _, err := m.Restore(ctx, s, got.Checkpoint, bundle); err != nil {
		return c, err
	}
	c.RestoreSeconds = time.Since(start).Seconds()
	return c, m.Remove(ctx, s)
}

// smallChange is a step's usual work: an edited file, a new one, a commit
// on a branch, and an edit left uncommitted.
func smallChange(dir string) error {
	for _, f := range []struct{ name, body string }{
		{"src/m00/d000/f00000.bin", "edited by the agent\n"},
		{"src/feature/new.go", "package feature\n\n// New is new.\nfunc New() {}\n"},
	} {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.body), 0o644); err != nil {
			return err
		}
	}
	env := []string{"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@b", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@b"}
	for _, args := range [][]string{{"checkout", "--quiet", "-b", "feat/" + filepath.Base(dir)}, {"add", "-A"}, {"commit", "--quiet", "-m", "feat: bench"}} {
		if err := runGit(context.Background(), env, dir, nil, args...); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "src/m00/d000/f00001.bin"), []byte("uncommitted\n"), 0o644)
}

// writeUntracked writes n bytes of incompressible files of 100 KiB under
// dir, in packages of 20 files, as an install would.
func writeUntracked(dir string, n int64) error {
	buf := make([]byte, 100<<10)
	for i := 0; n > 0; i++ {
		p := filepath.Join(dir, fmt.Sprintf("pkg%04d", i/20), fmt.Sprintf("f%02d.js", i%20))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		b := buf[:min(int64(len(buf)), n)]
		_, _ = rand.Read(b)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		n -= int64(len(b))
	}
	return nil
}

// openStore starts an embedded JetStream with awo's streams and opens
// the checkpoint store on it.
func openStore(ctx context.Context, tmp string) (*checkpoint.Store, jetstream.Stream, func(), error) {
	srv, err := natsembed.Start(natsembed.Options{DataDir: filepath.Join(tmp, "nats"), Name: "awo-bench-bigrepo"})
	if err != nil {
		return nil, nil, nil, err
	}
	nc, err := srv.Connect("bigrepo")
	if err != nil {
		srv.Shutdown()
		return nil, nil, nil, err
	}
	stop := func() { nc.Close(); srv.Shutdown() }
	js, err := jetstream.New(nc)
	if err == nil {
		err = bus.EnsureStreams(ctx, js, bus.StreamSettings{})
	}
	var store *checkpoint.Store
	if err == nil {
		store, err = checkpoint.Open(ctx, js)
	}
	var stream jetstream.Stream
	if err == nil {
		stream, err = js.Stream(ctx, bus.StreamCheckpoints)
	}
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return store, stream, stop, nil
}

func gitOut(ctx context.Context, env []string, dir string, args ...string) (string, error) {
	cmd := execGit(ctx, env, dir, args...)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %v: %w", args, err)
	}
	return string(trimNL(out)), nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
