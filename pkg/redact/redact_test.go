package redact_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/redact"
)

const (
	ghp    = "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"
	pat    = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTU"
	ant    = "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe-AAAAAA"
	openai = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34"
	aws    = "AKIAIOSFODNN7EXAMPLE"
	pem    = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAMwAAAAtzc2gtZWQyNTUxOQAAACB\n-----END OPENSSH PRIVATE KEY-----"
)

func TestString_Shapes(t *testing.T) {
	r := redact.New()
	for _, tc := range []struct{ name, in, want string }{
		{"ghp", "token " + ghp + " end", "token [REDACTED] end"},
		{"gho", "gho_" + ghp[4:], "[REDACTED]"},
		{"ghu", "x=ghu_" + ghp[4:], "x=[REDACTED]"},
		{"ghs", "ghs_" + ghp[4:] + ".", "[REDACTED]."},
		{"ghr", "ghr_" + ghp[4:], "[REDACTED]"},
		{"github_pat", "GH_TOKEN=" + pat, "GH_TOKEN=[REDACTED]"},
		{"sk-ant", "ANTHROPIC_API_KEY=" + ant + "\n", "ANTHROPIC_API_KEY=[REDACTED]\n"},
		{"sk- openai", `key: "` + openai + `"`, `key: "[REDACTED]"`},
		{"aws AKIA", "id " + aws + " ok", "id [REDACTED] ok"},
		{"aws ASIA", "ASIAY34FZKBOKMUTVV7A", "[REDACTED]"},
		{"pem block", "key:\n" + pem + "\nafter", "key:\n[REDACTED]\nafter"},
		{"pem rsa", "-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY-----", "[REDACTED]"},
		{"pem cut short", "head -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhki…", "head [REDACTED]"},
		{"authorization bearer", "Authorization: Bearer abc.def-ghi", "Authorization: Bearer [REDACTED]"},
		{"authorization basic", "authorization: Basic dXNlcjpwYXNz", "authorization: Basic [REDACTED]"},
		{"authorization token", `curl -H "Authorization: token abc123def"`, `curl -H "Authorization: token [REDACTED]"`},
		{"authorization json", `{"Authorization":"Bearer xyz12345"}`, `{"Authorization":"Bearer [REDACTED]"}`},
		{"authorization bare", "AUTHORIZATION=secretvalue", "AUTHORIZATION=[REDACTED]"},
		{"bearer alone", "sent bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0", "sent bearer [REDACTED]"},
		{"url password", "postgres://awo:s3cr3t-pw@db:5432/awo", "postgres://awo:[REDACTED]@db:5432/awo"},
		{"url password nats", "dial nats://u:p4ss@127.0.0.1:4222 failed", "dial nats://u:[REDACTED]@127.0.0.1:4222 failed"},
		{"url password https", "https://x-access-token:tok123@github.com/a/b", "https://x-access-token:[REDACTED]@github.com/a/b"},

		{"jwt", "apikey: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk4 ok", "apikey: [REDACTED] ok"},
		{"nkey seed block", "-----BEGIN USER NKEY SEED-----\nSUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU\n------END USER NKEY SEED------\n", "[REDACTED]\n"},

		// Not secrets: left alone.
		{"plain text", "nothing to see here", "nothing to see here"},
		{"short sk", "ANTHROPIC_API_KEY=sk-test", "ANTHROPIC_API_KEY=sk-test"},
		{"kebab sk words", "use sk-learn-model-selection-guide-tutorial", "use sk-learn-model-selection-guide-tutorial"},
		{"task- is not sk-", "task-1234567890123456789012345", "task-1234567890123456789012345"},
		{"ghp too short", "ghp_abc", "ghp_abc"},
		{"url without password", "https://github.com/acme/demo and ssh://git@github.com/a/b", "https://github.com/acme/demo and ssh://git@github.com/a/b"},
		{"url port then at", "http://host:8080/path@x", "http://host:8080/path@x"},
		{"bearer of news", "the bearer of bad news", "the bearer of bad news"},
		{"eyJ alone", "eyJhbGciOiJIUzI1NiJ9 is just a header", "eyJhbGciOiJIUzI1NiJ9 is just a header"},
		{"public key", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"},
		{"akia in a word", "XAKIAIOSFODNN7EXAMPLEX", "XAKIAIOSFODNN7EXAMPLEX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.String(tc.in); got != tc.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			// A nil redactor knows the shapes too.
			var nilR *redact.Redactor
			if got := nilR.String(tc.in); got != tc.want {
				t.Errorf("nil String(%q) = %q", tc.in, got)
			}
		})
	}
}

func TestString_ConfiguredValues(t *testing.T) {
	const dbpw = `pa"ss\word/with@odd:chars`
	r := redact.New("natstoken-0123456789", dbpw, "short", "", "metrics-token-xyz")
	for _, tc := range []struct{ name, in, want string }{
		{"raw", "NATS_TOKEN=natstoken-0123456789 ok", "NATS_TOKEN=[REDACTED] ok"},
		{"twice", "metrics-token-xyz metrics-token-xyz", "[REDACTED] [REDACTED]"},
		{"raw odd chars", "pw " + dbpw, "pw [REDACTED]"},
		{"json escaped", `{"v":"pa\"ss\\word/with@odd:chars"}`, `{"v":"[REDACTED]"}`},
		{"percent encoded", "postgres://awo:" + strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(dbpw, "\\", "%5C"), `"`, "%22"), "/", "%2F"), "@", "%40"), ":", "%3A") + "@db/x",
			"postgres://awo:[REDACTED]@db/x"},
		{"short value ignored", "a short word", "a short word"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.String(tc.in); got != tc.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestJSON_RedactsInsideStringsWhateverTheEscaping(t *testing.T) {
	const secret = `tok"en\with-quote`
	r := redact.New(secret)
	doc, err := json.Marshal(map[string]any{
		"output":        "env printed TOKEN=" + secret + "\nGH_TOKEN=" + ghp,
		"error_message": "<" + pem + ">", // encoding/json escapes < and >
		"n":             42,
		"nested":        []any{"Authorization: Bearer abcdefgh", 1.5, nil, true},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := r.JSON(doc)
	for _, leak := range []string{"tok", ghp, "OPENSSH", "abcdefgh"} {
		if bytes.Contains(out, []byte(leak)) {
			t.Errorf("%q left in %s", leak, out)
		}
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("redacted JSON is invalid: %v\n%s", err, out)
	}
	if got["output"] != "env printed TOKEN=[REDACTED]\nGH_TOKEN=[REDACTED]" || got["error_message"] != "<[REDACTED]>" || got["n"] != 42.0 {
		t.Errorf("redacted = %v", got)
	}
	clean := []byte(`{"a":"plain \"quoted\" text","b":[1,2]}`)
	if out := r.JSON(clean); !bytes.Equal(out, clean) {
		t.Errorf("clean document changed: %s", out)
	}
	if out := r.JSON([]byte(`{"cut":"` + ghp)); bytes.Contains(out, []byte(ghp)) {
		t.Errorf("unterminated document leaks: %s", out)
	}
}

func TestHandler_RedactsMessageAttrsGroupsAndErrors(t *testing.T) {
	var buf bytes.Buffer
	r := redact.New("dbpassword-123456")
	log := slog.New(redact.NewHandler(slog.NewJSONHandler(&buf, nil), r)).With("preset", "u:dbpassword-123456")
	log.WithGroup("g").Info("connecting with "+ghp,
		"url", "postgres://awo:dbpassword-123456@db/x",
		"err", errors.New("auth failed for Authorization: Bearer zzzzzzzzzz"),
		slog.Group("inner", "token", ant, "n", 7),
		"list", []string{"x", "dbpassword-123456"},
		"count", 3,
	)
	line := buf.String()
	for _, leak := range []string{"dbpassword-123456", ghp, "zzzzzzzzzz", ant} {
		if strings.Contains(line, leak) {
			t.Errorf("%q left in %s", leak, line)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	g := m["g"].(map[string]any)
	if g["count"] != 3.0 || g["inner"].(map[string]any)["n"] != 7.0 || m["preset"] != "u:[REDACTED]" {
		t.Errorf("values lost their kind or place: %s", line)
	}
}

func TestDefault(t *testing.T) {
	if redact.Or(nil) != redact.Default() {
		t.Fatal("Or(nil) is not Default")
	}
	r := redact.New("0123456789abcdef")
	if redact.Or(r) != r {
		t.Fatal("Or(r) is not r")
	}
}

// entry is a typical live-log line: a tool result of a few hundred bytes.
var entry = strings.Repeat("src/handlers/user.go:42: func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {\n", 5)

// BenchmarkString measures one live-log entry's text through a redactor
// holding a configuration's worth of secrets.
func BenchmarkString(b *testing.B) {
	secrets := []string{ant, ghp, "database-password-0123", "nats-token-0123456789", "otlp-header-value-0123", "api-token-one-0123456789", "api-token-two-0123456789", "metrics-token-0123456789"}
	r := redact.New(secrets...)
	for _, bc := range []struct{ name, text string }{
		{"clean", entry},
		{"with_secret", entry + "GH_TOKEN=" + ghp},
		{"url", entry + "see https://github.com/acme/demo/pull/1"},
	} {
		b.Run(fmt.Sprintf("%s_%dB", bc.name, len(bc.text)), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.text)))
			for b.Loop() {
				_ = r.String(bc.text)
			}
		})
	}
}

// BenchmarkJSON is one step.completed event's data through the bus's
// redaction.
func BenchmarkJSON(b *testing.B) {
	r := redact.New("database-password-0123", "nats-token-0123456789", "api-token-one-0123456789")
	doc, _ := json.Marshal(map[string]any{
		"step": "execute", "attempt": 1, "agent_name": "Implementor", "success": true,
		"output": "Added greeting.txt as the plan asks.\nRan the tests: ok.", "session_id": "0899655b-9da3-4892-8afc-56a9a93436bf",
		"cost_usd": 0.0008, "num_turns": 2, "duration_seconds": 7.03, "git_commit_count": 1, "latest_commit_message": "feat: add greeting <x>",
	})
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		_ = r.JSON(doc)
	}
}
