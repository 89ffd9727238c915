package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// rig drives one handler by hand, delivering chosen events of one work order
// as the consumer would, so a test can put other writers' events between
// what the handler has seen and what it decides.
type rig struct {
	*harness
	h         *handler
	wo        workorder.ID
	delivered uint64 // last sequence handed to the handler
}

func newRig(t *testing.T) *rig {
	h := newHarness(t)
	b := h.env.Bus("awo/orchestrator")
	stream, err := b.OpenStream(context.Background(), bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &rig{harness: h, h: newHandler(b, stream, log), wo: "wo-0000abcd"}
}

// deliverNext hands the handler the first event after the last delivered.
func (r *rig) deliverNext() events.Event {
	r.t.Helper()
	for _, e := range r.history(r.wo) {
		if e.Seq > r.delivered {
			r.deliver(e)
			return e
		}
	}
	r.t.Fatal("nothing left to deliver")
	return events.Event{}
}

func (r *rig) deliver(e events.Event) {
	r.t.Helper()
	if err := r.h.handle(context.Background(), &bus.Delivery{Event: e}); err != nil {
		r.t.Fatalf("handling %s: %v", e.ID, err)
	}
	r.delivered = max(r.delivered, e.Seq)
}

// toCreateBranchDispatched brings the work order to create-branch
// dispatched, through the handler: requested → started → dispatched → command.
func (r *rig) toCreateBranchDispatched() {
	r.t.Helper()
	r.request(r.wo, "", workorder.StepCreateBranch, workorder.StepPlanning)
	for range 3 {
		r.deliverNext()
	}
}

func (r *rig) publish(e events.Event) uint64 {
	r.t.Helper()
	seq, err := r.ext.PublishEvent(context.Background(), e, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return seq
}

func (r *rig) createBranchCompleted() events.Event {
	return r.env.Bus(events.SourceExecutor).Event(events.CommandID(r.wo, workorder.StepCreateBranch, 1)+".completed", events.TypeStepCompleted, r.wo,
		&events.StepResult{Step: workorder.StepCreateBranch, Attempt: 1, Success: true, BranchName: "feat/x"})
}

func (r *rig) cancelRequested() events.Event {
	return r.ext.Event(string(r.wo)+".cancel_requested", events.TypeCancelRequested, r.wo, &events.CancelRequested{Reason: "client asked"})
}

func (r *rig) types() []string {
	var out []string
	for _, e := range r.history(r.wo) {
		out = append(out, events.ShortName(e.Type))
	}
	return out
}

func (r *rig) has(short string) bool {
	for _, t := range r.types() {
		if t == short {
			return true
		}
	}
	return false
}

func TestHandler_CancelStoredWhileDeciding_GuardMakesItDecideAgain(t *testing.T) {
	r := newRig(t)
	r.toCreateBranchDispatched()

	// create-branch completes, and before the handler gets to it a cancel
	// is stored: the handler decides on a state that is already stale.
	done := r.publish(r.createBranchCompleted())
	r.publish(r.cancelRequested())
	r.deliver(eventAt(t, r, done))

	if countType(r.history(r.wo), events.TypeStepDispatched) != 1 {
		t.Fatalf("planning was dispatched after the cancel was stored: %v", r.types())
	}
	if !r.has("workorder.cancelled") {
		t.Fatalf("the cancel was not carried out: %v", r.types())
	}
	if n := len(r.logs.records(t, "decided")); n != 3 {
		t.Errorf("%d decisions, want started, dispatch and cancelled", n)
	}
}

func TestHandler_EventsDeliveredElsewhere_AreFoldedBeforeDeciding(t *testing.T) {
	r := newRig(t)
	r.toCreateBranchDispatched()

	// A cancel goes to another replica (never delivered here); then the
	// step's completion is delivered here. Folding the completion onto the
	// cached state alone would dispatch planning, and the guard (at the
	// completion's sequence) would not stop it.
	r.publish(r.cancelRequested())
	done := r.publish(r.createBranchCompleted())
	r.deliver(eventAt(t, r, done))

	if countType(r.history(r.wo), events.TypeStepDispatched) != 1 {
		t.Fatalf("planning was dispatched although a cancel precedes the completion: %v", r.types())
	}
	if !r.has("workorder.cancelled") {
		t.Fatalf("the cancel was not carried out: %v", r.types())
	}
}

// A step's result appended guarded by the event before it (as workers
// append them) says which event that was, so the handler knows it follows
// its cached state without reading the stream: the hand-off is decided
// with no lookup at all.
func TestHandler_GuardedEvent_FollowsTheCachedStateWithoutReading(t *testing.T) {
	r := newRig(t)
	r.toCreateBranchDispatched()
	dispatch := r.delivered
	seq, err := r.ext.PublishEvent(context.Background(), r.createBranchCompleted(), &dispatch)
	if err != nil {
		t.Fatal(err)
	}
	done := eventAt(t, r, seq)
	reads := r.env.CountDirectGets(t)
	r.deliver(done)
	if n := reads(); n != 0 {
		t.Errorf("%d direct gets to decide on a result that names its predecessor; want none", n)
	}
	if countType(r.history(r.wo), events.TypeStepDispatched) != 2 {
		t.Fatalf("planning was not dispatched: %v", r.types())
	}
}

// A guarded event whose predecessor is not the cached state's last event
// (a cancel went to another replica) makes the handler catch up first, as
// an unguarded one does.
func TestHandler_GuardedEvent_AfterOneDeliveredElsewhere_CatchesUp(t *testing.T) {
	r := newRig(t)
	r.toCreateBranchDispatched()
	cancel := r.publish(r.cancelRequested())
	seq, err := r.ext.PublishEvent(context.Background(), r.createBranchCompleted(), &cancel)
	if err != nil {
		t.Fatal(err)
	}
	r.deliver(eventAt(t, r, seq))
	if countType(r.history(r.wo), events.TypeStepDispatched) != 1 {
		t.Fatalf("planning was dispatched although a cancel precedes the completion: %v", r.types())
	}
	if !r.has("workorder.cancelled") {
		t.Fatalf("the cancel was not carried out: %v", r.types())
	}
}

func TestHandler_RedeliveredDispatch_ResendsOnlyItsOwnCommand(t *testing.T) {
	r := newRig(t)
	r.toCreateBranchDispatched()
	hist := r.history(r.wo)

	for _, e := range hist { // requested, started, dispatched again
		r.deliver(e)
	}
	sent := r.logs.records(t, "sent command")
	if len(sent) != 2 || sent[1]["command_id"] != "wo-0000abcd.create-branch.1" || sent[1]["event"] != "step.dispatched" {
		t.Fatalf("sent %v; want the create-branch command once more, for the redelivered dispatch only", sent)
	}
	if n := len(r.logs.records(t, "decided")); n != 2 {
		t.Errorf("%d decisions after redeliveries, want still 2", n)
	}
	if got := len(r.history(r.wo)); got != len(hist) {
		t.Errorf("redeliveries appended %d events", got-len(hist))
	}

	// Once the worker has started the step, its command is no longer owed.
	r.publish(r.env.Bus(events.SourceExecutor).Event(events.CommandID(r.wo, workorder.StepCreateBranch, 1)+".started", events.TypeStepStarted, r.wo,
		&events.StepStarted{Step: workorder.StepCreateBranch, Attempt: 1}))
	r.deliverNext()
	r.deliver(hist[2])
	if n := len(r.logs.records(t, "sent command")); n != 2 {
		t.Errorf("command re-sent for a step already started (%d sends)", n)
	}
}

func TestHandler_EvictedState_IsRebuiltFromTheStream(t *testing.T) {
	r := newRig(t)
	r.toCreateBranchDispatched()
	r.h.cache.Remove(r.wo)

	done := r.publish(r.createBranchCompleted())
	r.deliver(eventAt(t, r, done))
	r.deliverNext() // the planning dispatch
	cmds := r.logs.records(t, "sent command")
	if last := cmds[len(cmds)-1]; last["command_id"] != "wo-0000abcd.planning.1" {
		t.Fatalf("after a cache miss: last command %v, want planning", last)
	}
}

func TestHandler_GivingUpOnAnEvent_FailsTheWorkOrderVisibly(t *testing.T) {
	r := newRig(t)
	r.toCreateBranchDispatched()
	hist := r.history(r.wo)

	r.h.giveUp(context.Background(), &bus.Delivery{Event: hist[2]}, errors.New("nats: timeout"))
	end := r.history(r.wo)
	last := end[len(end)-1]
	f, ok := last.Data.(*events.Failed)
	if !ok || f.Step != workorder.StepCreateBranch || f.ErrorMessage != "orchestrator could not process step.dispatched: nats: timeout" {
		t.Fatalf("last event %s %+v", last.Type, last.Data)
	}
	// Giving up on a work order that already ended changes nothing.
	r.h.giveUp(context.Background(), &bus.Delivery{Event: hist[2]}, errors.New("again"))
	if n := len(r.history(r.wo)); n != len(end) {
		t.Fatalf("giving up on an ended work order appended %d events", n-len(end))
	}
}

func TestReadHistory_SkipsWhatItCannotReadButReportsItsSequence(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.request(r.wo, "", workorder.StepCreateBranch)
	undecodable := &nats.Msg{Subject: bus.EventSubject(r.wo, events.TypeStepCompleted), Data: []byte("{"), Header: nats.Header{
		"ce-specversion": {"1.0"}, "ce-id": {"bad"}, "ce-type": {events.TypeStepCompleted}, "ce-source": {"x"}, "ce-subject": {string(r.wo)}}}
	unknown := &nats.Msg{Subject: bus.EventSubject(r.wo, "io.archon.workorders.budget.exceeded.v1"), Data: []byte("{}"), Header: nats.Header{
		"ce-specversion": {"1.0"}, "ce-id": {"new"}, "ce-type": {"io.archon.workorders.budget.exceeded.v1"}, "ce-source": {"x"}, "ce-subject": {string(r.wo)}}}
	var last uint64
	for _, m := range []*nats.Msg{undecodable, unknown} {
		ack, err := r.env.JS.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		last = ack.Sequence
	}
	hist, err := r.h.bus.History(ctx, r.wo, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist.Events) != 1 || hist.Events[0].Type != events.TypeRequested || hist.LastSeq != last {
		t.Fatalf("history = %d events, last seq %d; want the request only and last seq %d", len(hist.Events), hist.LastSeq, last)
	}
	rest, err := r.h.bus.History(ctx, r.wo, last)
	if err != nil || len(rest.Events) != 0 || rest.LastSeq != last {
		t.Fatalf("history after the end = %+v, %v", rest, err)
	}

	// The point of it: the handler can still append after such messages.
	r.deliverNext()
	if !r.has("workorder.started") {
		t.Fatalf("no decision after unreadable messages: %v", r.types())
	}
}

func eventAt(t *testing.T, r *rig, seq uint64) events.Event {
	t.Helper()
	for _, e := range r.history(r.wo) {
		if e.Seq == seq {
			return e
		}
	}
	t.Fatalf("no event at seq %d", seq)
	return events.Event{}
}

func countType(hist []events.Event, typ string) int {
	n := 0
	for _, e := range hist {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// A new work order's request is decided without reading the stream; a
// redelivered request whose decision is already stored must still not be
// decided twice: the guard conflicts and the retry reads the history.
func TestHandler_RedeliveredRequest_AfterEviction_DecidesNothingTwice(t *testing.T) {
	r := newRig(t)
	r.toCreateBranchDispatched()
	first := eventAt(t, r, 1)
	if first.Type != events.TypeRequested {
		t.Fatalf("first event is %s", first.Type)
	}
	before := len(r.history(r.wo))
	r.h.cache.Remove(r.wo)
	r.deliver(first)
	if after := r.history(r.wo); len(after) != before || countType(after, events.TypeStarted) != 1 {
		t.Fatalf("redelivered request changed the history: %d → %d events, %v", before, len(after), r.types())
	}
}

// Histories are read through short-lived consumers that are deleted after
// the read: a busy orchestrator must not pile up consumers until the
// server's per-stream limit (1000) refuses new ones.
func TestHandler_ManyWorkOrders_LeaveNoConsumersBehind(t *testing.T) {
	r := newRig(t)
	for i := range 30 {
		r.wo = workorder.ID(fmt.Sprintf("wo-%08x", i+1))
		r.delivered = 0
		r.toCreateBranchDispatched()
		r.h.cache.Remove(r.wo) // force history reads as well
		r.deliver(eventAt(t, r, r.history(r.wo)[0].Seq))
	}
	// Each read deletes its consumer when done (60 reads here). Deleting is
	// best effort: an ordered consumer that reset itself under load just
	// before may leave its new incarnation to the server's inactivity
	// threshold. So: none, or at most a stray one or two — never one per read.
	stream, err := r.env.JS.Stream(context.Background(), bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	var left int
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		info, err := stream.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if left = info.State.Consumers; left == 0 || time.Now().After(deadline) {
			break
		}
	}
	if left > 2 {
		t.Fatalf("%d consumers left on %s after the reads", left, bus.StreamEvents)
	}
	if left > 0 {
		t.Logf("%d consumer(s) left to the inactivity threshold", left)
	}
}

// The handler acts on its own decisions as soon as their guarded append
// succeeds: a request is answered with the start, the first dispatch and its
// command in one delivery, and a step's completion with the next dispatch and
// its command. The decisions coming back send nothing again.
func TestHandler_OwnDecisions_ActedOnAtOnce_CommandsSentOnce(t *testing.T) {
	r := newRig(t)
	r.request(r.wo, "", workorder.StepCreateBranch, workorder.StepPlanning)
	r.deliverNext() // requested
	if got := r.types(); len(got) != 3 || got[1] != "workorder.started" || got[2] != "step.dispatched" {
		t.Fatalf("after the request alone: %v, want requested, started, dispatched", got)
	}
	sent := r.logs.records(t, "sent command")
	if len(sent) != 1 || sent[0]["command_id"] != "wo-0000abcd.create-branch.1" {
		t.Fatalf("sent %v; want the create-branch command with the request", sent)
	}

	r.deliverNext() // started, coming back
	r.deliverNext() // dispatched, coming back
	if n := len(r.logs.records(t, "sent command")); n != 1 {
		t.Fatalf("%d sends after the decisions came back, want still 1", n)
	}

	r.deliver(eventAt(t, r, r.publish(r.createBranchCompleted())))
	sent = r.logs.records(t, "sent command")
	if len(sent) != 2 || sent[1]["command_id"] != "wo-0000abcd.planning.1" || sent[1]["event"] != "step.completed" {
		t.Fatalf("sent %v; want planning's command right on create-branch's completion", sent)
	}
	r.deliverNext() // planning's dispatch, coming back
	if n := len(r.logs.records(t, "sent command")); n != 2 {
		t.Fatalf("planning's command sent again when its dispatch came back (%d sends)", n)
	}
	if n := len(r.logs.records(t, "decided")); n != 3 {
		t.Errorf("%d decisions, want started and two dispatches", n)
	}
}
