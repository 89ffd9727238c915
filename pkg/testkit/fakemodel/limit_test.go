package fakemodel

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestServer_RateLimitUntilThenTheScript(t *testing.T) {
	srv := New(t, Rule{Name: "r", Turns: []Turn{Text("done")}})
	reset := time.Now().Add(1500 * time.Millisecond)
	srv.RateLimitUntil(reset)
	body := conversation{tools: true, stream: true, messages: []map[string]any{userText("go")}}.body()

	resp := post(t, srv.URL, body)
	var got struct {
		Type  string
		Error struct{ Type, Message string }
	}
	json.NewDecoder(resp.Body).Decode(&got)
	if resp.StatusCode != http.StatusTooManyRequests || got.Error.Type != "rate_limit_error" || got.Error.Message != LimitMessage {
		t.Fatalf("limited answer = %d %+v", resp.StatusCode, got)
	}
	h := resp.Header
	if h.Get("x-should-retry") != "false" || h.Get("anthropic-ratelimit-unified-status") != "rejected" {
		t.Errorf("headers = %v", h)
	}
	if secs, err := strconv.Atoi(h.Get("retry-after")); err != nil || secs < 1 || secs > 2 {
		t.Errorf("retry-after = %q, want the seconds to the reset rounded up (1 or 2)", h.Get("retry-after"))
	}
	if h.Get("anthropic-ratelimit-unified-reset") != strconv.FormatInt(reset.Unix(), 10) {
		t.Errorf("anthropic-ratelimit-unified-reset = %q, want %d", h.Get("anthropic-ratelimit-unified-reset"), reset.Unix())
	}

	// Side calls are not limited: the CLI starts as usual.
	if side := post(t, srv.URL, conversation{messages: []map[string]any{userText("title")}}.body()); side.StatusCode != http.StatusOK {
		t.Errorf("side call answered %d", side.StatusCode)
	}

	time.Sleep(time.Until(reset) + 50*time.Millisecond)
	after := post(t, srv.URL, body)
	if after.StatusCode != http.StatusOK {
		t.Fatalf("after the reset: %d", after.StatusCode)
	}
	if evs := readSSE(t, after.Body); len(evs) != len(streamShape) {
		t.Errorf("after the reset the script answers: %v", names(evs))
	}
	conv := srv.Conversation("r")
	if len(conv) != 2 || conv[0].Answer != limitAnswer(reset) || conv[1].Answer != `text "done"` {
		t.Errorf("conversation = %+v", conv)
	}

	// A zero time lifts a limit at once.
	srv.RateLimitUntil(time.Now().Add(time.Hour))
	srv.RateLimitUntil(time.Time{})
	if r := post(t, srv.URL, body); r.StatusCode != http.StatusOK {
		t.Errorf("lifted limit still answers %d", r.StatusCode)
	}
}
