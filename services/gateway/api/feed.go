package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// feedQuery is what GET /events streams: the events of one work order (or
// all), of some types (or all), stored after sequence after.
type feedQuery struct {
	id    workorder.ID
	types []string // full type names, without duplicates
	after uint64
	// fromNow skips what is stored when the feed opens (?from=now) unless
	// the client resumes: a reconnecting EventSource sends the same URL
	// with Last-Event-ID.
	fromNow bool
}

// subjects are the stream filters of q: one per type, or one for all.
func (q feedQuery) subjects() []string {
	if len(q.types) == 0 {
		if q.id != "" {
			return []string{bus.WorkOrderFilter(q.id)}
		}
		return []string{bus.AllEvents}
	}
	out := make([]string, 0, len(q.types))
	for _, t := range q.types {
		if q.id != "" {
			out = append(out, bus.EventSubject(q.id, t))
		} else {
			out = append(out, bus.TypeFilter(t))
		}
	}
	return out
}

// streamEvents is the HTTP way to subscribe to work-order events: every
// event stored on WORKORDERS_EVENTS after the resume point, then each new
// one, as a structured-mode CloudEvent (JSON) in an unnamed SSE event
// whose id is its stream sequence, so Last-Event-ID resumes exactly; a
// ": ping" comment every heartbeat. The stream has no end: a work order
// can be retried or followed up after it finished. Events are redacted
// when published, so what is stored is what may be shown.
func (s *server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	q, err := s.parseFeedQuery(r)
	if err != nil {
		return err
	}
	if s.LogStream == nil {
		return errNoLogStream
	}
	ctx, end, err := s.startStream(w, r)
	if ctx == nil || err != nil {
		return err
	}
	defer end()
	if q.fromNow {
		if q.after, err = s.LogStream.LastSeq(ctx, bus.StreamEvents, bus.AllEvents); err != nil {
			return fmt.Errorf("%w: finding the newest event: %w", errLogStream, err)
		}
	}
	msgs, err := s.LogStream.Follow(ctx, bus.StreamEvents, q.subjects(), q.after)
	if err != nil {
		return fmt.Errorf("%w: following the events: %w", errLogStream, err)
	}
	out, ok := openSSE(w)
	if !ok {
		return nil
	}
	log := s.log.With("work_order_id", string(q.id))
	log.Debug("event feed opened", "types", q.types, "after", q.after)
	s.sendEvents(ctx, out, msgs, log)
	return nil
}

// sendEvents writes each message as a CloudEvent, and heartbeats, until
// the client leaves or the reading fails.
func (s *server) sendEvents(ctx context.Context, out sse, msgs <-chan bus.Message, log *slog.Logger) {
	heartbeat := time.NewTicker(s.SSEHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				return
			}
			data, err := cloudEventJSON(m)
			if err != nil {
				// A type this build does not know (a newer producer) or a
				// message that is not an event: skipped, as consumers do.
				log.Debug("event feed: skipping a message", "seq", m.Seq, "err", err)
				continue
			}
			if !out.send(fmt.Sprintf("id: %d\ndata: %s\n\n", m.Seq, data)) {
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

// cloudEventJSON decodes a stored event and renders it in the JSON format.
func cloudEventJSON(m bus.Message) ([]byte, error) {
	e, err := events.Decode(m.Header, m.Data)
	if err != nil {
		return nil, err
	}
	return events.EncodeJSON(e)
}

// parseFeedQuery reads ?id= (a work order that exists: anything else is
// 404 like every route naming one), ?type= (comma-separated, repeatable,
// full or short names), ?from= and the resume point.
func (s *server) parseFeedQuery(r *http.Request) (feedQuery, error) {
	var q feedQuery
	var problems []string
	types, err := parseEventTypes(r.URL.Query()["type"])
	if err != nil {
		problems = append(problems, err.Error())
	}
	q.types = types
	after, err := parseLastEventID(r)
	if err != nil {
		problems = append(problems, err.Error())
	}
	q.after = after
	resumed := r.Header.Get("Last-Event-ID") != "" || r.URL.Query().Get("last_event_id") != ""
	switch v := r.URL.Query().Get("from"); v {
	case "", "start":
	case "now":
		q.fromNow = !resumed
	default:
		problems = append(problems, fmt.Sprintf("from: must be start or now, got %q", v))
	}
	if v, ok := r.URL.Query()["id"]; ok {
		id, err := workorder.ParseID(strings.Join(v, ","))
		if err != nil {
			return feedQuery{}, &problem{status: http.StatusNotFound, detail: notFound, cause: err}
		}
		if _, err := s.current(r.Context(), id); err != nil {
			return feedQuery{}, err
		}
		q.id = id
	}
	if len(problems) > 0 {
		return feedQuery{}, unprocessable(strings.Join(problems, "; "))
	}
	return q, nil
}

// parseEventTypes resolves each comma-separated name to an event type of
// the catalogue; the command is not an event and is refused like an
// unknown name.
func parseEventTypes(values []string) ([]string, error) {
	var out, unknown []string
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			t, ok := eventType(name)
			switch {
			case !ok:
				unknown = append(unknown, fmt.Sprintf("%q", name))
			case !slices.Contains(out, t):
				out = append(out, t)
			}
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("type: unknown event type %s; known: %s", strings.Join(unknown, ", "), strings.Join(shortEventNames(), ", "))
	}
	return out, nil
}

// eventType is the full type named by name (full or short), if it is an
// event of the catalogue.
func eventType(name string) (string, bool) {
	for _, t := range events.Types() {
		if (t == name || events.ShortName(t) == name) && t != events.TypeRunStep {
			return t, true
		}
	}
	return "", false
}

// shortEventNames lists the short names ?type= accepts.
func shortEventNames() []string {
	var out []string
	for _, t := range events.Types() {
		if t != events.TypeRunStep {
			out = append(out, events.ShortName(t))
		}
	}
	return out
}
