package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// counterVec registers a counter vector on m's registry, or returns the
// one registered under the same name before: several executors may share
// one process's Metrics (tests, the all-in-one binary).
func (m *Metrics) counterVec(opts prometheus.CounterOpts, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(opts, labels)
	if err := m.reg.Register(c); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			if existing, ok := dup.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		panic("metrics: registering " + opts.Name + ": " + err.Error()) // two definitions of one name: a bug
	}
	return c
}

// countBy returns a function that counts one more of the counter name,
// under a value of its one label. Nil for a nil Metrics.
func (m *Metrics) countBy(name, help, label string) func(value string) {
	if m == nil {
		return nil
	}
	c := m.counterVec(prometheus.CounterOpts{Name: name, Help: help}, label)
	return func(value string) { c.WithLabelValues(value).Inc() }
}

// SandboxRemovals returns a function that counts sandboxes removed by
// housekeeping, as awo_sandboxes_removed_total{sandbox_type}. Nil for a nil
// Metrics.
func (m *Metrics) SandboxRemovals() func(sandboxType string) {
	return m.countBy("awo_sandboxes_removed_total",
		"Sandboxes of finished work orders removed after AWO_SANDBOX_RETENTION.", "sandbox_type")
}

// StepRefusals returns a function that counts step commands an executor
// handed back without running them, as awo_steps_refused_total{reason}
// (low_disk). Nil for a nil Metrics.
func (m *Metrics) StepRefusals() func(reason string) {
	return m.countBy("awo_steps_refused_total",
		"Step commands handed back to JetStream without being run, by reason (low_disk).", "reason")
}

// WatchFreeDisk exposes awo_sandbox_disk_free_bytes, measured by free at
// every scrape, so operators can alert before AWO_MIN_FREE_DISK starts
// refusing steps. The first executor of a process wins; the series is
// missing while free fails.
func (m *Metrics) WatchFreeDisk(free func() (uint64, error)) {
	if m == nil {
		return
	}
	_ = m.reg.Register(freeDiskCollector{free: free}) // a second executor in the process measures the same disk
}

var freeDiskDesc = prometheus.NewDesc("awo_sandbox_disk_free_bytes",
	"Free disk under AGENT_WORK_ORDER_TEMP_DIR (available to unprivileged users), measured at scrape time.", nil, nil)

type freeDiskCollector struct{ free func() (uint64, error) }

func (c freeDiskCollector) Describe(ch chan<- *prometheus.Desc) { ch <- freeDiskDesc }

func (c freeDiskCollector) Collect(ch chan<- prometheus.Metric) {
	n, err := c.free()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(freeDiskDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(freeDiskDesc, prometheus.GaugeValue, float64(n))
}
