package orchestrator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

var allSix = []workorder.Step{
	workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute,
	workorder.StepReview, workorder.StepCommit, workorder.StepCreatePR,
}

func TestRun_AllSixStepsWithIssue_SendsCommandsInOrderWithWhatEarlierStepsFound(t *testing.T) {
	h := newHarness(t)
	h.startOrchestrator("a")
	w := h.startWorkers(succeed)
	wo := workorder.ID("wo-00000001")

	h.request(wo, "42", allSix...)
	end := h.waitEnded(wo)
	h.waitIdle()

	c, ok := end.Data.(*events.Completed)
	if end.Type != events.TypeCompleted || !ok || c.PullRequestURL != "https://github.com/acme/demo/pull/7" {
		t.Fatalf("ended with %s %+v, want completed with the PR URL", end.Type, end.Data)
	}
	cmds := w.receivedFor(wo)
	want := []workorder.Step{workorder.StepCreateBranch, workorder.StepFetchIssue, workorder.StepPlanning,
		workorder.StepExecute, workorder.StepReview, workorder.StepCommit, workorder.StepCreatePR}
	if !slices.Equal(steps(cmds), want) {
		t.Fatalf("commands = %v, want %v", steps(cmds), want)
	}
	for _, c := range cmds {
		if c.RepositoryURL != "https://github.com/acme/demo" || c.SandboxIdentifier != "sandbox-wo-00000001" ||
			c.Attempt != 1 || c.Args.UserRequest != "Fix authentication bug" {
			t.Errorf("%s command lacks the request: %+v", c.Step, c)
		}
	}
	if a := commandOf(t, cmds, workorder.StepPlanning).Args; a.Issue == nil || a.Issue.Title != "Login fails" {
		t.Errorf("planning did not get the fetched issue: %+v", a)
	}
	for _, step := range []workorder.Step{workorder.StepExecute, workorder.StepCommit} {
		a := commandOf(t, cmds, step).Args
		if a.BranchName != "feat/fix-auth" || a.BaseBranch != "main" || a.PlanFile != "PRPs/fix-auth.md" {
			t.Errorf("%s args = %+v, want create-branch's branch and planning's plan file", step, a)
		}
	}
	if out := commandOf(t, cmds, workorder.StepCreatePR).Args.StepOutputs; out[workorder.StepExecute] != "execute done" ||
		out[workorder.StepReview] != "prp-review done" {
		t.Errorf("create-pr step outputs = %v", out)
	}

	for id, n := range countIDs(h.history(wo)) {
		if n != 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}
	// Every line an orchestrator logs after start-up is about a work order.
	for _, rec := range h.logs.records(t, "") {
		if rec["replica"] != nil && rec["msg"] != "orchestrator consuming events" && rec["work_order_id"] != string(wo) {
			t.Errorf("log line without work_order_id: %v", rec)
		}
	}
}

func TestRun_ExecuteFails_StopsThePipelineBeforeCommit(t *testing.T) {
	h := newHarness(t)
	h.startOrchestrator("a")
	w := h.startWorkers(func(cmd events.RunStep) (events.StepResult, bool) {
		if cmd.Step == workorder.StepExecute {
			return events.StepResult{Success: false, ErrorMessage: "tests do not compile"}, true
		}
		return succeed(cmd)
	})
	wo := workorder.ID("wo-00000002")

	h.request(wo, "", workorder.DefaultSteps...)
	end := h.waitEnded(wo)
	h.waitIdle()

	f, ok := end.Data.(*events.Failed)
	if end.Type != events.TypeFailed || !ok || f.Step != workorder.StepExecute || f.ErrorMessage != "execute failed: tests do not compile" {
		t.Fatalf("ended with %s %+v, want failed at execute", end.Type, end.Data)
	}
	want := []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute}
	if got := steps(w.receivedFor(wo)); !slices.Equal(got, want) {
		t.Fatalf("commands = %v, want %v and nothing after the failure", got, want)
	}
	for _, e := range h.history(wo) {
		if d, ok := e.Data.(*events.StepDispatched); ok && (d.Step == workorder.StepCommit || d.Step == workorder.StepCreatePR) {
			t.Errorf("%s was dispatched after execute failed", d.Step)
		}
	}
}

func TestRun_InvalidRequest_FailsVisiblyWithoutCommands(t *testing.T) {
	h := newHarness(t)
	h.startOrchestrator("a")
	w := h.startWorkers(succeed)
	wo := workorder.ID("wo-00000003")

	h.request(wo, "", "deploy")
	end := h.waitEnded(wo)
	h.waitIdle()

	if f, ok := end.Data.(*events.Failed); !ok || !strings.HasPrefix(f.ErrorMessage, `invalid work order: command "deploy"`) {
		t.Fatalf("ended with %s %+v", end.Type, end.Data)
	}
	if got := w.receivedFor(wo); len(got) != 0 {
		t.Fatalf("commands sent for an invalid request: %v", steps(got))
	}
}

func TestRun_RestartedOrchestrator_ContinuesWithoutRepeatingCommands(t *testing.T) {
	h := newHarness(t)
	stopA := h.startOrchestrator("a")
	w := h.startWorkers(func(cmd events.RunStep) (events.StepResult, bool) {
		if cmd.Step == workorder.StepExecute {
			return events.StepResult{}, false // still running when the orchestrator goes away
		}
		return succeed(cmd)
	})
	wo := workorder.ID("wo-00000004")

	h.request(wo, "", workorder.DefaultSteps...)
	var execute events.RunStep
	select {
	case execute = <-w.held:
	case <-time.After(20 * time.Second):
		t.Fatal("execute was never sent")
	}
	stopA()

	// The step finishes while no orchestrator runs; a new one, with nothing
	// in memory, picks the work order up from the stream.
	r, _ := succeed(execute)
	w.finish(execute, r)
	h.startOrchestrator("b")
	end := h.waitEnded(wo)
	h.waitIdle()

	if end.Type != events.TypeCompleted {
		t.Fatalf("ended with %s %+v", end.Type, end.Data)
	}
	cmds := w.receivedFor(wo)
	if !slices.Equal(steps(cmds), workorder.DefaultSteps) {
		t.Fatalf("commands = %v, want each of %v once, in order", steps(cmds), workorder.DefaultSteps)
	}
	for id, n := range countIDs(h.history(wo)) {
		if n != 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}
}

func TestRun_DispatchStoredButCommandNeverSent_CommandIsSentAfterRestart(t *testing.T) {
	h := newHarness(t)
	wo := workorder.ID("wo-00000005")
	ctx := context.Background()

	// A previous orchestrator stored the dispatch, then died before sending
	// the command: it had acked the events before, not the dispatch.
	stopA := h.startOrchestrator("a")
	stopA()
	h.request(wo, "", workorder.StepCreateBranch, workorder.StepPlanning)
	prev := h.env.Bus("awo/orchestrator")
	seq := uint64(1)
	for _, e := range []events.Event{
		prev.Event(string(wo)+".started", events.TypeStarted, wo, &events.Started{
			SandboxIdentifier: wo.SandboxIdentifier(), Steps: []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning}}),
		prev.Event(string(wo)+".create-branch.1.dispatched", events.TypeStepDispatched, wo, &events.StepDispatched{
			Step: workorder.StepCreateBranch, Attempt: 1, CommandID: events.CommandID(wo, workorder.StepCreateBranch, 1)}),
	} {
		var err error
		if seq, err = prev.PublishEvent(ctx, e, &seq); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := h.env.JS.Consumer(ctx, bus.StreamEvents, ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	// Fetch until the two earlier events are acked: one fetch may come back
	// short, even empty.
	var handled []string
	for deadline := time.Now().Add(15 * time.Second); len(handled) < 2 && time.Now().Before(deadline); {
		batch, err := cons.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			if strings.HasSuffix(msg.Subject(), ".step.dispatched") {
				_ = msg.Nak() // in hand when the process died: redelivered
				continue
			}
			handled = append(handled, msg.Subject())
			if err := msg.Ack(); err != nil {
				t.Fatal(err)
			}
		}
		if err := batch.Error(); err != nil {
			t.Logf("fetch: %v", err)
		}
	}
	if len(handled) != 2 {
		t.Fatalf("setup: previous orchestrator handled %v", handled)
	}

	w := h.startWorkers(succeed)
	h.startOrchestrator("b")
	end := h.waitEnded(wo)
	h.waitIdle()

	if end.Type != events.TypeCompleted {
		t.Fatalf("ended with %s %+v", end.Type, end.Data)
	}
	if got := steps(w.receivedFor(wo)); !slices.Equal(got, []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning}) {
		t.Fatalf("commands = %v", got)
	}
}

func TestRun_TwoOrchestratorsOnOneConsumer_DecideEachStepOnce(t *testing.T) {
	h := newHarness(t)
	h.startOrchestrator("a")
	h.startOrchestrator("b")
	w := h.startWorkers(succeed)

	var wos []workorder.ID
	for i := range 8 {
		wo := workorder.ID(fmt.Sprintf("wo-000000%02x", 0x10+i))
		wos = append(wos, wo)
		h.request(wo, "", workorder.DefaultSteps...)
	}
	for _, wo := range wos {
		if end := h.waitEnded(wo); end.Type != events.TypeCompleted {
			t.Fatalf("%s ended with %s %+v", wo, end.Type, end.Data)
		}
	}
	h.waitIdle()

	for _, wo := range wos {
		hist := h.history(wo)
		for id, n := range countIDs(hist) {
			if n != 1 {
				t.Errorf("%s stored %d times", id, n)
			}
		}
		dispatched := 0
		for _, e := range hist {
			if e.Type == events.TypeStepDispatched {
				dispatched++
			}
		}
		if dispatched != len(workorder.DefaultSteps) {
			t.Errorf("%s: %d dispatches for %d steps", wo, dispatched, len(workorder.DefaultSteps))
		}
		if got := steps(w.receivedFor(wo)); !slices.Equal(got, workorder.DefaultSteps) {
			t.Errorf("%s: commands = %v", wo, got)
		}
	}
	// JetStream would drop a second copy of a decision by its id, so the
	// stream alone cannot show that both replicas decided. The logs can: a
	// decision is logged only when its guarded append succeeded.
	decided := map[string][]any{}
	replicas := map[any]bool{}
	for _, rec := range h.logs.records(t, "decided") {
		id := rec["decision_id"].(string)
		decided[id] = append(decided[id], rec["replica"])
		replicas[rec["replica"]] = true
	}
	for id, by := range decided {
		if len(by) != 1 {
			t.Errorf("%s decided %d times, by %v", id, len(by), by)
		}
	}
	if want := len(wos) * (2 + len(workorder.DefaultSteps)); len(decided) != want {
		t.Errorf("%d decisions logged, want %d", len(decided), want)
	}
	t.Logf("decisions made by replicas %v", replicas)
}

func TestRun_MalformedAndStaleEvents_AreAckedAndChangeNothing(t *testing.T) {
	h := newHarness(t)
	h.startOrchestrator("a")
	w := h.startWorkers(func(cmd events.RunStep) (events.StepResult, bool) {
		if cmd.Step == workorder.StepCreateBranch {
			return events.StepResult{}, false
		}
		return succeed(cmd)
	})
	wo := workorder.ID("wo-00000006")
	ctx := context.Background()

	h.request(wo, "", workorder.StepCreateBranch, workorder.StepPlanning)
	cb := <-w.held

	// Junk arrives while create-branch runs, from the sources that may
	// produce each type (forged sources: TestRun_ForgedEvent_...).
	executor := h.env.Bus(events.SourceExecutor)
	for _, e := range []events.Event{
		executor.Event("junk-1", events.TypeStepCompleted, wo, &events.StepResult{Step: "deploy", Attempt: 1}),
		executor.Event("junk-2", events.TypeStepCompleted, wo, &events.StepResult{Step: workorder.StepPlanning, Attempt: 3}),
		executor.Event("junk-3", events.TypeStepFailed, wo, &events.StepResult{}),
		h.ext.Event("junk-4", events.TypeRequested, wo, &events.Requested{WorkOrderID: wo}),
	} {
		if _, err := h.ext.PublishEvent(ctx, e, nil); err != nil {
			t.Fatal(err)
		}
	}
	raw := []*nats.Msg{
		{Subject: bus.EventSubject(wo, events.TypeStepCompleted), Data: []byte("{not json"), Header: nats.Header{
			"ce-specversion": {"1.0"}, "ce-id": {"junk-5"}, "ce-type": {events.TypeStepCompleted}, "ce-source": {"x"}, "ce-subject": {string(wo)}}},
		{Subject: bus.EventSubject(wo, "io.archon.workorders.budget.exceeded.v1"), Data: []byte("{}"), Header: nats.Header{
			"ce-specversion": {"1.0"}, "ce-id": {"junk-6"}, "ce-type": {"io.archon.workorders.budget.exceeded.v1"}, "ce-source": {"x"}, "ce-subject": {string(wo)}}},
		{Subject: "workorders.events.wo-bogus.step.completed", Data: []byte("{}"), Header: nats.Header{
			"ce-specversion": {"1.0"}, "ce-id": {"junk-7"}, "ce-type": {events.TypeStepCompleted}, "ce-source": {"x"}, "ce-subject": {"wo-bogus"}}},
	}
	for _, m := range raw {
		if _, err := h.env.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	h.waitIdle()
	r, _ := succeed(cb)
	w.finish(cb, r)

	if end := h.waitEnded(wo); end.Type != events.TypeCompleted {
		t.Fatalf("ended with %s %+v", end.Type, end.Data)
	}
	h.waitIdle()
	if got := steps(w.receivedFor(wo)); !slices.Equal(got, []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning}) {
		t.Fatalf("commands = %v", got)
	}
	cons, _ := h.env.JS.Consumer(ctx, bus.StreamEvents, ConsumerName)
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered != 0 {
		t.Errorf("%d events were redelivered: a handler returned an error for junk", info.NumRedelivered)
	}
	// Only the undecodable message and the step.failed that names no step
	// (no worker can have produced it) are dead-lettered; the rest were
	// judged and acked.
	dlq, _ := h.env.JS.Stream(ctx, bus.StreamDLQ)
	dinfo, err := dlq.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dinfo.State.Msgs != 2 {
		t.Errorf("dead-lettered %d messages, want only the undecodable one and the step.failed without a step", dinfo.State.Msgs)
	}
}
