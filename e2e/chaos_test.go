//go:build chaos

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
)

// The soak behind `make chaos`: many work orders while random services are
// SIGKILLed and restarted at random moments, then the invariants of the
// fault test. Sizes can be changed with AWO_CHAOS_WORK_ORDERS and
// AWO_CHAOS_MINUTES (the most the kills go on; the run then waits for the
// rest to finish).
func TestChaos_RandomKills_EveryWorkOrderCompletesOnce(t *testing.T) {
	n := envInt(t, "AWO_CHAOS_WORK_ORDERS", 100)
	budget := time.Duration(envInt(t, "AWO_CHAOS_MINUTES", 20)) * time.Minute
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("AWO_CHAOS_SEED"); s != "" {
		seed = uint64(envInt(t, "AWO_CHAOS_SEED", 0))
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("chaos seed %d (AWO_CHAOS_SEED repeats the kill pattern, not the timing)", seed)

	w := newWorldWithGH(t, fakegh.Options{PRCreateDelay: time.Second}, concurrentRules(time.Second)...)
	// Redeliveries add up when processes die again and again; a step must
	// not be given up on only because its executors kept being killed.
	// The soak submits its work orders as fast as it can, beyond the
	// default create rate meant for people.
	c := newCluster(t, w, clusterSize{Orchestrators: 2, Executors: 2, GitHubs: 2}, "AWO_MAX_DELIVER=20", "AWO_CREATE_RATE=off")
	c.start()

	start := time.Now()
	var ids []string
	for i := range n {
		ids = append(ids, c.submit(map[string]any{"repository_url": repoURL,
			"user_request": fmt.Sprintf("Add a greeting file (%d)", i), "selected_commands": faultSteps}, time.Minute))
	}

	ctx, stopKilling := context.WithTimeout(context.Background(), budget)
	var wg sync.WaitGroup
	wg.Go(func() { killAtRandom(ctx, t, c, rng, ids) })
	last := c.waitAllFinished(ids, budget)
	stopKilling()
	wg.Wait()
	// Whatever the killer left down comes back; what is unfinished gets
	// the time a calm system needs.
	for _, name := range c.order {
		if p := c.p(name); !p.running() {
			p.crashed()
			if err := p.start(); err != nil {
				t.Fatal(err)
			}
		}
	}
	last = c.waitAllFinished(ids, 5*time.Minute)
	took := time.Since(start)

	c.checkInvariants(ids, last, faultSteps)
	f := c.figures(ids, last, took)
	// On stdout, so `make chaos` shows them without the model's chatter.
	fmt.Printf("chaos figures: %s\n", f)
}

// killAtRandom SIGKILLs a random service every 2–6 s and restarts it 0.5–3 s
// later, until ctx ends. Like a supervisor, it also restarts a service that
// exited on its own (reported as a crash at the end), and prints progress.
func killAtRandom(ctx context.Context, t *testing.T, c *cluster, rng *rand.Rand, ids []string) {
	start, lastReport := time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2*time.Second + time.Duration(rng.Int64N(int64(4*time.Second)))):
		}
		c.restartCrashed(t)
		if time.Since(lastReport) > 30*time.Second {
			lastReport = time.Now()
			done := 0
			for _, id := range ids {
				if wo, ok := c.tryGet(id); ok && finished(wo.Status) {
					done++
				}
			}
			fmt.Printf("chaos: %s in, %d of %d work orders finished\n", time.Since(start).Round(time.Second), done, len(ids))
		}
		p := c.p(c.order[rng.IntN(len(c.order))])
		if !p.running() {
			continue
		}
		p.kill9()
		select {
		case <-ctx.Done():
		case <-time.After(500*time.Millisecond + time.Duration(rng.Int64N(int64(2500*time.Millisecond)))):
		}
		if err := p.start(); err != nil {
			t.Errorf("restarting %s: %v", p.name, err)
			return
		}
	}
}

// restartCrashed starts again every service that exited on its own.
func (c *cluster) restartCrashed(t *testing.T) {
	for _, name := range c.order {
		if p := c.p(name); p.crashed() {
			if err := p.start(); err != nil {
				t.Errorf("restarting %s: %v", p.name, err)
			}
		}
	}
}
