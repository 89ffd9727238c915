package api

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.opentelemetry.io/otel/trace"
)

// unmatchedRoute labels requests no route matched (404, and 405, for which
// chi records no pattern), so scanners probing random paths add one series,
// not one per path.
const unmatchedRoute = "unmatched"

// measure records each request's duration under the route pattern chi
// matched (known only once the router has run), never the raw path: ids in
// paths would make a series per work order.
func (s *server) measure(next http.Handler) http.Handler {
	if s.Metrics == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route, code := answered(r, ww)
		s.Metrics.ObserveHTTP(route, r.Method, code, time.Since(start))
	})
}

// answered is the route pattern that served r (unmatchedRoute for 404 and
// 405) and the status code written, once the handler has returned.
func answered(r *http.Request, ww middleware.WrapResponseWriter) (route string, code int) {
	route = unmatchedRoute
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePattern() != "" {
		route = rctx.RoutePattern()
	}
	code = ww.Status()
	if code == 0 {
		code = http.StatusOK // nothing written: net/http answers 200
	}
	return route, code
}

// logRequests writes one line per request. Health polls are logged at
// debug level so they do not drown the rest.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		attrs := []any{
			"method", r.Method, "path", r.URL.Path, "status", ww.Status(),
			"bytes", ww.BytesWritten(), "duration_ms", float64(time.Since(start).Microseconds()) / 1000,
			"remote", r.RemoteAddr,
		}
		if id := workOrderParam(r); id != "" {
			attrs = append(attrs, "work_order_id", id)
		}
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			attrs = append(attrs, "trace_id", span.SpanContext().TraceID().String())
		}
		level := slog.LevelInfo
		if r.URL.Path == "/health" || r.URL.Path == "/metrics" || r.Method == http.MethodOptions {
			level = slog.LevelDebug
		}
		s.log.Log(r.Context(), level, "http request", attrs...)
	})
}

// recoverPanics turns a handler panic into a 500 with a JSON body and a log
// line with the stack, instead of a dropped connection.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // the server's own way to abort a response
			}
			attrs := []any{"method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack())}
			if id := workOrderParam(r); id != "" {
				attrs = append(attrs, "work_order_id", id)
			}
			s.log.Error("handler panicked", attrs...)
			if ww.Status() == 0 {
				writeJSON(ww, http.StatusInternalServerError, map[string]string{"detail": "internal server error"})
			}
		}()
		next.ServeHTTP(ww, r)
	})
}
