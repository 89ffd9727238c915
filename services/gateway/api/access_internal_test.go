package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
)

// Tokens are compared through subtle.ConstantTimeCompare on digests, with
// every configured token, whichever matches and wherever it is.
func TestTokenSet_ComparesEveryTokenInConstantTime(t *testing.T) {
	set := newTokenSet("tok-aaaaaaaaaaaaaaaaaaaa", "tok-bbbbbbbbbbbbbbbbbbbb", "tok-cccccccccccccccccccc")
	calls := 0
	orig := compareDigests
	compareDigests = func(x, y []byte) int {
		calls++
		if len(x) != 32 || len(y) != 32 {
			t.Errorf("compared %d and %d bytes, want two SHA-256 digests", len(x), len(y))
		}
		return orig(x, y)
	}
	t.Cleanup(func() { compareDigests = orig })
	tests := []struct {
		presented string
		index     int
		ok        bool
	}{
		{"tok-aaaaaaaaaaaaaaaaaaaa", 0, true},
		{"tok-bbbbbbbbbbbbbbbbbbbb", 1, true},
		{"tok-cccccccccccccccccccc", 2, true},
		{"tok-aaaaaaaaaaaaaaaaaaa", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		calls = 0
		i, ok := set.match(tc.presented)
		if ok != tc.ok || (ok && i != tc.index) {
			t.Errorf("match(%q) = %d, %v; want %d, %v", tc.presented, i, ok, tc.index, tc.ok)
		}
		if calls != 3 {
			t.Errorf("match(%q) compared %d tokens, want all 3", tc.presented, calls)
		}
	}
	if set.ids[0] == "" || set.ids[0] == set.ids[1] {
		t.Errorf("client ids %v", set.ids)
	}
}

// A scan from many addresses does not grow the limiter map beyond its
// bound, and clients whose bucket is full again go first.
func TestClientLimits_Bounded(t *testing.T) {
	l := newClientLimits(config.Rate{Events: 10, Per: time.Second, Burst: 10}, 100)
	now := time.Now()
	l.wait("busy", now)
	for i := range 10_000 {
		l.wait(fmt.Sprintf("addr:10.0.%d.%d", i/256, i%256), now.Add(time.Duration(i)*time.Millisecond))
		if n := l.size(); n > 100 {
			t.Fatalf("%d clients held after %d, bound 100", n, i)
		}
	}
	// Exhaust one client, then many idle ones come: it keeps its state.
	l = newClientLimits(config.Rate{Events: 1, Per: time.Minute, Burst: 1}, 3)
	if d := l.wait("a", now); d != 0 {
		t.Fatalf("first create waits %s", d)
	}
	if d := l.wait("a", now); d <= 0 || d > time.Minute {
		t.Fatalf("second create waits %s, want up to a minute", d)
	}
	if l.wait("a", now.Add(61*time.Second)) != 0 {
		t.Fatal("the bucket did not refill")
	}
	if newClientLimits(config.Rate{}, 10) != nil {
		t.Error("the zero Rate built a limiter")
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "localhost.": true, "a.b.localhost:1": true, "127.255.0.1:9": true, "[::1]:1": true, "::1": true,
		"": false, "localhost.example": false, "evil.example": false, "[::]:1": false, "10.0.0.1": false, "2130706433": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestClientKey(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:4000":              "addr:192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:4000": "addr:2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::9]:80":   "addr:2001:db8:1:2::/64",
		"[::1]:4000":                  "addr:::/64",
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		if got := clientKey(r); got != want {
			t.Errorf("clientKey(%s) = %q, want %q", remote, got, want)
		}
	}
}
