package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/syncbuf"

	"github.com/go-chi/chi/v5"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
)

const (
	tokenA     = "tok-aaaaaaaaaaaaaaaaaaaaaaaa"
	tokenB     = "tok-bbbbbbbbbbbbbbbbbbbbbbbb"
	tokenC     = "tok-cccccccccccccccccccccccc"
	wrongToken = "tok-wrongwrongwrongwrongwrong"
	metricsTok = "scrape-mmmmmmmmmmmmmmmmmmmm"
)

func withTokens(tokens ...string) func(*api.Options) {
	return func(o *api.Options) { o.APITokens = tokens }
}

func bearerHeader(token string) []string { return []string{"Authorization", "Bearer " + token} }

// createAs posts a valid work order with token and returns its id.
func (h *harness) createAs(token string) workorder.ID {
	h.t.Helper()
	r := h.do(http.MethodPost, "/api/agent-work-orders", strings.NewReader(`{"repository_url": "https://github.com/acme/demo", "user_request": "Fix it"}`),
		append(bearerHeader(token), "Content-Type", "application/json")...)
	if r.status != http.StatusCreated {
		h.t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created struct {
		ID workorder.ID `json:"agent_work_order_id"`
	}
	r.json(h.t, &created)
	return created.ID
}

// doQuick sends a request and reads the body only of a non-200 answer, so
// a live-log stream that stays open does not hold the test.
func (h *harness) doQuick(method, path string, body string, header ...string) response {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b []byte
	if resp.StatusCode != http.StatusOK {
		b, _ = io.ReadAll(resp.Body)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// apiRoutes walks the router for every route under /api/, so a route
// added later is covered without touching this test.
func apiRoutes(t *testing.T, handler http.Handler) [][2]string {
	t.Helper()
	routes, ok := handler.(chi.Routes)
	if !ok {
		t.Fatalf("api.New returned %T, not a chi router", handler)
	}
	var out [][2]string
	_ = chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/api/") {
			out = append(out, [2]string{method, route})
		}
		return nil
	})
	if len(out) < 9 {
		t.Fatalf("found %d API routes: %v", len(out), out)
	}
	return out
}

// With tokens, every /api/ route answers 401 without a token or with a
// wrong one (RFC 6750 challenge, {"detail"}), and serves a right one.
func TestAuth_EveryAPIRouteNeedsAToken(t *testing.T) {
	h := newHarness(t, withTokens(tokenA, tokenB))
	id := h.createAs(tokenA)
	for _, rt := range apiRoutes(t, h.srv.Config.Handler) {
		method, path := rt[0], strings.ReplaceAll(rt[1], "{agent_work_order_id}", string(id))
		body, ct := "", []string{}
		if method == http.MethodPost {
			body, ct = "{}", []string{"Content-Type", "application/json"}
		}
		t.Run(method+" "+rt[1], func(t *testing.T) {
			tests := []struct {
				name      string
				header    []string
				want401   bool
				challenge string
			}{
				{"NoToken", nil, true, `Bearer realm="awo"`},
				{"WrongToken", bearerHeader(wrongToken), true, `Bearer realm="awo", error="invalid_token"`},
				{"BasicAuth", []string{"Authorization", "Basic dXNlcjpwYXNz"}, true, `Bearer realm="awo"`},
				{"TokenPrefix", bearerHeader(tokenA[:len(tokenA)-1]), true, `Bearer realm="awo", error="invalid_token"`},
				{"FirstToken", bearerHeader(tokenA), false, ""},
				{"SecondToken", bearerHeader(tokenB), false, ""},
				{"LowerCaseScheme", []string{"Authorization", "bearer " + tokenB}, false, ""},
			}
			for _, tc := range tests {
				r := h.doQuick(method, path, body, append(tc.header, ct...)...)
				if !tc.want401 {
					if r.status == http.StatusUnauthorized {
						t.Errorf("%s: 401 with a valid token: %s", tc.name, r.body)
					}
					continue
				}
				if r.status != http.StatusUnauthorized {
					t.Errorf("%s: %d, want 401", tc.name, r.status)
					continue
				}
				if got := r.header.Get("WWW-Authenticate"); got != tc.challenge {
					t.Errorf("%s: WWW-Authenticate %q, want %q", tc.name, got, tc.challenge)
				}
				if d := r.detail(t); !strings.Contains(d, "AWO_API_TOKENS") {
					t.Errorf("%s: detail %q", tc.name, d)
				}
			}
		})
	}
	// The open routes stay open.
	for _, p := range []string{"/", "/health", "/healthz", "/docs", "/openapi.json"} {
		if r := h.get(p); r.status != http.StatusOK {
			t.Errorf("GET %s without a token: %d %s", p, r.status, r.body)
		}
	}
}

// Without tokens nothing asks for one.
func TestAuth_NoTokensConfigured(t *testing.T) {
	h := newHarness(t)
	h.create(nil)
	if r := h.get("/api/agent-work-orders"); r.status != http.StatusOK {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
}

func TestAuth_Metrics(t *testing.T) {
	scrape := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "awo_up 1\n") })
	tests := []struct {
		name         string
		apiTokens    []string
		metricsToken string
		header       []string
		want         int
	}{
		{"OpenByDefault", nil, "", nil, 200},
		{"OpenWithAPITokensOnly", []string{tokenA}, "", nil, 200},
		{"MetricsTokenMissing", []string{tokenA}, metricsTok, nil, 401},
		{"MetricsTokenWrong", []string{tokenA}, metricsTok, bearerHeader(wrongToken), 401},
		{"MetricsToken", []string{tokenA}, metricsTok, bearerHeader(metricsTok), 200},
		{"APITokenAlsoServes", []string{tokenA}, metricsTok, bearerHeader(tokenA), 200},
		{"MetricsTokenWithoutAPITokens", nil, metricsTok, bearerHeader(metricsTok), 200},
		{"MetricsTokenWithoutAPITokensMissing", nil, metricsTok, nil, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(api.New(api.Options{Logger: quiet, MetricsHandler: scrape, APITokens: tc.apiTokens, MetricsToken: tc.metricsToken}))
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("GET /metrics: %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// A refusal is logged with the address, path and reason, and no token
// (neither the one sent nor a configured one) appears in any log line.
func TestAuth_RefusalLoggedWithoutToken(t *testing.T) {
	var logs syncbuf.Buffer
	h := newHarness(t, withTokens(tokenA, tokenB), func(o *api.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	h.get("/api/agent-work-orders")
	h.do(http.MethodGet, "/api/agent-work-orders", nil, bearerHeader(wrongToken)...)
	h.do(http.MethodGet, "/api/agent-work-orders", nil, bearerHeader(tokenB)...)
	h.createAs(tokenA)
	out := logs.String()
	for _, want := range []string{"reason=missing", "reason=wrong", "path=/api/agent-work-orders", "remote=127.0.0.1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{tokenA, tokenB, wrongToken, "tok-"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds token %q:\n%s", secret, out)
		}
	}
}

func TestCORS(t *testing.T) {
	const listed, foreign = "https://app.example", "https://evil.example"
	tests := []struct {
		name        string
		origins     []string
		origin      string
		preflight   bool
		wantStatus  int
		wantAllow   string
		wantCredits bool
	}{
		{"ForeignPreflight", []string{listed}, foreign, true, http.StatusForbidden, "", false},
		{"ForeignRequest", []string{listed}, foreign, false, http.StatusOK, "", false},
		{"NothingListedPreflight", nil, listed, true, http.StatusForbidden, "", false},
		{"NothingListedRequest", nil, "http://localhost:3737", false, http.StatusOK, "", false},
		{"ListedPreflight", []string{listed}, listed, true, http.StatusNoContent, listed, true},
		{"ListedRequest", []string{listed}, listed, false, http.StatusOK, listed, true},
		{"ListedDefaultPort", []string{listed}, listed + ":443", false, http.StatusOK, listed + ":443", true},
		{"OtherPort", []string{listed}, listed + ":8443", true, http.StatusForbidden, "", false},
		{"OtherScheme", []string{listed}, "http://app.example", true, http.StatusForbidden, "", false},
		{"SuffixTrick", []string{listed}, "https://app.example.evil.example", true, http.StatusForbidden, "", false},
		{"NullOrigin", []string{listed}, "null", true, http.StatusForbidden, "", false},
		{"WildcardPreflight", []string{"*"}, foreign, true, http.StatusNoContent, "*", false},
		{"WildcardRequest", []string{"*"}, foreign, false, http.StatusOK, "*", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(api.New(api.Options{Logger: quiet, APITokens: []string{tokenA}, CORSOrigins: tc.origins,
				MetricsHandler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}))
			defer srv.Close()
			method, path := http.MethodGet, "/metrics"
			if tc.preflight {
				method, path = http.MethodOptions, "/api/agent-work-orders"
			}
			req, _ := http.NewRequest(method, srv.URL+path, nil)
			req.Header.Set("Origin", tc.origin)
			if tc.preflight {
				// A preflight carries no token: CORS answers before authentication.
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			hd := resp.Header
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if got := hd.Get("Access-Control-Allow-Origin"); got != tc.wantAllow {
				t.Errorf("Allow-Origin %q, want %q", got, tc.wantAllow)
			}
			if got := hd.Get("Access-Control-Allow-Credentials") == "true"; got != tc.wantCredits {
				t.Errorf("Allow-Credentials %v, want %v", got, tc.wantCredits)
			}
			if hd.Get("Vary") != "Origin" {
				t.Errorf("Vary %q, want Origin", hd.Get("Vary"))
			}
			if tc.wantAllow == "" {
				for k := range hd {
					if strings.HasPrefix(k, "Access-Control-") {
						t.Errorf("a refused origin got %s", k)
					}
				}
				return
			}
			if !strings.Contains(hd.Get("Access-Control-Expose-Headers"), "X-Total-Count") {
				t.Errorf("Expose-Headers %q", hd.Get("Access-Control-Expose-Headers"))
			}
			if tc.preflight {
				if ah := hd.Get("Access-Control-Allow-Headers"); !strings.Contains(ah, "Authorization") || !strings.Contains(ah, "Content-Type") {
					t.Errorf("Allow-Headers %q", ah)
				}
				if !strings.Contains(hd.Get("Access-Control-Allow-Methods"), "POST") {
					t.Errorf("Allow-Methods %q", hd.Get("Access-Control-Allow-Methods"))
				}
			}
		})
	}
}

// A body the browser could send cross-origin without a preflight is 415;
// JSON with parameters passes, and so does a POST without a body.
func TestRequireJSON(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	valid := `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix it"}`
	tests := []struct {
		name   string
		path   string
		body   string
		header []string
		want   int
		detail string
	}{
		{"TextPlain", "/api/agent-work-orders", valid, []string{"Content-Type", "text/plain"}, 415, "text/plain"},
		{"Missing", "/api/agent-work-orders", valid, nil, 415, "missing"},
		{"Form", "/api/agent-work-orders", "a=b", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "application/json"},
		{"Multipart", "/api/agent-work-orders", "--x--", []string{"Content-Type", "multipart/form-data; boundary=x"}, 415, "application/json"},
		{"Malformed", "/api/agent-work-orders", valid, []string{"Content-Type", "application/json; ="}, 415, "application/json"},
		{"CancelReasonTextPlain", "/api/agent-work-orders/" + string(id) + "/cancel", `{"reason": "x"}`, []string{"Content-Type", "text/plain"}, 415, "text/plain"},
		{"JSONWithCharset", "/api/agent-work-orders", valid, []string{"Content-Type", "Application/JSON; Charset=UTF-8"}, 201, ""},
		{"CancelWithoutBody", "/api/agent-work-orders/" + string(id) + "/cancel", "", nil, 202, ""},
	}
	before := h.eventCount()
	refused := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			r := h.do(http.MethodPost, tc.path, body, tc.header...)
			if r.status != tc.want {
				t.Fatalf("status %d (%s), want %d", r.status, r.body, tc.want)
			}
			if tc.want == 415 {
				refused++
				if d := r.detail(t); !strings.Contains(d, tc.detail) {
					t.Errorf("detail %q does not mention %q", d, tc.detail)
				}
			}
		})
	}
	// The two accepted posts recorded one event each, the refused none.
	if n := h.eventCount(); n != before+2 {
		t.Errorf("%d events after, %d before: refused requests published", n, before)
	}
}

// A chunked body of unknown length is checked too, and an empty one passes.
func TestRequireJSON_Chunked(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	for _, tc := range []struct {
		body string
		want int
	}{{`{"reason": "x"}`, 415}, {"", 202}} {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/agent-work-orders/"+string(id)+"/cancel", struct{ io.Reader }{strings.NewReader(tc.body)})
		req.ContentLength = -1
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("chunked %q: %d, want %d", tc.body, resp.StatusCode, tc.want)
		}
	}
}

// Without tokens on loopback, only loopback names are answered.
func TestHostCheck(t *testing.T) {
	handler := api.New(api.Options{Logger: quiet, LoopbackHostOnly: true})
	open := api.New(api.Options{Logger: quiet})
	tests := []struct {
		host string
		want int
	}{
		{"localhost", 200}, {"localhost:8053", 200}, {"LOCALHOST:8053", 200}, {"127.0.0.1", 200}, {"127.0.0.1:8053", 200},
		{"127.1.2.3:80", 200}, {"[::1]:8053", 200}, {"[::1]", 200}, {"app.localhost:3000", 200},
		{"evil.example", 403}, {"evil.example:8053", 403}, {"localhost.evil.example", 403}, {"127.0.0.1.nip.io", 403},
		{"192.168.1.5:8053", 403}, {"[::ffff:7f00:1]:8053", 200}, {"0.0.0.0:8053", 403},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			for _, path := range []string{"/health", "/api/agent-work-orders"} {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.Host = tc.host
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if tc.want == 403 {
					if rec.Code != 403 {
						t.Errorf("%s: %d, want 403", path, rec.Code)
					}
					r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
					if d := r.detail(t); !strings.Contains(d, "DNS rebinding") {
						t.Errorf("detail %q", d)
					}
				} else if rec.Code == 403 {
					t.Errorf("%s: 403 for a loopback Host: %s", path, rec.Body)
				}
			}
			// Off (the default inside api.New): any Host.
			req := httptest.NewRequest(http.MethodGet, "/health", nil)
			req.Host = tc.host
			rec := httptest.NewRecorder()
			open.ServeHTTP(rec, req)
			if rec.Code == 403 {
				t.Errorf("Host check off: 403")
			}
		})
	}
}

// Over AWO_CREATE_RATE a client gets 429 with Retry-After and nothing is
// published; another token has its own budget.
func TestCreateRateLimit(t *testing.T) {
	h := newHarness(t, withTokens(tokenA, tokenB), func(o *api.Options) {
		o.CreateRate = config.Rate{Events: 1, Per: time.Minute, Burst: 2}
	})
	h.createAs(tokenA)
	h.createAs(tokenA)
	before := h.eventCount()
	r := h.do(http.MethodPost, "/api/agent-work-orders", strings.NewReader(`{"repository_url": "https://github.com/acme/demo", "user_request": "Fix it"}`),
		append(bearerHeader(tokenA), "Content-Type", "application/json")...)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("third create: %d %s, want 429", r.status, r.body)
	}
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 60 {
		t.Errorf("Retry-After %q, want whole seconds from 1 to 60", r.header.Get("Retry-After"))
	}
	if d := r.detail(t); !strings.Contains(d, "AWO_CREATE_RATE") {
		t.Errorf("detail %q", d)
	}
	if n := h.eventCount(); n != before {
		t.Errorf("the refused create published %d events", n-before)
	}
	h.createAs(tokenB)
	// Reads are not limited.
	if r := h.do(http.MethodGet, "/api/agent-work-orders", nil, bearerHeader(tokenA)...); r.status != http.StatusOK {
		t.Errorf("list over the create rate: %d", r.status)
	}
}

// Without tokens the limit is per address.
func TestCreateRateLimit_PerAddress(t *testing.T) {
	h := newHarness(t, func(o *api.Options) { o.CreateRate = config.Rate{Events: 1, Per: time.Hour, Burst: 1} })
	h.create(nil)
	if r := h.post("/api/agent-work-orders", `{"repository_url": "https://github.com/acme/demo", "user_request": "x"}`); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("second create from 127.0.0.1: %d %v", r.status, r.header)
	}
}

// Open log streams are capped per client and in all: 503 with Retry-After
// over the cap, and a closed stream frees its place.
func TestSSECaps(t *testing.T) {
	h := newHarness(t, withTokens(tokenA, tokenB, tokenC), func(o *api.Options) {
		o.SSEMaxPerClient = 1
		o.SSEMax = 2
		o.SSEHeartbeat = 50 * time.Millisecond
	})
	id := h.createAs(tokenA) // pending for ever: its stream stays open
	path := "/api/agent-work-orders/" + string(id) + "/logs/stream"
	first := h.openStream(id, "", bearerHeader(tokenA)...)
	r := h.doQuick(http.MethodGet, path, "", bearerHeader(tokenA)...)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("second stream of one client: %d %v, want 503 with Retry-After", r.status, r.header)
	}
	if d := r.detail(t); !strings.Contains(d, "AWO_SSE_MAX_PER_CLIENT") {
		t.Errorf("detail %q", d)
	}
	h.openStream(id, "", bearerHeader(tokenB)...)
	r = h.doQuick(http.MethodGet, path, "", bearerHeader(tokenC)...)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.detail(t), "AWO_SSE_MAX") {
		t.Fatalf("third stream in all: %d %s, want 503", r.status, r.body)
	}
	first.close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.doQuick(http.MethodGet, path, "", bearerHeader(tokenC)...)
		if r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream never freed its place: %d %s", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
