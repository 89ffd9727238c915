package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// problem is an error that already knows its HTTP answer. Handlers return
// it for what they detect themselves; domain errors are translated in
// errorResponse.
type problem struct {
	status int
	detail string
	cause  error // logged, never shown
	// retryAfter, when positive, is sent as Retry-After (seconds).
	retryAfter int
}

func (p *problem) Error() string {
	if p.cause != nil {
		return fmt.Sprintf("%d %s: %v", p.status, p.detail, p.cause)
	}
	return fmt.Sprintf("%d %s", p.status, p.detail)
}

func (p *problem) Unwrap() error { return p.cause }

func badRequest(format string, args ...any) error {
	return &problem{status: http.StatusBadRequest, detail: fmt.Sprintf(format, args...)}
}

func unprocessable(detail string) error {
	return &problem{status: http.StatusUnprocessableEntity, detail: detail}
}

func tooLarge(limit int64) error {
	return &problem{status: http.StatusRequestEntityTooLarge, detail: fmt.Sprintf("request body is larger than %d bytes", limit)}
}

// notFound is the detail of every unknown work order, Archon's words.
const notFound = "Work order not found"

// errPublish marks a failure to record an event: the broker, not the
// client, is at fault.
var errPublish = errors.New("event stream unavailable")

// errLogStream marks a failure to read the live logs.
var errLogStream = errors.New("log stream unavailable")

// errBehind marks a read that gave up waiting for the projection.
var errBehind = errors.New("read model is behind the event stream")

// errorResponse is the one place errors become HTTP answers. The detail is
// FastAPI's shape, {"detail": "..."}: it names the field and the problem for
// a client error and never leaks internals for a server error.
func errorResponse(err error) (int, string) {
	var p *problem
	switch {
	case errors.As(err, &p):
		return p.status, p.detail
	case errors.Is(err, bus.ErrStreamFull):
		// Before errPublish, which wraps it: not an outage that passes in
		// a second, so 507 without Retry-After.
		return http.StatusInsufficientStorage, "the event stream (" + bus.StreamEvents + ") is full, so nothing was recorded; " +
			"an operator must raise AWO_EVENTS_MAX_BYTES or free space by letting old events expire (AWO_EVENTS_MAX_AGE)"
	case errors.Is(err, readmodel.ErrNotFound):
		return http.StatusNotFound, notFound
	case errors.Is(err, bus.ErrConflict):
		return http.StatusConflict, "a work order with this agent_work_order_id already exists"
	case errors.Is(err, workorder.ErrInvalid):
		return http.StatusUnprocessableEntity, plain(err)
	case errors.Is(err, errPublish):
		return http.StatusServiceUnavailable, "the event stream (NATS JetStream) is unavailable, so the work order was not recorded; retry shortly"
	case errors.Is(err, errIdempotency):
		return http.StatusServiceUnavailable, "the idempotency key store (NATS JetStream) is unavailable, so the work order was not recorded; retry shortly with the same key"
	case errors.Is(err, errLogStream):
		return http.StatusServiceUnavailable, "the log stream (NATS JetStream) is unavailable; retry shortly"
	// Checked before errBehind: a projection held up by a database outage
	// is an outage, not a slow read model.
	case errors.Is(err, readmodel.ErrUnavailable):
		return http.StatusServiceUnavailable, "the read store is unavailable; retry shortly"
	case errors.Is(err, errBehind):
		return http.StatusServiceUnavailable, "the read model is still catching up with the event stream; retry shortly"
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		return http.StatusServiceUnavailable, "request cancelled"
	}
	return http.StatusInternalServerError, "internal server error"
}

// writeError answers with err's status and detail, and logs what the
// client is not told.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, detail := errorResponse(err)
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", status, "err", err}
	if id := workOrderParam(r); id != "" {
		attrs = append(attrs, "work_order_id", id)
	}
	// A limit the client ran into (a problem with retryAfter: the create
	// rate, the stream caps) is the client's doing, not a failure.
	var p *problem
	limited := errors.As(err, &p) && p.retryAfter > 0
	switch {
	case limited:
		log.Info("request limited", append(attrs, "remote", r.RemoteAddr)...)
		w.Header().Set("Retry-After", retryAfterHeader(p.retryAfter))
	case status >= 500:
		log.Error("request failed", attrs...)
	case status != http.StatusNotFound:
		log.Info("request rejected", attrs...)
	}
	if status == http.StatusServiceUnavailable && !limited {
		w.Header().Set("Retry-After", "1")
	}
	setRetryAfter(w.Header(), err)
	writeJSON(w, status, map[string]string{"detail": detail})
}
