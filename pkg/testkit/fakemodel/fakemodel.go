// Package fakemodel is a scripted Anthropic Messages API server for tests
// that run the real Claude Code CLI. The test lists rules; each rule
// recognises one conversation and says what the model answers at every
// turn: run a Bash command, write a file, finish with text, fail with an API
// error, optionally after a delay.
//
// The server keeps no conversation state. The turn of a request is the
// number of assistant messages it already carries, so retries and
// concurrent conversations need no bookkeeping, and requests that are not
// part of a scripted conversation (count_tokens, HEAD /api/hello, calls
// without tools) get a small harmless answer without disturbing the script.
//
// Use it with the real CLI:
//
//	srv := fakemodel.New(t, fakemodel.Rule{
//		Name:   "branch",
//		Prompt: "Create a git branch",
//		Turns: []fakemodel.Turn{
//			fakemodel.Bash("git checkout -b feat/login", "Create the branch"),
//			fakemodel.Text("feat/login"),
//		},
//	})
//	cmd := exec.Command(claudecli.Path(t), "--print", "--output-format", "stream-json", "--verbose")
//	cmd.Env = append(os.Environ(), claudecli.Env(srv.URL)...)
//	...
//	srv.Conversation("branch") // what the CLI sent, turn by turn
package fakemodel

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Token counts reported for every answer. The CLI sums them over the
// conversation, so a test can predict the usage of a run: turns ×
// InputTokens and turns × OutputTokens.
const (
	InputTokens  = 100
	OutputTokens = 20
)

// Request is what the server saw of one HTTP request.
type Request struct {
	Time   time.Time
	Method string
	Path   string
	Model  string
	// Prompt is the user's text in the first user message (see
	// Rule.Prompt).
	Prompt string
	// LatestPrompt is the user's own text in the last user message that
	// has text: in a session resumed with --resume, the new prompt (Prompt
	// stays the session's first one, and Turn counts on from its turns).
	LatestPrompt string
	HasTools     bool
	Stream       bool
	// Turn is the number of assistant messages in the conversation so far.
	Turn int
	// ToolResults are the tool results in the last user message: the output
	// of the previous turn's tool call.
	ToolResults []ToolResult
	// Rule is the name of the matched rule; empty for side calls and
	// conversations no rule matched.
	Rule string
	// Answer describes the reply: a scripted turn, or why none was used.
	Answer string
}

// ToolResult is a tool's output as the CLI sent it back.
type ToolResult struct {
	ToolUseID string
	Content   string
	IsError   bool
}

// Server is a running fake model. Point the CLI at URL (see
// claudecli.Env). It is closed when the test ends.
type Server struct {
	URL string

	t     testing.TB
	rules []Rule
	// done ends pending delays when the test is over, so Close does not
	// wait for a slow answer nobody is listening to.
	done chan struct{}

	mu       sync.Mutex
	requests []Request
	// limitedUntil: scripted turns get a 429 before it (RateLimitUntil).
	limitedUntil time.Time
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
	s.URL = hs.URL
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
	s.t.Logf("fakemodel: %s %s model=%q tools=%t turn=%d rule=%q -> %s", r.Method, r.Path, r.Model, r.HasTools, r.Turn, r.Rule, r.Answer)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		rec.Answer = "side call"
		s.record(rec)
		s.answerSideCall(w, r)
		return
	}
	var body messagesRequest
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		rec.Answer = "undecodable body"
		s.record(rec)
		writeError(w, http.StatusBadRequest, "fakemodel: decoding request body: "+err.Error(), false)
		return
	}
	rec.Model, rec.HasTools, rec.Stream = body.Model, len(body.Tools) > 0, body.Stream
	rec.Prompt, rec.Turn, rec.ToolResults = body.prompt(), body.assistantTurns(), body.lastToolResults()
	rec.LatestPrompt = body.latestPrompt()

	// The main conversation always offers tools; title generation and other
	// helper calls do not, and must not be taken for a turn of the script.
	rule, ok := s.match(rec, body)
	if !rec.HasTools || !ok {
		rec.Answer = "harmless text (no rule)"
		s.record(rec)
		writeMessage(w, body.Stream, rec.Model, rec.Turn, Text("ok"))
		return
	}
	rec.Rule = rule.Name
	if reset, ok := s.limited(rec.Time); ok {
		rec.Answer = limitAnswer(reset)
		s.record(rec)
		writeRateLimited(w, rec.Time, reset)
		return
	}
	if rec.Turn >= len(rule.Turns) {
		msg := fmt.Sprintf("fakemodel: rule %q has %d turns; the conversation asked for turn %d", rule.Name, len(rule.Turns), rec.Turn)
		rec.Answer = "error: script exhausted"
		s.record(rec)
		writeError(w, http.StatusBadRequest, msg, true)
		return
	}
	turn := rule.Turns[rec.Turn]
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
		writeError(w, turn.status, turn.text, turn.noRetry)
		return
	}
	writeMessage(w, body.Stream, rec.Model, rec.Turn, turn)
}

func (s *Server) match(rec Request, body messagesRequest) (Rule, bool) {
	system := body.systemText()
	for _, rule := range s.rules {
		if rule.Prompt != "" && !strings.Contains(rec.Prompt, rule.Prompt) {
			continue
		}
		if rule.System != "" && !strings.Contains(system, rule.System) {
			continue
		}
		return rule, true
	}
	return Rule{}, false
}

func (s *Server) answerSideCall(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if strings.HasSuffix(r.URL.Path, "/count_tokens") {
		fmt.Fprintf(w, `{"input_tokens":%d}`, InputTokens)
		return
	}
	if r.Method != http.MethodHead {
		fmt.Fprint(w, `{}`)
	}
}
