package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Guarded appends keep going while the WORKORDERS_EVENTS leader is
// stopped: each writer appends its own work order's events in a chain
// (each guarded by the one before), and every append either succeeds —
// after retries, if it met the election — or fails with ErrUnavailable,
// after which the writer sends the same event again, as a client does
// after a 503. At the end every chain is stored whole, once, in order: no
// append lost, doubled, or refused as a conflict with its own earlier copy.
func TestAppend_SurvivesTheStreamLeaderStopping(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	c := natstest.StartCluster(t, 3)
	_, js := c.Connect(t, "writer")
	ctx := context.Background()
	if err := bus.EnsureStreams(ctx, js, bus.StreamSettings{Replication: bus.Replication{Replicas: 3}}); err != nil {
		t.Fatal(err)
	}
	c.WaitStreamReplicas(bus.StreamEvents, 3)
	b := bus.New(js, "awo/test")

	const writers = 6
	var (
		stop        atomic.Bool
		mu          sync.Mutex
		slowest     time.Duration
		unavailable int
		failures    []error
	)
	appended := make([]int, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			id := workorder.ID(fmt.Sprintf("wo-%08d", w))
			var guard uint64
			for n := 0; !stop.Load(); n++ {
				e := b.Event(fmt.Sprintf("%s.e%d", id, n), events.TypeStarted, id, &events.Started{})
				for {
					start := time.Now()
					ack, err := b.Append(ctx, e, &guard)
					took := time.Since(start)
					mu.Lock()
					slowest = max(slowest, took)
					switch {
					case err == nil:
					case errors.Is(err, bus.ErrUnavailable):
						unavailable++
					default:
						failures = append(failures, fmt.Errorf("%w (guard %d, retries so far %d)", err, guard, bus.Retries()))
					}
					mu.Unlock()
					if err == nil {
						guard = ack.Sequence
						break
					}
					if !errors.Is(err, bus.ErrUnavailable) {
						return
					}
				}
				appended[w] = n + 1
			}
		})
	}

	retriesBefore := bus.Retries()
	for _, phase := range []struct {
		what   string
		leader func() int
	}{
		{"WORKORDERS_EVENTS leader", func() int { return c.LeaderOf(bus.StreamEvents) }},
		{"meta leader", c.MetaLeader},
	} {
		time.Sleep(500 * time.Millisecond)
		mu.Lock()
		slowest = 0
		mu.Unlock()
		leader := phase.leader()
		stopped := time.Now()
		c.Stop(leader)
		next := phase.leader()
		elected := time.Since(stopped)
		time.Sleep(2 * time.Second)
		c.Restart(leader)
		mu.Lock()
		t.Logf("%s n%d stopped: n%d elected after %s; slowest append meanwhile %s",
			phase.what, leader, next, elected.Round(time.Millisecond), slowest.Round(time.Millisecond))
		mu.Unlock()
	}
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d appends retried inside the bus, %d gave up with ErrUnavailable and were sent again",
		bus.Retries()-retriesBefore, unavailable)
	for _, err := range failures {
		t.Errorf("append failed with an error other than ErrUnavailable: %v", err)
	}

	c.WaitStreamCurrent(bus.StreamEvents)
	for w := range writers {
		id := workorder.ID(fmt.Sprintf("wo-%08d", w))
		h, err := historyOf(ctx, b, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range h.Events {
			got = append(got, e.ID)
		}
		if len(got) != appended[w] {
			t.Errorf("%s: %d events stored, %d appended", id, len(got), appended[w])
		}
		for n, eid := range got {
			if want := fmt.Sprintf("%s.e%d", id, n); eid != want {
				t.Errorf("%s: event %d is %s, want %s (lost, doubled or out of order)", id, n, eid, want)
				break
			}
		}
		if appended[w] < 3 {
			t.Errorf("%s: only %d appends in the test", id, appended[w])
		}
	}
}

// historyOf reads a work order's events, trying again while the cluster
// settles after the restart (reads are not retried by the bus: a consumer
// whose read fails gets its message again).
func historyOf(ctx context.Context, b *bus.Bus, id workorder.ID) (bus.History, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := b.History(ctx, id, 0)
		if err == nil || time.Now().After(deadline) {
			return h, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
