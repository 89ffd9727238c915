package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
)

// A command whose worker dies (or hangs) during its last allowed delivery
// is never delivered again and nobody is left to call OnGiveUp: JetStream
// keeps the message and publishes a MAX_DELIVERIES advisory, and the work
// order would wait in running for ever. The advisory goes out when the
// server would deliver the command once more, that is at the first pull
// after the last delivery's AckWait (an idle replica always has one
// outstanding, see bus.ConsumeOptions.PullWhenFree; a replica starting up
// pulls at once). Every step-worker replica listens for it, from before its first pull, and
// settles the command as the wrapper would have: a DLQ copy with the
// reason, step.failed, and the message removed from the work queue. All
// replicas hear the advisory; the DLQ copy and step.failed carry
// deterministic ids, so JetStream keeps one of each, and deleting a
// message already deleted is a no-op.
//
// An advisory that nobody heard (a pull by a process that does not watch,
// or settling that failed half-way) is not repeated. A sweep at start and
// every abandonedSweepEvery finds such commands: in a work-queue stream a
// stored command the consumer has delivered is either pending (in hand,
// waiting for redelivery, or nak'ed) or abandoned, and the server keeps no
// per-message answer to which. So the sweep settles what it can prove
// abandoned: stored commands at or below the ack floor (everything there
// was acked or given up on) and, at a moment when nothing is pending at
// all, every stored command already delivered. A busy fleet therefore
// settles such a command at its next idle moment, not at once.

// maxDeliveriesAdvisory is the subject of the advisory JetStream publishes
// when a message of the consumer has been delivered MaxDeliver times
// without being acked or terminated.
func maxDeliveriesAdvisory(stream, consumer string) string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + stream + "." + consumer
}

// maxDeliveries is the part of the advisory we use.
type maxDeliveries struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// abandonedSweepEvery is how often a step worker looks for commands given
// up on while no replica listened, or whose settling failed half-way.
const abandonedSweepEvery = time.Minute

// abandonedSettle is how long a command the sweep found must stay stored
// before it is settled: an ack moves the consumer's state a moment before
// the work queue drops the message.
const abandonedSettle = 2 * time.Second

// WatchAbandoned settles the worker's commands that JetStream gave up on
// after MaxDeliver deliveries with no worker answering. It returns once it
// listens for the advisory, and keeps at it until ctx is cancelled or stop
// is called (which waits for it to end). Run calls it before it
// pulls; it is exported for tests that play a dead worker.
func WatchAbandoned(ctx context.Context, b *bus.Bus, w Config) (stop func(), err error) {
	if w.MaxDeliver <= 0 {
		return func() {}, nil // unlimited deliveries: JetStream never gives up
	}
	log := w.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("consumer", w.Service)
	nc := b.JS.Conn()
	advisories := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe(maxDeliveriesAdvisory(bus.StreamCommands, w.Service), advisories)
	if err != nil {
		return nil, fmt.Errorf("listening for %s's abandoned commands: %w", w.Service, err)
	}
	// Flushed, so the server knows of the subscription before this
	// process's first pull can trigger an advisory.
	fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
	defer fcancel()
	if err := nc.FlushWithContext(fctx); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("listening for %s's abandoned commands: %w", w.Service, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = sub.Unsubscribe() }()
		settleAbandonedUntil(ctx, b, w, advisories, log)
	}()
	return func() { cancel(); <-done }, nil
}

func settleAbandonedUntil(ctx context.Context, b *bus.Bus, w Config, advisories <-chan *nats.Msg, log *slog.Logger) {
	sweep := time.NewTimer(0)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-advisories:
			var adv maxDeliveries
			if err := json.Unmarshal(m.Data, &adv); err != nil || adv.StreamSeq == 0 {
				log.Warn("ignoring an unreadable max-deliveries advisory", "err", err, "data", string(m.Data))
				continue
			}
			if err := settleAbandoned(ctx, b, w, adv.StreamSeq, int(adv.Deliveries), log); err != nil && ctx.Err() == nil {
				log.Error("settling an abandoned command failed; the next sweep tries again", "seq", adv.StreamSeq, "err", err)
			}
		case <-sweep.C:
			if err := sweepAbandoned(ctx, b, w, log); err != nil && ctx.Err() == nil {
				log.Warn("looking for abandoned commands failed", "err", err)
			}
			sweep.Reset(abandonedSweepEvery)
		}
	}
}

// sweepAbandoned settles the stored commands it can prove abandoned (see
// above).
func sweepAbandoned(ctx context.Context, b *bus.Bus, w Config, log *slog.Logger) error {
	cons, err := b.JS.Consumer(ctx, bus.StreamCommands, w.Service)
	if err != nil {
		return fmt.Errorf("reading the %s consumer: %w", w.Service, err)
	}
	info := cons.CachedInfo()
	floor := info.AckFloor.Stream
	if info.NumAckPending == 0 {
		floor = max(floor, info.Delivered.Stream)
	}
	if floor == 0 {
		return nil
	}
	stream, err := b.JS.Stream(ctx, bus.StreamCommands)
	if err != nil {
		return fmt.Errorf("opening %s: %w", bus.StreamCommands, err)
	}
	var stuck []uint64
	for seq := uint64(1); seq <= floor; {
		m, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(bus.CommandFilter(w.Service)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("scanning %s for abandoned commands: %w", bus.StreamCommands, err)
		}
		if m.Sequence > floor {
			break
		}
		stuck = append(stuck, m.Sequence)
		seq = m.Sequence + 1
	}
	if len(stuck) == 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(abandonedSettle):
	}
	for _, seq := range stuck {
		if err := settleAbandoned(ctx, b, w, seq, w.MaxDeliver, log); err != nil {
			return err
		}
	}
	return nil
}

// settleAbandoned dead-letters the command stored at seq, fails its step
// and removes it from the work queue. A command already gone was settled by
// another replica (or acked): nothing to do. The order matters: the step
// failure is recorded before the command is deleted, so a crash in between
// leaves the command for the next sweep rather than a work order waiting
// for ever.
func settleAbandoned(ctx context.Context, b *bus.Bus, w Config, seq uint64, deliveries int, log *slog.Logger) error {
	stream, err := b.JS.Stream(ctx, bus.StreamCommands)
	if err != nil {
		return fmt.Errorf("opening %s: %w", bus.StreamCommands, err)
	}
	m, err := stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading abandoned command %d: %w", seq, err)
	}
	cause := fmt.Errorf("no worker answered within AWO_ACK_WAIT (%s) (it died or hung)", w.AckWait)
	e, decodeErr := events.Decode(m.Header, m.Data)
	cmd, isStep := e.Data.(*events.RunStep)
	cmdLog := log.With("seq", seq, "subject", m.Subject, "delivered", deliveries)
	if decodeErr == nil && isStep {
		cmdLog = cmdLog.With("work_order_id", string(cmd.WorkOrderID), "step", string(cmd.Step), "attempt", cmd.Attempt)
	}
	cmdLog.Error("JetStream gave up on a command no worker answered; dead-lettering it and failing its step", "err", cause)

	dl := bus.DLQCopy(w.Service, m.Subject, m.Header, m.Data, cause, deliveries, seq)
	// Every replica hears the advisory: one DLQ copy per stored command.
	dl.Header.Set(nats.MsgIdHdr, fmt.Sprintf("abandoned.%s.%d.%s", w.Service, seq, m.Header.Get(nats.MsgIdHdr)))
	if _, err := b.JS.PublishMsg(ctx, dl); err != nil {
		return fmt.Errorf("dead-lettering abandoned command %d: %w", seq, err)
	}
	if decodeErr == nil && isStep {
		msg := giveUpMessage(w.Service, *cmd, deliveries, cause)
		if err := FinishStep(ctx, b, *cmd, events.StepResult{ErrorMessage: msg}, 0); err != nil {
			return fmt.Errorf("failing the step of abandoned command %d: %w", seq, err)
		}
	}
	if err := stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		// Another replica may have deleted it first.
		if _, gerr := stream.GetMsg(ctx, seq); !errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("removing abandoned command %d: %w", seq, err)
		}
	}
	return nil
}

// giveUpMessage is the error_message of a step whose command was given up
// on, by the wrapper or after a dead worker.
func giveUpMessage(service string, cmd events.RunStep, deliveries int, cause error) string {
	times := "deliveries"
	if deliveries == 1 {
		times = "delivery"
	}
	return fmt.Sprintf("the %s service gave up on %s after %d %s: %v", service, cmd.Step, deliveries, times, cause)
}

// reportGiveUp records step.failed for a command the consumer gives up
// on, with the reason.
func reportGiveUp(b *bus.Bus, service string, log *slog.Logger) bus.GiveUpFunc {
	return func(ctx context.Context, d *bus.Delivery, cause error) {
		cmd, ok := d.Event.Data.(*events.RunStep)
		if !ok {
			return
		}
		msg := giveUpMessage(service, *cmd, d.NumDelivered(), cause)
		if err := FinishStep(ctx, b, *cmd, events.StepResult{ErrorMessage: msg}, 0); err != nil {
			log.Error("publishing the step failure after giving up", "work_order_id", string(cmd.WorkOrderID), "step", string(cmd.Step), "err", err)
		}
	}
}
