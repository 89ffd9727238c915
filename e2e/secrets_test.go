package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
	"github.com/agentworkorders/awo/pkg/testkit/pgtest"
)

// randomString is n characters of alphabet, fresh for each run, so that a
// hit can only be a leak of this run's fixture.
func randomString(t *testing.T, alphabet string, n int) string {
	t.Helper()
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// natsCapture keeps every message published on the embedded server while
// the test runs, with its headers.
type natsCapture struct {
	mu   sync.Mutex
	msgs []string
}

func captureNATS(t *testing.T, url, token string) *natsCapture {
	t.Helper()
	var nc *nats.Conn
	var err error
	for range 100 { // the server starts with awo
		if nc, err = nats.Connect(url, nats.Token(token)); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("connecting to the embedded NATS at %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	c := &natsCapture{}
	if _, err := nc.Subscribe(">", func(m *nats.Msg) {
		var b strings.Builder
		b.WriteString(m.Subject + " ")
		for k, vs := range m.Header {
			b.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
		b.Write(m.Data)
		c.mu.Lock()
		c.msgs = append(c.msgs, b.String())
		c.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *natsCapture) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

// A work order whose agent prints its whole environment and cats a file
// holding a GitHub token and a private key leaves none of the secrets in
// any API answer, the SSE stream, the service's output or any NATS message;
// and the agent never sees the service's own secrets, nor GH_TOKEN outside
// the step that pushes.
func TestSecrets_NeverLeave_AgentPrintsItsEnvironment(t *testing.T) {
	const branch = "feat/leaky"
	var (
		apiKey      = "sk-ant-api03-" + randomString(t, alnum, 40) + "-" + randomString(t, alnum, 20) + "AA"
		ghToken     = "ghp_" + randomString(t, alnum, 36)
		dbPassword  = "pw-" + randomString(t, alnum, 24)
		natsToken   = "nats-" + randomString(t, alnum, 24)
		apiToken    = "awo-" + randomString(t, alnum, 32)
		otlpHeader  = "otlp-" + randomString(t, alnum, 24)
		fileToken   = "ghp_" + randomString(t, alnum, 36)
		pemBody     = base64.StdEncoding.EncodeToString([]byte(randomString(t, alnum, 48)))
		pemBlock    = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + pemBody + "\n-----END OPENSSH PRIVATE KEY-----\n"
		natsPort    = freePort(t)
		natsURL     = "nats://127.0.0.1:" + natsPort
		envCommand  = "printenv ANTHROPIC_API_KEY; env"
		commitCheck = "printenv GH_TOKEN; env; git add -A && git commit -m 'feat: leaky' && git push -u origin " + branch
	)
	secrets := map[string]string{
		"ANTHROPIC_API_KEY": apiKey, "GH_TOKEN": ghToken, "database password": dbPassword, "NATS_TOKEN": natsToken,
		"AWO_API_TOKENS": apiToken, "OTLP header": otlpHeader, "token in the repository": fileToken, "private key": pemBody,
	}

	w := newWorld(t,
		fm.Rule{Name: "create-branch", Prompt: "# Create a working branch", Turns: []fm.Turn{
			fm.Bash(envCommand+"; git checkout -b "+branch, "look around and branch"),
			fm.Text(branch),
		}},
		planning(),
		fm.Rule{Name: "execute", Prompt: "# Implement the plan", Turns: []fm.Turn{
			fm.Bash("cat config/deploy.env; "+envCommand+"; printf 'hello\\n' > greeting.txt", "read the config"),
			// The model repeats what it read: the step's output carries it.
			fm.Text("The repository holds " + fileToken + " and the key is " + apiKey),
		}},
		fm.Rule{Name: "commit", Prompt: "# Commit and push", Turns: []fm.Turn{
			fm.Bash(commitCheck, "commit and push"),
			fm.Text("feat: leaky"),
		}},
	)
	w.Origin.Commit(t, "main", "config/deploy.env", "DEPLOY_TOKEN="+fileToken+"\n"+pemBlock, "add deploy config")

	db := pgtest.New(t)
	dbURL, err := url.Parse(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	if pw, has := dbURL.User.Password(); has {
		secrets["database password"] = pw // a real server's: the same rule holds
	} else {
		// The throwaway cluster trusts local connections and ignores it.
		dbURL.User = url.UserPassword(dbURL.User.Username(), dbPassword)
	}

	s := newStack(t, w,
		"ANTHROPIC_API_KEY="+apiKey,
		"GH_TOKEN="+ghToken,
		"STATE_STORAGE_TYPE=postgres", "DATABASE_URL="+dbURL.String(),
		"NATS_TOKEN="+natsToken,
		"AWO_NATS_LISTEN=127.0.0.1:"+natsPort,
		"AWO_API_TOKENS="+apiToken,
		"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20"+otlpHeader,
	)
	s.start()
	captured := captureNATS(t, natsURL, natsToken)

	id := s.create(map[string]any{
		"repository_url": repoURL, "sandbox_type": "git_worktree", "user_request": "Add a greeting",
		"selected_commands": []any{"create-branch", "planning", "execute", "commit", "create-pr"},
	})
	frames := s.openLogStream(id)
	var (
		sseMu sync.Mutex
		sse   []string
	)
	sseDone := make(chan struct{})
	go func() {
		defer close(sseDone)
		for f := range frames {
			sseMu.Lock()
			sse = append(sse, f.event+" "+f.data)
			sseMu.Unlock()
			if f.event == "end" { // sent once the work order ended and its entries are stored
				return
			}
		}
	}()

	wo := s.waitFinished(id, 4*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	select {
	case <-sseDone:
	case <-time.After(30 * time.Second):
		sseMu.Lock()
		defer sseMu.Unlock()
		b, _ := os.ReadFile(s.logPath)
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "log stream") || strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
				lines = append(lines, l)
			}
		}
		t.Fatalf("the log stream sent no end event after the work order; frames so far:\n%s\n%s", tail(strings.Join(sse, "\n"), 2), strings.Join(lines, "\n"))
	}

	// What a client can read.
	answers := map[string]string{}
	for _, path := range []string{
		"/api/agent-work-orders/" + id, "/api/agent-work-orders/" + id + "/steps",
		"/api/agent-work-orders/" + id + "/logs?limit=1000", "/api/agent-work-orders/" + id + "/git-progress",
		"/api/agent-work-orders/", "/health",
	} {
		code, out := s.do("GET", path, nil)
		if code != http.StatusOK && !strings.HasSuffix(path, "/git-progress") {
			t.Fatalf("GET %s: %d %s", path, code, out)
		}
		answers["GET "+path] = string(out)
	}
	answers["SSE stream"] = strings.Join(sse, "\n")
	// The event feed replays the work order's events, as stored: redacted.
	feed := s.openSSE("/api/agent-work-orders/events?id=" + id)
	var events []string
	for !strings.Contains(answers["event feed"], "workorder.completed.v1") {
		f, ok := nextFrame(t, feed, 30*time.Second)
		if !ok {
			t.Fatalf("the event feed closed; so far:\n%s", tail(answers["event feed"], 3))
		}
		events = append(events, f.data)
		answers["event feed"] = strings.Join(events, "\n")
	}
	if !strings.Contains(answers["event feed"], "[REDACTED]") {
		t.Errorf("the event feed shows no redaction: execute's output never reached it?\n%s", tail(answers["event feed"], 5))
	}
	if !strings.Contains(answers["SSE stream"], "[REDACTED]") || !strings.Contains(answers["GET /api/agent-work-orders/"+id+"/logs?limit=1000"], "[REDACTED]") {
		t.Errorf("the live log shows no redaction: the agent's env output never reached it?\n%s", answers["SSE stream"])
	}
	steps := s.steps(id)
	if len(steps) != 5 || !strings.Contains(deref(steps[2].Output), "[REDACTED]") {
		t.Errorf("execute's output should hold the redacted secrets: %+v", steps)
	}

	msgs := captured.all()
	if len(msgs) < 20 {
		t.Fatalf("only %d NATS messages captured", len(msgs))
	}
	s.stop()
	out, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	places := map[string]string{"the service's output": string(out)}
	for k, v := range answers {
		places[k] = v
	}
	places["NATS messages"] = strings.Join(msgs, "\n")
	for place, text := range places {
		for name, secret := range secrets {
			if strings.Contains(text, secret) {
				i := strings.Index(text, secret)
				t.Errorf("%s (%s) found in %s: …%s…", name, secret, place, text[max(0, i-200):min(len(text), i+len(secret)+50)])
			}
		}
	}

	// What the agent saw, as the CLI reported it back to the model.
	sawEnv := func(rule string) string {
		var b strings.Builder
		for _, r := range w.Model.Conversation(rule) {
			for _, tr := range r.ToolResults {
				b.WriteString(tr.Content + "\n")
			}
		}
		return b.String()
	}
	for _, rule := range []string{"create-branch", "execute", "commit"} {
		env := sawEnv(rule)
		if !strings.Contains(env, "PATH=") || !strings.Contains(env, apiKey) {
			t.Fatalf("%s: no env output recorded (the CLI needs its API key): %q", rule, truncate(env, 500))
		}
		for _, forbidden := range []string{"AWO_API_TOKENS=", "DATABASE_URL=", "NATS_", "AWO_", "OTEL_", apiToken, dbPassword, natsToken, otlpHeader} {
			if strings.Contains(env, forbidden) {
				t.Errorf("%s: the agent saw %q", rule, forbidden)
			}
		}
		if pushes := rule == "commit"; strings.Contains(env, "GH_TOKEN="+ghToken) != pushes || strings.Contains(env, ghToken) != pushes {
			t.Errorf("%s: the agent saw GH_TOKEN: %t, want %t", rule, !pushes, pushes)
		}
	}
}
