// Package projector keeps a read store up to date with the
// WORKORDERS_EVENTS stream and lets readers wait until it has caught up
// with a given stream sequence (read-your-writes).
//
// It reads through an ordered consumer: no state is kept on the server. It
// resumes after the store's AppliedSequence, so the in-memory store is
// rebuilt from the whole stream at every start (or from the events after
// the snapshot the gateway loaded into it: services/gateway/snapshot)
// while a persistent store only reads what it has not seen.
package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
)

// ErrStopped is returned by WaitFor once Run has returned: the sequence
// will never be reached by this projector.
var ErrStopped = errors.New("projector stopped")

// Retry delays, doubled from min up to max, for a store that fails and for
// a stream that cannot be read.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 5 * time.Second
)

// Projector folds the event stream into a read store.
type Projector struct {
	js         jetstream.JetStream
	store      readmodel.Store
	log        *slog.Logger
	rejections Rejections // nil: not counted

	mu      sync.Mutex
	applied uint64 // highest stream sequence handled, applied or skipped
	from    uint64 // the store's applied sequence when Run started
	// advanced is closed, and replaced, every time applied grows or the
	// projector catches up or stops: one broadcast to every waiter.
	advanced chan struct{}
	caughtUp bool // the backlog present at start has been handled
	stopped  bool
	started  bool
	// storeErr is the error of the last failed Apply while the projector
	// retries it, nil once the store takes events again. Readers waiting
	// for the projection give up at once instead of waiting out a
	// database outage.
	storeErr error
}

// New returns a projector writing to store and logging to log
// (slog.Default() when nil). Call Run to start it.
func New(js jetstream.JetStream, store readmodel.Store, log *slog.Logger) *Projector {
	if log == nil {
		log = slog.Default()
	}
	return &Projector{js: js, store: store, log: log, advanced: make(chan struct{})}
}

// CountRejections makes the projector count the events the store refuses
// in r. Call it before Run.
func (p *Projector) CountRejections(r Rejections) *Projector {
	p.rejections = r
	return p
}

// Run applies events until ctx is cancelled, then returns nil. It fails only
// if the store cannot say where to resume; a lost connection or a failing
// store is retried, because skipping events would corrupt the read model.
func (p *Projector) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.started {
		p.mu.Unlock()
		return errors.New("projector: Run called twice")
	}
	p.started = true
	p.mu.Unlock()
	defer p.stop()

	from, err := p.store.AppliedSequence(ctx)
	if ctx.Err() != nil {
		// Stopped while starting: a stop, not a failure (as below).
		return nil
	}
	if err != nil {
		return fmt.Errorf("projector: reading the store's applied sequence: %w", err)
	}
	p.mu.Lock()
	p.from = from
	p.mu.Unlock()
	p.advance(from, false)
	p.log.Info("projector starting", "after_seq", from)

	delay := minRetry
	for {
		err := p.consume(ctx, &delay)
		if ctx.Err() != nil {
			return nil
		}
		p.log.Warn("projector lost the event stream; resuming", "after_seq", p.Applied(), "err", err, "retry_in", delay)
		if !sleep(ctx, delay) {
			return nil
		}
		delay = min(delay*2, maxRetry)
	}
}

// consume reads the stream from after the last handled sequence until ctx
// ends or the stream fails. A successful read resets *delay.
func (p *Projector) consume(ctx context.Context, delay *time.Duration) error {
	idle := func() bool { p.markCaughtUp(); return false }
	return readEvents(ctx, p.js, p.Applied(), idle, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
		*delay = minRetry
		if err := p.handle(ctx, msg, meta.Sequence.Stream); err != nil {
			return false, err
		}
		p.advance(meta.Sequence.Stream, meta.NumPending == 0)
		return false, nil
	})
}

// handle applies one message. It returns an error only when ctx ends;
// anything wrong with the message itself is logged and skipped, an event
// the store refuses as data is dead-lettered and skipped (retrying it
// would stall the projection for good), and a failing store is retried
// with backoff, however long it stays down, because skipping an event
// the store could have taken would leave the read model wrong for good.
func (p *Projector) handle(ctx context.Context, msg jetstream.Msg, seq uint64) error {
	e, log, ok := decode(p.log, msg, seq)
	if !ok {
		return nil
	}
	ctx, span := traceApply(ctx, e)
	defer span.End()
	delay := minRetry
	for {
		_, err := apply(ctx, p.js, p.store, log, msg, e, p.rejections)
		switch {
		case err == nil:
			p.setStoreErr(nil)
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		}
		p.setStoreErr(err)
		log.Error("read store failed to apply event; retrying", "type", events.ShortName(e.Type), "err", err, "retry_in", delay)
		if !sleep(ctx, delay) {
			return ctx.Err()
		}
		delay = min(delay*2, maxRetry)
	}
}

// Applied is the highest stream sequence handled so far.
func (p *Projector) Applied() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.applied
}

// CaughtUp reports whether the backlog present at start has been handled.
func (p *Projector) CaughtUp() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.caughtUp
}

// StoreErr is the error the store gave for the event the projector is
// retrying, or nil when the projection is not held up by the store.
func (p *Projector) StoreErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.storeErr
}

// WaitFor returns once the store reflects every event up to stream
// sequence seq and the whole backlog that was in the stream at start, so a
// read after it sees everything written before. It returns ctx's error
// if that takes too long, ErrStopped if the projector has stopped, and
// the store's error (readmodel.ErrUnavailable for a database that is down)
// at once if the projection is stuck retrying the store.
func (p *Projector) WaitFor(ctx context.Context, seq uint64) error {
	return waitFor(ctx, seq, "event", "applied", func() progressView {
		p.mu.Lock()
		defer p.mu.Unlock()
		return progressView{applied: p.applied, ready: p.caughtUp, stopped: p.stopped, storeErr: p.storeErr, advanced: p.advanced}
	})
}

// releaseAfter is how many events a start-up replay takes before the
// projector hands the memory it left behind back to the OS once caught up:
// decoding 1.7 million events (100,000 work orders) leaves a heap several
// times the read model's, which the RSS would keep until the heap grew
// into it again (bench/cmd/history, docs/performance.md).
const releaseAfter = 100_000

func (p *Projector) advance(seq uint64, caughtUp bool) {
	if caughtUp && p.replayedMuch(seq) {
		debug.FreeOSMemory()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := false
	if seq > p.applied {
		p.applied, changed = seq, true
	}
	if caughtUp && !p.caughtUp {
		p.caughtUp, changed = true, true
		p.log.Info("projector caught up with the event stream", "seq", p.applied)
	}
	if changed {
		p.broadcast()
	}
}

func (p *Projector) markCaughtUp() { p.advance(0, true) }

// replayedMuch says whether catching up at seq ends a replay of more than
// releaseAfter events since Run started.
func (p *Projector) replayedMuch(seq uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.caughtUp && max(seq, p.applied) >= p.from+releaseAfter
}

// setStoreErr records whether the store is failing and wakes waiters when
// that changes, so they can give up (or keep waiting) at once.
func (p *Projector) setStoreErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if (err == nil) == (p.storeErr == nil) {
		p.storeErr = err
		return
	}
	p.storeErr = err
	if err == nil {
		p.log.Info("read store accepts events again; catching up", "after_seq", p.applied)
	}
	p.broadcast()
}

func (p *Projector) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	p.broadcast()
}

// broadcast wakes every waiter; p.mu must be held.
func (p *Projector) broadcast() {
	close(p.advanced)
	p.advanced = make(chan struct{})
}

// sleep waits d or until ctx ends, reporting whether the full d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Position is how far the projection has got against the stream.
type Position struct {
	Applied uint64 // highest stream sequence this projector has handled
	Stream  uint64 // last sequence in WORKORDERS_EVENTS
}

// Lag is how many stream sequences the projection is behind.
func (p Position) Lag() uint64 {
	if p.Stream <= p.Applied {
		return 0
	}
	return p.Stream - p.Applied
}

// Position asks the server for the stream's last sequence and pairs it with
// what this projector has applied.
func (p *Projector) Position(ctx context.Context) (Position, error) {
	// Read applied first: an event arriving in between makes the lag look
	// larger, never negative.
	applied := p.Applied()
	last, err := lastSequence(ctx, p.js)
	if err != nil {
		return Position{Applied: applied}, err
	}
	return Position{Applied: applied, Stream: last}, nil
}

func lastSequence(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return 0, fmt.Errorf("looking up stream %s: %w", bus.StreamEvents, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the state of stream %s: %w", bus.StreamEvents, err)
	}
	return info.State.LastSeq, nil
}
