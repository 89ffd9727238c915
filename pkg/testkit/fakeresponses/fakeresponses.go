// Package fakeresponses is a scripted OpenAI Responses API server for
// tests that run the real Codex CLI. The test lists rules; each rule
// recognises one conversation by its prompt and says what the model
// answers at every turn: run a shell command, finish with text, fail with
// an API error, optionally after a delay.
//
// Like pkg/testkit/fakemodel it keeps no conversation state: codex sends
// the whole conversation with every request, and the turn of a request is
// the number of items the model produced in it so far.
//
// Use it with the real CLI:
//
//	srv := fakeresponses.New(t, fakeresponses.Rule{
//		Name:   "branch",
//		Prompt: "Create a git branch",
//		Turns: []fakeresponses.Turn{
//			fakeresponses.Shell("git checkout -b feat/login"),
//			fakeresponses.Text("feat/login"),
//		},
//	})
//	cmd := exec.Command(fakeresponses.CodexPath(t), "exec", "--json", "-")
//	cmd.Env = append(os.Environ(), srv.Env(t)...)
package fakeresponses

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Token counts reported for every answer; codex sums them over a turn, so a
// run of n model calls reports n × each.
const (
	InputTokens       = 100
	CachedInputTokens = 40
	OutputTokens      = 20
)

// Request is what the server saw of one HTTP request.
type Request struct {
	Time   time.Time
	Method string
	Path   string
	Model  string
	// Prompt is the user's text in the first user message of the
	// conversation; LatestPrompt the last one (in a resumed session, the
	// new prompt).
	Prompt       string
	LatestPrompt string
	HasTools     bool
	// Turn is the number of items the model produced so far.
	Turn int
	// Outputs are the outputs of the previous turn's function call.
	Outputs []ToolOutput
	// Authorization is the request's bearer token.
	Authorization string
	// Rule is the matched rule's name; empty for side calls.
	Rule   string
	Answer string
}

// ToolOutput is a function call's output as codex sent it back.
type ToolOutput struct {
	CallID string
	Output string
}

// Server is a running fake Responses API. It is closed when the test ends.
type Server struct {
	// URL is the API's base URL, ending in /v1.
	URL string

	t     testing.TB
	rules []Rule
	done  chan struct{}
	seq   atomic.Int64

	mu       sync.Mutex
	requests []Request
}

// New starts a server on 127.0.0.1 that answers with rules.
func New(t testing.TB, rules ...Rule) *Server {
	t.Helper()
	s := &Server{t: t, rules: slices.Clone(rules), done: make(chan struct{})}
	for i := range s.rules {
		if s.rules[i].Name == "" {
			s.rules[i].Name = strconv.Itoa(i)
		}
	}
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = hs.URL + "/v1"
	t.Cleanup(func() {
		close(s.done)
		hs.Close()
	})
	return s
}

// Requests returns every request received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Conversation returns the requests that rule name answered.
func (s *Server) Conversation(name string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Rule == name {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r)
	s.mu.Unlock()
	s.t.Logf("fakeresponses: %s %s model=%q tools=%t turn=%d rule=%q -> %s", r.Method, r.Path, r.Model, r.HasTools, r.Turn, r.Rule, r.Answer)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path,
		Authorization: strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/responses" {
		rec.Answer = "side call: 404"
		s.record(rec)
		http.NotFound(w, r)
		return
	}
	var body responsesRequest
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		rec.Answer = "undecodable body"
		s.record(rec)
		writeError(w, Error(http.StatusBadRequest, "invalid_request_error", "fakeresponses: decoding request body: "+err.Error()), time.Now())
		return
	}
	rec.Model, rec.HasTools, rec.Turn = body.Model, body.hasTools(), body.modelTurns()
	rec.Prompt, rec.LatestPrompt, rec.Outputs = body.prompt(), body.latestPrompt(), body.lastOutputs()
	rule, ok := s.match(rec)
	if !rec.HasTools || !ok {
		// Side conversations (titles, summaries, memories) offer no tools.
		rec.Answer = "harmless text (no rule)"
		s.record(rec)
		writeResponse(w, s.seq.Add(1), Text("ok"))
		return
	}
	rec.Rule = rule.Name
	if rec.Turn >= len(rule.Turns) {
		rec.Answer = "error: script exhausted"
		s.record(rec)
		msg := fmt.Sprintf("fakeresponses: rule %q has %d turns; the conversation asked for turn %d", rule.Name, len(rule.Turns), rec.Turn)
		writeError(w, Error(http.StatusBadRequest, "invalid_request_error", msg), time.Now())
		return
	}
	turn := rule.Turns[rec.Turn]
	if now := time.Now(); now.Before(turn.limitedUntil) {
		turn = UsageLimit(turn.limitedUntil.Sub(now))
	}
	rec.Answer = turn.String()
	s.record(rec)
	if turn.delay > 0 {
		timer := time.NewTimer(turn.delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
	if turn.kind == kindError {
		writeError(w, turn, time.Now())
		return
	}
	writeResponse(w, s.seq.Add(1), turn)
}

func (s *Server) match(rec Request) (Rule, bool) {
	for _, rule := range s.rules {
		if rule.Prompt == "" || strings.Contains(rec.Prompt, rule.Prompt) {
			return rule, true
		}
	}
	return Rule{}, false
}
