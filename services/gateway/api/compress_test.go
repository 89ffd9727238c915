package api_test

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// JSON answers are gzipped for a client that asks; live streams are not
// (a compressor would hold events back until its buffer fills).
func TestCompression_JSONGzippedStreamsNot(t *testing.T) {
	h := newHarness(t)
	for range 3 {
		h.create(map[string]any{"repository_url": "https://github.com/acme/app", "user_request": "Fix the login bug"})
	}
	r := h.do(http.MethodGet, "/api/agent-work-orders/", nil, "Accept-Encoding", "gzip")
	if r.status != http.StatusOK || r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("list: %d, Content-Encoding %q, want 200 gzip", r.status, r.header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(strings.NewReader(string(r.body)))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal(plain, &list); err != nil || len(list) != 3 {
		t.Fatalf("decoded list: %d work orders, %v (%s)", len(list), err, plain)
	}
	if r := h.do(http.MethodGet, "/api/agent-work-orders/", nil, "Accept-Encoding", "identity"); r.header.Get("Content-Encoding") != "" {
		t.Errorf("identity asked, Content-Encoding %q", r.header.Get("Content-Encoding"))
	}

	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/agent-work-orders/events", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ce := resp.Header.Get("Content-Encoding"); ce != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events feed: Content-Encoding %q, Content-Type %q", ce, resp.Header.Get("Content-Type"))
	}
	// The stored events arrive at once, as plain SSE lines.
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the feed closed")
			}
			if strings.HasPrefix(l, "data: {") {
				return
			}
		case <-deadline:
			t.Fatal("no event arrived through a gzip-accepting request")
		}
	}
}
