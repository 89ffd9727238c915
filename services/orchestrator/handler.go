package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/tracing"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/orchestrator/internal/lru"
	"github.com/agentworkorders/awo/services/orchestrator/machine"
)

// handler decides for one delivered event at a time per work order.
//
// The cache holds each work order's state as folded up to some stream
// sequence (State.LastSeq): always a prefix of the stream. The handler's own
// decisions are folded in as soon as their guarded append succeeds: the
// guard proves each one directly follows the cached state, so there is no
// need to wait for it to come back through the consumer before acting on it.
// That is what makes a step's hand-off one append and one command.
type handler struct {
	bus    eventStore
	source string    // the CloudEvents source of the decisions (machine.Env)
	events sequences // WORKORDERS_EVENTS, for gap checks
	cache  *lru.Cache[workorder.ID, machine.State]
	// sent holds the ids of commands this process sent straight after
	// appending their dispatch, so the dispatch event coming back does not
	// send them a second time (JetStream would drop the copy, but only
	// after a round trip).
	sent *lru.Cache[string, struct{}]
	log  *slog.Logger
	now  func() time.Time
	// timers sets the wake-ups of waiting steps (WORKORDERS_TIMERS).
	timers timers
}

// eventStore reads a work order's history and appends to it, and sends
// step commands; *bus.Bus is one.
type eventStore interface {
	History(ctx context.Context, wo workorder.ID, after uint64) (bus.History, error)
	PublishEvent(ctx context.Context, e events.Event, guard *uint64) (uint64, error)
	worker.CommandPublisher
}

// sequences finds where messages are in a stream; *bus.Stream is one.
type sequences interface {
	// NextSeq is the sequence of the first message on subjects matching
	// filter stored after sequence after; ok is false when there is none.
	NextSeq(ctx context.Context, filter string, after uint64) (seq uint64, ok bool, err error)
}

func (h *handler) handle(ctx context.Context, d *bus.Delivery) error {
	e := d.Event
	log := tracing.Logger(ctx, h.log.With("work_order_id", string(e.WorkOrderID), "event", events.ShortName(e.Type), "seq", e.Seq))
	if _, err := workorder.ParseID(string(e.WorkOrderID)); err != nil {
		// Nothing can be decided for it, and no retry will change that.
		log.Warn("ignoring event without a valid work order id", "err", err)
		return nil
	}
	if err := events.CheckSource(e); err != nil {
		// Folding it would let anyone who can publish to the stream
		// complete steps or requests they do not own. Dead-lettered with
		// the reason, and the work order left as it is.
		log.Error("refusing a forged event; dead-lettering it", "source", e.Source, "err", err)
		return bus.Reject(err)
	}
	for race := 1; ; race++ {
		err := h.decide(ctx, e, race == 1, log)
		if !errors.Is(err, bus.ErrConflict) {
			return err
		}
		// Someone appended to this work order after the state we decided
		// on: forget it, re-read the history and decide again.
		h.cache.Remove(e.WorkOrderID)
		if race == maxRaces {
			return fmt.Errorf("deciding on %s: lost the append race %d times: %w", events.ShortName(e.Type), race, err)
		}
		log.Debug("another writer appended first; deciding again", "race", race)
	}
}

// decide folds e into the work order's state and carries out what the new
// state owes. firstTry allows the new-work-order shortcut of state.
func (h *handler) decide(ctx context.Context, e events.Event, firstTry bool, log *slog.Logger) error {
	st, err := h.state(ctx, e, firstTry)
	if err != nil {
		return err
	}
	env := machine.Env{Source: h.source, Now: h.now()}

	var dec machine.Decision
	if e.Seq > st.LastSeq {
		// The live path: e is the next event of the work order.
		next, d, err := machine.Transition(st, e, env)
		if err != nil {
			logRejected(log, st, err)
			next = machine.Replay(st, e)
		}
		st, dec = next, d
	} else {
		// e is already part of the state: a redelivery, or an event the
		// history read on a cache miss went past. What was decided for it
		// may or may not have been carried out, and the state may have
		// moved on since, so act on what the state owes now. Appends are
		// guarded and ids deterministic, so nothing is decided twice; only
		// the dispatch event itself re-sends its command (the outbox), which
		// keeps re-sends to the one case that needs them.
		dec = machine.Pending(st, env)
		dec.Commands = h.notYetSent(commandsFor(e, dec.Commands))
		// A timer may not have been set before the crash or error that
		// brought e back; setting it again stores nothing new.
		log.Debug("event already folded; acting on what the state owes", "state", st.String(), "state_seq", st.LastSeq)
	}

	st, err = h.act(ctx, st, dec, env, log)
	if err != nil {
		h.cache.Remove(e.WorkOrderID)
		return err
	}
	h.cache.Put(e.WorkOrderID, st)
	return nil
}

// notYetSent drops the commands this process already sent when it appended
// their dispatch; the dispatch coming back is the one time they would be
// sent again, so each id is forgotten once it has been skipped.
func (h *handler) notYetSent(cmds []events.RunStep) []events.RunStep {
	out := cmds[:0:0]
	for _, c := range cmds {
		if _, ok := h.sent.Get(c.ID()); ok {
			h.sent.Remove(c.ID())
			continue
		}
		out = append(out, c)
	}
	return out
}

// state returns the work order's state folded at least up to the event
// before e. A cached state is used when e directly follows it; after a gap
// (events delivered elsewhere, e.g. to another replica) or a miss, the state
// is rebuilt from the stream, which then includes e and maybe later events.
//
// A work order's request is its first event (the gateway appends it with a
// guard of 0), so on a first try a request with nothing cached starts from
// the empty state without reading the stream: every new work order would
// otherwise cost a history read. Should the request be a redelivery of one
// already decided on, the guarded append conflicts and the retry reads the
// history.
func (h *handler) state(ctx context.Context, e events.Event, firstTry bool) (machine.State, error) {
	st, ok := h.cache.Get(e.WorkOrderID)
	if ok && e.Seq <= st.LastSeq {
		return st, nil
	}
	if !ok && firstTry && e.Type == events.TypeRequested {
		return machine.State{}, nil
	}
	if ok {
		next, err := h.follows(ctx, st, e)
		if err != nil {
			return machine.State{}, err
		}
		if next {
			return st, nil
		}
	}
	return h.catchUp(ctx, e.WorkOrderID, st)
}

// catchUp folds what the stream holds for wo after st.
func (h *handler) catchUp(ctx context.Context, wo workorder.ID, st machine.State) (machine.State, error) {
	hist, err := h.bus.History(ctx, wo, st.LastSeq)
	if err != nil {
		return machine.State{}, err
	}
	// A forged event stays in the stream (it was dead-lettered when
	// delivered); it counts for the append guard (LastSeq) but is not folded.
	authentic := hist.Events[:0]
	for _, e := range hist.Events {
		if events.CheckSource(e) == nil {
			authentic = append(authentic, e)
		}
	}
	st = machine.Replay(st, authentic...)
	st.LastSeq = max(st.LastSeq, hist.LastSeq)
	return st, nil
}

// follows reports whether e is the work order's first event after st. An
// event whose append was guarded says so itself (Prev), with no read: the
// steps' results are, which makes a hand-off free of lookups.
func (h *handler) follows(ctx context.Context, st machine.State, e events.Event) (bool, error) {
	if e.Prev != nil {
		return *e.Prev == st.LastSeq, nil
	}
	next, ok, err := h.events.NextSeq(ctx, bus.WorkOrderFilter(e.WorkOrderID), st.LastSeq)
	if err != nil {
		return false, fmt.Errorf("looking up the event after seq %d of %s: %w", st.LastSeq, e.WorkOrderID, err)
	}
	if !ok {
		return false, nil // e itself is gone (stream limits): let the history say what is left
	}
	return next == e.Seq, nil
}

// act carries out dec: it appends the decided events, each guarded by the
// sequence of the one before, and goes on with what the resulting state owes
// (a start is followed at once by the first dispatch, a dispatch by its
// command), then sends the commands. Events first: a command never exists
// without the stored decision that explains it. It returns st with the
// appended events folded in.
func (h *handler) act(ctx context.Context, st machine.State, dec machine.Decision, env machine.Env, log *slog.Logger) (machine.State, error) {
	var done machine.Decision
	defer func() { annotateDecision(ctx, st, done) }()
	for round := 0; len(dec.Events) > 0; round++ {
		if round == maxChain {
			// Whatever is still owed is decided when the last append comes back.
			return st, nil
		}
		for _, e := range dec.Events {
			seq, err := h.bus.PublishEvent(ctx, e, &st.LastSeq)
			if err != nil {
				return st, fmt.Errorf("appending %s: %w", e.ID, err)
			}
			log.Info("decided", "decision", events.ShortName(e.Type), "decision_id", e.ID, "decision_seq", seq)
			e.Seq = seq
			st = machine.Replay(st, e)
			done.Events = append(done.Events, e)
		}
		dec = machine.Pending(st, env)
		for _, c := range dec.Commands {
			h.sent.Put(c.ID(), struct{}{})
		}
	}
	for _, cmd := range dec.Commands {
		if err := worker.PublishCommand(ctx, h.bus, cmd); err != nil {
			h.sent.Remove(cmd.ID())
			return st, fmt.Errorf("sending command %s: %w", cmd.ID(), err)
		}
		log.Info("sent command", "command_id", cmd.ID(), "step", string(cmd.Step), "attempt", cmd.Attempt)
		done.Commands = append(done.Commands, cmd)
	}
	if err := h.setTimers(ctx, dec.Wakes, log); err != nil {
		return st, err
	}
	done.Wakes = dec.Wakes
	return st, nil
}

// giveUp runs when the consumer wrapper dead-letters an event after its last
// delivery. The work order cannot move on without it, so it is failed with
// the reason rather than left running forever.
func (h *handler) giveUp(ctx context.Context, d *bus.Delivery, cause error) {
	wo := d.Event.WorkOrderID
	log := h.log.With("work_order_id", string(wo), "event", events.ShortName(d.Event.Type), "seq", d.Event.Seq)
	h.cache.Remove(wo)
	st, err := h.catchUp(ctx, wo, machine.State{})
	if err != nil {
		log.Error("cannot fail the work order after giving up on its event", "err", err)
		return
	}
	reason := fmt.Sprintf("orchestrator could not process %s: %v", events.ShortName(d.Event.Type), cause)
	env := machine.Env{Source: h.source, Now: h.now()}
	if _, err := h.act(ctx, st, machine.Abort(st, reason, env), env, log); err != nil {
		log.Error("cannot fail the work order after giving up on its event", "err", err)
	}
}

// commandsFor keeps the commands that are the outbox of e: a dispatch event
// re-sends its own command, and so does a step.waiting whose time has
// passed (the timer path sends it too; the id is the same) and a retry
// of a waiting step (its command is sent at once); nothing else re-sends
// any.
func commandsFor(e events.Event, owed []events.RunStep) []events.RunStep {
	var step workorder.Step
	var attempt int
	switch d := e.Data.(type) {
	case *events.StepDispatched:
		if e.Type != events.TypeStepDispatched || d == nil {
			return nil
		}
		step, attempt = d.Step, d.Attempt
	case *events.StepWaiting:
		if e.Type != events.TypeStepWaiting || d == nil {
			return nil
		}
		step, attempt = d.Step, d.Attempt
	case *events.RetryRequested:
		if e.Type != events.TypeRetryRequested || d == nil {
			return nil
		}
		return owed
	default:
		return nil
	}
	var out []events.RunStep
	for _, c := range owed {
		if c.Step == step && c.Attempt == attempt {
			out = append(out, c)
		}
	}
	return out
}

// logRejected records an event the machine would not fold. Duplicates are
// routine with at-least-once delivery; anything else is worth seeing but is
// still harmless: the state is unchanged and nothing is decided.
func logRejected(log *slog.Logger, st machine.State, err error) {
	if errors.Is(err, machine.ErrDuplicate) {
		log.Debug("ignoring duplicate event", "state", st.String(), "reason", err)
		return
	}
	log.Info("ignoring event that is not legal now", "state", st.String(), "reason", err)
}
