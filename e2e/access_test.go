package e2e

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// With AWO_API_TOKENS the all-in-one asks every API call for a token (401
// without one or with a wrong one), serves the right one, keeps /health
// open, and never prints a token; the start-up line shows only the count.
func TestAccess_AllInOne_Tokens(t *testing.T) {
	const token, wrong = "e2e-token-0123456789abcdef", "e2e-wrong-0123456789abcdef"
	w := newWorld(t)
	s := newStack(t, w, "AWO_API_TOKENS="+token)
	s.start()

	for _, header := range []string{"", "Bearer " + wrong} {
		req, _ := http.NewRequest(http.MethodGet, s.base+"/api/agent-work-orders", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: %d %q, want 401 with a Bearer challenge", header, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if code, body := s.do("GET", "/api/agent-work-orders", nil); code != http.StatusOK {
		t.Fatalf("with the token: %d %s", code, body)
	}
	resp, err := http.Get(s.base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/health without a token: %d", resp.StatusCode)
	}
	s.stop()

	out, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), token) || strings.Contains(string(out), wrong) {
		t.Errorf("a token is in awo's output")
	}
	for _, want := range []string{"AWO_API_TOKENS=\"1 token (****)\"", "reason=wrong", "reason=missing"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("awo's output lacks %s", want)
		}
	}
}
