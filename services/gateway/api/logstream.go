package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// streamLogs is Server-Sent Events: the stored entries after the resume
// point, then each new one as the executor publishes it, with the work
// order's own start and end (workflow_started, workflow_completed, ...)
// among them, all as unnamed data events (what EventSource.onmessage
// sees); a ": ping" comment every heartbeat so proxies keep the
// connection; and a final named "end" event once the work order has
// finished and every entry stored before that has been sent. Each viewer
// reads through its own ordered consumers, so viewers are independent and
// leave nothing on the server.
func (s *server) streamLogs(w http.ResponseWriter, r *http.Request) error {
	wo, q, err := s.logRequest(r, false)
	if err != nil {
		return err
	}
	ctx, end, err := s.startStream(w, r)
	if ctx == nil || err != nil {
		return err
	}
	defer end()
	f, err := s.openFeed(ctx, wo.AgentWorkOrderID, wo.SelectedCommands, q)
	if err != nil {
		return fmt.Errorf("%w: %w", errLogStream, err)
	}
	out, ok := openSSE(w)
	if !ok {
		return nil // the client is gone; nothing can be answered
	}
	log := s.log.With("work_order_id", string(f.id))
	log.Debug("log stream opened", "after", q.after)
	s.sendLogs(ctx, out, f, q.after, log)
	return nil
}

// logFeed is what one log stream sends from.
type logFeed struct {
	id      workorder.ID
	filter  logentry.Filter
	entries <-chan logentry.Delivery
	// history are the lifecycle entries stored before the stream opened,
	// still to be sent in time order among the log entries (none when a
	// viewer resumes: it has seen them); end is the work order's end when
	// it had ended by then.
	history []logentry.Entry
	end     *logentry.Entry
	// life delivers the lifecycle entries stored later.
	life  <-chan lifeUpdate
	clock logentry.Clock
	plan  []workorder.Step
	// startLooked says the start was looked up for an entry that came
	// before it (see catchStart); startSent is the start then sent.
	startLooked bool
	startSent   time.Time
	// held are the lifecycle entries waiting for earlier log entries.
	held []heldEntry
}

// lifeUpdate is a lifecycle entry read live; final marks the work order's
// end: a terminal event with nothing (no retry) stored after it.
type lifeUpdate struct {
	entry logentry.Entry
	final bool
}

// openFeed starts reading the work order's log after sequence after, and
// its lifecycle: what is stored now at once, then what comes. plan is the
// work order's selected steps.
func (s *server) openFeed(ctx context.Context, id workorder.ID, plan []workorder.Step, q logQuery) (*logFeed, error) {
	entries, err := logentry.Tail(ctx, s.LogStream, id, q.after)
	if err != nil {
		return nil, err
	}
	hist, seq, err := logentry.ReadLifecycle(ctx, s.LogStream, id, plan)
	if err != nil {
		return nil, err
	}
	f := &logFeed{id: id, filter: q.filter, entries: entries, plan: plan}
	for _, e := range hist {
		f.clock.Observe(e)
	}
	if i := lastEnd(hist); i >= 0 {
		end := hist[i]
		f.end = &end
		hist = append(hist[:i:i], hist[i+1:]...)
	}
	if q.after == 0 {
		f.history = hist
	}
	if f.end == nil {
		if f.life, err = s.followLifecycle(ctx, id, plan, seq); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// followLifecycle delivers the lifecycle entries stored after sequence
// after, until the work order's end.
func (s *server) followLifecycle(ctx context.Context, id workorder.ID, plan []workorder.Step, after uint64) (<-chan lifeUpdate, error) {
	msgs, err := s.LogStream.Follow(ctx, bus.StreamEvents, logentry.LifecycleSubjects(id), after)
	if err != nil {
		return nil, fmt.Errorf("watching work order %s for its end: %w", id, err)
	}
	out := make(chan lifeUpdate)
	go func() {
		send := func(u lifeUpdate) bool {
			select {
			case out <- u:
				return true
			case <-ctx.Done():
				return false
			}
		}
		// end is an end nothing has reopened yet; a github step's event
		// stored after it (a cancel does not wait for create-pr) does not
		// reopen it.
		var end *logentry.Entry
		for m := range msgs {
			if e, ok := logentry.DecodeLifecycle(m, plan); ok {
				switch {
				case isEnd(e):
					end = &e
				case e.Event == logentry.EventWorkflowStarted && end != nil:
					if !send(lifeUpdate{entry: *end}) {
						return
					}
					end = nil
					fallthrough
				default:
					if !send(lifeUpdate{entry: e}) {
						return
					}
				}
			}
			if end != nil && m.Pending == 0 {
				send(lifeUpdate{entry: *end, final: true})
				return
			}
		}
	}()
	return out, nil
}

// lastEnd is the index of the work order's end in its lifecycle entries,
// or -1 when it has not ended: the last end with no start after it.
func lastEnd(hist []logentry.Entry) int {
	for i := len(hist) - 1; i >= 0; i-- {
		switch {
		case isEnd(hist[i]):
			return i
		case hist[i].Event == logentry.EventWorkflowStarted:
			return -1
		}
	}
	return -1
}

func isEnd(e logentry.Entry) bool {
	switch e.Event {
	case logentry.EventWorkflowCompleted, logentry.EventWorkflowFailed, logentry.EventWorkflowCancelled:
		return true
	}
	return false
}

// sendLogs sends the entries after sequence after that pass the filter,
// and heartbeats, until the client leaves, the reading fails, or the work
// order has ended and every entry stored before its end has been read.
func (s *server) sendLogs(ctx context.Context, out sse, f *logFeed, after uint64, log *slog.Logger) {
	heartbeat := time.NewTicker(s.SSEHeartbeat)
	defer heartbeat.Stop()
	sent := after // sequence of the last entry read, shown or filtered out
	last := s.lastEntry(ctx, f.id, log)
	// Nothing stored to replay: the lifecycle so far goes out now.
	if last <= after && !f.sendHistory(out, time.Time{}) {
		return
	}
	if f.end != nil {
		f.held = append(f.held, heldEntry{entry: *f.end, after: last, final: true})
	}
	for {
		for len(f.held) > 0 && sent >= f.held[0].after {
			h := f.held[0]
			f.held = f.held[1:]
			if h.final {
				f.finish(out, h.entry, log)
				return
			}
			if !f.send(out, h.entry) {
				return
			}
		}
		select {
		case d, ok := <-f.entries:
			if !ok {
				return // the reading failed for good or ctx ended
			}
			sent = d.Entry.Seq
			if !s.catchStart(ctx, out, f, log) || !f.sendHistory(out, d.Entry.Timestamp) || !f.send(out, d.Entry) {
				return
			}
			// Caught up: the rest of the history is older than what comes.
			if d.Pending == 0 && !f.sendHistory(out, time.Time{}) {
				return
			}
		case u := <-f.life:
			if !s.lifeUpdate(ctx, out, f, u, log) {
				return
			}
		case <-heartbeat.C:
			if !out.send(": ping\n\n") {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// heldEntry is a lifecycle entry waiting for the log entries stored
// before it (up to sequence after) to be sent; final ends the stream.
type heldEntry struct {
	entry logentry.Entry
	after uint64
	final bool
}

// lifeUpdate sends a start at once (nothing of its round is stored before
// it) and holds a step's boundary or the work order's end until the
// entries the executor stored before it have gone out: the log and the
// events are read through different consumers. false means the client is
// gone.
func (s *server) lifeUpdate(ctx context.Context, out sse, f *logFeed, u lifeUpdate, log *slog.Logger) bool {
	if u.entry.Event == logentry.EventWorkflowStarted {
		if u.entry.Timestamp.Equal(f.startSent) {
			return true // sent already by catchStart
		}
		f.clock.Observe(u.entry)
		return f.send(out, u.entry)
	}
	if u.final {
		f.life = nil
	}
	f.held = append(f.held, heldEntry{entry: u.entry, after: s.lastEntry(ctx, f.id, log), final: u.final})
	return true
}

// catchStart sends the work order's start before a log entry that
// overtook it: the two are read through different consumers, and a step's
// entry is stored after the start, so the start is there to look up (once
// per stream). false means the client is gone.
func (s *server) catchStart(ctx context.Context, out sse, f *logFeed, log *slog.Logger) bool {
	if f.clock.Started() || f.startLooked {
		return true
	}
	f.startLooked = true
	ev, ok, err := s.Publisher.LastEvent(ctx, f.id, events.TypeStarted)
	if err != nil {
		log.Warn("log stream: looking up the work order's start", "err", err)
		return true
	}
	if !ok {
		return true
	}
	e, _ := logentry.Lifecycle(ev, f.plan)
	f.clock.Observe(e)
	f.startSent = e.Timestamp
	return f.send(out, e)
}

// lastEntry is the sequence of the work order's newest log entry; 0 when
// it cannot be read (the stream then ends without waiting for more).
func (s *server) lastEntry(ctx context.Context, id workorder.ID, log *slog.Logger) uint64 {
	last, err := logentry.LastSeq(ctx, s.LogStream, id)
	if err != nil {
		log.Warn("log stream: finding the last entry; ending now", "err", err)
	}
	return last
}

// sendHistory sends the stored lifecycle entries stamped before until
// (all of them for a zero until); false means the client is gone.
func (f *logFeed) sendHistory(out sse, until time.Time) bool {
	for len(f.history) > 0 && (until.IsZero() || !f.history[0].Timestamp.After(until)) {
		e := f.history[0]
		f.history = f.history[1:]
		if !f.send(out, e) {
			return false
		}
	}
	return true
}

// send writes e if it passes the filter, stamped with the time since the
// work order started; a log entry carries its sequence as the SSE id.
func (f *logFeed) send(out sse, e logentry.Entry) bool {
	if !f.filter.Match(e) {
		return true
	}
	f.clock.Stamp(&e)
	data, err := json.Marshal(e)
	if err != nil {
		return true
	}
	if e.Seq == 0 {
		return out.send(fmt.Sprintf("data: %s\n\n", data))
	}
	return out.send(fmt.Sprintf("id: %d\ndata: %s\n\n", e.Seq, data))
}

// finish sends what is left of the history, the work order's end as an
// entry, and the named end event.
func (f *logFeed) finish(out sse, end logentry.Entry, log *slog.Logger) {
	if !f.sendHistory(out, time.Time{}) || !f.send(out, end) {
		return
	}
	status := strings.TrimPrefix(end.Event, "workflow_")
	data, _ := json.Marshal(map[string]string{"agent_work_order_id": string(f.id), "status": status})
	out.send("event: end\ndata: " + string(data) + "\n\n")
	log.Debug("log stream ended", "status", status)
}
