package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/readmodel/pgstore"
	"github.com/agentworkorders/awo/pkg/repocheck"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/pgtest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
	"github.com/agentworkorders/awo/services/gateway/projector"
	"github.com/agentworkorders/awo/services/gateway/repositories"
)

// fakeVerifier answers as the github service would: accessible for
// acme/*, not found for acme/private, down for acme/down.
type fakeVerifier struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeVerifier) Verify(_ context.Context, url string) (repocheck.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, url)
	f.mu.Unlock()
	switch {
	case strings.Contains(url, "acme/private"):
		return repocheck.Result{ErrorMessage: "GraphQL: Could not resolve to a Repository with the name 'acme/private'."}, nil
	case strings.Contains(url, "acme/down"):
		return repocheck.Result{}, fmt.Errorf("asking the github service: %w: gh: HTTP 503", repocheck.ErrUnavailable)
	}
	name := strings.TrimSuffix(strings.TrimPrefix(url, "https://github.com/"), ".git")
	return repocheck.Result{Accessible: true, Name: name, Owner: "acme", DefaultBranch: "trunk"}, nil
}

func (f *fakeVerifier) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// repoStores are the read stores every repository route is checked on.
func repoStores(t *testing.T) map[string]func(t *testing.T) readmodel.Store {
	var (
		once sync.Once
		db   *pgtest.DB
	)
	return map[string]func(t *testing.T) readmodel.Store{
		"memory": func(*testing.T) readmodel.Store { return readmodel.NewMemory() },
		"postgres": func(sub *testing.T) readmodel.Store {
			once.Do(func() { db = pgtest.New(t) })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := pgstore.Open(ctx, db.Fresh(sub).URL, quiet)
			if err != nil {
				sub.Fatal(err)
			}
			sub.Cleanup(st.Close)
			return st
		},
	}
}

// withRepositories gives the API the repository bucket on env, mirrored
// into store, and v as its verifier (nil: none).
func withRepositories(t *testing.T, env *natstest.Env, store readmodel.Store, v api.RepositoryVerifier) func(*api.Options) {
	t.Helper()
	bucket, err := repositories.Open(context.Background(), env.JS, bus.Replication{})
	if err != nil {
		t.Fatal(err)
	}
	mirror := projector.NewRepositories(bucket, store.(readmodel.RepositoryStore), quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mirror.Run(ctx); err != nil {
			t.Errorf("mirror: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func(o *api.Options) {
		o.Store, o.Repositories, o.RepositoryProjection = store, bucket, mirror
		if v != nil {
			o.Verifier = v
		}
	}
}

func newRepoHarness(t *testing.T, store readmodel.Store, v api.RepositoryVerifier) *harness {
	t.Helper()
	env := natstest.Start(t)
	return newHarnessOn(t, env, withRepositories(t, env, store, v))
}

// forEachStore runs test on a fresh harness per store.
func forEachStore(t *testing.T, test func(t *testing.T, h *harness, v *fakeVerifier)) {
	for name, newStore := range repoStores(t) {
		t.Run(name, func(t *testing.T) {
			v := &fakeVerifier{}
			test(t, newRepoHarness(t, newStore(t), v), v)
		})
	}
}

func (h *harness) send(method, path, body string) response {
	h.t.Helper()
	return h.do(method, path, strings.NewReader(body), "Content-Type", "application/json")
}

const reposPath = "/api/agent-work-orders/repositories"

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// The fields of Archon's ConfiguredRepository, exactly.
var configuredRepositoryFields = []string{"created_at", "default_agent", "default_branch", "default_commands", "default_sandbox_type",
	"display_name", "id", "is_verified", "last_verified_at", "owner", "repository_url", "updated_at"}

func decodeRepo(t *testing.T, r response) readmodel.ConfiguredRepository {
	t.Helper()
	var fields map[string]json.RawMessage
	r.json(t, &fields)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, configuredRepositoryFields) {
		t.Errorf("fields %v, want %v", keys, configuredRepositoryFields)
	}
	var rec readmodel.ConfiguredRepository
	r.json(t, &rec)
	return rec
}

func listRepos(t *testing.T, h *harness) []readmodel.ConfiguredRepository {
	t.Helper()
	r := h.get(reposPath)
	if r.status != http.StatusOK {
		t.Fatalf("GET repositories: %d %s", r.status, r.body)
	}
	var out []readmodel.ConfiguredRepository
	r.json(t, &out)
	return out
}

func TestRepositories_Lifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, h *harness, v *fakeVerifier) {
		if got := h.get(reposPath); got.status != http.StatusOK || strings.TrimSpace(string(got.body)) != "[]" {
			t.Fatalf("empty list: %d %s", got.status, got.body)
		}
		r := h.post(reposPath, `{"repository_url": "https://github.com/acme/app", "verify": true}`)
		if r.status != http.StatusCreated {
			t.Fatalf("POST: %d %s", r.status, r.body)
		}
		rec := decodeRepo(t, r)
		if !uuidPattern.MatchString(rec.ID) || rec.RepositoryURL != "https://github.com/acme/app" ||
			deref(rec.DisplayName) != "acme/app" || deref(rec.Owner) != "acme" || deref(rec.DefaultBranch) != "trunk" ||
			!rec.IsVerified || rec.LastVerifiedAt == nil || rec.DefaultSandboxType != workorder.SandboxWorktree ||
			!slices.Equal(rec.DefaultCommands, workorder.DefaultSteps) || rec.CreatedAt.IsZero() {
			t.Errorf("created %+v", rec)
		}
		if list := listRepos(t, h); len(list) != 1 || list[0].ID != rec.ID || !list[0].IsVerified {
			t.Fatalf("list after POST: %+v", list)
		}

		r = h.send(http.MethodPatch, reposPath+"/"+rec.ID, `{"default_sandbox_type": "git_branch", "default_commands": ["create-branch", "execute", "commit"]}`)
		if r.status != http.StatusOK {
			t.Fatalf("PATCH: %d %s", r.status, r.body)
		}
		patched := decodeRepo(t, r)
		wantCmds := []workorder.Step{workorder.StepCreateBranch, workorder.StepExecute, workorder.StepCommit}
		if patched.DefaultSandboxType != workorder.SandboxBranch || !slices.Equal(patched.DefaultCommands, wantCmds) || !patched.IsVerified {
			t.Errorf("patched %+v", patched)
		}
		if list := listRepos(t, h); len(list) != 1 || list[0].DefaultSandboxType != workorder.SandboxBranch || !slices.Equal(list[0].DefaultCommands, wantCmds) {
			t.Errorf("list after PATCH: %+v", list)
		}

		r = h.post(reposPath+"/"+rec.ID+"/verify", "")
		var verified map[string]any
		r.json(t, &verified)
		if r.status != http.StatusOK || verified["is_accessible"] != true || verified["repository_id"] != rec.ID || len(verified) != 2 {
			t.Errorf("verify: %d %s", r.status, r.body)
		}
		if list := listRepos(t, h); len(list) != 1 || !list[0].LastVerifiedAt.After(*rec.LastVerifiedAt) {
			t.Errorf("verify did not update the row: %+v", list)
		}

		if r := h.do(http.MethodDelete, reposPath+"/"+rec.ID, nil); r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("DELETE: %d %s", r.status, r.body)
		}
		if list := listRepos(t, h); len(list) != 0 {
			t.Errorf("list after DELETE: %+v", list)
		}
		if v.count() != 2 {
			t.Errorf("verifier asked %d times, want 2", v.count())
		}
	})
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Every refusal of the repository routes, with its status and what its
// detail names.
func TestRepositories_Refusals(t *testing.T) {
	forEachStore(t, func(t *testing.T, h *harness, v *fakeVerifier) {
		r := h.post(reposPath, `{"repository_url": "https://github.com/acme/app", "verify": false}`)
		if r.status != http.StatusCreated {
			t.Fatalf("POST: %d %s", r.status, r.body)
		}
		existing := decodeRepo(t, r)
		if existing.IsVerified || existing.LastVerifiedAt != nil || existing.DefaultBranch != nil || deref(existing.DisplayName) != "acme/app" || v.count() != 0 {
			t.Errorf("unverified create: %+v, %d verifications", existing, v.count())
		}
		unknown := "/00000000-0000-5000-8000-000000000000"
		tests := []struct {
			name, method, path, body string
			status                   int
			detail                   string
		}{
			{"invalid URL", "POST", reposPath, `{"repository_url": "ext::sh -c touch% /tmp/x"}`, 422, "repository_url"},
			{"local URL", "POST", reposPath, `{"repository_url": "https://127.0.0.1/acme/app"}`, 422, "repository_url"},
			{"missing URL", "POST", reposPath, `{"verify": false}`, 422, "repository_url: field required"},
			{"URL of the wrong type", "POST", reposPath, `{"repository_url": 42}`, 422, "repository_url"},
			{"unknown field", "POST", reposPath, `{"repository_url": "https://github.com/acme/b", "colour": "red"}`, 422, "unknown field \"colour\""},
			{"malformed JSON", "POST", reposPath, `{"repository_url": `, 400, "malformed JSON"},
			{"same URL twice", "POST", reposPath, `{"repository_url": "https://github.com/acme/app", "verify": false}`, 409, "already configured"},
			{"same repository spelt otherwise", "POST", reposPath, `{"repository_url": "git@github.com:ACME/app.git", "verify": false}`, 409, existing.ID},
			{"not accessible", "POST", reposPath, `{"repository_url": "https://github.com/acme/private"}`, 400, "Could not resolve"},
			{"GitHub down", "POST", reposPath, `{"repository_url": "https://github.com/acme/down"}`, 502, "could not verify"},
			{"PATCH unknown id", "PATCH", reposPath + unknown, `{"default_sandbox_type": "git_branch"}`, 404, "Repository not found"},
			{"PATCH not an id", "PATCH", reposPath + "/does-not-exist", `{"default_sandbox_type": "git_branch"}`, 404, "Repository not found"},
			{"PATCH bad sandbox", "PATCH", reposPath + "/" + existing.ID, `{"default_sandbox_type": "docker"}`, 422, "default_sandbox_type"},
			{"PATCH bad command", "PATCH", reposPath + "/" + existing.ID, `{"default_commands": ["create-branch", "rm -rf"]}`, 422, "default_commands"},
			{"PATCH no commands", "PATCH", reposPath + "/" + existing.ID, `{"default_commands": []}`, 422, "default_commands: must name at least one command"},
			{"PATCH unknown field", "PATCH", reposPath + "/" + existing.ID, `{"default_branch": "main"}`, 422, "unknown field \"default_branch\""},
			{"DELETE unknown id", "DELETE", reposPath + unknown, "", 404, "Repository not found"},
			{"verify unknown id", "POST", reposPath + unknown + "/verify", "", 404, "Repository not found"},
			{"github verify invalid URL", "POST", "/api/agent-work-orders/github/verify-repository", `{"repository_url": "-oProxyCommand=x"}`, 422, "repository_url"},
			{"github verify down", "POST", "/api/agent-work-orders/github/verify-repository", `{"repository_url": "https://github.com/acme/down"}`, 502, "could not verify"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var r response
				if tc.body == "" {
					r = h.do(tc.method, tc.path, nil)
				} else {
					r = h.send(tc.method, tc.path, tc.body)
				}
				if r.status != tc.status {
					t.Fatalf("status %d (%s), want %d", r.status, r.body, tc.status)
				}
				if d := r.detail(t); !strings.Contains(d, tc.detail) {
					t.Errorf("detail %q does not name %q", d, tc.detail)
				}
			})
		}
		if list := listRepos(t, h); len(list) != 1 || list[0].ID != existing.ID || list[0].DefaultSandboxType != workorder.SandboxWorktree {
			t.Errorf("refusals changed the list: %+v", list)
		}
	})
}

func TestRepositories_GitHubVerify(t *testing.T) {
	h := newRepoHarness(t, readmodel.NewMemory(), &fakeVerifier{})
	for url, want := range map[string]string{
		"https://github.com/acme/app":     `{"is_accessible":true,"repository_name":"acme/app","repository_owner":"acme","default_branch":"trunk"}`,
		"https://github.com/acme/private": `{"is_accessible":false,"error_message":"GraphQL: Could not resolve to a Repository with the name 'acme/private'."}`,
	} {
		r := h.post("/api/agent-work-orders/github/verify-repository", fmt.Sprintf(`{"repository_url": %q}`, url))
		if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != want {
			t.Errorf("%s: %d %s, want %s", url, r.status, r.body, want)
		}
	}
}

// Without a verifier (the github service not wired), verification is
// refused as unavailable, and an unverified create still works.
func TestRepositories_NoVerifier(t *testing.T) {
	h := newRepoHarness(t, readmodel.NewMemory(), nil)
	for _, tc := range []struct{ path, body string }{
		{reposPath, `{"repository_url": "https://github.com/acme/app"}`},
		{"/api/agent-work-orders/github/verify-repository", `{"repository_url": "https://github.com/acme/app"}`},
	} {
		r := h.post(tc.path, tc.body)
		if r.status != http.StatusServiceUnavailable || r.detail(t) != "repository verification is not available" {
			t.Errorf("%s: %d %s", tc.path, r.status, r.body)
		}
	}
	if r := h.post(reposPath, `{"repository_url": "https://github.com/acme/app", "verify": false}`); r.status != http.StatusCreated {
		t.Errorf("unverified create: %d %s", r.status, r.body)
	}
}

// A gateway without the bucket answers 503 rather than pretending.
func TestRepositories_NotConfigured(t *testing.T) {
	h := newHarness(t)
	for _, r := range []response{h.get(reposPath), h.post(reposPath, `{"repository_url": "https://github.com/acme/app"}`)} {
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("%d %s, want 503", r.status, r.body)
		}
	}
	// Creates that name no configured repository still work.
	h.create(nil)
}

// configure registers url with the given defaults and returns its id.
func configure(t *testing.T, h *harness, url, patch string) string {
	t.Helper()
	r := h.post(reposPath, fmt.Sprintf(`{"repository_url": %q, "verify": false}`, url))
	if r.status != http.StatusCreated {
		t.Fatalf("POST repository: %d %s", r.status, r.body)
	}
	rec := decodeRepo(t, r)
	if r := h.send(http.MethodPatch, reposPath+"/"+rec.ID, patch); r.status != http.StatusOK {
		t.Fatalf("PATCH repository: %d %s", r.status, r.body)
	}
	return rec.ID
}

func (h *harness) workOrder(id workorder.ID) readmodel.WorkOrder {
	h.t.Helper()
	r := h.get("/api/agent-work-orders/" + string(id))
	if r.status != http.StatusOK {
		h.t.Fatalf("GET %s: %d %s", id, r.status, r.body)
	}
	var wo readmodel.WorkOrder
	r.json(h.t, &wo)
	return wo
}

// A create for a configured repository takes its defaults when it leaves
// them out, whether it names the repository by repository_id (as Archon's
// UI does) or by its URL; what the request sets wins.
func TestCreate_TakesConfiguredRepositoryDefaults(t *testing.T) {
	forEachStore(t, func(t *testing.T, h *harness, _ *fakeVerifier) {
		id := configure(t, h, "https://github.com/acme/app", `{"default_sandbox_type": "git_branch", "default_commands": ["create-branch", "execute"]}`)
		configured := []workorder.Step{workorder.StepCreateBranch, workorder.StepExecute}
		tests := []struct {
			name        string
			fields      map[string]any
			wantSandbox workorder.SandboxType
			wantSteps   []workorder.Step
		}{
			{"by repository_id", map[string]any{"repository_id": id}, workorder.SandboxBranch, configured},
			{"by repository_id without a URL", map[string]any{"repository_id": id, "repository_url": nil}, workorder.SandboxBranch, configured},
			{"by URL", map[string]any{"repository_url": "https://github.com/acme/app.git"}, workorder.SandboxBranch, configured},
			{"request wins", map[string]any{"repository_id": id, "sandbox_type": "worktree", "selected_commands": []string{"planning"}},
				workorder.SandboxWorktree, []workorder.Step{workorder.StepPlanning}},
			{"another repository", map[string]any{"repository_url": "https://github.com/acme/other"}, workorder.SandboxWorktree, workorder.DefaultSteps},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				fields := map[string]any{"repository_url": "https://github.com/acme/app", "user_request": "Fix it"}
				for k, v := range tc.fields {
					fields[k] = v
				}
				if fields["repository_url"] == nil {
					delete(fields, "repository_url")
				}
				r := h.do(http.MethodPost, "/api/agent-work-orders/", jsonBody(fields), "Content-Type", "application/json")
				var created struct {
					ID workorder.ID `json:"agent_work_order_id"`
				}
				r.json(t, &created)
				if r.status != http.StatusCreated {
					t.Fatalf("create: %d %s", r.status, r.body)
				}
				wo := h.workOrder(created.ID)
				if wo.SandboxType != tc.wantSandbox || !slices.Equal(wo.SelectedCommands, tc.wantSteps) {
					t.Errorf("sandbox %s, steps %v; want %s, %v", wo.SandboxType, wo.SelectedCommands, tc.wantSandbox, tc.wantSteps)
				}
			})
		}
	})
}

func TestCreate_RefusesUnknownOrMismatchedRepositoryID(t *testing.T) {
	h := newRepoHarness(t, readmodel.NewMemory(), nil)
	id := configure(t, h, "https://github.com/acme/app", `{"default_sandbox_type": "git_branch"}`)
	for _, tc := range []struct{ body, detail string }{
		{`{"repository_id": "6f1f7d3a-0b5c-5e4e-9d61-1c2b3a4d5e6f", "repository_url": "https://github.com/acme/app", "user_request": "x"}`,
			"repository_id: no configured repository has id"},
		{`{"repository_id": "does-not-exist", "repository_url": "https://github.com/acme/app", "user_request": "x"}`, "repository_id"},
		{`{"repository_id": "` + id + `", "repository_url": "https://github.com/acme/other", "user_request": "x"}`, "not the repository_url"},
		{`{"repository_id": 7, "repository_url": "https://github.com/acme/app", "user_request": "x"}`, "repository_id: must be a string"},
	} {
		r := h.post("/api/agent-work-orders/", tc.body)
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s, want 422", tc.body, r.status, r.body)
			continue
		}
		if d := r.detail(t); !strings.Contains(d, tc.detail) {
			t.Errorf("%s: detail %q does not name %q", tc.body, d, tc.detail)
		}
	}
	if n := h.eventCount(); n != 0 {
		t.Errorf("refused creates recorded %d events", n)
	}
}

// Archon's UI may send the issue number as a number; answers keep it a
// string.
func TestCreate_IssueNumberAsNumber_AnswersAString(t *testing.T) {
	h := newHarness(t)
	r := h.get("/api/agent-work-orders/" + string(h.create(map[string]any{"github_issue_number": 42})))
	var raw map[string]any
	r.json(t, &raw)
	if raw["github_issue_number"] != "42" {
		t.Errorf("github_issue_number = %#v, want \"42\"", raw["github_issue_number"])
	}
}

// Two gateway replicas on one NATS: what one configures the other lists,
// and the same repository configured on both at once is created once.
func TestRepositories_TwoReplicasShareOneList(t *testing.T) {
	env := natstest.Start(t)
	storeA, storeB := readmodel.NewMemory(), readmodel.NewMemory()
	a := newHarnessOn(t, env, withRepositories(t, env, storeA, nil))
	b := newHarnessOn(t, env, withRepositories(t, env, storeB, nil))

	r := a.post(reposPath, `{"repository_url": "https://github.com/acme/app", "verify": false}`)
	if r.status != http.StatusCreated {
		t.Fatalf("POST on A: %d %s", r.status, r.body)
	}
	id := decodeRepo(t, r).ID
	eventually(t, func() bool { l := listRepos(t, b); return len(l) == 1 && l[0].ID == id })
	if r := b.send(http.MethodPatch, reposPath+"/"+id, `{"default_sandbox_type": "branch"}`); r.status != http.StatusOK {
		t.Fatalf("PATCH on B: %d %s", r.status, r.body)
	}
	eventually(t, func() bool {
		l := listRepos(t, a)
		return len(l) == 1 && l[0].DefaultSandboxType == workorder.SandboxBranch
	})

	const rounds = 5
	for i := range rounds {
		body := fmt.Sprintf(`{"repository_url": "https://github.com/acme/race%d", "verify": false}`, i)
		statuses := make([]int, 2)
		var wg sync.WaitGroup
		for j, h := range []*harness{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); statuses[j] = h.post(reposPath, body).status }()
		}
		wg.Wait()
		slices.Sort(statuses)
		if !slices.Equal(statuses, []int{http.StatusCreated, http.StatusConflict}) {
			t.Errorf("round %d: statuses %v, want one 201 and one 409", i, statuses)
		}
	}
	if r := a.do(http.MethodDelete, reposPath+"/"+id, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE on A: %d", r.status)
	}
	eventually(t, func() bool { return len(listRepos(t, b)) == rounds })
}

func eventually(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
