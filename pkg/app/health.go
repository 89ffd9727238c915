package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/metrics"
)

// Readiness statuses of GET /readyz.
const (
	StatusReady    = "ready"
	StatusNotReady = "not ready"
)

// checkTimeout bounds one readiness check: an orchestrator's probe gives
// up after a second or a few, and a hung dependency is an answer (not
// ready), not a hung probe. Slow checks (the CLI) run in the background
// (see cachedCheck).
const checkTimeout = 2 * time.Second

// Check is one condition /readyz requires; Run returns why it does not hold.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// CheckResult is one check in a /readyz answer.
type CheckResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// ReadyReport is the /readyz body: the gateway answers the same shape.
type ReadyReport struct {
	Status string                 `json:"status"`
	Checks map[string]CheckResult `json:"checks"`
}

// Reasons are the failing checks as "name: error", sorted.
func (r ReadyReport) Reasons() []string {
	var out []string
	for name, c := range r.Checks {
		if !c.OK {
			out = append(out, name+": "+c.Error)
		}
	}
	sort.Strings(out)
	return out
}

// Readiness is the set of checks a worker process's /readyz runs. Safe for
// concurrent use.
type Readiness struct {
	mu     sync.Mutex
	checks []Check
}

// Add adds checks.
func (r *Readiness) Add(checks ...Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks = append(r.checks, checks...)
}

// Check runs every check concurrently, each under checkTimeout.
func (r *Readiness) Check(ctx context.Context) ReadyReport {
	r.mu.Lock()
	checks := append([]Check(nil), r.checks...)
	r.mu.Unlock()
	results := make([]CheckResult, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { results[i] = runCheck(ctx, c) })
	}
	wg.Wait()
	report := ReadyReport{Status: StatusReady, Checks: make(map[string]CheckResult, len(checks))}
	for i, c := range checks {
		report.Checks[c.Name] = results[i]
		if !results[i].OK {
			report.Status = StatusNotReady
		}
	}
	return report
}

// runCheck does not wait past the timeout even for a check that ignores
// its context.
func runCheck(ctx context.Context, c Check) CheckResult {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Errorf("check panicked: %v", v)
			}
		}()
		done <- c.Run(ctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			return CheckResult{Error: err.Error()}
		}
		return CheckResult{OK: true}
	case <-ctx.Done():
		return CheckResult{Error: fmt.Sprintf("no answer within %s", checkTimeout)}
	}
}

// ServeHTTP answers GET /readyz: 200 when every check holds, else 503; the
// body says which do not.
func (r *Readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	report := r.Check(req.Context())
	code := http.StatusOK
	if report.Status != StatusReady {
		code = http.StatusServiceUnavailable
	}
	writeHealthJSON(w, code, report)
}

// Alive answers GET /healthz: 200 for as long as the process serves HTTP.
var Alive http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	writeHealthJSON(w, http.StatusOK, map[string]string{"status": "alive"})
})

func writeHealthJSON(w http.ResponseWriter, code int, v any) {
	body, _ := json.Marshal(v) // plain structs and maps of strings: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// HealthRoutes are /healthz and /readyz, served beside /metrics on
// AWO_METRICS_LISTEN.
func HealthRoutes(r *Readiness) metrics.Routes {
	return metrics.Routes{"GET /healthz": Alive, "GET /readyz": r}
}

// NATSRef is a service's NATS connection once it has one: the health
// server starts before the connection, so its check must say "not yet".
type NATSRef struct{ p atomic.Pointer[nats.Conn] }

// Set records the connection.
func (n *NATSRef) Set(nc *nats.Conn) { n.p.Store(nc) }

// Check is connected with a round trip to the server: a client that only
// believes it is connected is not enough.
func (n *NATSRef) Check(name string) Check {
	return Check{Name: name, Run: func(ctx context.Context) error {
		nc := n.p.Load()
		if nc == nil {
			return errors.New("not connected yet (connecting to NATS and ensuring the streams)")
		}
		if !nc.IsConnected() {
			return fmt.Errorf("not connected (%s)", nc.Status())
		}
		if err := nc.FlushWithContext(ctx); err != nil {
			return fmt.Errorf("round trip to the server failed: %w", err)
		}
		return nil
	}}
}

// ConsumerCheck holds once the service has bound its durable consumer
// (metrics.CheckConsumer).
func ConsumerCheck(name string, m *metrics.Metrics, consumer string) Check {
	return Check{Name: name, Run: func(ctx context.Context) error { return m.CheckConsumer(ctx, consumer) }}
}

// ExecutorChecks are what the executor needs beyond NATS and its
// consumer: a Claude Code CLI that runs (checked in the background, since
// a cold `claude --version` can take longer than a probe waits) and free
// disk for the sandboxes above AWO_MIN_FREE_DISK.
func ExecutorChecks(ctx context.Context, cfg config.Config) []Check {
	cli := newCachedCheck(ctx, cliRecheck, func(ctx context.Context) error {
		if c := FindClaudeCLI(ctx, cfg); c.Problem != "" {
			return fmt.Errorf("CLAUDE_CLI_PATH=%s: %s", cfg.ClaudeCLIPath, c.Problem)
		}
		return nil
	})
	return []Check{
		{Name: "claude_cli", Run: func(context.Context) error { return cli.get() }},
		{Name: "disk", Run: func(context.Context) error { return checkFreeDisk(cfg.TempDir, cfg.MinFreeDisk) }},
	}
}

// cliRecheck is how old the CLI's answer may get before it is asked again.
const cliRecheck = time.Minute

// cachedCheck runs a slow check in the background and answers with its
// last result; a result older than ttl starts a new run.
type cachedCheck struct {
	ctx     context.Context
	ttl     time.Duration
	run     func(context.Context) error
	mu      sync.Mutex
	have    bool
	result  error
	at      time.Time
	running bool
}

func newCachedCheck(ctx context.Context, ttl time.Duration, run func(context.Context) error) *cachedCheck {
	c := &cachedCheck{ctx: ctx, ttl: ttl, run: run}
	c.mu.Lock()
	c.start()
	c.mu.Unlock()
	return c
}

func (c *cachedCheck) get() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running && time.Since(c.at) > c.ttl {
		c.start()
	}
	if !c.have {
		return errors.New("being checked")
	}
	return c.result
}

// start runs the check; c.mu is held.
func (c *cachedCheck) start() {
	c.running = true
	go func() {
		err := c.run(c.ctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.have, c.result, c.at, c.running = true, err, time.Now(), false
	}()
}

// checkFreeDisk is the executor's AWO_MIN_FREE_DISK guard as a check. Like
// the guard, it lets a disk it cannot measure pass: the guard is a safety
// margin, not a reason to stop all work.
func checkFreeDisk(dir string, minFree int64) error {
	if minFree <= 0 {
		return nil
	}
	free, err := freeDiskUnder(dir)
	if err != nil {
		return nil
	}
	if free < uint64(minFree) {
		return fmt.Errorf("free disk under %s is %s, below AWO_MIN_FREE_DISK=%s", dir, config.FormatSize(int64(free)), config.FormatSize(minFree))
	}
	return nil
}
