package app

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/redact"
)

// Every line of the process's loggers is redacted with the secrets of the
// configuration Main loaded (even a logger built before): message,
// attributes, groups, errors.
func TestNewLogger_RedactsWithTheConfiguredSecrets(t *testing.T) {
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"NATS_URL": "nats://nats-token-value@n:4222", "AWO_API_TOKENS": "api-token-value-1"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := newLogger(&buf, slog.LevelInfo)
	redact.SetDefault(cfg.Redactor())
	t.Cleanup(func() { redact.SetDefault(nil) })
	log = log.With("early", "api-token-value-1")
	log.Info("refused api-token-value-1", "err", errors.New("dial nats://nats-token-value@n:4222"),
		slog.Group("g", "token", "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"))
	out := buf.String()
	for _, leak := range []string{"api-token-value-1", "nats-token-value", "ghp_"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q in %s", leak, out)
		}
	}
	if strings.Count(out, redact.Mask) != 4 {
		t.Errorf("line = %s", out)
	}
}
