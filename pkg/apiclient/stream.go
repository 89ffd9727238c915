package apiclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// StreamEnd is the stream's closing `end` event: the work order ended.
type StreamEnd struct {
	AgentWorkOrderID string `json:"agent_work_order_id"`
	Status           string `json:"status"`
}

// maxReconnects is how many times in a row a dropped log stream is
// reopened without receiving anything before StreamLogs gives up.
const maxReconnects = 5

// handlerError carries fn's own error out of the stream unchanged.
type handlerError struct{ err error }

func (h handlerError) Error() string { return h.err.Error() }

// StreamLogs follows a work order's live log (…/logs/stream, Server-Sent
// Events): fn gets each entry, decoded and as received, from the first
// stored one (or after lastEventID) until the work order ends, which
// returns its end event. A dropped connection is reopened with
// Last-Event-ID, so no entry is seen twice or lost; a refusal (4xx/5xx),
// fn's error or ctx ending is returned at once.
func (c *Client) StreamLogs(ctx context.Context, id string, o LogOptions, lastEventID string,
	fn func(LogEntry, json.RawMessage) error) (StreamEnd, error) {
	failures := 0
	for {
		s := sseState{lastID: lastEventID}
		end, err := c.streamOnce(ctx, id, o, &s, fn)
		var he handlerError
		switch {
		case err == nil:
			return end, nil
		case errors.As(err, &he):
			return StreamEnd{}, he.err
		case ctx.Err() != nil:
			return StreamEnd{}, ctx.Err()
		case StatusOf(err) != 0:
			return StreamEnd{}, err
		}
		lastEventID = s.lastID
		if s.received {
			failures = 0
		}
		if failures++; failures > maxReconnects {
			return StreamEnd{}, err
		}
		select {
		case <-ctx.Done():
			return StreamEnd{}, ctx.Err()
		case <-time.After(time.Duration(failures) * 500 * time.Millisecond):
		}
	}
}

// sseState is what one connection learnt: the last event id, and whether
// anything arrived (a reconnect that makes progress resets the count).
type sseState struct {
	lastID   string
	received bool
}

// streamOnce reads one connection of the stream until its end event or
// an error. Opening it is bounded by c.Timeout; reading is not.
func (c *Client) streamOnce(ctx context.Context, id string, o LogOptions, s *sseState,
	fn func(LogEntry, json.RawMessage) error) (StreamEnd, error) {
	q := url.Values{}
	set(q, "level", o.Level)
	set(q, "step", o.Step)
	h := http.Header{"Accept": {"text/event-stream"}}
	if s.lastID != "" {
		h.Set("Last-Event-ID", s.lastID)
	}
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timer *time.Timer
	if c.Timeout > 0 {
		timer = time.AfterFunc(c.Timeout, cancel)
	}
	resp, err := c.send(connCtx, call{method: http.MethodGet, path: workOrderPath(id, "/logs/stream"), query: q, header: h})
	if timer != nil && !timer.Stop() {
		return StreamEnd{}, fmt.Errorf("opening the log stream: no answer within %s", c.Timeout)
	}
	if err != nil {
		return StreamEnd{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return StreamEnd{}, &Error{Status: resp.StatusCode, Detail: detail(body)}
	}
	return readEvents(bufio.NewReader(resp.Body), s, fn)
}

// readEvents parses Server-Sent Events: unnamed events are log entries,
// `end` closes the stream; comments (pings) are skipped.
func readEvents(r *bufio.Reader, s *sseState, fn func(LogEntry, json.RawMessage) error) (StreamEnd, error) {
	var event, eventID string
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the stream ends only after `end`
			}
			return StreamEnd{}, fmt.Errorf("reading the log stream: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				event = value
			case "id":
				eventID = value
			case "data":
				data = append(data, value)
			}
			continue
		}
		if len(data) == 0 {
			event, eventID = "", ""
			continue
		}
		raw := json.RawMessage(strings.Join(data, "\n"))
		if event == "end" {
			var end StreamEnd
			if err := json.Unmarshal(raw, &end); err != nil {
				return StreamEnd{}, fmt.Errorf("decoding the stream's end: %w", err)
			}
			return end, nil
		}
		var entry LogEntry
		if err := json.Unmarshal(raw, &entry); err != nil {
			return StreamEnd{}, fmt.Errorf("decoding a log entry: %w", err)
		}
		if eventID != "" {
			s.lastID = eventID
		}
		s.received = true
		if err := fn(entry, raw); err != nil {
			return StreamEnd{}, handlerError{err}
		}
		event, eventID, data = "", "", nil
	}
}
