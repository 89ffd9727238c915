package github_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	github "github.com/agentworkorders/awo/services/github"
)

func webhookConfig(t *testing.T, urls ...string) config.GitHub {
	key, _ := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	cfg := testConfig(t.TempDir() + "/no-gh")
	cfg.Webhooks = config.Webhooks{URLs: urls, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Key: key,
		Events: []string{events.TypeCompleted}, MaxAge: time.Hour, Timeout: time.Second, AllowPrivate: true}
	return cfg
}

// Serve, as the github binary and the all-in-one run it, also runs the
// webhook sender when URLs are configured, and stops it with the service.
func TestServe_RunsTheWebhookSender(t *testing.T) {
	env := natstest.Start(t)
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("webhook-id"))
		mu.Unlock()
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- github.Serve(ctx, webhookConfig(t, srv.URL), env.Bus("awo/github"), metrics.New(), testLogger(t))
	}()

	deadline := time.Now().Add(20 * time.Second)
	b := env.Bus("awo/orchestrator")
	published := 0
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the receiver got nothing")
		}
		// The consumer starts with the events from its creation on:
		// publish until one arrives.
		if _, err := b.PublishEvent(context.Background(), b.Event("wo-5e7e0001-done-"+string(rune('a'+published)), events.TypeCompleted, "wo-5e7e0001", events.Completed{}), nil); err != nil {
			t.Fatal(err)
		}
		published++
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestServe_RefusesAPrivateWebhookTarget(t *testing.T) {
	env := natstest.Start(t)
	cfg := webhookConfig(t, "http://127.0.0.1:9/h")
	cfg.Webhooks.AllowPrivate = false
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := github.Serve(ctx, cfg, env.Bus("awo/github"), nil, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "AWO_WEBHOOK_ALLOW_PRIVATE") {
		t.Fatalf("Serve = %v, want a refusal of the private target", err)
	}
}
