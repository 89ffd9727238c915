package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// webhookSeries are the outbound webhook sender's series, labelled by the
// receiver's host only: a full URL may carry a token in its path or query,
// and label values are public on /metrics.
type webhookSeries struct {
	delivered *prometheus.CounterVec
	retried   *prometheus.CounterVec
	failed    *prometheus.CounterVec
	latency   *prometheus.HistogramVec
}

func newWebhookSeries(reg *prometheus.Registry) *webhookSeries {
	w := &webhookSeries{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "awo_webhook_delivered_total",
			Help: "Events a webhook receiver accepted (a 2xx answer), by receiver host.",
		}, []string{"host"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "awo_webhook_retried_total",
			Help: "Webhook attempts that failed and will be retried (5xx, 408, 429, timeouts, connection errors), by receiver host.",
		}, []string{"host"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "awo_webhook_failed_total",
			Help: "Webhook deliveries given up and dead-lettered to WORKORDERS_DLQ (another 4xx, or retried past AWO_WEBHOOK_MAX_AGE), by receiver host.",
		}, []string{"host"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "awo_webhook_attempt_duration_seconds",
			Help:    "How long webhook attempts took, answered or not, by receiver host.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"host"}),
	}
	reg.MustRegister(w.delivered, w.retried, w.failed, w.latency)
	return w
}

// WebhookAttempt records one attempt to POST an event to a receiver on
// host: how long it took and whether it was accepted, will be retried,
// or was given up.
func (m *Metrics) WebhookAttempt(host string, d time.Duration, outcome WebhookOutcome) {
	if m == nil {
		return
	}
	m.webhooks.latency.WithLabelValues(host).Observe(d.Seconds())
	switch outcome {
	case WebhookDelivered:
		m.webhooks.delivered.WithLabelValues(host).Inc()
	case WebhookRetried:
		m.webhooks.retried.WithLabelValues(host).Inc()
	case WebhookFailed:
		m.webhooks.failed.WithLabelValues(host).Inc()
	}
}

// WebhookOutcome is what became of one webhook attempt.
type WebhookOutcome int

// Webhook attempt outcomes.
const (
	WebhookDelivered WebhookOutcome = iota
	WebhookRetried
	WebhookFailed
)
