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
	if r.Method == http.MethodHead {
		// A probe (curl -I, a proxy's check) gets the stream's headers, not a
		// stream held open until the work order ends.
		setStreamHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return nil
	}
	release, err := s.streams.acquire(clientKey(r))
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	f, err := s.openFeed(ctx, wo.AgentWorkOrderID, q)
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
}

// lifeUpdate is a lifecycle entry read live; final marks the work order's
// end: a terminal event with nothing (no retry) stored after it.
type lifeUpdate struct {
	entry logentry.Entry
	final bool
}

// openFeed starts reading the work order's log after sequence after, and
// its lifecycle: what is stored now at once, then what comes.
func (s *server) openFeed(ctx context.Context, id workorder.ID, q logQuery) (*logFeed, error) {
	entries, err := logentry.Tail(ctx, s.LogStream, id, q.after)
	if err != nil {
		return nil, err
	}
	hist, seq, err := logentry.ReadLifecycle(ctx, s.LogStream, id)
	if err != nil {
		return nil, err
	}
	f := &logFeed{id: id, filter: q.filter, entries: entries}
	for _, e := range hist {
		f.clock.Observe(e)
	}
	if n := len(hist); n > 0 && isEnd(hist[n-1]) {
		f.end = &hist[n-1]
		hist = hist[:n-1]
	}
	if q.after == 0 {
		f.history = hist
	}
	if f.end == nil {
		if f.life, err = s.followLifecycle(ctx, id, seq); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// followLifecycle delivers the lifecycle entries stored after sequence
// after, until the work order's end.
func (s *server) followLifecycle(ctx context.Context, id workorder.ID, after uint64) (<-chan lifeUpdate, error) {
	msgs, err := s.LogStream.Follow(ctx, bus.StreamEvents, logentry.LifecycleSubjects(id), after)
	if err != nil {
		return nil, fmt.Errorf("watching work order %s for its end: %w", id, err)
	}
	out := make(chan lifeUpdate)
	go func() {
		for m := range msgs {
			e, ok := logentry.DecodeLifecycle(m)
			if !ok {
				continue
			}
			u := lifeUpdate{entry: e, final: isEnd(e) && m.Pending == 0}
			select {
			case out <- u:
			case <-ctx.Done():
				return
			}
			if u.final {
				return
			}
		}
	}()
	return out, nil
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
	// endSeq is the last entry stored when the work order ended (read
	// again once it ends, if it has not yet).
	endSeq := s.lastEntry(ctx, f.id, log)
	// Nothing stored to replay: the lifecycle so far goes out now.
	if endSeq <= after && !f.sendHistory(out, time.Time{}) {
		return
	}
	for {
		if f.end != nil && sent >= endSeq {
			f.finish(out, log)
			return
		}
		select {
		case d, ok := <-f.entries:
			if !ok {
				return // the reading failed for good or ctx ended
			}
			sent = d.Entry.Seq
			if !f.sendHistory(out, d.Entry.Timestamp) || !f.send(out, d.Entry) {
				return
			}
			// Caught up: the rest of the history is older than what comes.
			if d.Pending == 0 && !f.sendHistory(out, time.Time{}) {
				return
			}
		case u := <-f.life:
			f.clock.Observe(u.entry)
			if u.final {
				// Entries the executor stored before the work order ended
				// are still sent; then the end, and the stream ends.
				f.life, f.end, endSeq = nil, &u.entry, s.lastEntry(ctx, f.id, log)
				continue
			}
			if !f.send(out, u.entry) {
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
func (f *logFeed) finish(out sse, log *slog.Logger) {
	if !f.sendHistory(out, time.Time{}) || !f.send(out, *f.end) {
		return
	}
	status := strings.TrimPrefix(f.end.Event, "workflow_")
	data, _ := json.Marshal(map[string]string{"agent_work_order_id": string(f.id), "status": status})
	out.send("event: end\ndata: " + string(data) + "\n\n")
	log.Debug("log stream ended", "status", status)
}
