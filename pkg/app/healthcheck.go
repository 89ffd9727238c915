package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/redact"
)

// HealthcheckFlag, as a binary's only argument, makes it probe its own
// running process and exit 0 (ready) or 1: the images' HEALTHCHECK, since
// the minimal images have no curl.
const HealthcheckFlag = "-healthcheck"

// healthcheckTimeout stays under Docker's default HEALTHCHECK timeout (30s).
const healthcheckTimeout = 10 * time.Second

// IsHealthcheck tells whether args (os.Args[1:]) ask for the health check.
func IsHealthcheck(args []string) bool {
	return len(args) == 1 && (args[0] == HealthcheckFlag || args[0] == "-"+HealthcheckFlag)
}

// ReadyURL is where a binary's own /readyz is, from its configuration.
type ReadyURL func(cfg config.Config) (string, error)

// GatewayReadyURL is the gateway's (and the all-in-one's) /readyz on its
// API port (AGENT_WORK_ORDERS_PORT), on loopback unless the gateway
// listens on one address only.
func GatewayReadyURL(cfg config.Config) (string, error) {
	return "http://" + net.JoinHostPort(probeHost(cfg.Host), strconv.Itoa(cfg.Port)) + "/readyz", nil
}

// WorkerReadyURL is a worker's /readyz on AWO_METRICS_LISTEN.
func WorkerReadyURL(cfg config.Config) (string, error) {
	if cfg.MetricsListen == "" {
		return "", errors.New("AWO_METRICS_LISTEN is not set: this worker serves no /readyz to probe (set it, e.g. 0.0.0.0:9464)")
	}
	host, port, err := net.SplitHostPort(cfg.MetricsListen)
	if err != nil {
		return "", fmt.Errorf("AWO_METRICS_LISTEN=%s: %w", cfg.MetricsListen, err)
	}
	return "http://" + net.JoinHostPort(probeHost(host), port) + "/readyz", nil
}

// probeHost is 127.0.0.1 for a wildcard or loopback listen address, else
// the one address the process listens on (loopback would not reach it).
func probeHost(listen string) string {
	ip := net.ParseIP(listen)
	if listen == "" || listen == "localhost" || ip == nil || ip.IsUnspecified() || ip.IsLoopback() {
		return "127.0.0.1"
	}
	return listen
}

// Healthcheck is `<binary> -healthcheck`: it loads the configuration as
// the process under test did (the same environment), GETs its /readyz and
// returns the exit code, writing the reason to stderr when not ready.
func Healthcheck(name string, getenv func(string) string, stderr io.Writer, where ReadyURL) int {
	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "%s -healthcheck: %v\n", name, redact.Default().String(err.Error()))
		return 1
	}
	url, err := where(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s -healthcheck: %v\n", name, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthcheckTimeout)
	defer cancel()
	if err := probeReady(ctx, url); err != nil {
		fmt.Fprintf(stderr, "%s -healthcheck: %v\n", name, err)
		return 1
	}
	return 0
}

// probeReady GETs url and says why the answer is not 200.
func probeReady(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// A proxy from the environment must not answer for this process.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("not answering: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var report ReadyReport
	if json.Unmarshal(body, &report) == nil && len(report.Reasons()) > 0 {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.Join(report.Reasons(), "; "))
	}
	return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
}

// exitOnHealthcheck runs the health check and exits when os.Args asks
// for it.
func exitOnHealthcheck(name string, where ReadyURL) {
	if IsHealthcheck(os.Args[1:]) {
		os.Exit(Healthcheck(name, os.Getenv, os.Stderr, where))
	}
}
