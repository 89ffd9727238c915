package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
)

// Secure by default: input. Free text, queries and headers are checked at
// the edge: every bad form is a 4xx naming the problem, and nothing is
// recorded.

// serve runs one request through the handler itself, so that it can carry
// what net/http's client refuses to send (control bytes in headers).
func (h *harness) serve(req *http.Request) response {
	h.t.Helper()
	rec := httptest.NewRecorder()
	h.srv.Config.Handler.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func createBodyWith(userRequest string) string {
	b, _ := json.Marshal(map[string]string{"repository_url": "https://github.com/acme/demo", "user_request": userRequest})
	return string(b)
}

func TestCreate_RefusesControlCharactersInFreeText(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name   string
		body   string
		status int
		want   []string
	}{
		{"NUL", createBodyWith("Fix\x00the bug"), 422, []string{"user_request", "U+0000 (NUL) at byte 3"}},
		{"NUL escaped by hand", `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix\u0000"}`, 422, []string{"user_request", "U+0000"}},
		{"ESC (terminal escape)", createBodyWith("Fix \x1b[2J the bug"), 422, []string{"user_request", "U+001B (ESC)"}},
		{"BEL", createBodyWith("Fix\athe bug"), 422, []string{"user_request", "U+0007"}},
		{"DEL", createBodyWith("Fix the bug\x7f!"), 422, []string{"user_request", "U+007F (DEL)"}},
		{"C1 CSI", createBodyWith("Fix \u009b31m the bug"), 422, []string{"user_request", "U+009B"}},
		{"C1 NEL leading, which trimming would hide", createBodyWith("\u0085Fix the bug"), 422, []string{"user_request", "U+0085 (NEL) at byte 0"}},
		{"vertical tab trailing", createBodyWith("Fix the bug\v"), 422, []string{"user_request", "U+000B"}},
		{"raw invalid UTF-8 in the body", `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix` + "\xff" + `"}`, 400, []string{"not valid UTF-8", "0xff"}},
		{"NUL in the repository URL", `{"repository_url": "https://github.com/acme/demo\u0000", "user_request": "Fix"}`, 422, []string{"repository_url", "U+0000"}},
		{"ESC in the repository URL", `{"repository_url": "https://github.com/acme/\u001b[1mdemo", "user_request": "Fix"}`, 422, []string{"repository_url", "U+001B"}},
		{"a very long repository URL", `{"repository_url": "https://github.com/acme/` + strings.Repeat("d", 3000) + `", "user_request": "Fix"}`, 422, []string{"repository_url", "at most 2048 bytes"}},
	}
	before := h.eventCount()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.post("/api/agent-work-orders/", tc.body)
			if r.status != tc.status {
				t.Fatalf("status = %d (%s), want %d", r.status, r.body, tc.status)
			}
			d := r.detail(t)
			for _, w := range tc.want {
				if !strings.Contains(d, w) {
					t.Errorf("detail %q does not contain %q", d, w)
				}
			}
		})
	}
	if n := h.eventCount(); n != before {
		t.Errorf("%d events recorded for refused creates", n-before)
	}

	// Tab, CR and LF are text.
	id := h.create(map[string]any{"user_request": "Fix the bug:\r\n\t1. log in\n\t2. see the error"})
	r := h.get("/api/agent-work-orders/" + string(id))
	var wo readmodel.WorkOrder
	r.json(t, &wo)
	if wo.UserRequest != "Fix the bug:\r\n\t1. log in\n\t2. see the error" {
		t.Errorf("user_request = %q", wo.UserRequest)
	}
}

func TestCreate_UserRequestLengthCap(t *testing.T) {
	t.Run("configured", func(t *testing.T) {
		h := newHarness(t, func(o *api.Options) { o.MaxRequestBytes = 100 })
		if r := h.post("/api/agent-work-orders/", createBodyWith(strings.Repeat("é", 50))); r.status != http.StatusCreated {
			t.Errorf("100 bytes at a cap of 100: %d %s", r.status, r.body)
		}
		// Surrounding blanks are trimmed before counting, as before storing.
		if r := h.post("/api/agent-work-orders/", createBodyWith("  "+strings.Repeat("a", 100)+"\n")); r.status != http.StatusCreated {
			t.Errorf("100 bytes plus blanks: %d %s", r.status, r.body)
		}
		r := h.post("/api/agent-work-orders/", createBodyWith(strings.Repeat("a", 101)))
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("101 bytes at a cap of 100: %d %s", r.status, r.body)
		}
		if d := r.detail(t); !strings.Contains(d, "user_request: must be at most 100 bytes, got 101") || !strings.Contains(d, "AWO_MAX_REQUEST_BYTES") {
			t.Errorf("detail = %q", d)
		}
	})
	t.Run("default 64 KiB", func(t *testing.T) {
		h := newHarness(t)
		if r := h.post("/api/agent-work-orders/", createBodyWith(strings.Repeat("a", 64<<10))); r.status != http.StatusCreated {
			t.Errorf("64 KiB: %d %.200s", r.status, r.body)
		}
		r := h.post("/api/agent-work-orders/", createBodyWith(strings.Repeat("a", 64<<10+1)))
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.detail(t), "at most 65536 bytes, got 65537") {
			t.Errorf("64 KiB + 1: %d %.300s", r.status, r.body)
		}
	})
	t.Run("the body cap leaves room for an escaped request at the cap", func(t *testing.T) {
		const max = 128 << 10 // the largest AWO_MAX_REQUEST_BYTES allows
		h := newHarness(t, func(o *api.Options) { o.MaxRequestBytes = max })
		// Go's encoder writes each '<' as \u003c: six bytes per byte.
		body := createBodyWith(strings.Repeat("<", max))
		if len(body) < 6*max {
			t.Fatalf("body is %d bytes; the encoder did not escape", len(body))
		}
		if r := h.post("/api/agent-work-orders/", body); r.status != http.StatusCreated {
			t.Errorf("%d bytes escaped into a %d-byte body: %d %.300s", max, len(body), r.status, r.body)
		}
	})
}

func TestCancelAndRetry_RefuseControlCharactersInTheReason(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	for _, action := range []string{"cancel", "retry"} {
		path := "/api/agent-work-orders/" + string(id) + "/" + action
		for _, tc := range []struct{ reason, want string }{
			{"wrong\x00repo", "reason: control character U+0000 (NUL) at byte 5"},
			{"\x1b[2Jcleared", "reason: control character U+001B (ESC) at byte 0"},
			{"bye\u0085", "U+0085 (NEL)"},
			{"del\x7f", "U+007F (DEL)"},
			{strings.Repeat("x", 1001), "reason: must be at most 1000 bytes, got 1001"},
		} {
			b, _ := json.Marshal(map[string]string{"reason": tc.reason})
			r := h.post(path, string(b))
			if r.status != http.StatusUnprocessableEntity {
				t.Errorf("%s with reason %.20q: %d %s, want 422", action, tc.reason, r.status, r.body)
				continue
			}
			if d := r.detail(t); !strings.Contains(d, tc.want) {
				t.Errorf("%s with reason %.20q: detail %q, want %q", action, tc.reason, d, tc.want)
			}
		}
	}
	r := h.do(http.MethodPost, "/api/agent-work-orders/"+string(id)+"/cancel",
		strings.NewReader(`{"reason": "bad `+"\xc3"+`"}`), "Content-Type", "application/json")
	if r.status != http.StatusBadRequest || !strings.Contains(r.detail(t), "not valid UTF-8") {
		t.Errorf("cancel with invalid UTF-8: %d %s, want 400", r.status, r.body)
	}
	// Tab and newlines are fine; the cancel is recorded with them.
	r = h.post("/api/agent-work-orders/"+string(id)+"/cancel", `{"reason": "wrong repository:\n\tuse acme/api"}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("cancel with a multi-line reason: %d %s", r.status, r.body)
	}
	e, ok, err := h.bus.LastEvent(context.Background(), id, events.TypeCancelRequested)
	if err != nil || !ok || e.Data.(*events.CancelRequested).Reason != "wrong repository:\n\tuse acme/api" {
		t.Errorf("recorded %+v (found %t, %v)", e, ok, err)
	}
}

// Every query parameter and header the API reads answers its bad forms with
// a 4xx and a detail naming it, never a 5xx.
func TestBadQueriesAndHeaders_Answer4xx(t *testing.T) {
	h := newHarness(t)
	id := string(h.create(nil))
	base := "/api/agent-work-orders/"
	wo := base + id
	tests := []struct {
		method, target string
		header         []string
		status         int
		want           string
	}{
		// The list's filters and paging.
		{"GET", base + "?repository_url=%00", nil, 422, "repository_url: control character U+0000"},
		{"GET", base + "?repository_url=%ff", nil, 422, "repository_url: invalid UTF-8 (byte 0xff"},
		{"GET", base + "?repository_url=https://github.com/acme/demo%1b%5b0m", nil, 422, "repository_url: control character U+001B"},
		{"GET", base + "?repository_url=%c2%85", nil, 422, "U+0085"},
		{"GET", base + "?repository_url=" + strings.Repeat("a", 3000), nil, 422, "repository_url: must be at most 2048 bytes"},
		{"GET", base + "?status=%00", nil, 422, "status"},
		{"GET", base + "?status=%ff", nil, 422, "status"},
		{"GET", base + "?limit=99999999999999999999", nil, 422, "limit: must be a whole number from 1 to 1000"},
		{"GET", base + "?limit=%00", nil, 422, "limit"},
		{"GET", base + "?offset=-1", nil, 422, "offset: must be a whole number from 0"},
		{"GET", base + "?offset=99999999999999999999", nil, 422, "offset"},
		// The log page's filters.
		{"GET", wo + "/logs?since=garbage", nil, 422, "since: must be an ISO 8601 timestamp"},
		{"GET", wo + "/logs?since=%00", nil, 422, "since"},
		{"GET", wo + "/logs?level=%00", nil, 422, "level"},
		{"GET", wo + "/logs?level=%ff", nil, 422, "level"},
		{"GET", wo + "/logs?step=%00", nil, 422, "step"},
		{"GET", wo + "/logs?step=%ff%fe", nil, 422, "step"},
		{"GET", wo + "/logs?limit=-1", nil, 422, "limit"},
		{"GET", wo + "/logs?offset=99999999999999999999", nil, 422, "offset"},
		// The log stream's resume point and filters.
		{"GET", wo + "/logs/stream", []string{"Last-Event-ID", "18446744073709551615"}, 422, "Last-Event-ID"},
		{"GET", wo + "/logs/stream", []string{"Last-Event-ID", "9223372036854775808"}, 422, "Last-Event-ID"},
		{"GET", wo + "/logs/stream", []string{"Last-Event-ID", "99999999999999999999999"}, 422, "Last-Event-ID"},
		{"GET", wo + "/logs/stream", []string{"Last-Event-ID", "-1"}, 422, "Last-Event-ID"},
		{"GET", wo + "/logs/stream", []string{"Last-Event-ID", "1\x00"}, 422, "Last-Event-ID"},
		{"GET", wo + "/logs/stream", []string{"Last-Event-ID", "\x1b[31m"}, 422, "Last-Event-ID"},
		{"GET", wo + "/logs/stream?last_event_id=-5", nil, 422, "Last-Event-ID"},
		{"GET", wo + "/logs/stream?last_event_id=%00", nil, 422, "Last-Event-ID"},
		{"GET", wo + "/logs/stream?since=garbage", nil, 422, "since"},
		{"GET", wo + "/logs/stream?level=%ff", nil, 422, "level"},
		// The event feed's filters and resume point.
		{"GET", base + "events?type=step.exploded", nil, 422, `unknown event type "step.exploded"`},
		{"GET", base + "events?type=%00", nil, 422, "unknown event type"},
		{"GET", base + "events?type=command.run_step", nil, 422, `unknown event type "command.run_step"`},
		{"GET", base + "events", []string{"Last-Event-ID", "-1"}, 422, "Last-Event-ID"},
		{"GET", base + "events?last_event_id=%ff", nil, 422, "Last-Event-ID"},
		{"GET", base + "events?id=%00", nil, 404, "Work order not found"},
		{"GET", base + "events?id=wo-00000000", nil, 404, "Work order not found"},
		// Ids with bad bytes in the path: no such work order (issue 12, as Archon).
		{"GET", base + "%00", nil, 404, "Work order not found"},
		{"GET", base + "%ff", nil, 404, "Work order not found"},
		{"GET", base + "%00/steps", nil, 404, "Work order not found"},
		{"GET", base + "wo-%001234567/steps", nil, 404, "Work order not found"},
		{"GET", base + "%1b%5b2J/git-progress", nil, 404, "Work order not found"},
		{"GET", base + "%00/logs", nil, 404, "Work order not found"},
		{"GET", base + "%00/logs/stream", nil, 404, "Work order not found"},
		{"POST", base + "%00/cancel", nil, 404, "Work order not found"},
		{"POST", base + "%ff/retry", nil, 404, "Work order not found"},
		{"GET", base + "wo-00000000%2F..%2Fsteps", nil, 404, "Work order not found"},
		// Create's headers.
		{"POST", base, []string{"Idempotency-Key", "key\x00"}, 422, "Idempotency-Key"},
		{"POST", base, []string{"Idempotency-Key", "key\x1b[31m"}, 422, "Idempotency-Key"},
		{"POST", base, []string{"Idempotency-Key", "ключ"}, 422, "Idempotency-Key"},
		{"POST", base, []string{"Idempotency-Key", strings.Repeat("k", 10000)}, 422, "Idempotency-Key"},
		{"POST", base, []string{"Content-Type", "application/json\x00"}, 415, "Content-Type"},
		{"POST", base, []string{"Content-Type", "\xff"}, 415, "Content-Type"},
	}
	before := h.eventCount()
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s %.60q %.40q", tc.method, tc.target, tc.header), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, tc.method, tc.target, strings.NewReader(createBodyWith("Fix it")))
			req.Header.Set("Content-Type", "application/json")
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header[http.CanonicalHeaderKey(tc.header[i])] = []string{tc.header[i+1]}
			}
			r := h.serve(req)
			if r.status != tc.status {
				t.Fatalf("status = %d (%s), want %d", r.status, r.body, tc.status)
			}
			if d := r.detail(t); !strings.Contains(d, tc.want) {
				t.Errorf("detail %q does not name %q", d, tc.want)
			}
		})
	}
	if n := h.eventCount(); n != before {
		t.Errorf("%d events recorded by refused requests", n-before)
	}
}

// The largest resume point accepted still streams (200), not a 5xx: the
// next sequence after it does not wrap around.
func TestLogStream_LargestLastEventID(t *testing.T) {
	h := newHarness(t)
	id := string(h.create(nil))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/agent-work-orders/"+id+"/logs/stream", nil)
	req.Header.Set("Last-Event-ID", strconv.FormatUint(1<<63-1, 10))
	r := h.serve(req)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status = %d %s, want a stream", r.status, r.body)
	}
}

// A list without a limit is served in pages from the store and capped at
// AWO_LIST_MAX; X-Total-Count tells the true total, so a client can see it
// got fewer than exist. A limit above the cap is clamped to it.
func TestList_CappedByListMaxAndReadInPages(t *testing.T) {
	const stored, cap = 1234, 1100
	store := &pageRecorder{Store: readmodel.NewMemory()}
	fill(t, store, stored)
	h := newHarness(t, func(o *api.Options) { o.Store = store; o.ListMax = cap })

	ids := func(r response) []workorder.ID {
		t.Helper()
		var wos []readmodel.WorkOrder
		r.json(t, &wos)
		out := make([]workorder.ID, len(wos))
		for i, wo := range wos {
			out[i] = wo.AgentWorkOrderID
		}
		return out
	}
	store.reset()
	r := h.get("/api/agent-work-orders/")
	got := ids(r)
	if r.status != http.StatusOK || len(got) != cap {
		t.Fatalf("GET without limit: %d, %d work orders, want %d (AWO_LIST_MAX)", r.status, len(got), cap)
	}
	if r.header.Get("X-Total-Count") != strconv.Itoa(stored) {
		t.Errorf("X-Total-Count = %q, want %d", r.header.Get("X-Total-Count"), stored)
	}
	// Newest first, no gaps or repeats across the pages.
	for i, id := range got {
		if want := workorder.ID(fmt.Sprintf("wo-%08d", stored-i)); id != want {
			t.Fatalf("work order %d is %s, want %s", i, id, want)
		}
	}
	calls := store.calls()
	if len(calls) != 3 || calls[0] != (readmodel.Filter{Limit: 500}) || calls[1] != (readmodel.Filter{Limit: 500, Offset: 500}) ||
		calls[2] != (readmodel.Filter{Limit: 100, Offset: 1000}) {
		t.Errorf("store reads = %+v, want pages of 500 up to the cap", calls)
	}

	// An offset pages on past the cap; the rest fits.
	r = h.get("/api/agent-work-orders/?offset=1100")
	if got := ids(r); len(got) != stored-cap || got[0] != "wo-00000134" || r.header.Get("X-Total-Count") != strconv.Itoa(stored) {
		t.Errorf("GET ?offset=1100: %d work orders from %v, X-Total-Count %q", len(got), got[:1], r.header.Get("X-Total-Count"))
	}

	// Below the cap a limit is what it was: one read.
	store.reset()
	r = h.get("/api/agent-work-orders/?limit=7&offset=3")
	if got := ids(r); len(got) != 7 || got[0] != "wo-00001231" || len(store.calls()) != 1 {
		t.Errorf("GET ?limit=7&offset=3: %v in %d reads", got, len(store.calls()))
	}

	// A limit above the cap is clamped to it.
	h2 := newHarness(t, func(o *api.Options) { o.Store = store; o.ListMax = 10 })
	r = h2.get("/api/agent-work-orders/?limit=1000")
	if got := ids(r); r.status != http.StatusOK || len(got) != 10 || r.header.Get("X-Total-Count") != strconv.Itoa(stored) {
		t.Errorf("GET ?limit=1000 with AWO_LIST_MAX=10: %d, %d work orders, X-Total-Count %q", r.status, len(got), r.header.Get("X-Total-Count"))
	}
	// The documented range still holds: over 1000 is refused, not clamped.
	if r := h2.get("/api/agent-work-orders/?limit=1001"); r.status != http.StatusUnprocessableEntity {
		t.Errorf("GET ?limit=1001: %d, want 422", r.status)
	}
}

// A work order created while a list reads its pages shifts the later ones
// down; the list neither repeats nor loses one.
func TestList_CreateBetweenPagesNeitherRepeatsNorLoses(t *testing.T) {
	const stored = 1200
	mem := readmodel.NewMemory()
	fill(t, mem, stored)
	store := &pageRecorder{Store: mem, afterFirst: func() { fill(t, mem, stored+1) }}
	h := newHarness(t, func(o *api.Options) { o.Store = store })
	var wos []readmodel.WorkOrder
	r := h.get("/api/agent-work-orders/")
	r.json(t, &wos)
	seen := map[workorder.ID]bool{}
	for _, wo := range wos {
		if seen[wo.AgentWorkOrderID] {
			t.Fatalf("%s listed twice", wo.AgentWorkOrderID)
		}
		seen[wo.AgentWorkOrderID] = true
	}
	for i := 1; i <= stored; i++ {
		if id := workorder.ID(fmt.Sprintf("wo-%08d", i)); !seen[id] {
			t.Errorf("%s missing from the list", id)
		}
	}
	if total, _ := strconv.Atoi(r.header.Get("X-Total-Count")); total < len(wos) {
		t.Errorf("X-Total-Count = %d below the %d listed", total, len(wos))
	}
}

// fill applies requested events until the store holds n work orders
// wo-00000001..n, each newer than the last.
func fill(t *testing.T, s readmodel.Store, n int) {
	t.Helper()
	ctx := context.Background()
	start, err := s.AppliedSequence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for seq := start + 1; seq <= uint64(n); seq++ {
		id := workorder.ID(fmt.Sprintf("wo-%08d", seq))
		e := events.New(string(id)+".requested", events.TypeRequested, "test", id, t0.Add(time.Duration(seq)*time.Second),
			&events.Requested{WorkOrderID: id, RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree,
				UserRequest: "Fix it", SelectedCommands: workorder.DefaultSteps})
		e.Seq = seq
		if err := s.Apply(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
}

// pageRecorder records the store reads of a list; afterFirst, when set,
// runs once after the first read.
type pageRecorder struct {
	readmodel.Store
	afterFirst func()
	mu         sync.Mutex
	reads      []readmodel.Filter
}

func (s *pageRecorder) List(ctx context.Context, f readmodel.Filter) ([]readmodel.WorkOrder, error) {
	out, err := s.Store.List(ctx, f)
	s.mu.Lock()
	s.reads = append(s.reads, f)
	after := s.afterFirst
	s.afterFirst = nil
	s.mu.Unlock()
	if after != nil {
		after()
	}
	return out, err
}

func (s *pageRecorder) calls() []readmodel.Filter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]readmodel.Filter(nil), s.reads...)
}

func (s *pageRecorder) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = nil
}
