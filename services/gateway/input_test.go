package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/pgtest"
	"github.com/agentworkorders/awo/services/gateway"
)

// Secure by default: input, over real Postgres, which (unlike the memory
// store) refuses NUL and invalid UTF-8 in a query parameter with an error:
// the gateway answers those with a 422 before they reach it, refuses a
// user_request holding NUL, and caps a list at AWO_LIST_MAX while
// X-Total-Count tells the truth. The settings come from the configuration.
func TestRun_Postgres_BadInputIs4xxAndListsAreCapped(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	cfg, err := config.Load(func(name string) string {
		return map[string]string{
			"STATE_STORAGE_TYPE": "postgres", "DATABASE_URL": db.URL,
			"AWO_LIST_MAX": "3", "AWO_MAX_REQUEST_BYTES": "200",
		}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	store, closeStore, err := gateway.OpenStore(context.Background(), cfg.Gateway(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	g := start(t, gateway.Deps{Config: cfg.Gateway(), Bus: env.Bus("awo/gateway"), NC: env.NC, Store: store, Logger: quiet})

	do := func(method, path, body string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, g.base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for range 5 {
		if status, _, body := do("POST", "/api/agent-work-orders/", `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix it"}`); status != http.StatusCreated {
			t.Fatalf("create: %d %s", status, body)
		}
	}

	for _, tc := range []struct {
		method, path, body, want string
		status                   int
	}{
		{"GET", "/api/agent-work-orders/?repository_url=%00", "", "repository_url", 422},
		{"GET", "/api/agent-work-orders/?repository_url=%ff", "", "repository_url", 422},
		{"GET", "/api/agent-work-orders/?repository_url=a%00b&status=pending", "", "repository_url", 422},
		{"GET", "/api/agent-work-orders/?status=%00", "", "status", 422},
		{"GET", "/api/agent-work-orders/%00", "", "Work order not found", 404},
		{"GET", "/api/agent-work-orders/%ff/steps", "", "Work order not found", 404},
		{"POST", "/api/agent-work-orders/", `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix\u0000it"}`, "U+0000", 422},
		{"POST", "/api/agent-work-orders/", `{"repository_url": "https://github.com/acme/demo", "user_request": "` + strings.Repeat("a", 201) + `"}`, "AWO_MAX_REQUEST_BYTES", 422},
	} {
		status, _, body := do(tc.method, tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %s, want %d naming %s", tc.method, tc.path, status, body, tc.status, tc.want)
		}
	}

	status, header, body := do("GET", "/api/agent-work-orders/", "")
	var list []readmodel.WorkOrder
	if err := json.Unmarshal([]byte(body), &list); err != nil || status != http.StatusOK {
		t.Fatalf("list: %d %s", status, body)
	}
	if len(list) != 3 || header.Get("X-Total-Count") != "5" {
		t.Errorf("list with AWO_LIST_MAX=3: %d work orders, X-Total-Count %q; want 3 of 5", len(list), header.Get("X-Total-Count"))
	}
	// The projector went on: the store is still readable and current.
	status, _, body = do("GET", "/api/agent-work-orders/?offset=3", "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || status != http.StatusOK || len(list) != 2 {
		t.Errorf("list ?offset=3: %d, %d work orders (%s)", status, len(list), body)
	}
}
