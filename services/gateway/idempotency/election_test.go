package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/idempotency"
)

// Keys keep being claimed while the bucket's stream leader stops: every
// claim either succeeds or fails with bus.ErrUnavailable (the gateway's
// 503), and a claim sent again after that finds the record it stored. At
// the end each key holds its own record.
func TestClaim_SurvivesTheBucketLeaderStopping(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	c := natstest.StartCluster(t, 3)
	_, js := c.Connect(t, "gateway")
	ctx := context.Background()
	s, err := idempotency.Open(ctx, js, bus.Replication{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	stream := "KV_" + idempotency.Bucket
	c.WaitStreamReplicas(stream, 3)

	const clients = 4
	var (
		stop    atomic.Bool
		mu      sync.Mutex
		slowest time.Duration
		failed  []error
		claimed = map[string]idempotency.Record{}
	)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				key := fmt.Sprintf("client-%d-%d", w, n)
				rec := idempotency.Record{WorkOrderID: workorder.ID(fmt.Sprintf("wo-%04d%04d", w, n)), RequestHash: key}
				for {
					start := time.Now()
					claim, err := s.Claim(ctx, key, rec)
					mu.Lock()
					slowest = max(slowest, time.Since(start))
					if err == nil && claim.Record != rec {
						failed = append(failed, fmt.Errorf("%s: claimed %+v, want %+v", key, claim.Record, rec))
					}
					if err != nil && !errors.Is(err, bus.ErrUnavailable) {
						failed = append(failed, fmt.Errorf("%s: %w", key, err))
					}
					if err == nil {
						claimed[key] = rec
					}
					mu.Unlock()
					if err == nil || !errors.Is(err, bus.ErrUnavailable) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond) // a few hundred keys are enough
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	leader := c.LeaderOf(stream)
	stopped := time.Now()
	c.Stop(leader)
	next := c.LeaderOf(stream)
	elected := time.Since(stopped)
	time.Sleep(1500 * time.Millisecond)
	c.Restart(leader)
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("%s leader n%d stopped: n%d elected after %s; slowest claim %s; %d keys claimed",
		stream, leader, next, elected.Round(time.Millisecond), slowest.Round(time.Millisecond), len(claimed))
	for _, err := range failed {
		t.Error(err)
	}
	for key, rec := range claimed {
		again, err := s.Claim(ctx, key, idempotency.Record{WorkOrderID: "wo-other", RequestHash: "other"})
		if err != nil || again.Fresh || again.Record != rec {
			t.Errorf("%s afterwards: %+v, %v; want its own record %+v", key, again, err, rec)
		}
	}
}
