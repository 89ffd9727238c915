package config_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

func TestSecrets_CollectsEverySecretOfTheEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("file-token-one-0001\n\nfile-token-two-0002\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(env(map[string]string{
		"ANTHROPIC_API_KEY":                  "sk-ant-api03-key",
		"GH_TOKEN":                           "ghp_token",
		"GITHUB_TOKEN":                       "github-token",
		"DATABASE_URL":                       "postgres://awo:db-url-pw@db/awo?sslpassword=ssl-key-pw",
		"SUPABASE_DB_URL":                    "host=db user=awo password='kv pw' dbname=awo",
		"NATS_URL":                           "nats://nats-url-token@a:4222,nats://u:nats-url-pw@b:4222",
		"NATS_USER":                          "awo",
		"NATS_PASSWORD":                      "nats-password",
		"OTEL_EXPORTER_OTLP_HEADERS":         "api-key=otlp-key,Authorization=Bearer%20otlp-bearer",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS":  "x-token=traces-token",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://u:otlp-endpoint-pw@otel:4318",
		"AWO_API_TOKENS":                     "api-token-a-00001, api-token-b-00002",
		"AWO_API_TOKENS_FILE":                file,
		"AWO_METRICS_TOKEN":                  "metrics-token-0003",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Secrets()
	for _, want := range []string{
		"sk-ant-api03-key", "ghp_token", "github-token", "db-url-pw", "ssl-key-pw", "kv pw",
		"nats-url-token", "nats-url-pw", "nats-password",
		"otlp-key", "Bearer otlp-bearer", "otlp-bearer", "traces-token", "otlp-endpoint-pw",
		"api-token-a-00001", "api-token-b-00002", "file-token-one-0001", "file-token-two-0002", "metrics-token-0003",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("secret %q not collected; got %q", want, got)
		}
	}
	r := c.Redactor()
	if out := r.String("the db-url-pw and api-token-b-00002"); out != "the [REDACTED] and [REDACTED]" {
		t.Errorf("redactor: %q", out)
	}
}

func TestAttrs_MaskEveryCredentialForm(t *testing.T) {
	for _, tc := range []struct {
		vars  map[string]string
		leaks []string
	}{
		{map[string]string{"STATE_STORAGE_TYPE": "postgres", "DATABASE_URL": "postgres://awo:pw-in-url@db/awo"}, []string{"pw-in-url"}},
		{map[string]string{"STATE_STORAGE_TYPE": "postgres", "DATABASE_URL": "postgres://awo@db/awo?password=pw-in-query"}, []string{"pw-in-query"}},
		{map[string]string{"STATE_STORAGE_TYPE": "postgres", "DATABASE_URL": "host=db user=awo password=pw-in-dsn"}, []string{"pw-in-dsn"}},
		{map[string]string{"NATS_URL": "nats://nats-token-only@nats:4222"}, []string{"nats-token-only"}},
		{map[string]string{"NATS_URL": "nats://u:nats-pw@a:4222,tls://tok-b@b:4222"}, []string{"nats-pw", "tok-b"}},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://u:otlp-pw@otel:4318"}, []string{"otlp-pw"}},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://otel:4318?token=otlp-tok"}, []string{"otlp-tok"}},
	} {
		c, err := config.Load(env(tc.vars))
		if err != nil {
			t.Fatal(err)
		}
		printed := ""
		attrs := c.Attrs()
		for i := 0; i < len(attrs); i += 2 {
			printed += attrs[i].(string) + "=" + slog.AnyValue(attrs[i+1]).String() + " "
		}
		for _, leak := range tc.leaks {
			if strings.Contains(printed, leak) {
				t.Errorf("%v: %q printed: %s", tc.vars, leak, printed)
			}
		}
	}
	// An invalid URL is named in the error with its password masked.
	_, err := config.Load(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://u:bad-endpoint-pw@otel"}))
	if err == nil || strings.Contains(err.Error(), "bad-endpoint-pw") || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_ENDPOINT") {
		t.Errorf("error = %v", err)
	}
}

func TestAgentEnv(t *testing.T) {
	c, err := config.Load(env(map[string]string{"AWO_AGENT_ENV": " GOPATH, NPM_CONFIG_REGISTRY ,"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.AgentEnv, []string{"GOPATH", "NPM_CONFIG_REGISTRY"}) {
		t.Fatalf("AgentEnv = %q", c.AgentEnv)
	}
	for _, bad := range []string{"AWO_API_TOKENS", "DATABASE_URL", "SUPABASE_DB_URL", "NATS_TOKEN", "OTEL_EXPORTER_OTLP_HEADERS", "GH_TOKEN", "GITHUB_TOKEN", "awo_api_tokens", "NOT-A-NAME"} {
		_, err := config.Load(env(map[string]string{"AWO_AGENT_ENV": "GOPATH," + bad}))
		if err == nil || !strings.Contains(err.Error(), "AWO_AGENT_ENV") {
			t.Errorf("AWO_AGENT_ENV naming %s: err = %v", bad, err)
		}
	}
}

func TestSecrets_NATSToken(t *testing.T) {
	c, err := config.Load(env(map[string]string{"NATS_TOKEN": "nats-token-0004"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.Secrets(), "nats-token-0004") {
		t.Errorf("NATS_TOKEN not collected: %q", c.Secrets())
	}
}
