package gateway_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/services/gateway"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const (
	hookSecret = "gw-webhook-secret-0123456789abcdef"
	hookToken  = "gw-api-token-0123456789abcdef"
)

func webhookConfig(t *testing.T, env map[string]string) config.Gateway {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Gateway()
}

func postDelivery(t *testing.T, url string, body []byte) (int, map[string]string) {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "issues")
	req.Header.Set("X-GitHub-Delivery", "gw-delivery-1")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

var labeled = []byte(`{"action":"labeled","label":{"name":"awo"},"issue":{"number":5,"title":"Fix the build"},
"repository":{"full_name":"acme/demo"},"sender":{"login":"maintainer"}}`)

// The gateway serves the route from GITHUB_WEBHOOK_SECRET, outside the
// bearer token, and says so at start without the secret.
func TestGateway_GitHubWebhookRoute(t *testing.T) {
	env := natstest.Start(t)
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg := webhookConfig(t, map[string]string{"GITHUB_WEBHOOK_SECRET": hookSecret, "AWO_API_TOKENS": hookToken})
	cfg.ShutdownGrace = 5 * time.Second
	g := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC, Store: readmodel.NewMemory(), Logger: log})
	status, answer := postDelivery(t, g.base, labeled)
	if status != http.StatusAccepted || answer["agent_work_order_id"] == "" {
		t.Fatalf("delivery: %d %v", status, answer)
	}
	req, _ := http.NewRequest(http.MethodGet, g.base+"/api/agent-work-orders/"+answer["agent_work_order_id"], nil)
	req.Header.Set("Authorization", "Bearer "+hookToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the created work order: %d", resp.StatusCode)
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "GitHub webhook route on") || strings.Contains(logs.String(), hookSecret) {
		t.Fatalf("start log: want the route on, never the secret:\n%s", logs.String())
	}
}

func TestGateway_GitHubWebhookRoute_OffWithoutSecret(t *testing.T) {
	env := natstest.Start(t)
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg := webhookConfig(t, map[string]string{"AWO_API_TOKENS": hookToken})
	cfg.ShutdownGrace = 5 * time.Second
	g := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC, Store: readmodel.NewMemory(), Logger: log})
	if status, _ := postDelivery(t, g.base, labeled); status != http.StatusNotFound {
		t.Fatalf("without GITHUB_WEBHOOK_SECRET: %d, want 404", status)
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "GitHub webhook route off") {
		t.Fatalf("start log does not say the route is off:\n%s", logs.String())
	}
}
