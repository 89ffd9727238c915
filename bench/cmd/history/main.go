// Command history measures awo with months of history (issue 17): a
// JetStream store holding 100,000 finished work orders (generated once,
// cached under ${AWO_BENCH_CACHE:-~/.cache/awo-bench}), the all-in-one's
// start-up on it with the memory read model and its RSS, its idle RSS on
// an empty stream, `awo rebuild-read-model` into Postgres, and read
// latencies under a steady load on both stores. It adds the "history"
// section to -out and prints its figures against their targets.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/agentworkorders/awo/bench/internal/history"
	"github.com/agentworkorders/awo/bench/internal/report"
)

type options struct {
	out        string
	workOrders int
	rate       int
	duration   time.Duration
	postgres   bool
	memory     bool
	awo        string
	before     string
	poolSize   int
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "bench/results.json", "results file: the \"history\" section is replaced")
	flag.IntVar(&o.workOrders, "work-orders", history.DefaultWorkload.WorkOrders, "finished work orders in the history")
	flag.IntVar(&o.rate, "rate", 2000, "reads a second of the load test")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "length of each store's load test")
	flag.BoolVar(&o.postgres, "postgres", true, "measure the Postgres store")
	flag.BoolVar(&o.memory, "memory", true, "measure the memory store")
	flag.StringVar(&o.awo, "awo", "", "an all-in-one binary to measure (default: built from this checkout), e.g. an older one for a before/after")
	flag.StringVar(&o.before, "before", "", "an older all-in-one binary measured beside this one (before/after)")
	flag.IntVar(&o.poolSize, "pool-max-conns", 0, "the Postgres pool size the all-in-one gets (pool_max_conns); 0: its default")
	flag.Parse()
	log.SetFlags(log.Ltime)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := run(ctx, o)
	if err != nil {
		log.Fatalf("history: %v", err)
	}
	targets := res.Targets()
	res.TargetList = targets
	if err := report.MergeSection(o.out, "history", res); err != nil {
		log.Fatalf("history: %v", err)
	}
	report.PrintTargets(os.Stdout, fmt.Sprintf("history: %d work orders, %d events (%s)", o.workOrders, res.Events, res.Load),
		targets)
}

func run(ctx context.Context, o options) (*history.Result, error) {
	w := history.DefaultWorkload
	w.WorkOrders = o.workOrders
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "awo-bench-history-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	log.Printf("history: the stream of %d work orders (cache %s)", w.WorkOrders, history.CacheRoot())
	cached, took, err := history.Cached(ctx, history.CacheRoot(), w)
	if err != nil {
		return nil, err
	}
	if took > 0 {
		log.Printf("history: generated in %s", took.Round(time.Millisecond))
	}
	bin := o.awo
	if bin == "" {
		if bin, err = history.Build(ctx, root, tmp); err != nil {
			return nil, err
		}
	}
	return history.Measure(ctx, history.Plan{Bin: bin, Cached: cached, Tmp: tmp, Workload: w,
		Rate: o.rate, Duration: o.duration, Postgres: o.postgres, Memory: o.memory, GeneratedIn: took, Before: o.before,
		PoolMaxConns: o.poolSize})
}

// repoRoot is the directory holding go.work, from the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the working directory")
		}
		dir = parent
	}
}
