// Command bigrepo is `make bench`'s big-repository benchmark: a generated
// repository (50,000 files, about 490 MiB of history, made once with git
// fast-import and cached) served from a local bare origin, and what a work
// order's sandbox costs on it: the first sandbox (clone into the cache and
// worktree), a later one (fetch and worktree from the cache) next to a
// plain `git worktree add` of the same clone timed in the same run, and
// checkpoints (save into an embedded JetStream, restore into a fresh
// sandbox) after a small change and after 200 MB of untracked output.
// It prints its targets and adds section "bigrepo" to bench/results.json.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/agentworkorders/awo/bench/internal/bigrepo"
	"github.com/agentworkorders/awo/bench/internal/report"
	"github.com/agentworkorders/awo/pkg/config"
)

type section struct {
	Date          string         `json:"date"`
	Params        bigrepo.Params `json:"params"`
	PackBytes     int64          `json:"pack_bytes"`
	GeneratedSecs float64        `json:"generated_seconds,omitempty"`
	bigrepo.Result
	Targets []report.Target `json:"targets"`
}

func main() {
	out := flag.String("out", "bench/results.json", "results file; section \"bigrepo\" is replaced")
	files := flag.Int("files", bigrepo.DefaultParams.Files, "files in the generated repository")
	commits := flag.Int("commits", bigrepo.DefaultParams.Commits, "commits after the first, each rewriting -files-per-commit files")
	perCommit := flag.Int("files-per-commit", bigrepo.DefaultParams.FilesPerCommit, "files each later commit rewrites")
	reps := flag.Int("reps", 3, "worktrees of each kind timed (the median is reported)")
	untracked := flag.Int64("untracked", 200_000_000, "bytes of untracked node_modules the second checkpointed step leaves")
	maxBytes := flag.Int64("max-bytes", config.DefaultCheckpointMaxBytes, "AWO_CHECKPOINT_MAX_BYTES")
	keep := flag.Bool("keep", false, "keep the run's temporary directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p := bigrepo.DefaultParams
	p.Files, p.Commits, p.FilesPerCommit = *files, *commits, *perCommit
	if err := run(ctx, p, *reps, *untracked, *maxBytes, *out, *keep, log); err != nil {
		fmt.Fprintln(os.Stderr, "bigrepo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, p bigrepo.Params, reps int, untracked, maxBytes int64, out string, keep bool, log *slog.Logger) error {
	tmp, err := os.MkdirTemp("", "awo-bench-bigrepo-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(os.Stderr, "bigrepo: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	gitconfig := filepath.Join(tmp, "gitconfig")
	if err := os.WriteFile(gitconfig, []byte("[user]\n\tname = AWO Bench\n\temail = bench@example.com\n[advice]\n\tdetachedHead = false\n"), 0o600); err != nil {
		return err
	}
	env := []string{"GIT_CONFIG_GLOBAL=" + gitconfig, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0"}
	fmt.Fprintf(os.Stderr, "bigrepo: repository of %d files, %d MiB of history (generated once, cached under %s)\n",
		p.Files, p.HistoryBytes()>>20, cacheDir())
	bare, generated, err := bigrepo.Ensure(ctx, cacheDir(), p, env)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := bigrepo.Run(ctx, bigrepo.Config{Origin: "file://" + bare, Env: env, Tmp: tmp, Reps: reps,
		Untracked: untracked, MaxBytes: maxBytes, Log: log})
	if err != nil {
		return err
	}
	s := section{Date: time.Now().UTC().Format(time.DateOnly), Params: p, PackBytes: bigrepo.PackBytes(bare),
		GeneratedSecs: generated.Seconds(), Result: res, Targets: targets(res, maxBytes)}
	fmt.Fprintf(os.Stderr, "bigrepo: measured in %s; pack %d MiB, checkout %d MiB\n",
		time.Since(start).Round(time.Second), s.PackBytes>>20, res.CheckoutBytes>>20)
	printFigures(res)
	report.PrintTargets(os.Stdout, "Big repository: targets", s.Targets)
	return report.MergeSection(out, "bigrepo", s)
}

func targets(r bigrepo.Result, maxBytes int64) []report.Target {
	mb := func(b int64) float64 { return float64(b) / 1e6 }
	return []report.Target{
		report.NewTarget("worktree from the cache ÷ plain git worktree add", "x", r.WorktreeRatio, 1.2, false,
			fmt.Sprintf("%.2f s vs %.2f s", r.LaterPrepareSeconds, r.PlainWorktreeSeconds)),
		report.NewTarget("checkpoint save, small change", "s", r.SmallChange.SaveSeconds, 1, false, "snapshot + bundle + JetStream put"),
		report.NewTarget("checkpoint size, small change", "MB", mb(r.SmallChange.BundleBytes), 1, false, "incremental against origin's base"),
		report.NewTarget("checkpoint restore, small change ÷ plain git worktree add", "x", r.SmallChange.RestoreSeconds/r.PlainWorktreeSeconds, 1.2, false,
			fmt.Sprintf("%.2f s: fetch + worktree + read-tree (no target in the issue; held to the worktree's)", r.SmallChange.RestoreSeconds)),
		report.NewTarget("checkpoint size, 200 MB untracked", "MB", mb(r.UntrackedOutput.BundleBytes), mb(maxBytes), false,
			fmt.Sprintf("%.0f MB left out (AWO_CHECKPOINT_MAX_BYTES)", mb(r.UntrackedOutput.LeftOutBytes))),
	}
}

func printFigures(r bigrepo.Result) {
	w := os.Stdout
	fmt.Fprintf(w, "\nBig repository\n")
	fmt.Fprintf(w, "  first sandbox (clone + worktree)      %7.2f s\n", r.FirstPrepareSeconds)
	fmt.Fprintf(w, "  later sandbox (fetch + worktree)      %7.2f s (median)\n", r.LaterPrepareSeconds)
	fmt.Fprintf(w, "  plain git worktree add                %7.2f s (median)\n", r.PlainWorktreeSeconds)
	for _, c := range []struct {
		name string
		c    bigrepo.Checkpointing
	}{{"small change", r.SmallChange}, {"200 MB untracked", r.UntrackedOutput}} {
		fmt.Fprintf(w, "  checkpoint, %-17s save %.2f s (snapshot %.2f s), %d bytes, restore %.2f s, left out %d MB %v\n",
			c.name+":", c.c.SaveSeconds, c.c.SnapshotSecond, c.c.BundleBytes, c.c.RestoreSeconds, c.c.LeftOutBytes/1e6, c.c.LeftOut)
	}
}

func cacheDir() string {
	if d := os.Getenv("AWO_BENCH_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "awo-bench-cache")
	}
	return filepath.Join(home, ".cache", "awo-bench")
}
