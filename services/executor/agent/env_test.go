package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/redact"
)

func TestEnviron(t *testing.T) {
	parent := []string{
		"PATH=/usr/bin", "HOME=/home/awo", "USER=awo", "LOGNAME=awo", "SHELL=/bin/bash", "SHLVL=2", "TMPDIR=/tmp",
		"LANG=C.UTF-8", "LANGUAGE=en", "LC_ALL=C.UTF-8", "LC_CTYPE=C", "TZ=UTC", "TERM=xterm", "COLORTERM=truecolor", "NO_COLOR=1",
		"ANTHROPIC_API_KEY=sk-ant-x", "ANTHROPIC_BASE_URL=http://127.0.0.1:1", "CLAUDE_CONFIG_DIR=/c", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"DISABLE_TELEMETRY=1", "IS_SANDBOX=1", "HTTPS_PROXY=http://proxy:3128", "no_proxy=localhost",
		"NODE_EXTRA_CA_CERTS=/ca.pem", "SSL_CERT_FILE=/ca.pem", "SSL_CERT_DIR=/etc/ssl/certs",
		"GIT_CONFIG_GLOBAL=/g", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GH_TOKEN=ghp_x", "GITHUB_TOKEN=ghp_y", "SSH_AUTH_SOCK=/agent.sock",
		"DATABASE_URL=postgres://awo:pw@db/awo", "SUPABASE_DB_URL=postgres://x", "NATS_URL=nats://t@n:4222", "NATS_TOKEN=t",
		"AWO_API_TOKENS=a,b", "AWO_METRICS_TOKEN=m", "AWO_AGENT_ENV=GOPATH", "OTEL_EXPORTER_OTLP_HEADERS=k=v",
		"AWS_SECRET_ACCESS_KEY=s", "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: x",
		"GOPATH=/go", "npm_config_registry=http://r", "RANDOM_THING=1", "malformed",
	}
	base := []string{
		"PATH", "HOME", "USER", "LOGNAME", "SHELL", "SHLVL", "TMPDIR", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "COLORTERM", "NO_COLOR",
		"ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CONFIG_DIR", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
		"DISABLE_TELEMETRY", "IS_SANDBOX", "HTTPS_PROXY", "no_proxy", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR",
		"GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "GIT_TERMINAL_PROMPT",
	}
	for _, tc := range []struct {
		name        string
		passThrough []string
		gitHub      bool
		want        []string
	}{
		{"an agent step", nil, false, base},
		{"a step that pushes gets the GitHub credentials", nil, true, insertAt(base, 29, "GH_TOKEN", "GITHUB_TOKEN", "SSH_AUTH_SOCK")},
		{"AWO_AGENT_ENV names pass", []string{"GOPATH", "npm_config_registry", "NOT_SET"}, false, append(slices.Clone(base), "GOPATH", "npm_config_registry")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, kv := range Environ(parent, tc.passThrough, tc.gitHub) {
				k, _, _ := strings.Cut(kv, "=")
				got = append(got, k)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Environ names\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	// A parent without SHLVL (systemd, a container) gives the agent SHLVL=1:
	// the CLI's Bash tool is a second slower per call without it.
	for _, p := range [][]string{{"PATH=/bin"}, {"PATH=/bin", "SHLVL=0"}} {
		if env := Environ(p, nil, false); lookupEnv(env, "SHLVL") != "1" {
			t.Errorf("Environ(%q) = %q, want SHLVL=1", p, env)
		}
	}
	if env := Environ([]string{"SHLVL=3"}, nil, false); !slices.Equal(env, []string{"SHLVL=3"}) {
		t.Errorf("a parent's SHLVL is kept: %q", env)
	}
	// Later entries still win: the order is kept.
	env := Environ([]string{"IS_SANDBOX=0", "IS_SANDBOX=1"}, nil, false)
	if lookupEnv(env, "IS_SANDBOX") != "1" {
		t.Errorf("order lost: %q", env)
	}
}

func insertAt(s []string, i int, v ...string) []string {
	return slices.Insert(slices.Clone(s), i, v...)
}

// The CLI really starts with the allowlisted environment: the service's
// secrets are not in it, GH_TOKEN only when the step may push.
func TestRun_TheCLIGetsTheAllowlistedEnvironment(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://awo:pw@db/awo")
	t.Setenv("NATS_TOKEN", "nats-token")
	t.Setenv("AWO_API_TOKENS", "api-token")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "k=v")
	t.Setenv("GH_TOKEN", "ghp_inherited")
	t.Setenv("MY_TOOL_HOME", "/opt/tool")
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-for-the-cli")
	for _, gitHub := range []bool{false, true} {
		dir := workDir(t)
		cli := fakeCLI(t, `env > env.txt
echo '{"type":"result","subtype":"success","is_error":false,"result":"ok"}'
`)
		res, err := (&Runner{CLIPath: cli, Logger: testLogger(t)}).Run(context.Background(),
			Request{Dir: dir, Prompt: "x", PassEnv: []string{"MY_TOOL_HOME"}, GitHub: gitHub, Env: []string{"EXTRA=1"}})
		if err != nil || !res.Success {
			t.Fatalf("res = %+v, err = %v", res, err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "env.txt"))
		if err != nil {
			t.Fatal(err)
		}
		env := string(b)
		for _, absent := range []string{"DATABASE_URL=", "NATS_TOKEN=", "AWO_API_TOKENS=", "OTEL_EXPORTER_OTLP_HEADERS="} {
			if strings.Contains(env, absent) {
				t.Errorf("github=%t: the CLI saw %s", gitHub, absent)
			}
		}
		for _, present := range []string{"MY_TOOL_HOME=/opt/tool", "ANTHROPIC_API_KEY=sk-ant-for-the-cli", "EXTRA=1", "PATH="} {
			if !strings.Contains(env, present) {
				t.Errorf("github=%t: the CLI lacks %s", gitHub, present)
			}
		}
		if strings.Contains(env, "GH_TOKEN=ghp_inherited") != gitHub {
			t.Errorf("github=%t: GH_TOKEN seen = %t", gitHub, !gitHub)
		}
	}
}

// What the CLI prints on stderr and as its result is redacted before it
// becomes the step's error or output.
func TestRun_StderrAndResultAreRedacted(t *testing.T) {
	t.Parallel()
	cli := fakeCLI(t, `echo '{"type":"result","subtype":"success","is_error":true,"result":"API key the-configured-secret rejected"}'
echo "Error: token ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5 and the-configured-secret" >&2
exit 1
`)
	r := &Runner{CLIPath: cli, Logger: testLogger(t), Redactor: redact.New("the-configured-secret")}
	res, err := r.Run(context.Background(), Request{Dir: workDir(t), Prompt: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ErrorMessage != "claude CLI failed: API key [REDACTED] rejected" || res.ResultText != "API key [REDACTED] rejected" ||
		res.StderrTail != "Error: token [REDACTED] and [REDACTED]\n" {
		t.Errorf("result = %+v", res)
	}
}
