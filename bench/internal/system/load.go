package system

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/bench/internal/handoff"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Load is how work orders are put through a system.
type Load struct {
	Count    int // work orders
	InFlight int // work orders requested and not yet ended, at most
	// Posting bounds the POSTs on their way at once (0: InFlight), so a
	// burst of queued work orders is not also a burst of 1,000 concurrent
	// HTTP requests.
	Posting       int
	RepositoryURL string
	Steps         []workorder.Step
	// EndTimeout bounds one work order from POST to its end.
	EndTimeout time.Duration

	posts chan struct{} // Posting's semaphore, made by Drive
}

// Outcome is what a load did.
type Outcome struct {
	Elapsed  time.Duration   // first POST to last end
	Posted   time.Duration   // first POST to the last one answered
	EndToEnd []time.Duration // per work order: POST sent to end applied in the read store
}

// Drive requests l.Count work orders over HTTP, keeping l.InFlight of them
// running, and waits for each to end in the read store. Any work order
// that does not complete fails the run: a benchmark of failures measures
// nothing.
func (s *System) Drive(ctx context.Context, l Load) (Outcome, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: l.InFlight}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	posting := l.Posting
	if posting <= 0 {
		posting = l.InFlight
	}
	l.posts = make(chan struct{}, posting)
	next := make(chan int)
	var mu sync.Mutex
	out := Outcome{EndToEnd: make([]time.Duration, 0, l.Count)}
	var wg sync.WaitGroup
	start := time.Now()
	for range l.InFlight {
		wg.Go(func() {
			for range next {
				d, posted, err := s.runOne(ctx, client, l)
				if err != nil {
					cancel(err)
					return
				}
				mu.Lock()
				out.EndToEnd = append(out.EndToEnd, d)
				out.Posted = max(out.Posted, posted.Sub(start))
				mu.Unlock()
			}
		})
	}
feed:
	for i := range l.Count {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	out.Elapsed = time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return out, err
	}
	return out, nil
}

// runOne requests one work order and waits for its end; it returns the
// time from POST to end and when the POST was answered.
func (s *System) runOne(ctx context.Context, client *http.Client, l Load) (time.Duration, time.Time, error) {
	id := workorder.NewID()
	ended := s.Ends.Expect(id)
	body, err := json.Marshal(map[string]any{
		"agent_work_order_id": id,
		"repository_url":      l.RepositoryURL,
		"sandbox_type":        workorder.SandboxWorktree,
		"user_request":        "Fix the authentication bug",
		"selected_commands":   l.Steps,
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/agent-work-orders", bytes.NewReader(body))
	if err != nil {
		return 0, time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	l.posts <- struct{}{}
	resp, err := client.Do(req)
	<-l.posts
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("requesting work order %s: %w", id, err)
	}
	posted := time.Now()
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return 0, time.Time{}, fmt.Errorf("requesting work order %s: %s: %s", id, resp.Status, answer)
	}
	select {
	case end := <-ended:
		if end.Status != workorder.StatusCompleted {
			return 0, time.Time{}, fmt.Errorf("work order %s ended %s: %s", id, end.Status, end.ErrorMessage)
		}
		return time.Since(start), posted, nil
	case <-time.After(l.EndTimeout):
		return 0, time.Time{}, fmt.Errorf("work order %s did not end within %s", id, l.EndTimeout)
	case <-ctx.Done():
		return 0, time.Time{}, context.Cause(ctx)
	}
}

// Observe feeds m from core-NATS subscriptions on nc, which see every
// JetStream publish as it is sent: step.completed events, step.dispatched
// events and step commands. Stop it with the returned function once nc is flushed: it
// returns when every message received was observed.
func Observe(nc *nats.Conn, m *handoff.Matcher) (stop func() error, err error) {
	completions, err := subscribeEvents(nc, bus.EventSubject("*", events.TypeStepCompleted), func(e events.Event, arrived time.Time) {
		if r, ok := e.Data.(*events.StepResult); ok {
			m.Completed(e.WorkOrderID, r.Step, e.Time, arrived)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("observing step completions: %w", err)
	}
	commands, err := subscribeEvents(nc, bus.CommandFilter("*"), func(e events.Event, arrived time.Time) {
		if c, ok := e.Data.(*events.RunStep); ok {
			m.Command(c.WorkOrderID, c.Step, c.Attempt, arrived)
		}
	})
	if err != nil {
		_ = completions.Unsubscribe()
		return nil, fmt.Errorf("observing step commands: %w", err)
	}
	dispatches, err := subscribeEvents(nc, bus.EventSubject("*", events.TypeStepDispatched), func(e events.Event, arrived time.Time) {
		if d, ok := e.Data.(*events.StepDispatched); ok {
			m.Dispatched(e.WorkOrderID, d.Step, d.Attempt, arrived)
		}
	})
	if err != nil {
		_ = completions.Unsubscribe()
		_ = commands.Unsubscribe()
		return nil, fmt.Errorf("observing step dispatches: %w", err)
	}
	// Subscriptions are live once the server has them.
	if err := nc.Flush(); err != nil {
		return nil, fmt.Errorf("observing: %w", err)
	}
	return func() error {
		return errors.Join(drain(completions), drain(commands), drain(dispatches))
	}, nil
}

// subscribeEvents calls f with every decodable event published on subject
// and the moment it arrived, taken before decoding.
func subscribeEvents(nc *nats.Conn, subject string, f func(e events.Event, arrived time.Time)) (*nats.Subscription, error) {
	return nc.Subscribe(subject, func(msg *nats.Msg) {
		arrived := time.Now()
		if e, err := events.Decode(msg.Header, msg.Data); err == nil {
			f(e, arrived)
		}
	})
}

// drain stops sub once the callbacks have seen every message it received:
// a flush only proves the messages arrived, and unsubscribing would drop
// those still queued for a callback running late on a busy machine.
func drain(sub *nats.Subscription) error {
	if err := sub.Drain(); err != nil {
		return fmt.Errorf("draining the observer's %s subscription: %w", sub.Subject, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for sub.IsValid() {
		if time.Now().After(deadline) {
			return fmt.Errorf("draining the observer's %s subscription: still delivering after 10s", sub.Subject)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}
