// Package metrics holds the Prometheus series every awo service exposes on
// /metrics. One Metrics per process owns its own registry (never the global
// default), so the all-in-one binary shows every service's series on one
// endpoint and tests can build as many as they like.
//
// A nil *Metrics is valid and records nothing: services built without
// metrics (most tests) need no special cases.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/agentworkorders/awo/pkg/bus"
)

// Metrics is one process's registry and the series the services record.
type Metrics struct {
	reg *prometheus.Registry

	stepDuration *prometheus.HistogramVec
	agentCost    *prometheus.CounterVec
	agentTokens  *prometheus.CounterVec
	handled      *prometheus.CounterVec
	redelivered  *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	// projectionRejected counts events the read store refused as data.
	projectionRejected prometheus.Counter

	consumers *consumerCollector
	webhooks  *webhookSeries

	mu         sync.Mutex
	workOrders bool // a work-order collector is registered
}

// Step outcomes, the outcome label of awo_step_duration_seconds.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// New returns a Metrics with the Go runtime and process collectors
// registered beside awo's own series.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "awo_step_duration_seconds",
			Help: "How long workflow steps took, by step and outcome (success or failure).",
			// Agent steps take seconds to an hour; gh steps well under a second.
			Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600},
		}, []string{"step", "outcome"}),
		agentCost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "awo_agent_cost_usd_total",
			Help: "Cost the Claude Code CLI reported for agent steps, in US dollars.",
		}, []string{"step"}),
		agentTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "awo_agent_tokens_total",
			Help: "Tokens the Claude Code CLI reported for agent steps, by kind (input includes cache reads and writes).",
		}, []string{"step", "kind"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "awo_messages_handled_total",
			Help: "Deliveries taken from JetStream consumers, by what became of them (acked, skipped, retried, dead_lettered, terminated).",
		}, []string{"consumer", "outcome"}),
		redelivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "awo_messages_redelivered_total",
			Help: "Deliveries that JetStream had delivered before (a retry or an expired ack wait).",
		}, []string{"consumer"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "awo_messages_dead_lettered_total",
			Help: "Messages copied to the dead-letter stream and terminated.",
		}, []string{"consumer"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "awo_http_request_duration_seconds",
			Help:    "HTTP request durations by route pattern, method and status code. Streaming routes last as long as the client watches.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "code"}),
		projectionRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "awo_projection_rejected_total",
			Help: "Events the read store refused as data (e.g. a NUL byte Postgres cannot store), dead-lettered to WORKORDERS_DLQ and skipped by the projection.",
		}),
		consumers: newConsumerCollector(),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.stepDuration, m.agentCost, m.agentTokens,
		m.handled, m.redelivered, m.deadLettered,
		m.httpDuration, m.consumers, m.projectionRejected,
	)
	m.webhooks = newWebhookSeries(m.reg)
	return m
}

// Registry is where further collectors go; nil for a nil Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry in the Prometheus text format. A nil Metrics
// serves an empty page.
func (m *Metrics) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	if m != nil {
		reg = m.reg
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// ObserveDelivery records what a consumer did with one delivery; pass it as
// bus.ConsumeOptions.Observe or worker.Config.Observe. Nil for a nil
// Metrics, which the bus treats as "no observer".
func (m *Metrics) ObserveDelivery() func(bus.Observation) {
	if m == nil {
		return nil
	}
	return func(o bus.Observation) {
		m.handled.WithLabelValues(o.Consumer, string(o.Outcome)).Inc()
		if o.Delivered > 1 {
			m.redelivered.WithLabelValues(o.Consumer).Inc()
		}
		if o.Outcome == bus.OutcomeDeadLettered {
			m.deadLettered.WithLabelValues(o.Consumer).Inc()
		}
	}
}

// ObserveHTTP records one HTTP request. route must be the router's pattern
// ("/api/agent-work-orders/{agent_work_order_id}"), never the raw path, so
// ids do not become label values.
func (m *Metrics) ObserveHTTP(route, method string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpDuration.WithLabelValues(route, method, strconv.Itoa(code)).Observe(d.Seconds())
}

// ProjectionRejected counts one event the read store refused as data; the
// projector then dead-letters and skips it.
func (m *Metrics) ProjectionRejected() {
	if m == nil {
		return
	}
	m.projectionRejected.Inc()
}
