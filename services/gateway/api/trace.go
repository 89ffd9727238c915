package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentworkorders/awo/pkg/tracing"
	"github.com/agentworkorders/awo/pkg/workorder"
)

var tracer = tracing.Tracer("services/gateway/api")

// traceRequests gives each request a server span, the child of the
// caller's traceparent header when it sends one. The span is named for the
// route pattern chi matched (known once the router has run), never the raw
// path. Handlers see the span in their context: the workorder.requested
// event a create publishes carries it, which starts the work order's trace.
func traceRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		if !span.IsRecording() {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r.WithContext(ctx))
		route, code := answered(r, ww)
		span.SetName(r.Method + " " + route)
		span.SetAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("http.route", route),
			attribute.String("url.path", r.URL.Path),
			attribute.Int("http.response.status_code", code),
		)
		if id := workOrderParam(r); id != "" {
			span.SetAttributes(tracing.KeyWorkOrderID.String(id))
		}
		if code >= 500 {
			span.SetStatus(codes.Error, fmt.Sprintf("HTTP %d", code))
		}
	})
}

// tagWorkOrder names the work order a request created on its span: the
// create route has no id in its path.
func tagWorkOrder(ctx context.Context, id workorder.ID) {
	trace.SpanFromContext(ctx).SetAttributes(tracing.KeyWorkOrderID.String(string(id)))
}
