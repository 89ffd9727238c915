package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
)

// freeAddr is a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func getReady(t *testing.T, url string) (int, app.ReadyReport) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var r app.ReadyReport
	body, _ := io.ReadAll(resp.Body)
	if strings.HasSuffix(url, "/readyz") {
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("GET %s: %s: %v", url, body, err)
		}
	}
	return resp.StatusCode, r
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A worker run as the binaries run it, on an embedded NATS: /healthz from
// before it connects; /readyz 503 until its consumer is bound, 200 then,
// and 503 naming NATS once the server is shut down. `-healthcheck` exits
// 0 and 1 accordingly, and 1 once the process has stopped serving.
func TestRunWorker_Readiness(t *testing.T) {
	env := natstest.Start(t)
	addr := freeAddr(t)
	vars := map[string]string{"AWO_METRICS_LISTEN": addr}
	cfg := load(t, vars)
	connect := func(_ context.Context, name string) (*nats.Conn, jetstream.JetStream, error) {
		nc, err := env.Server.Connect("awo-" + name)
		if err != nil {
			return nil, nil, err
		}
		js, err := jetstream.New(nc)
		return nc, js, err
	}
	bind := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.RunWorker(ctx, cfg, slog.New(slog.DiscardHandler), connect, app.Worker{
			Name: "probe", MicroName: "awo-probe", Description: "a test worker", Consumer: "probe-consumer",
			Run: func(ctx context.Context, env app.Env) error {
				<-bind
				if _, err := env.Bus.CreateOrUpdateConsumer(ctx, bus.StreamCommands, jetstream.ConsumerConfig{
					Durable: "probe-consumer", FilterSubject: bus.CommandFilter("probe"), AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
					return err
				}
				env.Metrics.WatchConsumer(env.Bus.JS, bus.StreamCommands, "probe-consumer")
				<-ctx.Done()
				return nil
			},
		})
	}()
	base := "http://" + addr
	healthcheck := func() (int, string) {
		var stderr bytes.Buffer
		code := app.Healthcheck("probe", func(k string) string { return vars[k] }, &stderr, app.WorkerReadyURL)
		return code, stderr.String()
	}

	eventually(t, "/healthz", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	var report app.ReadyReport
	eventually(t, "NATS connected, consumer not yet bound", func() bool {
		var code int
		code, report = getReady(t, base+"/readyz")
		return code == 503 && report.Checks["nats"].OK
	})
	if c := report.Checks["consumer"]; c.OK || !strings.Contains(c.Error, "not bound yet") {
		t.Errorf("consumer check before binding: %+v", c)
	}
	if code, stderr := healthcheck(); code != 1 || !strings.Contains(stderr, "consumer: consumer probe-consumer is not bound yet") {
		t.Errorf("-healthcheck before binding: %d %q", code, stderr)
	}

	close(bind)
	eventually(t, "ready", func() bool { code, _ := getReady(t, base+"/readyz"); return code == 200 })
	if code, stderr := healthcheck(); code != 0 || stderr != "" {
		t.Errorf("-healthcheck when ready: %d %q", code, stderr)
	}
	if code, _ := getReady(t, base+"/metrics"); code != 200 {
		t.Errorf("/metrics beside the health routes: %d", code)
	}

	env.Server.Shutdown()
	downAt := time.Now()
	eventually(t, "not ready once NATS is gone", func() bool {
		var code int
		code, report = getReady(t, base+"/readyz")
		return code == 503
	})
	t.Logf("not ready %s after the NATS server shut down", time.Since(downAt).Round(time.Millisecond))
	if report.Status != app.StatusNotReady || report.Checks["nats"].OK || report.Checks["nats"].Error == "" {
		t.Errorf("with NATS down: %+v", report)
	}
	if code, stderr := healthcheck(); code != 1 || !strings.Contains(stderr, "nats: ") {
		t.Errorf("-healthcheck with NATS down: %d %q", code, stderr)
	}

	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Logf("worker stopped: %v", err)
	}
	if code, stderr := healthcheck(); code != 1 || !strings.Contains(stderr, "not answering") {
		t.Errorf("-healthcheck of a stopped worker: %d %q", code, stderr)
	}
}

// -healthcheck needs somewhere to probe: a worker without
// AWO_METRICS_LISTEN has no /readyz, and says so.
func TestHealthcheck_WithoutMetricsListen(t *testing.T) {
	var stderr bytes.Buffer
	if code := app.Healthcheck("executor", func(string) string { return "" }, &stderr, app.WorkerReadyURL); code != 1 ||
		!strings.Contains(stderr.String(), "AWO_METRICS_LISTEN is not set") {
		t.Errorf("= %d %q", code, stderr.String())
	}
}

func TestReadyURLs(t *testing.T) {
	for _, tc := range []struct {
		vars  map[string]string
		where app.ReadyURL
		want  string
	}{
		{map[string]string{"AWO_METRICS_LISTEN": "0.0.0.0:9464"}, app.WorkerReadyURL, "http://127.0.0.1:9464/readyz"},
		{map[string]string{"AWO_METRICS_LISTEN": "10.1.2.3:9464"}, app.WorkerReadyURL, "http://10.1.2.3:9464/readyz"},
		{map[string]string{}, app.GatewayReadyURL, "http://127.0.0.1:8053/readyz"},
		{map[string]string{"AGENT_WORK_ORDERS_HOST": "0.0.0.0", "AGENT_WORK_ORDERS_PORT": "9000", "AWO_API_TOKENS": "a-token-of-at-least-sixteen-characters"},
			app.GatewayReadyURL, "http://127.0.0.1:9000/readyz"},
	} {
		cfg, err := config.Load(func(k string) string { return tc.vars[k] })
		if err != nil {
			t.Fatal(err)
		}
		if got, err := tc.where(cfg); err != nil || got != tc.want {
			t.Errorf("%v: %q, %v; want %q", tc.vars, got, err, tc.want)
		}
	}
}

// The executor's own checks: the CLI (checked in the background, so the
// first answers may be "being checked") and the disk guard.
func TestExecutorChecks(t *testing.T) {
	claude := os.Getenv("AWO_TEST_CLAUDE")
	if claude == "" {
		t.Skip("AWO_TEST_CLAUDE is not set (make tools; make test sets it)")
	}
	run := func(vars map[string]string) app.ReadyReport {
		r := &app.Readiness{}
		r.Add(app.ExecutorChecks(context.Background(), load(t, vars))...)
		var report app.ReadyReport
		eventually(t, "the CLI check", func() bool {
			report = r.Check(context.Background())
			return report.Checks["claude_cli"].Error != "being checked"
		})
		return report
	}
	if r := run(map[string]string{"CLAUDE_CLI_PATH": claude, "IS_SANDBOX": "1"}); r.Status != app.StatusReady {
		t.Errorf("with the pinned CLI: %+v", r)
	}
	missing := filepath.Join(t.TempDir(), "no-claude")
	r := run(map[string]string{"CLAUDE_CLI_PATH": missing, "IS_SANDBOX": "1", "AWO_MIN_FREE_DISK": "1000T"})
	if c := r.Checks["claude_cli"]; c.OK || !strings.Contains(c.Error, "CLAUDE_CLI_PATH="+missing) {
		t.Errorf("with no CLI: %+v", c)
	}
	if c := r.Checks["disk"]; c.OK || !strings.Contains(c.Error, "below AWO_MIN_FREE_DISK=") {
		t.Errorf("with AWO_MIN_FREE_DISK=1000T: %+v", c)
	}
}
