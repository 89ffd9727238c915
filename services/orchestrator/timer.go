package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/orchestrator/machine"
)

// TimerConsumerName is the durable consumer of WORKORDERS_TIMERS every
// orchestrator replica shares: whichever replica holds a timer when its
// time comes sends the waiting step's command.
const TimerConsumerName = "orchestrator-timers"

const (
	// maxTimerDelay bounds one NakWithDelay: a long wait (the daily budget
	// waits for midnight) is a few redeliveries, each of which measures
	// the time left on the clock of the replica that got it, so a
	// replica's clock or a server restart (which may redeliver a message
	// before its delay) costs at most this much.
	maxTimerDelay = 15 * time.Minute
	// timerRetry is the delay before a timer whose wake-up failed (the
	// stream unreachable) is tried again.
	timerRetry = 2 * time.Second
)

// wakeMessage is a timer as stored in WORKORDERS_TIMERS.
type wakeMessage struct {
	WorkOrderID workorder.ID   `json:"agent_work_order_id"`
	Step        workorder.Step `json:"step"`
	Attempt     int            `json:"attempt"`
	Waits       int            `json:"waits"`
	At          time.Time      `json:"at"`
}

// timers sets timers in WORKORDERS_TIMERS.
type timers struct{ js jetstream.JetStream }

// set stores w's timer under its id, so setting one twice (a redelivered
// step.waiting, two replicas) stores it once within the duplicate window;
// a copy stored later only wakes the work order once more, which re-sends
// a command under the same id or finds the step no longer waiting.
func (t timers) set(ctx context.Context, w machine.Wake) error {
	data, err := json.Marshal(wakeMessage{WorkOrderID: w.WorkOrderID, Step: w.Step, Attempt: w.Attempt, Waits: w.Waits, At: w.At.UTC()})
	if err != nil {
		return fmt.Errorf("encoding timer %s: %w", w.ID, err)
	}
	msg := nats.NewMsg(bus.TimerSubject(w.WorkOrderID))
	msg.Data = data
	if _, err := bus.PublishRetrying(ctx, t.js, msg, jetstream.WithMsgID(w.ID)); err != nil {
		return fmt.Errorf("setting timer %s: %w", w.ID, err)
	}
	return nil
}

// pending reports whether a timer of wo is stored (a work queue keeps a
// timer until it is acked, i.e. until it fired).
func (t timers) pending(ctx context.Context, wo workorder.ID) (bool, error) {
	st, err := t.js.Stream(ctx, bus.StreamTimers)
	if err != nil {
		return false, err
	}
	_, err = st.GetLastMsgForSubject(ctx, bus.TimerSubject(wo))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	return err == nil, err
}

// setTimers sets the timers a decision asks for.
func (h *handler) setTimers(ctx context.Context, wakes []machine.Wake, log *slog.Logger) error {
	for _, w := range wakes {
		if err := h.timers.set(ctx, w); err != nil {
			return err
		}
		log.Info("step waits; timer set", "step", string(w.Step), "attempt", w.Attempt, "waits", w.Waits, "until", w.At, "timer", w.ID)
	}
	return nil
}

// runTimers consumes WORKORDERS_TIMERS until ctx is cancelled. JetStream
// holds each timer and hands it out again after the delay a NakWithDelay
// asked for; the consumer allows unlimited deliveries, so a timer lives
// until it fires (or its message is removed by hand).
func (h *handler) runTimers(ctx context.Context, cons jetstream.Consumer, log *slog.Logger) error {
	var inFlight sync.WaitGroup
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		inFlight.Add(1)
		defer inFlight.Done()
		h.fire(ctx, msg, log)
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if ctx.Err() == nil && !errors.Is(err, jetstream.ErrNoHeartbeat) {
			log.Debug("timer consumer", "err", err)
		}
	}))
	if err != nil {
		return fmt.Errorf("consuming %s: %w", bus.StreamTimers, err)
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	inFlight.Wait()
	return nil
}

// fire handles one delivery of a timer: before its time it is handed back
// for the time left; at or after it, the work order is woken and the timer
// acked.
func (h *handler) fire(ctx context.Context, msg jetstream.Msg, log *slog.Logger) {
	var w wakeMessage
	if err := json.Unmarshal(msg.Data(), &w); err != nil {
		log.Error("dropping a timer that cannot be read", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	if _, err := workorder.ParseID(string(w.WorkOrderID)); err != nil {
		log.Error("dropping a timer without a valid work order id", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	log = log.With("work_order_id", string(w.WorkOrderID), "step", string(w.Step), "attempt", w.Attempt, "waits", w.Waits)
	if left := w.At.Sub(h.now()); left > 0 {
		_ = msg.NakWithDelay(min(left, maxTimerDelay))
		return
	}
	err := h.wake(ctx, w, log)
	if errors.Is(err, errTooEarly) {
		_ = msg.NakWithDelay(timerRetry)
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("waking the work order failed; trying again shortly", "err", err)
		}
		_ = msg.NakWithDelay(timerRetry)
		return
	}
	if err := msg.DoubleAck(ctx); err != nil && ctx.Err() == nil {
		// Redelivered: the wake-up is repeated, which sends nothing new.
		log.Debug("acking a timer failed", "err", err)
	}
}

// errTooEarly: the work order still owes a timer, not the command (the
// wait it was set for is not over on this replica's clock).
var errTooEarly = errors.New("the step's wait is not over yet")

// wake sends the command of the step a timer was set for, if the step
// still waits as it did then: the state is read from the stream, so it
// does not matter which replica set the timer or decided anything since.
// Nothing is appended: a waiting step owes only its command, and a cancel
// or retry that came meanwhile is the event handler's to act on.
func (h *handler) wake(ctx context.Context, w wakeMessage, log *slog.Logger) error {
	st, _ := h.cache.Get(w.WorkOrderID)
	st, err := h.catchUp(ctx, w.WorkOrderID, st)
	if err != nil {
		return err
	}
	cur, waiting := st.Waiting()
	if !waiting || st.CancelRequested || cur.Step != w.Step || cur.Attempt != w.Attempt || cur.Waits != w.Waits {
		log.Debug("timer fired for a wait that is over", "state", st.String())
		return nil
	}
	dec := machine.Pending(st, machine.Env{Source: h.source, Now: h.now()})
	if len(dec.Wakes) > 0 {
		return errTooEarly
	}
	for _, cmd := range dec.Commands {
		if err := worker.PublishCommand(ctx, h.bus, cmd); err != nil {
			return fmt.Errorf("sending command %s: %w", cmd.ID(), err)
		}
		log.Info("wait over; sent the step's command again", "command_id", cmd.ID())
	}
	return nil
}

// rearm sets the timer of every waiting work order that has none: the
// timer stream may have been lost or purged, or the waits may predate it.
// Timers still stored are left alone; one set twice only wakes twice.
func (h *handler) rearm(ctx context.Context, b *bus.Bus, log *slog.Logger) error {
	waited := map[workorder.ID]bool{}
	err := b.Read(ctx, bus.StreamEvents, []string{bus.TypeFilter(events.TypeStepWaiting)}, 0, func(m bus.Message) {
		if e, err := events.Decode(m.Header, m.Data); err == nil {
			waited[e.WorkOrderID] = true
		}
	})
	if err != nil {
		return fmt.Errorf("reading the waits: %w", err)
	}
	n := 0
	for wo := range waited {
		// Only a work order whose latest event is its wait can still be
		// waiting (anything after it starts the step, ends or cancels the
		// work order, or re-sends the step): one direct get spares the
		// replay of every work order that ever waited.
		last, err := b.LastMsg(ctx, bus.WorkOrderFilter(wo))
		if err != nil {
			return fmt.Errorf("reading the latest event of %s: %w", wo, err)
		}
		if last == nil || last.Subject != bus.EventSubject(wo, events.TypeStepWaiting) {
			continue
		}
		st, err := h.catchUp(ctx, wo, machine.State{})
		if err != nil {
			return err
		}
		w, waiting := st.Wake()
		if !waiting || st.CancelRequested {
			continue
		}
		if ok, err := h.timers.pending(ctx, wo); err != nil || ok {
			if err != nil {
				return fmt.Errorf("looking for the timer of %s: %w", wo, err)
			}
			continue
		}
		// Set even when its time has passed: it then fires at once. Under
		// an id of its own: the lost timer's may still be in the stream's
		// duplicate window, which would drop this copy.
		w.ID += ".rearmed"
		if err := h.timers.set(ctx, w); err != nil {
			return err
		}
		log.Info("re-armed the timer of a waiting step", "work_order_id", string(wo), "step", string(w.Step), "until", w.At)
		n++
	}
	if n > 0 {
		log.Info("re-armed the timers of waiting work orders", "re_armed", n, "waited", len(waited))
	}
	return nil
}
