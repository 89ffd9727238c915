package logentry_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
)

func TestPublisher_StoresEntriesRedacted(t *testing.T) {
	const ghp = "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"
	env := natstest.Start(t)
	ctx := ctxT(t)
	p := logentry.NewPublisher(env.JS, nil, 0, redact.New("configured-secret-value"))
	defer p.Close(ctx)
	e := entry("env printed GH_TOKEN=" + ghp + " and X=configured-secret-value")
	e.Tool, e.InputSummary = "Bash", `curl -H "Authorization: Bearer configured-secret-value"`
	p.Publish(e)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := logentry.Read(ctx, env.Bus("awo/test"), wo)
	if err != nil || len(got) != 1 {
		t.Fatalf("Read: %+v, %v", got, err)
	}
	if got[0].Message != "env printed GH_TOKEN=[REDACTED] and X=[REDACTED]" ||
		got[0].InputSummary != `curl -H "Authorization: Bearer [REDACTED]"` || got[0].Tool != "Bash" {
		t.Errorf("stored entry = %+v", got[0])
	}
}

// liveLine is a typical live-log entry: a tool result of a few hundred
// bytes.
func liveLine() logentry.Entry {
	e := entry(strings.Repeat("src/handlers/user.go:42: func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {\n", 5))
	e.Event, e.Tool, e.ToolUseID = logentry.EventToolResult, "Bash", "toolu_01ABCDEFGHIJKLMNOPQRSTUV"
	return e
}

// BenchmarkEncode is the publisher's work per entry before it goes to
// NATS: encoding alone, and encoding with redaction by a redactor holding
// a configuration's worth of secrets.
func BenchmarkEncode(b *testing.B) {
	red := redact.New("sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe", "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5",
		"database-password-0123", "nats-token-0123456789", "otlp-header-value-0123", "api-token-one-0123456789",
		"api-token-two-0123456789", "metrics-token-0123456789")
	e := liveLine()
	b.Run("no_redaction", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("redacted", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := logentry.Encode(e, red); err != nil {
				b.Fatal(err)
			}
		}
	})
}
