package gateway_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/services/gateway"
)

// The real gateway serves the dashboard. Its files hold no data, so they
// load without a token (a browser cannot send one when it navigates); the
// API the page reads from still asks for one, and the Host check that
// guards the API against DNS rebinding guards the page too.
func TestRun_ServesTheDashboard(t *testing.T) {
	for _, tokens := range []string{"", "0123456789abcdef0123456789abcdef"} {
		t.Run("tokens="+strconv.FormatBool(tokens != ""), func(t *testing.T) {
			port := freePort(t)
			cfg, err := config.Load(func(k string) string {
				return map[string]string{"AGENT_WORK_ORDERS_PORT": strconv.Itoa(port), "AWO_SHUTDOWN_GRACE": "2s", "AWO_API_TOKENS": tokens}[k]
			})
			if err != nil {
				t.Fatal(err)
			}
			env := natstest.Start(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- runGateway(ctx, gateway.Deps{Config: cfg.Gateway(), Bus: env.Bus("awo/gateway"), Store: readmodel.NewMemory(), Logger: quiet})
			}()
			defer func() {
				cancel()
				<-done
			}()
			base := "http://127.0.0.1:" + strconv.Itoa(port)
			status := func(path, host string) (int, string) {
				t.Helper()
				deadline := time.Now().Add(20 * time.Second)
				for {
					req, _ := http.NewRequest(http.MethodGet, base+path, nil)
					if host != "" {
						req.Host = host
					}
					resp, err := http.DefaultClient.Do(req)
					if err == nil {
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						return resp.StatusCode, string(body)
					}
					if time.Now().After(deadline) {
						t.Fatal(err)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			for _, path := range []string{"/ui/", "/ui", "/ui/work-orders/wo-1a2b3c4d"} {
				if code, body := status(path, ""); code != http.StatusOK || !strings.Contains(body, `<main id="view"`) {
					t.Errorf("GET %s: %d, want 200 and the page", path, code)
				}
			}
			if code, _ := status("/ui/js/app.js", ""); code != http.StatusOK {
				t.Errorf("GET /ui/js/app.js: %d", code)
			}
			wantAPI := http.StatusOK
			if tokens != "" {
				wantAPI = http.StatusUnauthorized
			}
			if code, _ := status("/api/agent-work-orders/", ""); code != wantAPI {
				t.Errorf("GET /api/agent-work-orders/ without a token: %d, want %d", code, wantAPI)
			}
			if tokens == "" {
				if code, _ := status("/ui/", "evil.example:"+strconv.Itoa(port)); code != http.StatusForbidden {
					t.Errorf("GET /ui/ with Host evil.example: %d, want 403", code)
				}
			}
		})
	}
}
