// Package health reports on what the service depends on: the CLIs that run
// the agent steps, NATS and JetStream, and the Archon servers when
// configured. Probes run concurrently, each under a timeout, and the report
// is cached briefly so /health stays cheap under polling.
package health

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"
)

// Overall statuses, as the Python service.
const (
	StatusHealthy  = "healthy"
	StatusDegraded = "degraded"
)

// Result is what one probe found.
type Result struct {
	// OK says whether the dependency works. It is shown under the probe's
	// OKKey and, for a critical probe, decides the overall status.
	OK bool
	// Fields are further keys shown for the dependency, e.g. "version".
	Fields map[string]any
}

// Probe checks one dependency.
type Probe struct {
	Name     string // key under "dependencies", e.g. "claude_cli"
	OKKey    string // key carrying Result.OK; "available" when empty, not shown when "-"
	Critical bool   // when not OK, the service is degraded
	// TopLevel puts the result in Report.Sections instead of
	// Dependencies: the Python service shows its database beside the status, not
	// among the dependencies.
	TopLevel bool
	Check    func(ctx context.Context) Result
}

func (p Probe) okKey() string {
	if p.OKKey == "" {
		return "available"
	}
	return p.OKKey
}

// Names of the TopLevel sections the gateway reports.
const (
	SectionDatabase  = "database"   // the Postgres read store, as the Python service
	SectionReadModel = "read_model" // how far the projection has got
)

// Dependency is one entry of Report.Dependencies, rendered as a JSON object.
type Dependency map[string]any

// Report is the outcome of one round of probes.
type Report struct {
	Status       string                `json:"status"`
	Dependencies map[string]Dependency `json:"dependencies"`
	// Sections are the TopLevel probes' results, by probe name.
	Sections  map[string]Dependency `json:"-"`
	CheckedAt time.Time             `json:"checked_at"`
}

// Checker produces a health report. The API depends on this interface so
// tests can substitute their own.
type Checker interface {
	Check(ctx context.Context) Report
}

// Options tune a Monitor; zero values take the defaults noted.
type Options struct {
	Timeout time.Duration    // per probe (default 3s)
	TTL     time.Duration    // how long a report is reused (default 5s)
	Now     func() time.Time // clock (default time.Now)
}

// Monitor runs probes and caches the report. Safe for concurrent use.
type Monitor struct {
	probes []Probe
	opts   Options

	mu     sync.Mutex // held for a whole round, so concurrent callers share it
	cached Report
	at     time.Time
}

var _ Checker = (*Monitor)(nil)

// NewMonitor returns a Monitor over probes.
func NewMonitor(probes []Probe, o Options) *Monitor {
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.TTL <= 0 {
		o.TTL = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Monitor{probes: probes, opts: o}
}

// Check returns the cached report if it is fresh, otherwise probes again.
// A caller that gives up does not cut the round short for the others: the
// probes run under their own timeout.
func (m *Monitor) Check(ctx context.Context) Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	if !m.at.IsZero() && now.Sub(m.at) < m.opts.TTL {
		return m.cached.clone()
	}
	m.cached = m.probe(context.WithoutCancel(ctx), now)
	m.at = now
	return m.cached.clone()
}

func (m *Monitor) probe(ctx context.Context, now time.Time) Report {
	results := make([]Result, len(m.probes))
	var wg sync.WaitGroup
	for i, p := range m.probes {
		wg.Go(func() { results[i] = m.run(ctx, p) })
	}
	wg.Wait()

	r := Report{Status: StatusHealthy, Dependencies: make(map[string]Dependency, len(m.probes)),
		Sections: map[string]Dependency{}, CheckedAt: now.UTC()}
	for i, p := range m.probes {
		dep := Dependency{}
		maps.Copy(dep, results[i].Fields)
		if key := p.okKey(); key != "-" {
			dep[key] = results[i].OK
		}
		if p.TopLevel {
			r.Sections[p.Name] = dep
		} else {
			r.Dependencies[p.Name] = dep
		}
		if p.Critical && !results[i].OK {
			r.Status = StatusDegraded
		}
	}
	return r
}

// run gives a probe its timeout and does not wait past it even if the
// probe ignores its context: a hung dependency must not hang /health.
func (m *Monitor) run(ctx context.Context, p Probe) Result {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	done := make(chan Result, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- Result{Fields: map[string]any{"error": fmt.Sprintf("health probe panicked: %v", v)}}
			}
		}()
		done <- p.Check(ctx)
	}()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		return Result{Fields: map[string]any{"error": fmt.Sprintf("no answer within %s", m.opts.Timeout)}}
	}
}

func (r Report) clone() Report {
	r.Dependencies = cloneDeps(r.Dependencies)
	r.Sections = cloneDeps(r.Sections)
	return r
}

func cloneDeps(in map[string]Dependency) map[string]Dependency {
	out := make(map[string]Dependency, len(in))
	for k, v := range in {
		out[k] = maps.Clone(v)
	}
	return out
}
