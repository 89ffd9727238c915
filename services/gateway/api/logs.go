package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// logsPage is the Python service's answer to GET /{id}/logs.
type logsPage struct {
	AgentWorkOrderID workorder.ID     `json:"agent_work_order_id"`
	LogEntries       []logentry.Entry `json:"log_entries"`
	Total            int              `json:"total"`
	Limit            int              `json:"limit"`
	Offset           int              `json:"offset"`
}

// gitProgress is the Python service's GitProgressSnapshot.
type gitProgress struct {
	AgentWorkOrderID    workorder.ID `json:"agent_work_order_id"`
	CurrentPhase        string       `json:"current_phase"`
	GitCommitCount      int          `json:"git_commit_count"`
	GitFilesChanged     int          `json:"git_files_changed"`
	LatestCommitMessage *string      `json:"latest_commit_message"`
	GitBranchName       *string      `json:"git_branch_name"`
}

// Log paging, as the Python service: 100 entries unless asked, at most 1000.
const (
	defaultLogLimit = 100
	maxLogLimit     = 1000
)

// errNoLogStream marks a gateway built without access to the log stream.
var errNoLogStream = fmt.Errorf("%w: the gateway was built without it", errLogStream)

func (s *server) gitProgress(w http.ResponseWriter, r *http.Request) error {
	wo, err := s.workOrder(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, gitProgressOf(wo))
	return nil
}

// gitProgressOf reads the snapshot off the row. The Python service's phase is
// "planning" until something else is known; a finished work order reports
// its status instead of an empty phase.
func gitProgressOf(wo readmodel.WorkOrder) gitProgress {
	phase := "planning"
	switch {
	case wo.CurrentPhase != nil:
		phase = *wo.CurrentPhase
	case wo.Status.Terminal():
		phase = string(wo.Status)
	}
	return gitProgress{
		AgentWorkOrderID:    wo.AgentWorkOrderID,
		CurrentPhase:        phase,
		GitCommitCount:      wo.GitCommitCount,
		GitFilesChanged:     wo.GitFilesChanged,
		LatestCommitMessage: wo.LatestCommitMessage,
		GitBranchName:       wo.GitBranchName,
	}
}

// workOrder is the work order named in the path, once the read model has
// caught up: a log of an unknown id is a 404 like every other read.
func (s *server) workOrder(r *http.Request) (readmodel.WorkOrder, error) {
	id, err := pathID(r)
	if err != nil {
		return readmodel.WorkOrder{}, err
	}
	return s.current(r.Context(), id)
}

// logRequest reads what both log routes start from, in this order: the
// work order, the query (paged for the page route), a log stream to read.
func (s *server) logRequest(r *http.Request, paged bool) (readmodel.WorkOrder, logQuery, error) {
	wo, err := s.workOrder(r)
	if err != nil {
		return readmodel.WorkOrder{}, logQuery{}, err
	}
	q, err := parseLogQuery(r, paged)
	if err != nil {
		return readmodel.WorkOrder{}, logQuery{}, err
	}
	if s.LogStream == nil {
		return readmodel.WorkOrder{}, logQuery{}, errNoLogStream
	}
	return wo, q, nil
}

func (s *server) logs(w http.ResponseWriter, r *http.Request) error {
	wo, q, err := s.logRequest(r, true)
	if err != nil {
		return err
	}
	logs, err := logentry.Read(r.Context(), s.LogStream, wo.AgentWorkOrderID)
	if err != nil {
		return fmt.Errorf("%w: %w", errLogStream, err)
	}
	life, _, err := logentry.ReadLifecycle(r.Context(), s.LogStream, wo.AgentWorkOrderID, wo.SelectedCommands)
	if err != nil {
		return fmt.Errorf("%w: %w", errLogStream, err)
	}
	all := logentry.Merge(logs, life)
	matching := make([]logentry.Entry, 0, len(all))
	for _, e := range all {
		if q.filter.Match(e) {
			matching = append(matching, e)
		}
	}
	page := matching[min(q.offset, len(matching)):]
	page = page[:min(q.limit, len(page))]
	writeJSON(w, http.StatusOK, logsPage{
		AgentWorkOrderID: wo.AgentWorkOrderID, LogEntries: page,
		Total: len(matching), Limit: q.limit, Offset: q.offset,
	})
	return nil
}

type logQuery struct {
	filter        logentry.Filter
	limit, offset int
	after         uint64 // stream only: resume after this entry
}

// parseLogQuery reads level, step and since, and for the list limit and
// offset; for the stream, the resume point (parseLastEventID).
func parseLogQuery(r *http.Request, paged bool) (logQuery, error) {
	q := r.URL.Query()
	out := logQuery{limit: defaultLogLimit}
	var problems []string
	if v := q.Get("level"); v != "" {
		l, err := logentry.ParseLevel(v)
		if err != nil {
			problems = append(problems, "level: "+err.Error())
		}
		out.filter.Level = l
	}
	if v := q.Get("step"); v != "" {
		st, err := workorder.ParseStep(v)
		if err != nil {
			problems = append(problems, "step: "+plain(err))
		}
		out.filter.Step = st
	}
	if v := q.Get("since"); v != "" {
		t, err := parseSince(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("since: must be an ISO 8601 timestamp such as 2026-01-02T15:04:05Z, got %q", v))
		}
		out.filter.Since = t
	}
	if paged {
		problems = append(problems, parsePaging(q, maxLogLimit, &out.limit, &out.offset)...)
	} else {
		after, err := parseLastEventID(r)
		if err != nil {
			problems = append(problems, err.Error())
		}
		out.after = after
	}
	if len(problems) > 0 {
		return logQuery{}, unprocessable(strings.Join(problems, "; "))
	}
	return out, nil
}

// parseLastEventID reads a stream's resume point: the Last-Event-ID
// header, or ?last_event_id= for clients that cannot set headers; 0 when
// neither is sent.
func parseLastEventID(r *http.Request) (uint64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, nil
	}
	// Stream sequences stay far below 2^63; a larger id was not sent by
	// this stream, and the next sequence after the largest uint64 would
	// wrap to "from the start".
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 63)
	if err != nil {
		return 0, fmt.Errorf("Last-Event-ID: must be the id of an event this stream sent, got %q", v)
	}
	return n, nil
}

// parseSince accepts RFC 3339 and the zone-less ISO form Python's
// isoformat() writes, read as UTC.
func parseSince(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02T15:04:05.999999999", v)
}

// startStream does what every live stream does before it reads: a HEAD
// (curl -I, a proxy's check) is answered the stream's headers rather than
// a stream held open, and ctx is nil; otherwise the stream is counted
// against the caps (503 over them) and gets its context, the request's
// ended also when the server starts shutting down (Options.Closing). end
// releases both.
func (s *server) startStream(w http.ResponseWriter, r *http.Request) (ctx context.Context, end func(), err error) {
	if r.Method == http.MethodHead {
		setStreamHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return nil, nil, nil
	}
	release, err := s.streams.acquire(clientKey(r))
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(r.Context())
	if s.Closing != nil {
		go func() {
			select {
			case <-s.Closing:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, func() { cancel(); release() }, nil
}

// sse writes the frames of one event stream, each flushed at once.
type sse struct {
	w  io.Writer
	rc *http.ResponseController
}

// openSSE answers 200 with the stream's headers. ok is false when the
// client is gone already.
func openSSE(w http.ResponseWriter) (out sse, ok bool) {
	// The server's write timeout is for ordinary answers; a stream lives
	// as long as its work order.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	setStreamHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	return sse{w: w, rc: rc}, rc.Flush() == nil
}

// send writes frame; false means the client is gone.
func (o sse) send(frame string) bool {
	if _, err := fmt.Fprint(o.w, frame); err != nil {
		return false
	}
	return o.rc.Flush() == nil
}

func setStreamHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
}
