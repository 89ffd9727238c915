package logentry

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/redact"
)

// DefaultBuffer is how many entries may wait to be published before new
// ones are dropped.
const DefaultBuffer = 1024

// publishTimeout bounds the wait for the stream's acks, so a broker outage
// drains the queue (by dropping) instead of holding it.
const publishTimeout = 5 * time.Second

// maxUnacked is how many entries may be on their way to the stream at
// once. One publisher serves every step of an executor; waiting for each
// ack before sending the next capped a busy executor at one entry per
// round trip, and steps queued behind each other's flushes.
const maxUnacked = 256

// Publisher sends entries to the log stream from one goroutine, in the
// order they were handed over, without waiting for each one's ack (a
// connection keeps its messages in order). Publish never blocks: an agent
// whose output is not read stalls, so when the queue is full the entry is
// dropped and counted. A lost log line is acceptable; a stuck step is not.
type Publisher struct {
	js   jetstream.JetStream
	log  *slog.Logger
	red  *redact.Redactor
	q    chan item
	done chan struct{}

	// mu guards closed against sends on the closed queue; sends hold it
	// shared, so publishing goroutines never wait for each other.
	mu     sync.RWMutex
	closed bool

	dropped atomic.Uint64
	failed  atomic.Uint64

	unacked []jetstream.PubAckFuture // run's goroutine only
}

// item is an entry to publish, or a flush marker: closing flushed tells
// the waiter that everything queued before it has been sent.
type item struct {
	entry   Entry
	flushed chan struct{}
}

// NewPublisher starts a publisher with room for buffer waiting entries
// (DefaultBuffer when <= 0) that logs to log (slog.Default() when nil, the
// rule stated in package app). Every entry is redacted with red
// (redact.Default() when nil) before it is stored. Close stops it.
func NewPublisher(js jetstream.JetStream, log *slog.Logger, buffer int, red *redact.Redactor) *Publisher {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Publisher{js: js, log: log, red: redact.Or(red), q: make(chan item, buffer), done: make(chan struct{})}
	go p.run()
	return p
}

// Publish queues e, or drops it when the queue is full or the publisher
// closed.
func (p *Publisher) Publish(e Entry) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.dropped.Add(1)
		return
	}
	select {
	case p.q <- item{entry: e}:
	default:
		n := p.dropped.Add(1)
		// Warn on the first drop and then every 100th, so a flood of drops
		// does not become a flood of warnings.
		if n == 1 || n%100 == 0 {
			p.log.Warn("live log queue full; dropping entries", "work_order_id", string(e.WorkOrderID), "dropped_total", n)
		}
	}
}

// Flush waits until every entry queued so far has been published (or
// failed), or ctx ends. A step flushes before reporting its result, so a
// viewer sees the step's last lines before the work order's end.
func (p *Publisher) Flush(ctx context.Context) error {
	flushed := make(chan struct{})
	if err := p.enqueueMarker(ctx, flushed); err != nil {
		return err
	}
	select {
	case <-flushed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Publisher) enqueueMarker(ctx context.Context, flushed chan struct{}) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		close(flushed) // Close publishes or gives up on the rest
		return nil
	}
	select {
	case p.q <- item{flushed: flushed}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close publishes what is queued, waiting at most until ctx ends, and
// stops the publisher. Entries handed over later are dropped.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.q)
	}
	p.mu.Unlock()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Dropped is how many entries were dropped because the queue was full or
// the publisher closed.
func (p *Publisher) Dropped() uint64 { return p.dropped.Load() }

// Failed is how many entries the broker did not accept.
func (p *Publisher) Failed() uint64 { return p.failed.Load() }

func (p *Publisher) run() {
	defer close(p.done)
	for it := range p.q {
		if it.flushed != nil {
			p.awaitAcks()
			close(it.flushed)
			continue
		}
		p.send(it.entry)
	}
	p.awaitAcks()
}

func (p *Publisher) send(e Entry) {
	data, err := Encode(e, p.red)
	if err != nil {
		// Entries are plain structs; this cannot happen short of a bug.
		p.failed.Add(1)
		p.log.Error("encoding live log entry", "work_order_id", string(e.WorkOrderID), "err", err)
		return
	}
	if len(p.unacked) >= maxUnacked {
		p.awaitAcks()
	}
	ack, err := p.js.PublishAsync(Subject(e.WorkOrderID), data)
	if err != nil {
		p.fail(err)
		return
	}
	p.unacked = append(p.unacked, ack)
}

// awaitAcks waits, at most publishTimeout, for the stream to answer every
// entry sent, and counts those it refused or did not answer.
func (p *Publisher) awaitAcks() {
	timeout := time.NewTimer(publishTimeout)
	defer timeout.Stop()
	for i, ack := range p.unacked {
		select {
		case <-ack.Ok():
		case err := <-ack.Err():
			p.fail(err)
		case <-timeout.C:
			for range p.unacked[i:] {
				p.fail(context.DeadlineExceeded)
			}
			clear(p.unacked)
			p.unacked = p.unacked[:0]
			return
		}
	}
	clear(p.unacked)
	p.unacked = p.unacked[:0]
}

func (p *Publisher) fail(err error) {
	n := p.failed.Add(1)
	if n == 1 || n%100 == 0 {
		p.log.Warn("publishing live log entries", "failed_total", n, "err", err)
	}
}

// Encode is an entry as stored: JSON, with every text field redacted by
// red (the agent's text, a tool's input or result, an error). The fields
// are redacted before encoding, as Go strings, so a secret is found
// whatever JSON makes of its quotes and backslashes. The publisher runs it
// on its own goroutine: the agent never waits for it.
func Encode(e Entry, red *redact.Redactor) ([]byte, error) {
	e.Message = red.String(e.Message)
	e.InputSummary = red.String(e.InputSummary)
	e.Tool = red.String(e.Tool)
	e.ToolUseID = red.String(e.ToolUseID)
	e.SessionID = red.String(e.SessionID)
	e.Event = red.String(e.Event)
	return json.Marshal(e)
}
