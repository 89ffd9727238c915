// Package worker is the step protocol of the services that perform steps
// (the executor, the github service): it takes their step commands from
// the commands stream, records step.started before a step and its result
// after, stops the steps of a cancelled work order, and fails visibly the
// steps whose commands were given up on. A service gives it a Handler for
// its steps; the protocol is middleware around that handler, each part on
// its own (see Run).
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
)

// Config describes a service that performs steps: the executor (agent
// steps) and the github service (gh operations).
type Config struct {
	Service     string // "executor" or "github": the commands it takes and its durable consumer's name
	Description string
	Workers     int           // steps run at once
	AckWait     time.Duration // redelivery after this long without an ack or heartbeat
	MaxDeliver  int           // deliveries before the command is dead-lettered and its step failed
	// Grace is how long steps in progress may go on after ctx is cancelled;
	// then their context is cancelled and the command handed back.
	Grace  time.Duration
	Worker string // names this process in step.started; default host/pid
	Logger *slog.Logger
	// Observe is passed to Consume (ConsumeOptions.Observe); may be nil.
	Observe func(bus.Observation)
	// Admit, when set, may refuse a command before its step starts (the
	// executor's disk guard): the error hands the command back like a
	// handler error, and no step.started is recorded.
	Admit func(ctx context.Context, cmd events.RunStep) error
	// OnCancelled, when set, cleans up after a cancelled work order (the
	// executor removes its sandbox); see OnCancelledFunc.
	OnCancelled OnCancelledFunc
}

// Handler performs one step command and reports its outcome; a failed
// step is a result with Success false and the reason. An error means the
// step could not be carried out now (a shutdown, a tool that could not be
// started): the command is handed back for redelivery, or dead-lettered
// after MaxDeliver (see bus.Handler).
type Handler func(ctx context.Context, cmd events.RunStep, log *slog.Logger) (events.StepResult, error)

// Middleware wraps a Handler with one rule of the step protocol.
type Middleware func(Handler) Handler

// Chain wraps h in mw, the first the outermost: Chain(h, a, b) runs a, then
// b, then h.
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// Run takes the worker's step commands from its durable consumer (created
// if missing) until ctx is cancelled, and keeps the step protocol around h:
// the cancel watch, admission, the step's span, then step.started, h, and
// step.completed or step.failed. A command the consumer gives up on is
// reported as step.failed with the reason, so the work order ends visibly
// instead of waiting forever.
//
// A ctx cancelled while Run is still starting (creating the consumer,
// subscribing) is a shutdown, not a failure: Run then returns nil, as it
// does for a shutdown once it is consuming. Start errors with ctx alive are
// returned.
func Run(ctx context.Context, b *bus.Bus, c Config, h Handler) error {
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	err := run(ctx, b, c, h, log)
	if err != nil && ctx.Err() != nil {
		// What failed was cut short by the shutdown itself (a request
		// whose context ended); a service stopped on its signal mid-start
		// has nothing to report.
		log.Info("step worker stopped by the shutdown", "service", c.Service, "err", err)
		return nil
	}
	return err
}

func run(ctx context.Context, b *bus.Bus, c Config, h Handler, log *slog.Logger) error {
	cons, err := b.JS.CreateOrUpdateConsumer(ctx, bus.StreamCommands, ConsumerConfig(c))
	if err != nil {
		return fmt.Errorf("creating the %s consumer: %w", c.Service, err)
	}
	stepCtx, stop := graceContext(ctx, c.Grace)
	defer stop()
	stopWatching, err := WatchAbandoned(ctx, b, c)
	if err != nil {
		return err
	}
	defer stopWatching()
	watch := newCancelWatch()
	unwatch, err := watchCancellations(stepCtx, b, watch, c.OnCancelled, log)
	if err != nil {
		return err
	}
	defer unwatch()
	worker := workerID(c.Worker)
	steps := Chain(h,
		watchCancel(watch),
		admission(c.Admit, func(ctx context.Context, cmd events.RunStep) (string, error) { return Stale(ctx, b, cmd) }),
		traceSteps(c.Service),
		startFinish(recorder{b}, worker),
		recordStop(recorder{b}),
	)
	return b.Consume(ctx, cons, deliver(ctx, stepCtx, c.Service, log, steps), bus.ConsumeOptions{
		Name:         c.Service,
		Workers:      c.Workers,
		PullWhenFree: true,
		AckWait:      c.AckWait,
		MaxDeliver:   c.MaxDeliver,
		Logger:       log,
		Observe:      c.Observe,
		OnGiveUp:     reportGiveUp(b, c.Service, log),
	})
}

// deliver turns a delivered command into a call of h. Steps run under
// stepCtx, which outlives a shutdown of ctx by the grace period, so the
// delivery's span is moved onto it. A command the protocol settled without
// running it (see settled) is acked.
func deliver(ctx, stepCtx context.Context, service string, log *slog.Logger, h Handler) bus.Handler {
	return func(dctx context.Context, d *bus.Delivery) error {
		cmd, ok := d.Event.Data.(*events.RunStep)
		if !ok {
			return bus.Permanent(fmt.Errorf("expected a run_step command, got %s", d.Event.Type))
		}
		if cmd.Step.Service() != service {
			return bus.Permanent(fmt.Errorf("step %s is not run by the %s service", cmd.Step, service))
		}
		if ctx.Err() != nil {
			// Pulled before the shutdown began: another replica, or this one
			// after its restart, runs it.
			return fmt.Errorf("not starting %s: the %s service is shutting down", cmd.Step, service)
		}
		cmdLog := log.With("work_order_id", string(cmd.WorkOrderID), "step", string(cmd.Step), "attempt", cmd.Attempt)
		sctx := trace.ContextWithSpan(stepCtx, trace.SpanFromContext(dctx))
		_, err := h(WithDelivered(sctx, d.NumDelivered()), *cmd, cmdLog)
		if settled(err) {
			return nil
		}
		return err
	}
}

// skipped is what a middleware returns for a command that must not run
// (see Stale): nothing is recorded and the command is acked.
type skipped struct{ why string }

func (s skipped) Error() string { return "skipping the step: " + s.why }

// errStopped is what recordStop returns once it has recorded the outcome
// of a step its work order's cancel stopped: the command is acked.
var errStopped = errors.New("step stopped: its work order was cancelled")

// Waiting is what a Handler returns for a step that cannot run now and
// waits for a reason that passes by itself (a usage limit, the day's
// budget): the protocol records step.waiting instead of a result and
// acks the command; the orchestrator sends it again at WaitingUntil.
type Waiting struct{ events.StepWaiting }

func (w *Waiting) Error() string {
	return fmt.Sprintf("step waits until %s: %s", w.WaitingUntil.UTC().Format(time.RFC3339), w.Message)
}

// Wait is the error a Handler returns to make its step wait (see Waiting).
func Wait(w events.StepWaiting) error { return &Waiting{w} }

// errWaited is what startFinish returns once it has recorded a step's
// step.waiting: the command is acked.
var errWaited = errors.New("step waits: step.waiting recorded")

// settled reports whether err means the command is done with although no
// result was recorded by startFinish.
func settled(err error) bool {
	var s skipped
	return errors.As(err, &s) || errors.Is(err, errStopped) || errors.Is(err, errWaited)
}

type deliveredKey struct{}

// WithDelivered tells the Handler called with the returned context that
// its command is being delivered for the n-th time.
func WithDelivered(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, deliveredKey{}, n)
}

// Delivered is how many times JetStream has delivered the command a
// Handler was called for, this delivery included: above 1, an earlier run
// of the same command may have been cut short half-way. 0 outside a
// Handler.
func Delivered(ctx context.Context) int {
	n, _ := ctx.Value(deliveredKey{}).(int)
	return n
}

// ConsumerConfig is the durable consumer every replica of c shares.
// MaxAckPending stays at the server's default (1000): it bounds the whole
// fleet, not one replica, and every replica writes this config at start,
// so tying it to one replica's Workers would cap all replicas together at
// that number (and flip-flop when replicas differ). The per-replica bound
// is the consumer wrapper's: PullWhenFree pulls only for an idle worker.
func ConsumerConfig(c Config) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       c.Service,
		Description:   c.Description,
		FilterSubject: bus.CommandFilter(c.Service),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    c.MaxDeliver,
	}
}

// workerID names this process: the configured id, else host/pid.
func workerID(configured string) string {
	if configured != "" {
		return configured
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

// graceContext is cancelled grace after parent is: work in hand outlives a
// shutdown request by that much.
func graceContext(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-ctx.Done():
		}
	})
	return ctx, func() { stop(); cancel() }
}
