package config_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad_DefaultsMatchTheSeed(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8053 || c.ClaudeCLIPath != "claude" || c.GHCLIPath != "gh" || c.ClaudeModel != "sonnet" ||
		!c.ClaudeSkipPermissions || c.StepTimeout != time.Hour || c.StorageType != "memory" ||
		c.TempDir != "/tmp/agent-work-orders" || c.LogLevel != slog.LevelInfo || c.ExecConcurrency != 2 || c.NATSURL != "" || c.RebuildReadModel ||
		c.MetricsListen != "" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLoad_ReadsAliasesAndNormalises(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"STATE_STORAGE_TYPE": "supabase", "SUPABASE_DB_URL": "postgres://u:secret@h/db",
		"GITHUB_TOKEN": "ghp_x", "LOG_LEVEL": "warning", "AGENT_WORK_ORDER_TIMEOUT": "90",
		"CLAUDE_CLI_SKIP_PERMISSIONS": "False", "AWO_ACK_WAIT": "10s", "AWO_REBUILD_READ_MODEL": "true",
		"AWO_METRICS_LISTEN": ":9464",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.StorageType != config.StoragePostgres || c.DatabaseURL == "" || c.GHToken != "ghp_x" ||
		c.LogLevel != slog.LevelWarn || c.StepTimeout != 90*time.Second || c.ClaudeSkipPermissions || c.AckWait != 10*time.Second || !c.RebuildReadModel ||
		c.MetricsListen != ":9464" {
		t.Fatalf("got %+v", c)
	}
	printed := ""
	attrs := c.Attrs()
	for i := 0; i < len(attrs); i += 2 {
		printed += attrs[i].(string) + "=" + slog.AnyValue(attrs[i+1]).String() + " "
	}
	if strings.Contains(printed, "secret") || strings.Contains(printed, "ghp_x") {
		t.Fatalf("secrets printed: %s", printed)
	}
}

func TestLoad_RejectsInvalidValuesNamingTheVariable(t *testing.T) {
	cases := map[string]string{
		"AGENT_WORK_ORDERS_PORT":      "http",
		"AGENT_WORK_ORDER_TIMEOUT":    "-5",
		"CLAUDE_CLI_MAX_TURNS":        "lots",
		"CLAUDE_CLI_SKIP_PERMISSIONS": "maybe",
		"STATE_STORAGE_TYPE":          "sqlite",
		"LOG_LEVEL":                   "loud",
		"SERVICE_DISCOVERY_MODE":      "k8s",
		"ARCHON_SERVER_URL":           "localhost:8181",
		"AWO_NATS_LISTEN":             "4222",
		"AWO_ACK_WAIT":                "soon",
		"AWO_EXECUTOR_CONCURRENCY":    "0",
		"AWO_REBUILD_READ_MODEL":      "sometimes",
		"AWO_METRICS_LISTEN":          "9464",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{name: value}))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s=%s: err = %v, want one naming the variable", name, value, err)
			}
		})
	}
	_, err := config.Load(env(map[string]string{"STATE_STORAGE_TYPE": "postgres"}))
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("postgres without DATABASE_URL: %v", err)
	}
}

func TestLoad_RepositorySettings(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.AllowedRepositories) != 0 || c.GitTimeout != 10*time.Minute {
		t.Fatalf("defaults: allowed %v, git timeout %s", c.AllowedRepositories, c.GitTimeout)
	}
	c, err = config.Load(env(map[string]string{
		"AWO_ALLOWED_REPOSITORIES": "github.com/acme/*, gitlab.example.com/*", "AWO_GIT_TIMEOUT": "90s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.GitTimeout != 90*time.Second || c.AllowedRepositories.String() != "github.com/acme/*,gitlab.example.com/*" {
		t.Fatalf("got allowed %v, git timeout %s", c.AllowedRepositories, c.GitTimeout)
	}
	if _, err := c.RepoPolicy().Check("https://github.com/other/x"); err == nil {
		t.Fatal("RepoPolicy let a repository outside AWO_ALLOWED_REPOSITORIES through")
	}
	for name, value := range map[string]string{
		"AWO_ALLOWED_REPOSITORIES": "https://github.com/acme/*",
		"AWO_GIT_TIMEOUT":          "0s",
	} {
		if _, err := config.Load(env(map[string]string{name: value})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: err = %v, want one naming the variable", name, value, err)
		}
	}
}

func TestLoad_AgentUser_AcceptsNamesNumbersAndGroups(t *testing.T) {
	for _, v := range []string{"awo-agent", "1001", "awo-agent:awo", "1001:1001", "svc_build$", "Agent.User"} {
		c, err := config.Load(env(map[string]string{"AWO_AGENT_USER": " " + v + " "}))
		if err != nil || c.AgentUser != v {
			t.Errorf("AWO_AGENT_USER=%q: got %q, %v", v, c.AgentUser, err)
		}
	}
	c, err := config.Load(env(nil))
	if err != nil || c.AgentUser != "" {
		t.Fatalf("unset: got %q, %v", c.AgentUser, err)
	}
}

func TestLoad_AgentUser_RefusesBadFormsAndRoot(t *testing.T) {
	for v, want := range map[string]string{
		"root":          "must not be root",
		"0":             "must not be root",
		"000":           "must not be root",
		"awo:root":      "must not be root",
		"awo:0":         "must not be root",
		"awo:":          "user name or uid",
		":awo":          "user name or uid",
		"a b":           "user name or uid",
		"awo:grp:x":     "user name or uid",
		"-awo":          "user name or uid",
		"../etc/passwd": "user name or uid",
		"12345678901":   "user name or uid",
	} {
		_, err := config.Load(env(map[string]string{"AWO_AGENT_USER": v}))
		if err == nil || !strings.Contains(err.Error(), "AWO_AGENT_USER") || !strings.Contains(err.Error(), want) {
			t.Errorf("AWO_AGENT_USER=%q: err = %v, want one naming the variable and %q", v, err, want)
		}
	}
}

func TestConfig_ServicePartsShareOneSharedPart(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"AWO_ACK_WAIT": "12s", "AGENT_WORK_ORDERS_PORT": "9000", "AWO_EXECUTOR_CONCURRENCY": "7", "IS_SANDBOX": "1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	g, x, o, h := c.Gateway(), c.Executor(), c.Orchestrator(), c.GitHub()
	for _, s := range []config.Shared{g.Shared, x.Shared, o.Shared, h.Shared} {
		if s.AckWait != 12*time.Second || len(s.Secrets()) != len(c.Secrets()) {
			t.Fatalf("a service's shared part differs from Load's: %+v", s)
		}
	}
	if g.Port != 9000 || x.ExecConcurrency != 7 || g.IsSandbox != "1" {
		t.Fatalf("own parts: gateway %+v, executor %+v", g.GatewayOnly, x.ExecutorOnly)
	}
}

func TestLoad_IsSandboxIsKeptAsGiven(t *testing.T) {
	// The CLI accepts exactly "1": " 1" must not pass the root check.
	c, err := config.Load(env(map[string]string{"IS_SANDBOX": " 1"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.IsSandbox != " 1" || config.RootSandboxProblem(true, 0, c.IsSandbox) == "" {
		t.Fatalf("IS_SANDBOX=%q", c.IsSandbox)
	}
}
