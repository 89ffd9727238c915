package health

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/natsembed"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func check(p func(context.Context) Result) Result {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p(ctx)
}

func TestVersionProbe(t *testing.T) {
	tests := []struct {
		name        string
		path        string
		wantOK      bool
		wantVersion any
		wantErr     string
	}{
		{"Works", script(t, "claude", `echo "2.1.328 (Claude Code)"`), true, "2.1.328 (Claude Code)", ""},
		{"FirstLineOnly", script(t, "claude", `printf '1.0\nextra\n'`), true, "1.0", ""},
		{"Fails", script(t, "claude", `echo "cannot run as root" >&2; exit 3`), false, nil, "cannot run as root"},
		{"Missing", filepath.Join(t.TempDir(), "no-such-claude"), false, nil, "no-such-claude"},
		{"NotOnPath", "awo-no-such-cli-on-path", false, nil, "not found (set CLAUDE_CLI_PATH)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := check(versionProbe(tc.path, "CLAUDE_CLI_PATH"))
			if r.OK != tc.wantOK || r.Fields["version"] != tc.wantVersion {
				t.Errorf("got OK=%v fields=%v, want OK=%v version=%v", r.OK, r.Fields, tc.wantOK, tc.wantVersion)
			}
			if msg, _ := r.Fields["error"].(string); !strings.Contains(msg, tc.wantErr) || (tc.wantErr == "") != (msg == "") {
				t.Errorf("error = %q, want it to mention %q", msg, tc.wantErr)
			}
		})
	}
}

func TestClaudeProbe_ReportsTheRootSandboxProblem(t *testing.T) {
	cli := script(t, "claude", `echo "2.1.328 (Claude Code)"`)
	if r := check(claudeProbe(cli, "")); !r.OK || r.Fields["error"] != nil {
		t.Fatalf("no problem: got OK=%v fields=%v", r.OK, r.Fields)
	}
	problem := config.RootSandboxProblem(true, 0, "")
	r := check(claudeProbe(cli, problem))
	if r.OK || r.Fields["error"] != problem || r.Fields["version"] != "2.1.328 (Claude Code)" {
		t.Fatalf("as root without IS_SANDBOX: got OK=%v fields=%v", r.OK, r.Fields)
	}
	if !strings.Contains(problem, "IS_SANDBOX=1") || config.RootSandboxProblem(true, 0, "1") != "" ||
		config.RootSandboxProblem(true, 1000, "") != "" || config.RootSandboxProblem(false, 0, "") != "" {
		t.Fatalf("RootSandboxProblem rules broken: %q", problem)
	}
}

func TestVersionProbe_RealGit(t *testing.T) {
	r := check(versionProbe("git", ""))
	if !r.OK || !strings.HasPrefix(r.Fields["version"].(string), "git version ") {
		t.Errorf("git probe = %+v, want git's version", r)
	}
}

func TestVersionProbe_HangingCLIIsKilledAtDeadline(t *testing.T) {
	path := script(t, "claude", "sleep 30")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := versionProbe(path, "CLAUDE_CLI_PATH")(ctx)
	if time.Since(start) > 5*time.Second || r.OK {
		t.Errorf("probe of a hanging CLI = %+v after %s", r, time.Since(start))
	}
}

func TestGHProbe(t *testing.T) {
	authed := fakegh.Install(t, fakegh.Options{Version: "2.62.0"})
	unauthed := fakegh.Install(t, fakegh.Options{Unauthenticated: true})
	tests := []struct {
		name            string
		path, token     string
		tokenSet        bool
		wantOK, wantAut bool
		wantVersion     any
	}{
		{"Authenticated", authed.Path, "", false, true, true, "gh version 2.62.0 (2025-01-01)"},
		{"AuthenticatedWithTheConfiguredToken", authed.Path, "ghp_probe", true, true, true, "gh version 2.62.0 (2025-01-01)"},
		{"NotAuthenticated", unauthed.Path, "", false, true, false, "gh version 2.62.0 (2025-01-01)"},
		{"VersionUnreadable", script(t, "gh", `[ "$1" = --version ] && exit 3; echo "Logged in"`), "", false, true, true, nil},
		{"Missing", filepath.Join(t.TempDir(), "gh"), "", false, false, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := check(ghProbe(tc.path, tc.token, tc.tokenSet))
			if r.OK != tc.wantOK || r.Fields["authenticated"] != tc.wantAut || r.Fields["token_configured"] != tc.tokenSet ||
				r.Fields["version"] != tc.wantVersion {
				t.Errorf("got OK=%v fields=%v, want available=%v authenticated=%v token_configured=%v version=%v",
					r.OK, r.Fields, tc.wantOK, tc.wantAut, tc.tokenSet, tc.wantVersion)
			}
			if msg, _ := r.Fields["error"].(string); tc.wantAut == (msg != "") {
				t.Errorf("error = %q with authenticated=%v", msg, tc.wantAut)
			}
		})
	}
	var sawToken bool
	for _, c := range authed.Calls(t) {
		sawToken = sawToken || (len(c.Args) == 2 && c.Args[0] == "auth" && c.Env["GH_TOKEN"] == "ghp_probe")
	}
	if !sawToken {
		t.Error("gh auth status never ran with the configured token")
	}
}

// A gh whose auth status hangs (GitHub slow) still shows its version and
// presence, as not authenticated, rather than losing the whole entry to
// the probe's timeout.
func TestGHProbe_SlowAuthStatusKeepsWhatIsKnown(t *testing.T) {
	gh := script(t, "gh", `[ "$1" = --version ] && { echo "gh version 2.62.0"; exit 0; }; exec sleep 30`)
	m := NewMonitor([]Probe{{Name: "github_cli", Check: ghProbe(gh, "", false)}}, Options{Timeout: time.Second})
	dep := m.Check(context.Background()).Dependencies["github_cli"]
	if dep["available"] != true || dep["version"] != "gh version 2.62.0" || dep["authenticated"] != false || dep["error"] == nil {
		t.Fatalf("github_cli = %v", dep)
	}
}

// As the Python service: degraded when claude or git is missing, not when
// gh is; every CLI shows its version.
func TestProbes_DegradedWhenClaudeOrGitIsMissing(t *testing.T) {
	env := natstest.Start(t)
	claude := script(t, "claude", `echo "2.1.328 (Claude Code)"`)
	git := script(t, "git", `echo "git version 2.43.0"`)
	gh := fakegh.Install(t, fakegh.Options{}).Path
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name, claude, git, gh string
		want                  string
	}{
		{"AllThere", claude, git, gh, StatusHealthy},
		{"ClaudeMissing", missing, git, gh, StatusDegraded},
		{"GitMissing", claude, missing, gh, StatusDegraded},
		{"GHMissing", claude, git, missing, StatusHealthy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewMonitor(Probes(Sources{ClaudeCLIPath: tc.claude, GitPath: tc.git, GHCLIPath: tc.gh, NC: env.NC, JS: env.JS}),
				Options{}).Check(context.Background())
			if r.Status != tc.want {
				t.Fatalf("status = %s, want %s; dependencies %v", r.Status, tc.want, r.Dependencies)
			}
			for name, path := range map[string]string{"claude_cli": tc.claude, "git": tc.git, "github_cli": tc.gh} {
				dep := r.Dependencies[name]
				if present := path != missing; dep["available"] != present || (dep["version"] != nil) != present {
					t.Errorf("%s = %v, want available and a version exactly when present (%v)", name, dep, present)
				}
			}
			if gh := r.Dependencies["github_cli"]; tc.gh != missing && gh["authenticated"] != true {
				t.Errorf("github_cli = %v, want authenticated", gh)
			}
		})
	}
}

func TestNATSAndJetStreamProbes(t *testing.T) {
	env := natstest.Start(t)

	r := check(natsProbe(env.NC))
	if !r.OK || r.Fields["status"] != "CONNECTED" || r.Fields["rtt_ms"] == nil || r.Fields["url"] != "in-process" {
		t.Errorf("nats probe = %+v, want connected in-process with a round-trip time", r)
	}
	r = check(jetStreamProbe(env.JS))
	streams, _ := r.Fields["streams"].(map[string]StreamState)
	if !r.OK || len(streams) != 6 {
		t.Errorf("jetstream probe = %+v, want available with 6 streams", r)
	}

	if err := env.JS.DeleteStream(context.Background(), bus.StreamDLQ); err != nil {
		t.Fatal(err)
	}
	r = check(jetStreamProbe(env.JS))
	if msg, _ := r.Fields["error"].(string); r.OK || !strings.Contains(msg, bus.StreamDLQ) {
		t.Errorf("jetstream probe without %s = %+v, want unavailable naming it", bus.StreamDLQ, r)
	}

	env.NC.Close()
	r = check(natsProbe(env.NC))
	if r.OK || r.Fields["status"] != "CLOSED" {
		t.Errorf("nats probe on a closed connection = %+v, want not connected", r)
	}
	if r := check(jetStreamProbe(env.JS)); r.OK {
		t.Errorf("jetstream probe on a closed connection = %+v, want unavailable", r)
	}
}

func TestNilConnections(t *testing.T) {
	if r := check(natsProbe(nil)); r.OK || r.Fields["error"] == nil {
		t.Errorf("nats probe without connection = %+v", r)
	}
	if r := check(jetStreamProbe(nil)); r.OK || r.Fields["error"] == nil {
		t.Errorf("jetstream probe without context = %+v", r)
	}
}

func TestHTTPProbe(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
		}
	}))
	defer up.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()

	if r := check(httpProbe(http.DefaultClient, up.URL)); !r.OK || r.Fields["url"] != up.URL {
		t.Errorf("probe of a healthy server = %+v", r)
	}
	if r := check(httpProbe(http.DefaultClient, down.URL)); r.OK || !strings.Contains(r.Fields["error"].(string), "503") {
		t.Errorf("probe of a 503 server = %+v", r)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if r := check(httpProbe(http.DefaultClient, closed.URL)); r.OK || r.Fields["error"] == nil {
		t.Errorf("probe of a closed server = %+v", r)
	}
}

func TestProbes_ArchonOnlyWhenConfigured(t *testing.T) {
	names := func(ps []Probe) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	got := strings.Join(names(Probes(Sources{})), ",")
	if got != "claude_cli,git,github_cli,nats,jetstream" {
		t.Errorf("probes = %s", got)
	}
	got = strings.Join(names(Probes(Sources{ArchonServerURL: "http://a", ArchonMCPURL: "http://m"})), ",")
	if !strings.HasSuffix(got, ",archon_server,archon_mcp") {
		t.Errorf("probes = %s, want archon_server and archon_mcp", got)
	}
}

func TestNATSProbe_NetworkConnectionShowsItsURL(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r := check(natsProbe(nc))
	if url, _ := r.Fields["url"].(string); !r.OK || !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Errorf("nats probe = %+v, want the server's URL", r)
	}
}

// codex_cli is probed, and critical, only when CODEX_CLI_PATH is set.
func TestProbes_CodexOnlyWhenConfigured(t *testing.T) {
	for _, p := range Probes(Sources{}) {
		if p.Name == "codex_cli" {
			t.Fatal("codex_cli probed without CODEX_CLI_PATH")
		}
	}
	for _, tc := range []struct {
		path    string
		ok      bool
		version any
	}{
		{script(t, "codex", `echo "codex-cli 0.171.0"`), true, "codex-cli 0.171.0"},
		{"awo-no-such-codex-on-path", false, nil},
	} {
		var found bool
		for _, p := range Probes(Sources{CodexCLIPath: tc.path}) {
			if p.Name != "codex_cli" {
				continue
			}
			found = true
			r := check(p.Check)
			if !p.Critical || r.OK != tc.ok || r.Fields["version"] != tc.version {
				t.Errorf("%s: critical %t, %+v", tc.path, p.Critical, r)
			}
			if msg, _ := r.Fields["error"].(string); !tc.ok && !strings.Contains(msg, "CODEX_CLI_PATH") {
				t.Errorf("%s: error %q does not name CODEX_CLI_PATH", tc.path, msg)
			}
		}
		if !found {
			t.Errorf("%s: no codex_cli probe", tc.path)
		}
	}
}
