package gateway_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/services/gateway"
)

// A live stream lasts as long as its client (the event feed) or its work
// order (a log stream): a shutdown ends both at once instead of waiting
// out the grace and reporting it exceeded. The feed delivered what was
// stored before.
func TestRun_ShutdownEndsLiveStreams(t *testing.T) {
	env := natstest.Start(t)
	cfg := testConfig(t) // grace 5 s
	g := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC, Store: readmodel.NewMemory(), Logger: quiet})

	resp, err := http.Post(g.base+"/api/agent-work-orders/", "application/json",
		strings.NewReader(`{"repository_url": "https://github.com/acme/demo", "user_request": "Fix authentication bug"}`))
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID string `json:"agent_work_order_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %v", resp.StatusCode, err)
	}

	ended := make(chan []string, 2)
	for _, path := range []string{"/api/agent-work-orders/events", "/api/agent-work-orders/" + created.ID + "/logs/stream"} {
		resp, err := http.Get(g.base + path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %v", path, resp, err)
		}
		go func() {
			defer resp.Body.Close()
			var lines []string
			for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
				lines = append(lines, sc.Text())
			}
			ended <- lines
		}()
	}
	time.Sleep(200 * time.Millisecond) // both streams are being served

	began := time.Now()
	if err := g.stop(); err != nil {
		t.Errorf("Run = %v, want a clean shutdown", err)
	}
	if d := time.Since(began); d > cfg.ShutdownGrace/2 {
		t.Errorf("shutdown took %v with streams open (grace %v)", d, cfg.ShutdownGrace)
	}
	var feed []string
	for range 2 {
		select {
		case lines := <-ended:
			if strings.Contains(strings.Join(lines, "\n"), "specversion") {
				feed = lines
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a stream was still open after the shutdown")
		}
	}
	if !strings.Contains(strings.Join(feed, "\n"), `"subject":"`+created.ID+`"`) {
		t.Errorf("the feed did not deliver the work order's request before the shutdown: %q", feed)
	}
}
