package api_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/testkit/syncbuf"

	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/services/gateway/api"
)

// Secure by default: repos. A repository on the gateway's or executor's own
// network (the cloud metadata service, loopback, RFC 1918) is refused
// before anything is published.
func TestCreate_RefusesLocalAndInternalHosts(t *testing.T) {
	h := newHarness(t)
	for _, repo := range []string{
		"https://169.254.169.254/latest/meta-data", "https://127.0.0.1/acme/demo", "https://[::1]/acme/demo",
		"https://10.0.0.1/acme/demo", "https://2130706433/acme/demo", "https://0x7f000001/acme/demo",
		"https://[::ffff:127.0.0.1]/acme/demo", "git@localhost:acme/demo", "ssh://git@192.168.1.1/acme/demo",
	} {
		r := h.post("/api/agent-work-orders/", createBody(repo))
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d (%s), want 422", repo, r.status, r.body)
			continue
		}
		if d := r.detail(t); !strings.Contains(d, "repository_url") || !strings.Contains(d, "AWO_ALLOW_LOCAL_REPOS") {
			t.Errorf("%s: detail %q, want it to name repository_url and AWO_ALLOW_LOCAL_REPOS", repo, d)
		}
	}
	if n := h.eventCount(); n != 0 {
		t.Errorf("refused creates published %d events", n)
	}
}

func TestCreate_LocalHostsWhenAllowed(t *testing.T) {
	h := newHarness(t, func(o *api.Options) { o.AllowLocalRepos = true })
	h.create(map[string]any{"repository_url": "https://127.0.0.1:8443/acme/demo"})
}

func TestCreate_AllowedRepositories(t *testing.T) {
	allowed, err := repourl.ParseAllowlist("github.com/acme/*,gitlab.example.com/team/app")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(o *api.Options) { o.AllowedRepositories = allowed })
	h.create(map[string]any{"repository_url": "https://github.com/acme/demo"})
	h.create(map[string]any{"repository_url": "git@gitlab.example.com:team/app.git"})
	before := h.eventCount()
	for _, repo := range []string{"https://github.com/evil/demo", "git@gitlab.example.com:team/other", "https://gitlab.example.com/team/app/x"} {
		r := h.post("/api/agent-work-orders/", createBody(repo))
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("%s: status %d (%s), want 422", repo, r.status, r.body)
		}
		if d := r.detail(t); !strings.Contains(d, "AWO_ALLOWED_REPOSITORIES") {
			t.Errorf("%s: detail %q, want it to name AWO_ALLOWED_REPOSITORIES", repo, d)
		}
	}
	if n := h.eventCount(); n != before {
		t.Errorf("refused creates published %d events", n-before)
	}
}

// A URL carrying credentials is refused, and the secret is in neither the
// answer nor any log line, nor any event.
func TestCreate_CredentialsNeverEcho(t *testing.T) {
	var logs syncbuf.Buffer
	h := newHarness(t, func(o *api.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	for _, repo := range []string{
		"https://user:hunter2@github.com/acme/demo", "https://hunter2@github.com/acme/demo",
		"ssh://user:hunter2@github.com/acme/demo", "user:hunter2@github.com:acme/demo",
		"https://github.com/acme/demo?token=hunter2", "https://x:hunter2@127.0.0.1/acme/demo",
	} {
		r := h.post("/api/agent-work-orders/", createBody(repo))
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422", repo, r.status)
		}
		if d := r.detail(t); strings.Contains(d, "hunter2") || !strings.Contains(d, "****") {
			t.Errorf("%s: detail %q must show the secret as ****", repo, d)
		}
	}
	if n := h.eventCount(); n != 0 {
		t.Errorf("refused creates published %d events", n)
	}
	if out := logs.String(); strings.Contains(out, "hunter2") || !strings.Contains(out, "****") {
		t.Errorf("log output leaks the secret or lacks the refusals:\n%s", out)
	}
}
