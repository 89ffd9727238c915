package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/syncbuf"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// harness is one embedded JetStream server with the orchestrators under
// test and fake workers standing in for the executor and github services.
type harness struct {
	t    *testing.T
	env  *natstest.Env
	ext  *bus.Bus // publishes what the gateway would
	cfg  config.Config
	logs *logSink
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	env := natstest.Start(t)
	return &harness{t: t, env: env, ext: env.Bus(events.SourceGateway), cfg: cfg, logs: newLogSink(t)}
}

// startOrchestrator runs an orchestrator replica; the returned stop cancels
// it and waits for Run to return (it is also called at cleanup).
func (h *harness) startOrchestrator(name string) (stop func()) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("replica", name)
	go func() {
		done <- Run(ctx, Deps{Config: h.cfg.Orchestrator(), Bus: h.env.Bus("awo/orchestrator"), Logger: log})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					h.t.Errorf("orchestrator %s: Run returned %v", name, err)
				}
			case <-time.After(15 * time.Second):
				h.t.Errorf("orchestrator %s did not stop", name)
			}
		})
	}
	h.t.Cleanup(stop)
	// Run creates the durable consumer; wait for it so a test's first
	// event cannot race the consumer's creation.
	h.waitFor("the orchestrator consumer", func() bool {
		_, err := h.env.JS.Consumer(context.Background(), bus.StreamEvents, ConsumerName)
		return err == nil
	})
	return stop
}

// request publishes workorder.requested as the gateway does.
func (h *harness) request(wo workorder.ID, issue string, steps ...workorder.Step) {
	h.t.Helper()
	zero := uint64(0)
	e := h.ext.Event(string(wo)+".requested", events.TypeRequested, wo, &events.Requested{
		WorkOrderID: wo, RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree,
		UserRequest: "Fix authentication bug", SelectedCommands: steps, GitHubIssueNumber: issue,
	})
	if _, err := h.ext.PublishEvent(context.Background(), e, &zero); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) history(wo workorder.ID) []events.Event {
	h.t.Helper()
	hist, err := h.env.Bus("test").History(context.Background(), wo, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return hist.Events
}

// waitEnded waits for the work order's terminal event and returns it.
func (h *harness) waitEnded(wo workorder.ID) events.Event {
	h.t.Helper()
	var end events.Event
	h.waitFor(string(wo)+" to end", func() bool {
		for _, e := range h.history(wo) {
			switch e.Type {
			case events.TypeCompleted, events.TypeFailed, events.TypeCancelled:
				end = e
				return true
			}
		}
		return false
	})
	return end
}

// waitIdle waits until every durable consumer has handled all it was given,
// so that assertions about what did not happen are meaningful.
func (h *harness) waitIdle() {
	h.t.Helper()
	idle := func() bool {
		for _, sc := range [][2]string{{bus.StreamEvents, ConsumerName}, {bus.StreamCommands, fakeWorkersName}} {
			c, err := h.env.JS.Consumer(context.Background(), sc[0], sc[1])
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				continue
			}
			if err != nil {
				return false
			}
			info, err := c.Info(context.Background())
			if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
				return false
			}
		}
		return true
	}
	h.waitFor("consumers to be idle", func() bool {
		// Twice, apart: a handler may be about to publish the next event.
		if !idle() {
			return false
		}
		time.Sleep(100 * time.Millisecond)
		return idle()
	})
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const fakeWorkersName = "fake-workers"

// fakeWorkers play the executor and github services: they take commands off
// WORKORDERS_COMMANDS, report step.started, and answer with what answer
// returns, or hold the command (ok false) for the test to finish later.
type fakeWorkers struct {
	h      *harness
	answer func(events.RunStep) (r events.StepResult, ok bool)
	held   chan events.RunStep
	// wait, when set, may answer a command with step.waiting instead.
	wait func(events.RunStep) *events.StepWaiting

	mu       sync.Mutex
	received []events.RunStep
	at       []time.Time // when each command was received
}

func (h *harness) startWorkers(answer func(events.RunStep) (events.StepResult, bool)) *fakeWorkers {
	h.t.Helper()
	return h.startWaitingWorkers(answer, nil)
}

// startWaitingWorkers starts fake workers that answer a command with
// step.waiting whenever wait returns one.
func (h *harness) startWaitingWorkers(answer func(events.RunStep) (events.StepResult, bool), wait func(events.RunStep) *events.StepWaiting) *fakeWorkers {
	h.t.Helper()
	w := &fakeWorkers{h: h, answer: answer, held: make(chan events.RunStep, 16), wait: wait}
	ctx, cancel := context.WithCancel(context.Background())
	cons, err := h.env.JS.CreateOrUpdateConsumer(ctx, bus.StreamCommands, jetstream.ConsumerConfig{
		Durable: fakeWorkersName, FilterSubject: "workorders.commands.>", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	consumer := h.env.Bus("awo/fake-worker")
	done := make(chan error, 1)
	go func() {
		done <- consumer.Consume(ctx, cons, func(ctx context.Context, d *bus.Delivery) error {
			cmd := *d.Event.Data.(*events.RunStep)
			b := h.env.Bus(events.StepSource(cmd.Step)) // as the worker of the step's kind
			w.mu.Lock()
			w.received = append(w.received, cmd)
			w.at = append(w.at, time.Now())
			w.mu.Unlock()
			started, why, err := worker.StartStep(ctx, b, cmd, "fake")
			if err != nil || why != "" {
				return err
			}
			if w.wait != nil {
				if sw := w.wait(cmd); sw != nil {
					return worker.WaitStep(ctx, b, cmd, *sw, started)
				}
			}
			r, ok := w.answer(cmd)
			if !ok {
				w.held <- cmd
				return nil
			}
			return worker.FinishStep(ctx, b, cmd, r, started)
		}, bus.ConsumeOptions{Name: fakeWorkersName, Workers: 4, Logger: slog.New(slog.NewJSONHandler(h.logs, nil))})
	}()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("fake workers: %v", err)
		}
	})
	return w
}

// finish answers a held command as its worker would.
func (w *fakeWorkers) finish(cmd events.RunStep, r events.StepResult) {
	w.h.t.Helper()
	if err := worker.FinishStep(context.Background(), w.h.env.Bus(events.StepSource(cmd.Step)), cmd, r, 0); err != nil {
		w.h.t.Fatal(err)
	}
}

func (w *fakeWorkers) receivedFor(wo workorder.ID) []events.RunStep {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []events.RunStep
	for _, c := range w.received {
		if c.WorkOrderID == wo {
			out = append(out, c)
		}
	}
	return out
}

// succeed is the answer of healthy workers: every step succeeds and reports
// the facts its real worker would.
func succeed(cmd events.RunStep) (events.StepResult, bool) {
	r := facts(cmd.Step)
	r.Success = true
	return r, true
}

func facts(step workorder.Step) events.StepResult {
	switch step {
	case workorder.StepCreateBranch:
		return events.StepResult{Output: "feat/fix-auth", BranchName: "feat/fix-auth", BaseBranch: "main"}
	case workorder.StepFetchIssue:
		return events.StepResult{Issue: &events.Issue{Number: 42, Title: "Login fails", Body: "Token expires early"}}
	case workorder.StepPlanning:
		return events.StepResult{Output: "PRPs/fix-auth.md", PlanFile: "PRPs/fix-auth.md"}
	case workorder.StepCreatePR:
		return events.StepResult{PullRequestURL: "https://github.com/acme/demo/pull/7"}
	}
	return events.StepResult{Output: string(step) + " done"}
}

func steps(cmds []events.RunStep) []workorder.Step {
	out := make([]workorder.Step, len(cmds))
	for i, c := range cmds {
		out[i] = c.Step
	}
	return out
}

func commandOf(t *testing.T, cmds []events.RunStep, step workorder.Step) events.RunStep {
	t.Helper()
	i := slices.IndexFunc(cmds, func(c events.RunStep) bool { return c.Step == step })
	if i < 0 {
		t.Fatalf("no %s command among %v", step, steps(cmds))
	}
	return cmds[i]
}

// countIDs counts stored events by id: a decision stored twice would show.
func countIDs(hist []events.Event) map[string]int {
	n := map[string]int{}
	for _, e := range hist {
		n[e.ID]++
	}
	return n
}

// logSink collects JSON log lines from every component of a test and shows
// them when the test fails.
type logSink struct{ syncbuf.Buffer }

func newLogSink(t *testing.T) *logSink {
	s := &logSink{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", s.String())
		}
	})
	return s
}

// records returns the parsed log lines whose msg is msg (all when empty).
func (s *logSink) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if msg == "" || rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}
