package apiclient_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/apiclient"
)

// The gateway's behaviour is tested against the real gateway in cmd/awo;
// these pin what the client itself puts on the wire and how it reads
// answers the real gateway rarely gives (a detail list, a hang, a drop).

func TestClient_HeadersAndBodies(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, fmt.Sprintf("%s %s auth=%q key=%q ct=%q body=%s", r.Method, r.URL.RequestURI(),
			r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), r.Header.Get("Content-Type"), body))
		_, _ = w.Write([]byte(`{"agent_work_order_id":"wo-1"}`))
	}))
	defer srv.Close()
	c, err := apiclient.New(srv.URL+"/", "tok")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _, _ = c.Create(ctx, apiclient.CreateRequest{RepositoryURL: "https://x/y", UserRequest: "r"}, "k1")
	_, _, _ = c.Cancel(ctx, "wo-1", "")
	_, _, _ = c.List(ctx, apiclient.ListOptions{Status: "failed", Limit: 5})
	_, _, _ = c.Get(ctx, "a/b")
	want := []string{
		`POST /api/agent-work-orders/ auth="Bearer tok" key="k1" ct="application/json" body={"repository_url":"https://x/y","user_request":"r"}`,
		`POST /api/agent-work-orders/wo-1/cancel auth="Bearer tok" key="" ct="" body=`,
		`GET /api/agent-work-orders/?limit=5&status=failed auth="Bearer tok" key="" ct="" body=`,
		`GET /api/agent-work-orders/a%2Fb auth="Bearer tok" key="" ct="" body=`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestClient_ErrorsAndTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/agent-work-orders/list-detail":
			w.WriteHeader(422)
			_, _ = w.Write([]byte(`{"detail":[{"loc":["body","x"],"msg":"bad"}]}`))
		case "/api/agent-work-orders/plain":
			w.WriteHeader(502)
			_, _ = w.Write([]byte("upstream down"))
		case "/api/agent-work-orders/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
	}))
	defer srv.Close()
	c, _ := apiclient.New(srv.URL, "")
	c.Timeout = 200 * time.Millisecond
	ctx := context.Background()
	if _, _, err := c.Get(ctx, "list-detail"); apiclient.StatusOf(err) != 422 || !strings.Contains(err.Error(), `"msg":"bad"`) {
		t.Errorf("a detail list: %v", err)
	}
	if _, _, err := c.Get(ctx, "plain"); apiclient.StatusOf(err) != 502 || !strings.Contains(err.Error(), "upstream down") {
		t.Errorf("no JSON: %v", err)
	}
	start := time.Now()
	if _, _, err := c.Get(ctx, "slow"); err == nil || apiclient.StatusOf(err) != 0 || time.Since(start) > 3*time.Second {
		t.Errorf("a hanging gateway: %v after %s", err, time.Since(start))
	}
	if _, err := apiclient.New("localhost:8053", ""); err == nil {
		t.Error("a URL without scheme was accepted")
	}
}

// A dropped stream is reopened after the last entry seen.
func TestClient_StreamLogsResumes(t *testing.T) {
	var conns atomic.Int32
	var lastIDs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		w.Header().Set("Content-Type", "text/event-stream")
		if conns.Add(1) == 1 {
			fmt.Fprint(w, "id: 1\ndata: {\"message\":\"one\"}\n\n: ping\n\nid: 2\ndata: {\"message\":\"two\"}\n\n")
			return // dropped before the end
		}
		fmt.Fprint(w, "id: 3\ndata: {\"message\":\"three\"}\n\nevent: end\ndata: {\"agent_work_order_id\":\"wo-1\",\"status\":\"completed\"}\n\n")
	}))
	defer srv.Close()
	c, _ := apiclient.New(srv.URL, "")
	var msgs []string
	end, err := c.StreamLogs(context.Background(), "wo-1", apiclient.LogOptions{}, "", func(l apiclient.LogEntry, raw json.RawMessage) error {
		msgs = append(msgs, l.Message)
		return nil
	})
	if err != nil || end.Status != "completed" {
		t.Fatalf("end %+v, err %v", end, err)
	}
	if strings.Join(msgs, ",") != "one,two,three" || strings.Join(lastIDs, ",") != ",2" {
		t.Errorf("messages %v, Last-Event-ID per connection %q", msgs, lastIDs)
	}
}
