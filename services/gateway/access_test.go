package gateway_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/syncbuf"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/services/gateway"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// With no setting at all, the real gateway listens on 127.0.0.1 only and
// answers only requests addressed to loopback; asked to listen on every
// interface without tokens, it refuses to start, naming both variables.
func TestRun_DefaultBindIsLoopback(t *testing.T) {
	port := freePort(t)
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"AGENT_WORK_ORDERS_PORT": strconv.Itoa(port), "AWO_SHUTDOWN_GRACE": "2s"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	env := natstest.Start(t)
	var logs syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runGateway(ctx, gateway.Deps{Config: cfg.Gateway(), Bus: env.Bus("awo/gateway"),
			Store: readmodel.NewMemory(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway.Run: %v", err)
		}
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway never answered on %s: %v\n%s", base, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if want := "addr=127.0.0.1:" + strconv.Itoa(port); !strings.Contains(logs.String(), want) {
		t.Errorf("log does not show %s:\n%s", want, logs.String())
	}
	// Not reachable on any other address of this machine.
	if ip := outboundIP(); ip != nil {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)), time.Second); err == nil {
			c.Close()
			t.Errorf("the gateway answers on %s", ip)
		}
	}
	// DNS rebinding: a page at evil.example resolving to 127.0.0.1.
	req, _ := http.NewRequest(http.MethodGet, base+"/api/agent-work-orders", nil)
	req.Host = "evil.example:" + strconv.Itoa(port)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("Host evil.example: %d, want 403", resp.StatusCode)
	}

	// Every interface, without tokens: refused before listening.
	wide := cfg
	wide.Host = "0.0.0.0"
	err = runGateway(context.Background(), gateway.Deps{Config: wide.Gateway(), Bus: env.Bus("awo/gateway"),
		Store: readmodel.NewMemory(), Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "AGENT_WORK_ORDERS_HOST") || !strings.Contains(err.Error(), "AWO_API_TOKENS") {
		t.Fatalf("gateway.Run on 0.0.0.0 without tokens: %v, want a refusal naming AGENT_WORK_ORDERS_HOST and AWO_API_TOKENS", err)
	}
	_, err = config.Load(func(k string) string { return map[string]string{"AGENT_WORK_ORDERS_HOST": "0.0.0.0"}[k] })
	if err == nil || !strings.Contains(err.Error(), "AGENT_WORK_ORDERS_HOST") || !strings.Contains(err.Error(), "AWO_API_TOKENS") {
		t.Fatalf("config.Load: %v", err)
	}
}

// outboundIP is a non-loopback address of this machine, or nil.
func outboundIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP
		}
	}
	return nil
}

// AWO_AUTH=none on every interface starts, with a warning, and without the
// loopback Host check (the machine is reached by its network name).
func TestRun_AuthNoneWarnsBeyondLoopback(t *testing.T) {
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"AGENT_WORK_ORDERS_HOST": "0.0.0.0", "AWO_AUTH": "none", "AWO_SHUTDOWN_GRACE": "2s"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	env := natstest.Start(t)
	var logs syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runGateway(ctx, gateway.Deps{Config: cfg.Gateway(), Bus: env.Bus("awo/gateway"), Listener: ln,
			Store: readmodel.NewMemory(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	}()
	defer func() {
		cancel()
		<-done
	}()
	var resp *http.Response
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+"/api/agent-work-orders", nil)
		req.Host = "build-box.example:" + port
		if resp, err = http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("Host build-box.example with AWO_AUTH=none: %d, want 200", resp.StatusCode)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "AWO_AUTH=none") {
		t.Errorf("no start-up warning:\n%s", out)
	}
}
