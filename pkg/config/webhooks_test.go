package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
)

const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestLoad_Webhooks_DefaultsAndParsing(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Webhooks
	if w.Enabled() || w.MaxAge != 24*time.Hour || w.Timeout != 10*time.Second || w.AllowPrivate ||
		!slices.Equal(w.Events, config.DefaultWebhookEvents) {
		t.Fatalf("defaults: %+v", w)
	}

	c, err = config.Load(env(map[string]string{
		"AWO_WEBHOOK_URLS":    "https://hooks.example.com/a?token=tok-in-query, https://user:pw-in-url@other.example.org/b",
		"AWO_WEBHOOK_SECRET":  testWebhookSecret,
		"AWO_WEBHOOK_EVENTS":  "workorder.completed, io.archon.workorders.step.failed.v1",
		"AWO_WEBHOOK_MAX_AGE": "2h",
		"AWO_WEBHOOK_TIMEOUT": "3s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	w = c.Webhooks
	if len(w.URLs) != 2 || len(w.Key) != 24 || w.MaxAge != 2*time.Hour || w.Timeout != 3*time.Second ||
		!slices.Equal(w.Events, []string{events.TypeCompleted, events.TypeStepFailed}) {
		t.Fatalf("parsed: %+v", w)
	}
	line := printed(c)
	for _, secret := range []string{testWebhookSecret, "tok-in-query", "pw-in-url"} {
		if strings.Contains(line, secret) {
			t.Errorf("start-up line shows %q: %s", secret, line)
		}
		if !slices.Contains(c.Secrets(), secret) {
			t.Errorf("%q is not among the redacted secrets", secret)
		}
	}
	if !strings.Contains(line, "https://hooks.example.com/a") {
		t.Errorf("start-up line does not name the receiver: %s", line)
	}
}

func TestLoad_Webhooks_Refusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"loopback", map[string]string{"AWO_WEBHOOK_URLS": "http://127.0.0.1:9000/h", "AWO_WEBHOOK_SECRET": testWebhookSecret}, "loopback"},
		{"localhost", map[string]string{"AWO_WEBHOOK_URLS": "http://localhost/h", "AWO_WEBHOOK_SECRET": testWebhookSecret}, "loopback"},
		{"private", map[string]string{"AWO_WEBHOOK_URLS": "https://10.1.2.3/h", "AWO_WEBHOOK_SECRET": testWebhookSecret}, "private"},
		{"metadata", map[string]string{"AWO_WEBHOOK_URLS": "http://169.254.169.254/", "AWO_WEBHOOK_SECRET": testWebhookSecret}, "link-local"},
		{"ipv6 loopback", map[string]string{"AWO_WEBHOOK_URLS": "http://[::1]:80/", "AWO_WEBHOOK_SECRET": testWebhookSecret}, "loopback"},
		{"not http", map[string]string{"AWO_WEBHOOK_URLS": "ftp://example.com/", "AWO_WEBHOOK_SECRET": testWebhookSecret}, "http:// or https://"},
		{"no secret", map[string]string{"AWO_WEBHOOK_URLS": "https://example.com/"}, "AWO_WEBHOOK_SECRET"},
		{"secret not whsec", map[string]string{"AWO_WEBHOOK_URLS": "https://example.com/", "AWO_WEBHOOK_SECRET": "plain-secret-value-123456789"}, "whsec_"},
		{"secret too short", map[string]string{"AWO_WEBHOOK_URLS": "https://example.com/", "AWO_WEBHOOK_SECRET": "whsec_c2hvcnQ="}, "24 to 64"},
		{"unknown event", map[string]string{"AWO_WEBHOOK_EVENTS": "workorder.exploded"}, "workorder.exploded"},
		{"command is no event", map[string]string{"AWO_WEBHOOK_EVENTS": "command.run_step"}, "AWO_WEBHOOK_EVENTS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
			if s := tc.env["AWO_WEBHOOK_SECRET"]; s != "" && strings.Contains(err.Error(), s) {
				t.Fatalf("the error quotes the secret: %v", err)
			}
		})
	}

	c, err := config.Load(env(map[string]string{"AWO_WEBHOOK_URLS": "http://127.0.0.1:9000/h",
		"AWO_WEBHOOK_SECRET": testWebhookSecret, "AWO_WEBHOOK_ALLOW_PRIVATE": "true"}))
	if err != nil || len(c.Webhooks.URLs) != 1 {
		t.Fatalf("with AWO_WEBHOOK_ALLOW_PRIVATE: %v, %+v", err, c.Webhooks)
	}
}

func TestLoad_Webhooks_AllEvents(t *testing.T) {
	c, err := config.Load(env(map[string]string{"AWO_WEBHOOK_EVENTS": "*"}))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(c.Webhooks.Events, events.TypeRunStep) || !slices.Contains(c.Webhooks.Events, events.TypeStepDispatched) {
		t.Fatalf("* gave %v", c.Webhooks.Events)
	}
}
