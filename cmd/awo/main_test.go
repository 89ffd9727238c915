package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
)

func load(t *testing.T, vars map[string]string) config.Config {
	t.Helper()
	vars["AWO_DATA_DIR"] = filepath.Join(t.TempDir(), "data")
	vars["AGENT_WORK_ORDER_TEMP_DIR"] = t.TempDir()
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// `make run` with AWO_NATS_LISTEN=0.0.0.0:<port> and no NATS auth refuses
// to start, naming the variable.
func TestRun_RefusesAnUnauthenticatedNetworkListen(t *testing.T) {
	cfg := load(t, map[string]string{"AWO_NATS_LISTEN": "0.0.0.0:0"})
	err := run(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "AWO_NATS_LISTEN=0.0.0.0:0") {
		t.Fatalf("err = %v, want a refusal naming AWO_NATS_LISTEN", err)
	}
}

// With a configuration that requires authentication, the all-in-one's own
// connections need credentials too: said at start, not as a failed connect.
func TestRun_ConfigWithUsersNeedsClientCredentials(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte("authorization { users: [{user: awo, password: pw}] }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := load(t, map[string]string{"AWO_NATS_CONFIG": conf})
	err := run(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "AWO_NATS_CONFIG="+conf) || !strings.Contains(err.Error(), "NATS_USER") {
		t.Fatalf("err = %v", err)
	}
	// With a wrong password the connection is refused by the server.
	cfg = load(t, map[string]string{"AWO_NATS_CONFIG": conf, "NATS_USER": "awo", "NATS_PASSWORD": "wrong"})
	err = run(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "NATS_* credentials") {
		t.Fatalf("wrong password: err = %v", err)
	}
}

// The all-in-one runs against the example least-privilege configuration as
// its admin user (its four services share one identity).
func TestRun_ExampleConfigAsAdmin(t *testing.T) {
	for _, u := range []string{"ADMIN", "GATEWAY", "ORCHESTRATOR", "EXECUTOR", "GITHUB"} {
		t.Setenv("AWO_NATS_"+u+"_PASSWORD", "pw-"+u)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cfg := load(t, map[string]string{"AWO_NATS_CONFIG": "../../deploy/nats/awo.conf", "AWO_NATS_LISTEN": "0.0.0.0:0",
		"NATS_USER": "admin", "NATS_PASSWORD": "pw-ADMIN", "AGENT_WORK_ORDERS_PORT": port})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("run returned before serving: %v", err)
		default:
		}
		resp, err := http.Get("http://127.0.0.1:" + port + "/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no /health within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
