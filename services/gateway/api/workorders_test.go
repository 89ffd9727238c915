package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
)

// A GET right after the POST sees the work order: no sleep, no retry.
func TestCreate_ThenGetImmediately(t *testing.T) {
	h := newHarness(t)
	for i := range 20 {
		r := h.post("/api/agent-work-orders/", `{
			"repository_url": "https://github.com/acme/demo",
			"sandbox_type": "git_worktree",
			"user_request": "Fix authentication bug",
			"selected_commands": ["create-branch", "planning"]
		}`)
		if r.status != http.StatusCreated {
			t.Fatalf("POST: %d %s", r.status, r.body)
		}
		var created map[string]any
		r.json(t, &created)
		id, _ := created["agent_work_order_id"].(string)
		if _, err := workorder.ParseID(id); err != nil || created["status"] != "pending" || created["message"] == "" || len(created) != 3 {
			t.Fatalf("POST body = %s, want {agent_work_order_id: wo-…, status: pending, message}", r.body)
		}

		g := h.get("/api/agent-work-orders/" + id)
		if g.status != http.StatusOK {
			t.Fatalf("iteration %d: GET right after POST: %d %s", i, g.status, g.body)
		}
		var wo readmodel.WorkOrder
		g.json(t, &wo)
		want := readmodel.WorkOrder{
			AgentWorkOrderID:  workorder.ID(id),
			RepositoryURL:     "https://github.com/acme/demo",
			SandboxIdentifier: "sandbox-" + id,
			SandboxType:       workorder.SandboxWorktree,
			Status:            workorder.StatusPending,
			CreatedAt:         wo.CreatedAt,
			UpdatedAt:         wo.CreatedAt,
			UserRequest:       "Fix authentication bug",
			SelectedCommands:  []workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning},
			Agent:             "claude",
		}
		if !reflect.DeepEqual(wo, want) {
			t.Fatalf("GET = %+v\nwant %+v", wo, want)
		}
		if time.Since(wo.CreatedAt) > time.Minute {
			t.Errorf("created_at = %s, want about now", wo.CreatedAt)
		}
	}
}

// The JSON names and nulls are the Python service's AgentWorkOrder.
func TestGet_SeedShape(t *testing.T) {
	h := newHarness(t)
	id := h.create(nil)
	var body map[string]any
	h.get("/api/agent-work-orders/"+string(id)).json(t, &body)
	for _, field := range []string{"agent_work_order_id", "repository_url", "sandbox_identifier", "git_branch_name",
		"agent_session_id", "sandbox_type", "github_issue_number", "status", "current_phase", "created_at", "updated_at",
		"github_pull_request_url", "git_commit_count", "git_files_changed", "error_message"} {
		if _, ok := body[field]; !ok {
			t.Errorf("field %s missing from %v", field, body)
		}
	}
	for _, null := range []string{"git_branch_name", "agent_session_id", "github_issue_number", "current_phase", "github_pull_request_url", "error_message"} {
		if body[null] != nil {
			t.Errorf("%s = %v, want null for a new work order", null, body[null])
		}
	}
}

func TestCreate_Defaults(t *testing.T) {
	h := newHarness(t)
	id := h.create(map[string]any{"user_request": "Please look at issue #42 today"})
	var wo readmodel.WorkOrder
	h.get("/api/agent-work-orders/"+string(id)).json(t, &wo)
	if !reflect.DeepEqual(wo.SelectedCommands, workorder.DefaultSteps) {
		t.Errorf("selected_commands = %v, want the default %v", wo.SelectedCommands, workorder.DefaultSteps)
	}
	if wo.SandboxType != workorder.SandboxWorktree {
		t.Errorf("sandbox_type = %s, want git_worktree", wo.SandboxType)
	}
	if wo.GitHubIssueNumber == nil || *wo.GitHubIssueNumber != "42" {
		t.Errorf("github_issue_number = %v, want 42 from the mention in user_request", wo.GitHubIssueNumber)
	}
}

func TestCreate_AcceptedForms(t *testing.T) {
	tests := []struct {
		name      string
		fields    map[string]any
		wantIssue any // nil: no issue
		wantBox   workorder.SandboxType
	}{
		{"IssueAsString", map[string]any{"github_issue_number": "42"}, "42", workorder.SandboxWorktree},
		{"IssueWithHash", map[string]any{"github_issue_number": "#7"}, "7", workorder.SandboxWorktree},
		{"IssueAsNumber", map[string]any{"github_issue_number": 42}, "42", workorder.SandboxWorktree},
		{"IssueNull", map[string]any{"github_issue_number": nil}, nil, workorder.SandboxWorktree},
		{"IssueEmpty", map[string]any{"github_issue_number": ""}, nil, workorder.SandboxWorktree},
		{"ExplicitIssueBeatsMention", map[string]any{"github_issue_number": "5", "user_request": "fix #9"}, "5", workorder.SandboxWorktree},
		{"HashMention", map[string]any{"user_request": "Fix #12 in the parser"}, "12", workorder.SandboxWorktree},
		{"NoMention", map[string]any{"user_request": "Fix the parser"}, nil, workorder.SandboxWorktree},
		{"ShortWorktree", map[string]any{"sandbox_type": "worktree"}, nil, workorder.SandboxWorktree},
		{"Branch", map[string]any{"sandbox_type": "git_branch"}, nil, workorder.SandboxBranch},
		{"ShortBranch", map[string]any{"sandbox_type": "branch"}, nil, workorder.SandboxBranch},
		{"SSHURL", map[string]any{"repository_url": "git@github.com:acme/demo.git"}, nil, workorder.SandboxWorktree},
		{"NullCommandsTakeDefault", map[string]any{"selected_commands": nil}, nil, workorder.SandboxWorktree},
	}
	h := newHarness(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := h.create(tc.fields)
			var body map[string]any
			h.get("/api/agent-work-orders/"+string(id)).json(t, &body)
			if body["github_issue_number"] != tc.wantIssue {
				t.Errorf("github_issue_number = %v, want %v", body["github_issue_number"], tc.wantIssue)
			}
			if body["sandbox_type"] != string(tc.wantBox) {
				t.Errorf("sandbox_type = %v, want %s", body["sandbox_type"], tc.wantBox)
			}
		})
	}
}

func TestCreate_ClientChosenID(t *testing.T) {
	h := newHarness(t)
	body := `{"agent_work_order_id": "wo-0badcafe", "repository_url": "https://github.com/acme/demo", "user_request": "x"}`
	r := h.post("/api/agent-work-orders", body)
	if r.status != http.StatusCreated {
		t.Fatalf("first create: %d %s", r.status, r.body)
	}
	if g := h.get("/api/agent-work-orders/wo-0badcafe"); g.status != http.StatusOK {
		t.Fatalf("GET chosen id: %d %s", g.status, g.body)
	}
	r = h.post("/api/agent-work-orders", body)
	if r.status != http.StatusConflict {
		t.Fatalf("second create with the same id: %d %s, want 409", r.status, r.body)
	}
	if d := r.detail(t); !strings.Contains(d, "wo-0badcafe") || !strings.Contains(d, "agent_work_order_id") {
		t.Errorf("detail = %q, want the field and the id named", d)
	}
	if n := h.eventCount(); n != 1 {
		t.Errorf("stream holds %d events, want 1: a conflict must not append", n)
	}
}

// A generated id that is taken is replaced, not reported to the client.
func TestCreate_GeneratedIDCollisionIsRetried(t *testing.T) {
	ids := []workorder.ID{"wo-00000001", "wo-00000001", "wo-00000002"}
	n := 0
	h := newHarness(t, func(o *api.Options) {
		o.NewID = func() workorder.ID { n++; return ids[n-1] }
	})
	if got := h.create(nil); got != "wo-00000001" {
		t.Fatalf("first id = %s", got)
	}
	if got := h.create(nil); got != "wo-00000002" {
		t.Fatalf("second id = %s, want the next draw after the collision", got)
	}
}

func TestCreate_PublishesRequestedEvent(t *testing.T) {
	h := newHarness(t)
	id := h.create(map[string]any{"user_request": "Fix issue 3", "selected_commands": []string{"planning", "prp-review"}})
	h2, err := h.bus.History(context.Background(), id, 0)
	history := h2.Events
	if err != nil {
		t.Fatal(err)
	}
	if len(history) != 1 || history[0].Type != events.TypeRequested || history[0].ID != string(id)+".requested" {
		t.Fatalf("history = %+v, want one requested event with id %s.requested", history, id)
	}
	got := *history[0].Data.(*events.Requested)
	want := events.Requested{
		WorkOrderID: id, RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree,
		UserRequest: "Fix issue 3", SelectedCommands: []workorder.Step{workorder.StepPlanning, workorder.StepReview},
		GitHubIssueNumber: "3",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event data = %+v\nwant %+v", got, want)
	}
}

func TestCreate_BadInput(t *testing.T) {
	valid := `"repository_url": "https://github.com/acme/demo", "user_request": "Fix it"`
	tests := []struct {
		name        string
		body        string
		contentType string
		wantStatus  int
		wantDetail  []string // substrings the detail must contain
	}{
		{"MalformedJSON", `{"repository_url": `, "", 400, []string{"malformed JSON"}},
		{"SyntaxError", `{"repository_url" "x"}`, "", 400, []string{"malformed JSON"}},
		{"EmptyBody", ``, "", 400, []string{"empty"}},
		{"TwoValues", `{` + valid + `} {}`, "", 400, []string{"more than one"}},
		{"NotAnObject", `["https://github.com/acme/demo"]`, "", 422, []string{"JSON object"}},
		{"UnknownField", `{` + valid + `, "priority": "high"}`, "", 422, []string{`"priority"`, "user_request"}},
		{"MissingUserRequest", `{"repository_url": "https://github.com/acme/demo"}`, "", 422, []string{"user_request", "required"}},
		{"EmptyUserRequest", `{"repository_url": "https://github.com/acme/demo", "user_request": "  "}`, "", 422, []string{"user_request"}},
		{"MissingRepositoryURL", `{"user_request": "Fix it"}`, "", 422, []string{"repository_url", "required"}},
		{"BothMissing", `{}`, "", 422, []string{"repository_url", "user_request"}},
		{"NullBody", `null`, "", 422, []string{"repository_url"}},
		{"UserRequestNotString", `{"repository_url": "https://github.com/acme/demo", "user_request": 5}`, "", 422, []string{"user_request", "string"}},
		{"UnknownCommand", `{` + valid + `, "selected_commands": ["planning", "deploy"]}`, "", 422, []string{"selected_commands", "deploy"}},
		{"InternalCommand", `{` + valid + `, "selected_commands": ["fetch-issue"]}`, "", 422, []string{"selected_commands", "fetch-issue"}},
		{"EmptyCommands", `{` + valid + `, "selected_commands": []}`, "", 422, []string{"selected_commands", "at least one"}},
		{"DuplicateCommands", `{` + valid + `, "selected_commands": ["planning", "execute", "planning"]}`, "", 422, []string{"selected_commands", "twice"}},
		{"CommandsNotArray", `{` + valid + `, "selected_commands": "planning"}`, "", 422, []string{"selected_commands", "array"}},
		{"BadSandbox", `{` + valid + `, "sandbox_type": "docker"}`, "", 422, []string{"sandbox_type", "docker"}},
		{"HTTPURL", `{"repository_url": "http://github.com/acme/demo", "user_request": "x"}`, "", 422, []string{"repository_url", "https"}},
		{"ExtTransport", `{"repository_url": "ext::sh -c touch% /tmp/pwned", "user_request": "x"}`, "", 422, []string{"repository_url"}},
		{"OptionLikeURL", `{"repository_url": "--upload-pack=touch /tmp/x", "user_request": "x"}`, "", 422, []string{"repository_url"}},
		{"LocalPathNotAllowed", `{"repository_url": "/srv/git/demo", "user_request": "x"}`, "", 422, []string{"repository_url", "local"}},
		{"FileURLNotAllowed", `{"repository_url": "file:///srv/git/demo", "user_request": "x"}`, "", 422, []string{"repository_url", "local"}},
		{"NotAURL", `{"repository_url": "demo", "user_request": "x"}`, "", 422, []string{"repository_url"}},
		{"MalformedID", `{` + valid + `, "agent_work_order_id": "wo-XYZ"}`, "", 422, []string{"agent_work_order_id", "wo-1a2b3c4d"}},
		{"IDWithSubjectChars", `{` + valid + `, "agent_work_order_id": "wo-1.2.3.4"}`, "", 422, []string{"agent_work_order_id"}},
		{"IssueNotNumber", `{` + valid + `, "github_issue_number": "abc"}`, "", 422, []string{"github_issue_number", "abc"}},
		{"IssueOption", `{` + valid + `, "github_issue_number": "--repo=evil/x"}`, "", 422, []string{"github_issue_number"}},
		{"IssueNegative", `{` + valid + `, "github_issue_number": -4}`, "", 422, []string{"github_issue_number"}},
		{"IssueFraction", `{` + valid + `, "github_issue_number": 4.5}`, "", 422, []string{"github_issue_number"}},
		{"IssueObject", `{` + valid + `, "github_issue_number": {}}`, "", 422, []string{"github_issue_number"}},
		{"EveryProblemNamed", `{"repository_url": "http://x/y/z", "user_request": "", "sandbox_type": "vm"}`, "", 422,
			[]string{"repository_url", "user_request", "sandbox_type"}},
		{"TextPlain", `{` + valid + `}`, "text/plain", 415, []string{"text/plain", "application/json"}},
		{"FormEncoded", `repository_url=x`, "application/x-www-form-urlencoded", 415, []string{"application/json"}},
		{"TooLarge", `{` + valid + `, "x": "` + strings.Repeat("a", 1<<20) + `"}`, "", 413, []string{"larger than"}},
	}
	h := newHarness(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			r := h.do(http.MethodPost, "/api/agent-work-orders/", strings.NewReader(tc.body), "Content-Type", ct)
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d (%s), want %d", r.status, r.body, tc.wantStatus)
			}
			d := r.detail(t)
			for _, want := range tc.wantDetail {
				if !strings.Contains(d, want) {
					t.Errorf("detail %q does not mention %q", d, want)
				}
			}
		})
	}
	if n := h.eventCount(); n != 0 {
		t.Errorf("bad requests appended %d events, want none", n)
	}
}

// A body over the limit without a Content-Length (chunked) is cut off
// while reading.
func TestCreate_TooLargeChunked(t *testing.T) {
	h := newHarness(t)
	body := strings.NewReader(`{"user_request": "` + strings.Repeat("a", 2<<20) + `"}`)
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+"/api/agent-work-orders", struct{ *strings.Reader }{body})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", resp.StatusCode)
	}
}

func TestCreate_LocalRepositoryWhenAllowed(t *testing.T) {
	h := newHarness(t, func(o *api.Options) { o.AllowLocalRepos = true })
	id := h.create(map[string]any{"repository_url": "file:///srv/git/acme/demo"})
	var wo readmodel.WorkOrder
	h.get("/api/agent-work-orders/"+string(id)).json(t, &wo)
	if wo.RepositoryURL != "file:///srv/git/acme/demo" {
		t.Errorf("repository_url = %s", wo.RepositoryURL)
	}
}

// With NATS gone a create cannot be recorded: 503 and a reason, not a hang
// and not a 500.
func TestCreate_NATSUnavailable(t *testing.T) {
	t.Run("ConnectionClosed", func(t *testing.T) {
		h := newHarness(t)
		h.env.NC.Close()
		r := h.post("/api/agent-work-orders/", `{"repository_url": "https://github.com/acme/demo", "user_request": "x"}`)
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("status = %d (%s), want 503", r.status, r.body)
		}
		if d := r.detail(t); !strings.Contains(d, "NATS") {
			t.Errorf("detail = %q, want it to name NATS", d)
		}
	})
	t.Run("ServerDown", func(t *testing.T) {
		h := newHarness(t, func(o *api.Options) { o.PublishTimeout = 300 * time.Millisecond })
		h.env.Server.Shutdown()
		start := time.Now()
		r := h.post("/api/agent-work-orders/", `{"repository_url": "https://github.com/acme/demo", "user_request": "x"}`)
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("status = %d (%s), want 503", r.status, r.body)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("took %s to give up, want about the publish timeout", elapsed)
		}
		// The bus retried the publish until the timeout (bus.ErrUnavailable):
		// the client is told when to try again.
		if ra := r.header.Get("Retry-After"); ra == "" {
			t.Errorf("503 without Retry-After: %v", r.header)
		}
	})
}

func TestList(t *testing.T) {
	h := newHarness(t)
	a := h.create(map[string]any{"repository_url": "https://github.com/acme/a"})
	b := h.create(map[string]any{"repository_url": "https://github.com/acme/b"})
	c := h.create(map[string]any{"repository_url": "https://github.com/acme/a"})
	h.publish(a, events.TypeStarted, &events.Started{})
	h.publish(b, events.TypeStarted, &events.Started{})
	h.publish(b, events.TypeFailed, &events.Failed{Step: workorder.StepPlanning, ErrorMessage: "planning failed: boom"})

	ids := func(path string) []workorder.ID {
		t.Helper()
		r := h.get(path)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		var list []readmodel.WorkOrder
		r.json(t, &list)
		out := []workorder.ID{}
		for _, wo := range list {
			out = append(out, wo.AgentWorkOrderID)
		}
		return out
	}
	tests := []struct {
		path string
		want []workorder.ID
	}{
		{"/api/agent-work-orders/", []workorder.ID{c, b, a}},
		{"/api/agent-work-orders", []workorder.ID{c, b, a}},
		{"/api/agent-work-orders/?status=running", []workorder.ID{a}},
		{"/api/agent-work-orders?status=failed", []workorder.ID{b}},
		{"/api/agent-work-orders/?status=pending", []workorder.ID{c}},
		{"/api/agent-work-orders/?status=completed", []workorder.ID{}},
		{"/api/agent-work-orders/?repository_url=https://github.com/acme/a", []workorder.ID{c, a}},
		{"/api/agent-work-orders/?limit=2", []workorder.ID{c, b}},
		{"/api/agent-work-orders/?limit=2&offset=2", []workorder.ID{a}},
	}
	for _, tc := range tests {
		if got := ids(tc.path); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("GET %s = %v, want %v", tc.path, got, tc.want)
		}
	}

	// The total ignores paging but not the filters.
	for path, want := range map[string]string{
		"/api/agent-work-orders/":                                                  "3",
		"/api/agent-work-orders/?limit=1&offset=1":                                 "3",
		"/api/agent-work-orders/?offset=5":                                         "3",
		"/api/agent-work-orders/?status=running":                                   "1",
		"/api/agent-work-orders/?status=completed":                                 "0",
		"/api/agent-work-orders/?repository_url=https://github.com/acme/a&limit=1": "2",
	} {
		if got := h.get(path).header.Get("X-Total-Count"); got != want {
			t.Errorf("GET %s: X-Total-Count %q, want %q", path, got, want)
		}
	}

	// An empty result is a JSON array, not null.
	if r := h.get("/api/agent-work-orders/?status=cancelled"); strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("empty list body = %s, want []", r.body)
	}

	for _, bad := range []string{"?status=bogus", "?status=RUNNING", "?limit=0", "?limit=x", "?limit=1001", "?offset=-1", "?offset=1.5"} {
		r := h.get("/api/agent-work-orders/" + bad)
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("GET %s: %d, want 422", bad, r.status)
			continue
		}
		if d := r.detail(t); !strings.Contains(d, strings.Split(strings.TrimPrefix(bad, "?"), "=")[0]) {
			t.Errorf("GET %s: detail %q does not name the parameter", bad, d)
		}
	}
}

func TestGet_UnknownAndMalformed(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		path   string
		status int
		detail string
	}{
		{"/api/agent-work-orders/wo-00000000", 404, "Work order not found"},
		{"/api/agent-work-orders/wo-00000000/steps", 404, "Work order not found"},
		// Not ids at all: unknown work orders too, as for Archon's clients.
		{"/api/agent-work-orders/not-an-id", 404, "Work order not found"},
		{"/api/agent-work-orders/wo-ABCDEF12/steps", 404, "Work order not found"},
		{"/api/agent-work-orders/wo-1234", 404, "Work order not found"},
	}
	for _, tc := range tests {
		r := h.get(tc.path)
		if r.status != tc.status {
			t.Errorf("GET %s: %d %s, want %d", tc.path, r.status, r.body, tc.status)
			continue
		}
		if d := r.detail(t); !strings.Contains(d, tc.detail) {
			t.Errorf("GET %s: detail %q, want it to contain %q", tc.path, d, tc.detail)
		}
	}
}

func TestSteps(t *testing.T) {
	h := newHarness(t)
	id := h.create(map[string]any{"user_request": "Fix issue #42"})

	var empty map[string]any
	h.get("/api/agent-work-orders/"+string(id)+"/steps").json(t, &empty)
	if steps, ok := empty["steps"].([]any); !ok || len(steps) != 0 || empty["agent_work_order_id"] != string(id) {
		t.Fatalf("steps of a new work order = %v, want {agent_work_order_id, steps: []}", empty)
	}

	h.publish(id, events.TypeStarted, &events.Started{})
	h.publish(id, events.TypeStepCompleted, &events.StepResult{Step: workorder.StepFetchIssue, Attempt: 1, Success: true})
	h.publish(id, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepCreateBranch, Attempt: 1})
	h.publish(id, events.TypeStepCompleted, &events.StepResult{
		Step: workorder.StepCreateBranch, Attempt: 1, AgentName: "BranchCreator", Success: true, Output: "fix/auth",
		DurationSeconds: 3.5, SessionID: "sess-1", CostUSD: 0.5, NumTurns: 2, BranchName: "fix/auth",
		Usage: &events.Usage{InputTokens: 10, OutputTokens: 20},
	})
	h.publish(id, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepPlanning, Attempt: 1})
	h.publish(id, events.TypeStepFailed, &events.StepResult{
		Step: workorder.StepPlanning, Attempt: 1, AgentName: "Planner", ErrorMessage: "claude: api_error 400", DurationSeconds: 1,
	})

	r := h.get("/api/agent-work-orders/" + string(id) + "/steps/")
	if r.status != http.StatusOK {
		t.Fatalf("GET steps: %d %s", r.status, r.body)
	}
	var history struct {
		ID    workorder.ID     `json:"agent_work_order_id"`
		Steps []map[string]any `json:"steps"`
	}
	r.json(t, &history)
	if history.ID != id || len(history.Steps) != 2 {
		t.Fatalf("history = %s, want two visible steps (fetch-issue hidden)", r.body)
	}
	first, second := history.Steps[0], history.Steps[1]
	for _, field := range []string{"step", "agent_name", "success", "output", "error_message", "duration_seconds", "session_id", "timestamp", "attempt", "cost_usd"} {
		if _, ok := first[field]; !ok {
			t.Errorf("step record lacks %s: %v", field, first)
		}
	}
	if first["step"] != "create-branch" || first["success"] != true || first["output"] != "fix/auth" ||
		first["session_id"] != "sess-1" || first["duration_seconds"] != 3.5 || first["error_message"] != nil {
		t.Errorf("first step = %v", first)
	}
	if second["step"] != "planning" || second["success"] != false || second["error_message"] != "claude: api_error 400" || second["output"] != nil {
		t.Errorf("second step = %v", second)
	}

	var wo readmodel.WorkOrder
	h.get("/api/agent-work-orders/"+string(id)).json(t, &wo)
	if wo.Status != workorder.StatusRunning || wo.CurrentPhase == nil || *wo.CurrentPhase != "planning" ||
		wo.GitBranchName == nil || *wo.GitBranchName != "fix/auth" || wo.CostUSD != 0.5 {
		t.Errorf("work order after steps = %+v", wo)
	}
}

func TestTrailingSlash(t *testing.T) {
	h := newHarness(t)
	id := string(h.create(nil))
	for _, path := range []string{"/health", "/docs", "/openapi.json", "/api/agent-work-orders",
		"/api/agent-work-orders/" + id, "/api/agent-work-orders/" + id + "/steps"} {
		for _, p := range []string{path, path + "/"} {
			if r := h.get(p); r.status != http.StatusOK {
				t.Errorf("GET %s: %d %s", p, r.status, r.body)
			}
		}
	}
	for _, p := range []string{"/api/agent-work-orders", "/api/agent-work-orders/"} {
		r := h.do(http.MethodPost, p, jsonBody(map[string]string{"repository_url": "https://github.com/acme/demo", "user_request": "x"}), "Content-Type", "application/json")
		if r.status != http.StatusCreated {
			t.Errorf("POST %s: %d %s", p, r.status, r.body)
		}
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	h := newHarness(t)
	r := h.get("/api/nothing-here")
	if r.status != http.StatusNotFound || r.detail(t) != "Not Found" {
		t.Errorf("unknown path: %d %s", r.status, r.body)
	}
	r = h.do(http.MethodDelete, "/api/agent-work-orders/", nil)
	if r.status != http.StatusMethodNotAllowed || r.detail(t) != "Method Not Allowed" {
		t.Errorf("DELETE: %d %s", r.status, r.body)
	}
	if r := h.do(http.MethodHead, "/health", nil); r.status != http.StatusOK {
		t.Errorf("HEAD /health: %d", r.status)
	}
}

// A projection that does not catch up makes reads fail visibly and fast.
func TestRead_ProjectionBehind(t *testing.T) {
	h := newHarness(t, func(o *api.Options) {
		o.Projection = stuckProjection{}
		o.ReadWait = 100 * time.Millisecond
	})
	r := h.get("/api/agent-work-orders/")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.detail(t), "catching up") {
		t.Errorf("GET with a stuck projection: %d %s, want 503", r.status, r.body)
	}
}

type stuckProjection struct{}

func (stuckProjection) WaitFor(ctx context.Context, _ uint64) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestRead_StoreFailures(t *testing.T) {
	h := newHarness(t, func(o *api.Options) { o.Store = &failingStore{Store: readmodel.NewMemory()} })
	r := h.get("/api/agent-work-orders/")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.detail(t), "read store") {
		t.Errorf("List with the store down: %d %s, want 503", r.status, r.body)
	}
	// A panic is a 500 with a JSON body, and the server keeps serving.
	r = h.get("/api/agent-work-orders/wo-00000001")
	if r.status != http.StatusInternalServerError || r.detail(t) != "internal server error" {
		t.Errorf("Get that panics: %d %s, want 500 JSON", r.status, r.body)
	}
	if r := h.get("/health"); r.status != http.StatusOK {
		t.Errorf("after a panic: GET /health %d", r.status)
	}
	r = h.get("/api/agent-work-orders/wo-00000002/steps")
	if r.status != http.StatusInternalServerError || r.detail(t) != "internal server error" {
		t.Errorf("Steps failing unexpectedly: %d %s, want 500 without internals", r.status, r.body)
	}
}

// failingStore is down for List, panics in Get, and fails Steps with an
// error the API does not know.
type failingStore struct{ readmodel.Store }

func (failingStore) List(context.Context, readmodel.Filter) ([]readmodel.WorkOrder, error) {
	return nil, fmt.Errorf("querying: %w", readmodel.ErrUnavailable)
}

func (failingStore) Get(context.Context, workorder.ID) (readmodel.WorkOrder, error) {
	panic("store bug")
}

func (failingStore) Steps(context.Context, workorder.ID) ([]readmodel.StepRecord, error) {
	return nil, errors.New("secret connection string in this message")
}

// Without a limit the list is whole, as the Python service's (up to AWO_LIST_MAX);
// the store gets the filter as parsed, read in pages of at most 500 (one
// page here: the store is empty).
func TestList_DefaultLimit(t *testing.T) {
	rec := &filterRecorder{Store: readmodel.NewMemory()}
	h := newHarness(t, func(o *api.Options) { o.Store = rec })
	for path, want := range map[string]readmodel.Filter{
		"/api/agent-work-orders/":                     {Limit: 500},
		"/api/agent-work-orders/?limit=1000&offset=7": {Limit: 500, Offset: 7},
		"/api/agent-work-orders/?limit=20&offset=7":   {Limit: 20, Offset: 7},
		"/api/agent-work-orders/?status=failed&repository_url=https://github.com/acme/a": {
			Status: workorder.StatusFailed, RepositoryURL: "https://github.com/acme/a", Limit: 500},
	} {
		if r := h.get(path); r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		if got := rec.last(); got != want {
			t.Errorf("GET %s: store asked for %+v, want %+v", path, got, want)
		}
	}
}

type filterRecorder struct {
	readmodel.Store
	mu sync.Mutex
	f  readmodel.Filter
}

func (s *filterRecorder) List(ctx context.Context, f readmodel.Filter) ([]readmodel.WorkOrder, error) {
	s.mu.Lock()
	s.f = f
	s.mu.Unlock()
	return s.Store.List(ctx, f)
}

func (s *filterRecorder) last() readmodel.Filter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f
}

// With the database down every read answers 503 with a JSON detail and a
// Retry-After, while creating work orders goes on: it only needs JetStream.
func TestRead_StoreUnavailable(t *testing.T) {
	down := &downStore{Store: readmodel.NewMemory()}
	h := newHarness(t, func(o *api.Options) { o.Store = down })
	id := h.create(nil)

	down.set(true)
	for _, path := range []string{"/api/agent-work-orders/", "/api/agent-work-orders/" + string(id),
		"/api/agent-work-orders/" + string(id) + "/steps"} {
		r := h.get(path)
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.detail(t), "read store is unavailable") {
			t.Errorf("GET %s with the store down: %d %s, want 503 naming the read store", path, r.status, r.body)
		}
		if r.header.Get("Retry-After") == "" {
			t.Errorf("GET %s: 503 without Retry-After", path)
		}
	}
	r := h.post("/api/agent-work-orders/", `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix it"}`)
	if r.status != http.StatusCreated {
		t.Errorf("POST with the store down: %d %s, want 201", r.status, r.body)
	}
}

// Read-your-writes does not turn a database outage into a wait of the
// whole ReadWait: a read after a POST whose event the projector cannot
// store answers 503 at once, and the work order appears once the
// database is back.
func TestRead_AfterPostDuringOutage(t *testing.T) {
	down := &downStore{Store: readmodel.NewMemory()}
	h := newHarness(t, func(o *api.Options) {
		o.Store = down
		o.ReadWait = 10 * time.Second
	})
	down.set(true)
	id := h.create(nil)
	began := time.Now()
	r := h.get("/api/agent-work-orders/" + string(id))
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.detail(t), "read store is unavailable") {
		t.Fatalf("GET after POST with the store down: %d %s, want 503", r.status, r.body)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("503 took %s, want it well before ReadWait", took)
	}

	down.set(false)
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := h.get("/api/agent-work-orders/" + string(id))
		if r.status == http.StatusOK {
			break
		}
		if r.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("GET after the store came back: %d %s", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// downStore fails every call with ErrUnavailable while down, as a
// Postgres store does when the database cannot be reached.
type downStore struct {
	readmodel.Store
	mu   sync.Mutex
	down bool
}

func (s *downStore) set(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *downStore) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return fmt.Errorf("dial tcp 127.0.0.1:5432: connection refused: %w", readmodel.ErrUnavailable)
	}
	return nil
}

func (s *downStore) Apply(ctx context.Context, e events.Event) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Apply(ctx, e)
}

func (s *downStore) Get(ctx context.Context, id workorder.ID) (readmodel.WorkOrder, error) {
	if err := s.err(); err != nil {
		return readmodel.WorkOrder{}, err
	}
	return s.Store.Get(ctx, id)
}

func (s *downStore) List(ctx context.Context, f readmodel.Filter) ([]readmodel.WorkOrder, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.List(ctx, f)
}

func (s *downStore) Count(ctx context.Context, f readmodel.Filter) (int, error) {
	if err := s.err(); err != nil {
		return 0, err
	}
	return s.Store.Count(ctx, f)
}

func (s *downStore) Steps(ctx context.Context, id workorder.ID) ([]readmodel.StepRecord, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.Steps(ctx, id)
}
