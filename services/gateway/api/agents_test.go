package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
)

func withCodex(prices config.Prices, def string) func(*api.Options) {
	return func(o *api.Options) {
		o.Agents = config.Agents{CodexCLIPath: "codex", CodexModel: "gpt-test", Prices: prices, Default: def}
	}
}

// agent on create: recorded and shown; left out, AWO_DEFAULT_AGENT.
func TestCreate_Agent(t *testing.T) {
	for _, tc := range []struct {
		name, def string
		fields    map[string]any
		recorded  string // in the event: "" is claude
		shown     string
	}{
		{"left out", "", nil, "", "claude"},
		{"codex", "", map[string]any{"agent": "codex"}, "codex", "codex"},
		{"claude asked for", "codex", map[string]any{"agent": "claude"}, "", "claude"},
		{"left out with AWO_DEFAULT_AGENT=codex", "codex", nil, "codex", "codex"},
	} {
		h := newHarness(t, withCodex(nil, tc.def))
		id := h.create(tc.fields)
		e, _ := h.last(id, events.TypeRequested)
		if req := e.Data.(*events.Requested); req.Agent != tc.recorded {
			t.Errorf("%s: recorded agent %q, want %q", tc.name, req.Agent, tc.recorded)
		}
		var wo readmodel.WorkOrder
		h.get("/api/agent-work-orders/"+string(id)).json(t, &wo)
		if wo.Agent != tc.shown {
			t.Errorf("%s: work order shows agent %q, want %q", tc.name, wo.Agent, tc.shown)
		}
	}
}

// An unknown agent, codex where it is not configured, and max_cost_usd
// for codex without a price are 422s that say what to do.
func TestCreate_AgentRefusals(t *testing.T) {
	post := func(h *harness, extra string) response {
		return h.post("/api/agent-work-orders/", `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix", `+extra+`}`)
	}
	plain := newHarness(t)
	for _, tc := range []struct {
		h           *harness
		body, words string
	}{
		{plain, `"agent": "gemini"`, "agent: must be one of claude, codex"},
		{plain, `"agent": "codex"`, "CODEX_CLI_PATH"},
		{newHarness(t, withCodex(nil, "")), `"agent": "codex", "max_cost_usd": 1`, "AWO_PRICES"},
	} {
		r := post(tc.h, tc.body)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.detail(t), tc.words) {
			t.Errorf("%s: %d %s, want 422 saying %q", tc.body, r.status, r.body, tc.words)
		}
	}
	priced := newHarness(t, withCodex(config.Prices{"gpt-test": {Input: 1, Output: 2}}, ""))
	if r := post(priced, `"agent": "codex", "max_cost_usd": 1`); r.status != http.StatusCreated {
		t.Errorf("codex with a price and a cap: %d %s, want 201", r.status, r.body)
	}
}

// A configured repository's default_agent applies to the creates for it
// that name no agent, is listed (memory and Postgres), and is refused for
// an agent this deployment does not run.
func TestRepositories_DefaultAgent(t *testing.T) {
	for name, newStore := range repoStores(t) {
		t.Run(name, func(t *testing.T) {
			env := natstest.Start(t)
			h := newHarnessOn(t, env, withRepositories(t, env, newStore(t), &fakeVerifier{}), withCodex(nil, ""))
			id := configure(t, h, "https://github.com/acme/app", `{"default_agent": "codex"}`)
			if wo := h.workOrder(h.create(map[string]any{"repository_id": id, "repository_url": nil})); wo.Agent != "codex" {
				t.Errorf("create for the repository: agent %q, want codex", wo.Agent)
			}
			if wo := h.workOrder(h.create(map[string]any{"repository_id": id, "repository_url": nil, "agent": "claude"})); wo.Agent != "claude" {
				t.Errorf("create asking for claude: agent %q", wo.Agent)
			}
			r := h.get(reposPath)
			if !strings.Contains(string(r.body), `"default_agent":"codex"`) {
				t.Errorf("list: %s", r.body)
			}
			if r := h.send(http.MethodPatch, reposPath+"/"+id, `{"default_agent": ""}`); r.status != http.StatusOK || !strings.Contains(string(r.body), `"default_agent":null`) {
				t.Errorf("clearing default_agent: %d %s", r.status, r.body)
			}
			if r := h.send(http.MethodPatch, reposPath+"/"+id, `{"default_agent": "gemini"}`); r.status != http.StatusUnprocessableEntity {
				t.Errorf("default_agent gemini: %d %s", r.status, r.body)
			}
		})
	}
}

// A create from a GitHub trigger takes the configured repository's
// default_agent, as an API create does; an unconfigured repository's,
// AWO_DEFAULT_AGENT.
func TestGitHubWebhook_TakesTheRepositorysDefaultAgent(t *testing.T) {
	env := natstest.Start(t)
	h := newHarnessOn(t, env, withRepositories(t, env, readmodel.NewMemory(), &fakeVerifier{}), withCodex(nil, ""), withWebhook)
	configure(t, h, "https://github.com/acme/demo", `{"default_agent": "codex"}`)
	a := h.deliver("issues", "d-agent-1", ghFixture(t, "issues_labeled", nil)).webhook(t, http.StatusAccepted)
	if req := h.requested(a.ID); req.Agent != events.AgentCodex {
		t.Errorf("work order from the labelled issue: agent %q, want codex (the repository's default_agent)", req.Agent)
	}
	other := ghFixture(t, "issues_labeled", func(m map[string]any) {
		field(m, "repository")["full_name"] = "acme/other"
	})
	b := h.deliver("issues", "d-agent-2", other).webhook(t, http.StatusAccepted)
	if req := h.requested(b.ID); req.RepositoryURL != "https://github.com/acme/other" || req.Agent != "" {
		t.Errorf("unconfigured repository: %s agent %q, want AWO_DEFAULT_AGENT's claude (\"\")", req.RepositoryURL, req.Agent)
	}
}

// AWO_MAX_COST_USD, the default cap, is not given to a codex work order
// whose model has no price: its cost is unknown, so the cap could never be
// checked, and showing one would promise what is not kept (max_cost_usd
// stays null). Claude's work orders, and codex's with a price, get it.
func TestCreate_DefaultCapOnlyWhereItCanBeKept(t *testing.T) {
	withDefaultCap := func(o *api.Options) { o.MaxCostUSD = 2 }
	unpriced := newHarness(t, withCodex(nil, ""), withDefaultCap)
	priced := newHarness(t, withCodex(config.Prices{"gpt-test": {Input: 1, Output: 2}}, ""), withDefaultCap)
	for _, tc := range []struct {
		name  string
		h     *harness
		agent string
		want  float64 // 0: none
	}{
		{"claude", unpriced, "claude", 2},
		{"codex without a price", unpriced, "codex", 0},
		{"codex with a price", priced, "codex", 2},
	} {
		id := tc.h.create(map[string]any{"agent": tc.agent})
		if got := tc.h.requested(id).MaxCostUSD; got != tc.want {
			t.Errorf("%s: recorded max_cost_usd %v, want %v", tc.name, got, tc.want)
		}
		if wo := tc.h.workOrder(id); (wo.MaxCostUSD == nil) != (tc.want == 0) {
			t.Errorf("%s: work order shows max_cost_usd %v, want %v (0: null)", tc.name, wo.MaxCostUSD, tc.want)
		}
	}
}

// A retry's or a follow-up's new max_cost_usd for a codex work order
// whose model has no price is refused like a create's: the cap could not
// be kept.
func TestRetryAndFollowUp_CapForCodexWithoutAPrice(t *testing.T) {
	h := newHarness(t, withCodex(nil, ""))
	failed := h.create(map[string]any{"agent": "codex"})
	h.started(failed)
	h.publish(failed, events.TypeFailed, &events.Failed{Step: workorder.StepPlanning, ErrorMessage: "boom"})
	completed := h.create(map[string]any{"agent": "codex"})
	h.branched(completed)
	h.publish(completed, events.TypeCompleted, &events.Completed{})
	for name, r := range map[string]response{
		"retry":     h.post("/api/agent-work-orders/"+string(failed)+"/retry", `{"max_cost_usd": 1}`),
		"follow-up": h.post(promptPath(completed), `{"prompt_text": "more", "max_cost_usd": 1}`),
	} {
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.detail(t), "AWO_PRICES") {
			t.Errorf("%s: %d %s, want 422 naming AWO_PRICES", name, r.status, r.body)
		}
	}
	if r := h.post("/api/agent-work-orders/"+string(failed)+"/retry", `{}`); r.status != http.StatusAccepted {
		t.Errorf("retry without a cap: %d %s, want 202", r.status, r.body)
	}
}

// A repository whose default_agent is codex, on a deployment where codex
// is no longer configured: a create that names no agent is refused with a
// 422 that names the repository's default_agent and what to do, not the
// "agent" field the client never sent. "agent": "" is no agent: the
// repository's default applies.
func TestCreate_RepositoryDefaultAgentNotConfigured(t *testing.T) {
	env := natstest.Start(t)
	before := newHarnessOn(t, env, withRepositories(t, env, readmodel.NewMemory(), &fakeVerifier{}), withCodex(nil, ""))
	id := configure(t, before, "https://github.com/acme/app", `{"default_agent": "codex"}`)
	if wo := before.workOrder(before.create(map[string]any{"repository_id": id, "repository_url": nil, "agent": ""})); wo.Agent != "codex" {
		t.Errorf(`"agent": "" for a repository whose default_agent is codex: agent %q, want codex`, wo.Agent)
	}

	configure(t, before, "https://github.com/acme/demo", `{"default_agent": "codex"}`)
	after := newHarnessOn(t, env, withRepositories(t, env, readmodel.NewMemory(), &fakeVerifier{}), withWebhook)
	for _, body := range []string{`{"repository_id": %q, "user_request": "Fix"}`, `{"repository_id": %q, "user_request": "Fix", "agent": ""}`} {
		r := after.post("/api/agent-work-orders/", fmt.Sprintf(body, id))
		d := r.detail(t)
		if r.status != http.StatusUnprocessableEntity || strings.HasPrefix(d, "agent:") {
			t.Errorf("%s: %d %q, want 422 not blaming the request's agent", body, r.status, d)
			continue
		}
		for _, part := range []string{"default_agent", "codex", "CODEX_CLI_PATH", `"agent": "claude"`, reposPath + "/" + id} {
			if !strings.Contains(d, part) {
				t.Errorf("%s: detail %q, want it to say %q", body, d, part)
			}
		}
	}
	if r := after.post("/api/agent-work-orders/", fmt.Sprintf(`{"repository_id": %q, "user_request": "Fix", "agent": "claude"}`, id)); r.status != http.StatusCreated {
		t.Errorf("naming claude: %d %s, want 201", r.status, r.body)
	}
	// A GitHub delivery for such a repository is acknowledged as ignored,
	// with the reason, as any request the create would refuse.
	if a := after.deliver("issues", "d-agent-gone", ghFixture(t, "issues_labeled", nil)).webhook(t, http.StatusAccepted); !strings.HasPrefix(a.Detail, "ignored: ") ||
		!strings.Contains(a.Detail, "default_agent codex") {
		t.Errorf("delivery for a repository whose default_agent is gone: %+v", a)
	}
}
