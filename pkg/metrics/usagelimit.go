package metrics

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// UsageLimits are what an executor reports about its agents' accounts
// hitting their usage or rate limits. The zero value (a nil Metrics)
// records nothing.
type UsageLimits struct {
	limited *prometheus.CounterVec
	until   *prometheus.GaugeVec
}

// UsageLimits returns the recorders of awo_agent_usage_limited_total{agent}
// (agent runs that ended on a usage or rate limit) and
// awo_agent_limited_until_seconds{agent} (when the account's shared flag
// lifts, Unix seconds; 0 when it is not limited, as far as this executor
// has seen).
func (m *Metrics) UsageLimits() UsageLimits {
	if m == nil {
		return UsageLimits{}
	}
	return UsageLimits{
		limited: m.counterVec(prometheus.CounterOpts{Name: "awo_agent_usage_limited_total",
			Help: "Agent runs that ended because the agent's account hit its usage or rate limit (or the API was overloaded), by agent."}, "agent"),
		until: m.gaugeVec(prometheus.GaugeOpts{Name: "awo_agent_limited_until_seconds",
			Help: "When the agent account's usage limit flag lifts, in Unix seconds; 0 when the account is not limited."}, "agent"),
	}
}

// Limited counts one run of agent that hit the limit.
func (u UsageLimits) Limited(agent string) {
	if u.limited != nil {
		u.limited.WithLabelValues(agent).Inc()
	}
}

// Until records when agent's flag lifts; a zero t is "not limited".
func (u UsageLimits) Until(agent string, t time.Time) {
	if u.until == nil {
		return
	}
	v := 0.0
	if !t.IsZero() {
		v = float64(t.Unix())
	}
	u.until.WithLabelValues(agent).Set(v)
}

// gaugeVec is counterVec for gauges.
func (m *Metrics) gaugeVec(opts prometheus.GaugeOpts, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(opts, labels)
	if err := m.reg.Register(g); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			if existing, ok := dup.ExistingCollector.(*prometheus.GaugeVec); ok {
				return existing
			}
		}
		panic("metrics: registering " + opts.Name + ": " + err.Error()) // two definitions of one name: a bug
	}
	return g
}
