package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/natsembed"
	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
	"github.com/chromedp/chromedp"
)

// The dashboard in a real browser, against the real all-in-one and the real
// Claude Code CLI behind it: the DOM contract is docs' UI_CONTRACT (ids and
// data-* attributes), the only thing these tests select on.

// Markers in a work order's request pick its script: the request is part of
// the create-branch and planning prompts, and the first rule that matches
// answers.
const (
	listMarker = "Tidy the README badges"
	slowMarker = "Upgrade the logging library"
	failMarker = "Rewrite the billing module"
	xssMarker  = "Summarise the security report"
	// cancelWindow holds the first answer of the slow work order's
	// create-branch: long enough to cancel it from the page, short enough
	// for the retried attempt to complete.
	cancelWindow = 15 * time.Second
)

// xssOutput is what the agent answers: Markdown, with markup a page must
// show as text and never run.
const xssOutput = "## Plan summary\n\n" +
	"The agent said: <script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">\n\n" +
	"- **bold** item\n- `code` item\n\n" +
	"[docs](https://example.com/docs) and [bad](javascript:window.__pwned=3)\n\n" +
	"PRPs/features/xss.md"

func uiRules() []fm.Rule {
	return []fm.Rule{
		{Name: "list-live", Prompt: listMarker, Turns: []fm.Turn{
			fm.Bash("git checkout -b feat/list-live", "create the branch").After(2 * time.Second),
			fm.Text("feat/list-live"),
		}},
		{Name: "slow", Prompt: slowMarker, Turns: []fm.Turn{
			fm.Bash("git checkout -b feat/slow-cancel", "create the branch").After(cancelWindow),
			fm.Text("feat/slow-cancel"),
		}},
		{Name: "xss", Prompt: xssMarker, Turns: []fm.Turn{
			fm.Bash(`mkdir -p PRPs/features && printf '# Plan\n' > PRPs/features/xss.md`, "write the plan"),
			fm.Text(xssOutput),
		}},
		createBranch("feat/add-greeting"),
		{Name: "fail", Prompt: failMarker, Turns: []fm.Turn{fm.Error(400, "prompt rejected by policy")}},
		planning(),
		// Held so that the page is seen while the work order runs.
		execute(writeGreeting.After(3 * time.Second)),
		commit("feat/add-greeting"),
	}
}

// TestUI runs the browser tests that share one stack: each sub-test has
// its own work order and its own browser, and they run in parallel since
// they mostly wait on the agent; the list's screenshots come last, with
// every work order they made in it.
func TestUI(t *testing.T) {
	chromiumPath(t)
	w := newWorld(t, uiRules()...)
	s := newStack(t, w)
	s.start()

	t.Run("workflows", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			run  func(*testing.T, *stack)
		}{
			{"CreateThroughTheForm_LiveDetailThenListed", uiCreateThroughTheForm},
			{"ListUpdatesLive", uiListUpdatesLive},
			{"CancelThenRetry", uiCancelThenRetry},
			{"FailedShowsTheStep", uiFailedShowsTheStep},
			{"AgentOutputIsText", uiAgentOutputIsText},
			{"Repositories_AddThenDelete", uiRepositories},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t, s.on(t))
			})
		}
	})
	if t.Failed() {
		return
	}
	t.Run("ListScreenshots", func(t *testing.T) { uiListScreenshots(t, s.on(t)) })
	s.stop()
}

// on is the stack as seen from a sub-test: its failures are the sub-test's.
func (s *stack) on(t testing.TB) *stack {
	c := *s
	c.t = t
	return &c
}

// statusIs is a selector for an element with id (or an element in it)
// carrying data-status=status: the contract allows either.
func statusIs(id, status string) string {
	return fmt.Sprintf(`document.querySelector('%[1]s[data-status=%[2]q], %[1]s [data-status=%[2]q]')`, id, status)
}

const markNoReload = `window.__noReload = true`
const noReloadHappened = `window.__noReload === true`

// logTotal is the number of log entries the API has for the work order.
func (s *stack) logTotal(id string) int {
	s.t.Helper()
	code, out := s.do("GET", "/api/agent-work-orders/"+id+"/logs?limit=1000", nil)
	var l struct {
		Total int `json:"total"`
	}
	if err := json.Unmarshal(out, &l); code != http.StatusOK || err != nil {
		s.t.Fatalf("GET logs: %d %s (%v)", code, out, err)
	}
	return l.Total
}

// Create a work order through the form; its detail page shows steps and
// log lines arriving live, then the pull request; the list shows it
// completed with all its steps. No page load happens after the form's.
func uiCreateThroughTheForm(t *testing.T, s *stack) {
	b := newBrowser(t, s)
	b.open("/ui/new")
	b.waitView("create", 30*time.Second)
	evalJS[bool](b, markNoReload)

	b.typeInto("#create-repository", repoURL)
	b.typeInto("#create-request", "Add a greeting file")
	checked := evalJS[[]string](b, `[...document.querySelectorAll('input[type=checkbox][name=step]:checked')].map(e => e.value)`)
	if want := []string{"create-branch", "planning", "execute", "commit", "create-pr"}; !slices.Equal(checked, want) {
		b.fail("the form's default steps are %v, want %v", checked, want)
	}
	agents := evalJS[[]string](b, `[...document.querySelectorAll('#create-agent option')].map(o => o.value)`)
	if want := []string{"", "claude", "codex"}; !slices.Equal(agents, want) || evalJS[string](b, `document.querySelector('#create-agent').value`) != "" {
		b.fail("the agent select offers %v, want %v with the server default chosen", agents, want)
	}
	b.screenshot("create.png")
	b.click("#create-submit")

	b.waitJS("the detail page after the create", `location.pathname.startsWith('/ui/work-orders/')`, 30*time.Second)
	b.waitView("detail", 30*time.Second)
	id := evalJS[string](b, `decodeURIComponent(location.pathname.split('/').filter(Boolean).pop())`)
	if wo := s.get(id); wo.ID != id {
		b.fail("the page shows %q, the API has %+v", id, wo)
	}
	stepsFirst, logsFirst := b.count(".step"), b.count(".log-entry")

	// execute is held: the page shows the work order running, planning done.
	b.waitJS("running with planning done", statusIs("#wo-status", "running")+
		` && document.querySelector('.step[data-step="planning"][data-success="true"]') && document.querySelector('.log-entry')`, 2*time.Minute)
	b.screenshot("detail-running.png")

	b.waitJS("completed", statusIs("#wo-status", "completed"), 3*time.Minute)
	wo := s.get(id)
	pr := deref(wo.PRURL)
	if !strings.HasPrefix(pr, "https://github.com/acme/demo/pull/") {
		b.fail("the API's PR URL is %q", pr)
	}
	b.waitJS("the PR link", fmt.Sprintf(`document.querySelector('a#wo-pr[href=%[1]q], #wo-pr a[href=%[1]q]')`, pr), 30*time.Second)
	b.waitJS("five successful steps", `document.querySelectorAll('.step[data-success="true"]').length === 5`, 30*time.Second)
	steps := evalJS[[]string](b, `[...document.querySelectorAll('.step')].map(e => e.dataset.step + '#' + e.dataset.attempt + ':' + e.dataset.success)`)
	if want := []string{"create-branch#1:true", "planning#1:true", "execute#1:true", "commit#1:true", "create-pr#1:true"}; !slices.Equal(steps, want) {
		b.fail("step rows %v, want %v", steps, want)
	}
	// The log holds every entry the API has for the work order, once.
	var apiLogs int
	b.waitUntil("the page's log to hold the API's entries", 30*time.Second, func() bool {
		apiLogs = s.logTotal(id)
		return b.count(".log-entry") == apiLogs
	})
	stepsEnd, logsEnd := b.count(".step"), b.count(".log-entry")
	if stepsFirst >= stepsEnd || logsFirst >= logsEnd {
		b.fail("nothing arrived live: %d steps and %d log entries at the first render, %d and %d at the end", stepsFirst, logsFirst, stepsEnd, logsEnd)
	}
	if !evalJS[bool](b, noReloadHappened) {
		b.fail("the page was reloaded between the form and the completed work order")
	}
	t.Logf("detail page: %d→%d steps, %d→%d log entries live", stepsFirst, stepsEnd, logsFirst, logsEnd)
	if got := b.text("#wo-agent"); got != "Claude Code" {
		b.fail("the agent on the detail page: %q, want Claude Code", got)
	}
	if got := b.text("#wo-cost"); !strings.HasPrefix(got, "$") {
		b.fail("the cost on the detail page: %q, want the total in USD", got)
	}
	b.waitJS("today's spend in the health corner", `/^\$\d+\.\d\d today$/.test(document.querySelector('#health-spend')?.textContent)`, 30*time.Second)
	b.screenshot("detail-completed.png")

	// The list, reached through the navigation: the row is there, done.
	b.click(`a[data-nav="list"]`)
	b.waitView("list", 30*time.Second)
	row := fmt.Sprintf(`#work-orders tr[data-id=%q]`, id)
	b.waitSel(row+`[data-status="completed"]`, 30*time.Second)
	if got := strings.TrimSpace(b.text(row + ` [data-col="progress"]`)); got != "5/5" {
		b.fail("progress %q in the list, want 5/5", got)
	}
	b.waitSel(fmt.Sprintf(`%s [data-col="request"] a[href="/ui/work-orders/%s"]`, row, id), 5*time.Second)
	if !evalJS[bool](b, noReloadHappened) {
		b.fail("going to the list reloaded the page")
	}
	b.noExceptions()
}

// The list follows the event stream: a work order created elsewhere appears
// and changes status without a reload.
func uiListUpdatesLive(t *testing.T, s *stack) {
	b := newBrowser(t, s)
	b.open("/ui/")
	b.waitView("list", 30*time.Second)
	b.waitSel(`#live-state[data-state="open"]`, 30*time.Second)
	// Every status each row shows, in order.
	evalJS[bool](b, markNoReload+`;
		window.__seen = {};
		const note = () => {
			for (const tr of document.querySelectorAll('#work-orders tr[data-id]')) {
				const a = (window.__seen[tr.dataset.id] ||= []);
				if (a[a.length - 1] !== tr.dataset.status) a.push(tr.dataset.status);
			}
		};
		note();
		new MutationObserver(note).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-status']});
		true`)

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": listMarker,
		"selected_commands": []string{"create-branch"}})
	row := fmt.Sprintf(`#work-orders tr[data-id=%q]`, id)
	b.waitSel(row, 30*time.Second)
	b.waitSel(row+`[data-status="completed"]`, 2*time.Minute)
	seen := evalJS[[]string](b, fmt.Sprintf(`window.__seen[%q] || []`, id))
	if len(seen) < 2 || seen[0] == "completed" || seen[len(seen)-1] != "completed" {
		b.fail("the row's statuses were %v: want it to appear before it completed, then change to completed", seen)
	}
	if !evalJS[bool](b, noReloadHappened) {
		b.fail("the list was reloaded")
	}
	t.Logf("the row went %s without a reload", strings.Join(seen, " → "))
	b.noExceptions()
}

// Cancel from the detail page while the agent works: cancelled, with the
// reason; retry from the page: the step runs again as attempt 2 and the
// work order completes.
func uiCancelThenRetry(t *testing.T, s *stack) {
	id := s.create(map[string]any{"repository_url": repoURL, "user_request": slowMarker,
		"selected_commands": []string{"create-branch"}})
	b := newBrowser(t, s)
	b.open("/ui/work-orders/" + id)
	b.waitView("detail", 30*time.Second)
	evalJS[bool](b, markNoReload)
	s.waitFor(id, 2*time.Minute, "the create-branch agent waiting for the model", func(wo workOrder) bool {
		return wo.Status == "running" && len(s.w.Model.Conversation("slow")) > 0
	})
	b.waitJS("cancel enabled", `(e => e && !e.disabled)(document.querySelector('button#action-cancel'))`, 30*time.Second)
	b.click("button#action-cancel")
	// The page asks first, with a field for the reason.
	const reason = "wrong repository (from the browser test)"
	b.waitVisible("#cancel-reason", 10*time.Second)
	b.typeInto("#cancel-reason", reason)
	b.click("button#action-cancel")

	b.waitJS("cancelled", statusIs("#wo-status", "cancelled"), time.Minute)
	b.waitVisible("#wo-error", 10*time.Second)
	wo := s.get(id)
	if wo.Status != "cancelled" {
		b.fail("the API has %+v after the page's cancel", wo)
	}
	if got := deref(wo.ErrorMessage); got != reason {
		b.fail("the API's error_message is %q, want the reason typed in the page %q", got, reason)
	}
	b.waitJS("the reason in #wo-error", fmt.Sprintf(`document.querySelector('#wo-error').textContent.includes(%s)`, jsString(reason)), 10*time.Second)

	b.waitJS("retry enabled", `(e => e && !e.disabled)(document.querySelector('button#action-retry'))`, 30*time.Second)
	b.click("button#action-retry")
	b.waitJS("running again", statusIs("#wo-status", "running"), time.Minute)
	b.waitJS("completed after the retry", statusIs("#wo-status", "completed"), 2*time.Minute)
	b.waitJS("attempt 1 stopped, attempt 2 done",
		`document.querySelector('.step[data-step="create-branch"][data-attempt="1"][data-success="false"]') && `+
			`document.querySelector('.step[data-step="create-branch"][data-attempt="2"][data-success="true"]')`, 30*time.Second)
	if b.count("#wo-error") > 0 && evalJS[bool](b, `(e => e.getClientRects().length > 0)(document.querySelector('#wo-error'))`) {
		b.fail("#wo-error still shown after the work order completed")
	}
	if !evalJS[bool](b, noReloadHappened) {
		b.fail("the page was reloaded")
	}
	if got := summarize(s.attempts(id)); got != "create-branch#1:false,create-branch#2:true" {
		b.fail("steps in the API: %s", got)
	}
	b.noExceptions()
}

// A failed work order's page names the failed step and the error, and says
// why it cannot be cancelled.
func uiFailedShowsTheStep(t *testing.T, s *stack) {
	id := s.create(map[string]any{"repository_url": repoURL, "user_request": failMarker,
		"sandbox_type": "git_branch", "selected_commands": []string{"create-branch", "planning", "execute"}})
	b := newBrowser(t, s)
	b.open("/ui/work-orders/" + id)
	b.waitView("detail", 30*time.Second)
	b.waitJS("failed", statusIs("#wo-status", "failed"), 2*time.Minute)
	b.waitVisible("#wo-error", 10*time.Second)
	b.waitJS("the error and the failed step",
		`document.querySelector('#wo-error').textContent.includes('prompt rejected by policy') && `+
			`/planning/.test((document.querySelector('#wo-error [data-failed-step]') || {}).textContent || '')`, 30*time.Second)
	b.waitSel(`.step[data-step="planning"][data-success="false"]`, 10*time.Second)
	cancel := evalJS[map[string]any](b, `(e => e ? {disabled: e.disabled, title: e.title,
		reason: (document.querySelector('#action-cancel-reason') || {}).textContent || ''} : null)(document.querySelector('button#action-cancel'))`)
	if cancel == nil || cancel["disabled"] != true || strings.TrimSpace(fmt.Sprint(cancel["reason"])) == "" || fmt.Sprint(cancel["title"]) == "" {
		b.fail("cancel on a failed work order: %v; want a disabled button with its reason in #action-cancel-reason and its title", cancel)
	}
	if !evalJS[bool](b, `(e => e && !e.disabled)(document.querySelector('button#action-retry'))`) {
		b.fail("retry is not offered for a failed work order")
	}
	b.screenshot("detail-failed.png")
	b.noExceptions()
}

// Markup in the agent's output is shown as text, in the step's output and
// in the log, and never runs; the Markdown around it is rendered.
func uiAgentOutputIsText(t *testing.T, s *stack) {
	id := s.create(map[string]any{"repository_url": repoURL, "user_request": xssMarker,
		"selected_commands": []string{"planning"}})
	b := newBrowser(t, s)
	b.open("/ui/work-orders/" + id)
	b.waitView("detail", 30*time.Second)
	b.waitJS("completed", statusIs("#wo-status", "completed"), 2*time.Minute)
	const script = `<script>window.__pwned=1</script>`
	const img = `<img src=x onerror="window.__pwned=2">`
	out := `.step[data-step="planning"] .step-output`
	b.waitJS("the markup as text in the step output", fmt.Sprintf(
		`(e => e && e.textContent.includes(%s) && e.textContent.includes(%s))(document.querySelector(%s))`,
		jsString(script), jsString(img), jsString(out)), 30*time.Second)
	b.waitJS("the markup as text in the log", fmt.Sprintf(
		`[...document.querySelectorAll('#log .log-entry')].some(e => e.textContent.includes(%s))`, jsString("window.__pwned=1")), 30*time.Second)
	b.waitJS("the Markdown rendered", fmt.Sprintf(`document.querySelector(%s) && document.querySelector(%s)`,
		jsString(out+" strong"), jsString(out+` a[href="https://example.com/docs"]`)), 10*time.Second)
	bad := evalJS[map[string]any](b, `({
		pwned: typeof window.__pwned,
		scripts: document.querySelectorAll('#view script').length,
		handlers: document.querySelectorAll('#view [onerror]').length,
		images: document.querySelectorAll('#view img').length,
		jsLinks: [...document.querySelectorAll('#view a[href]')].filter(a => /^\s*javascript:/i.test(a.getAttribute('href'))).length,
	})`)
	want := map[string]any{"pwned": "undefined", "scripts": 0.0, "handlers": 0.0, "images": 0.0, "jsLinks": 0.0}
	for k, v := range want {
		if bad[k] != v {
			b.fail("the agent's output was not kept as text: %v, want %v", bad, want)
		}
	}
	b.noExceptions()
}

// Add a repository without verification, see its row, delete it.
func uiRepositories(t *testing.T, s *stack) {
	const url = "https://github.com/acme/ui-demo"
	b := newBrowser(t, s)
	b.open("/ui/repositories")
	b.waitView("repositories", 30*time.Second)
	b.typeInto("#repo-url", url)
	if evalJS[bool](b, `document.querySelector('#repo-verify').checked`) {
		b.click("#repo-verify")
	}
	b.click("#repo-add")
	find := `[...document.querySelectorAll('#repositories tr[data-repo-id]')].find(r => r.textContent.includes('acme/ui-demo'))`
	b.waitJS("the new row", find, 30*time.Second)
	rowID := evalJS[string](b, `(`+find+`).dataset.repoId`)
	code, body := s.do("GET", "/api/agent-work-orders/repositories", nil)
	var repos []struct {
		ID         string `json:"id"`
		URL        string `json:"repository_url"`
		IsVerified bool   `json:"is_verified"`
	}
	if err := json.Unmarshal(body, &repos); code != http.StatusOK || err != nil {
		b.fail("GET repositories: %d %s (%v)", code, body, err)
	}
	if len(repos) != 1 || repos[0].ID != rowID || repos[0].URL != url || repos[0].IsVerified {
		b.fail("the API has %+v; the page's row is %q", repos, rowID)
	}
	b.screenshot("repositories.png")
	uiCreateTakesTheRepositorysAgent(s, b, rowID, url)

	row := fmt.Sprintf(`#repositories tr[data-repo-id=%q]`, rowID)
	b.click(row + " button.repo-delete")
	// The delete is confirmed in the row.
	b.waitVisible(row+" button.repo-delete-confirm", 10*time.Second)
	b.click(row + " button.repo-delete-confirm")
	b.waitJS("the row gone", "!document.querySelector("+jsString(row)+")", 30*time.Second)
	code, body = s.do("GET", "/api/agent-work-orders/repositories", nil)
	if code != http.StatusOK || strings.TrimSpace(string(body)) != "[]" {
		b.fail("after the delete the API lists %d %s", code, body)
	}
	b.noExceptions()
}

// The create form selects a configured repository's default_agent once
// the repository is named; another repository leaves it to the server.
func uiCreateTakesTheRepositorysAgent(s *stack, b *browser, id, url string) {
	if code, body := s.do(http.MethodPatch, "/api/agent-work-orders/repositories/"+id, map[string]any{"default_agent": "claude"}); code != http.StatusOK {
		b.fail("PATCH default_agent: %d %s", code, body)
	}
	b.open("/ui/new")
	b.waitView("create", 30*time.Second)
	if got := evalJS[string](b, `document.querySelector('#create-agent').value`); got != "" {
		b.fail("the agent before a repository is named: %q, want the server default (empty)", got)
	}
	b.typeInto("#create-repository", url)
	b.waitJS("the repository's default agent selected", `document.querySelector('#create-agent').value === 'claude'`, 10*time.Second)
	b.open("/ui/repositories")
	b.waitView("repositories", 30*time.Second)
}

// The list with every work order the other sub-tests made, at desktop
// width, in dark mode and at phone width: screenshots for the docs.
func uiListScreenshots(t *testing.T, s *stack) {
	b := newBrowser(t, s)
	b.open("/ui/")
	b.waitView("list", 30*time.Second)
	b.waitJS("rows", `document.querySelectorAll('#work-orders tr[data-id]').length >= 5`, 30*time.Second)
	b.screenshot("list.png")
	b.darkMode(true)
	b.waitJS("dark colours", `matchMedia('(prefers-color-scheme: dark)').matches`, 10*time.Second)
	b.screenshot("list-dark.png")
	b.darkMode(false)
	b.do("phone width", 10*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.open("/ui/")
	b.waitView("list", 30*time.Second)
	if over := evalJS[int](b, `document.documentElement.scrollWidth - innerWidth`); over > 0 {
		t.Logf("note: at 390px the page is %dpx wider than the screen", over)
	}
	b.screenshot("list-phone.png")
	b.noExceptions()
}

// With AWO_API_TOKENS the page asks for a token; a wrong one is asked
// again, the right one shows the list, and the token is in no URL.
func TestUI_TokenPrompt(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	const token = "ui-test-token-4f1c"
	w := newWorld(t)
	s := newStack(t, w, "AWO_API_TOKENS="+token)
	s.start()
	b := newBrowser(t, s)
	b.open("/ui/")
	b.waitVisible("dialog#token-dialog[open]", 30*time.Second)
	if evalJS[bool](b, `document.body.dataset.view === 'list' && !!document.querySelector('main#view[data-ready]')`) {
		b.fail("the list rendered without a token")
	}

	b.typeInto("#token-input", "wrong-token")
	b.click("button#token-submit")
	// Asked again: the dialog is open with the field cleared.
	b.waitJS("the prompt again after a wrong token",
		`document.querySelector('dialog#token-dialog').open && document.querySelector('#token-input').value === ''`, 30*time.Second)
	if evalJS[bool](b, `document.body.dataset.view === 'list' && !!document.querySelector('main#view[data-ready]')`) {
		b.fail("the list rendered with a wrong token")
	}
	t.Logf("after a wrong token the prompt says %q", strings.TrimSpace(b.text("#token-error")))

	b.typeInto("#token-input", token)
	b.click("button#token-submit")
	b.waitView("list", 30*time.Second)
	if evalJS[bool](b, `document.querySelector('dialog#token-dialog').open`) {
		b.fail("the token prompt is still open on the list")
	}
	if href := evalJS[string](b, `location.href`); strings.Contains(href, token) {
		b.fail("the token is in the URL %s", href)
	}
	b.noExceptions()
}

// pageWeightWorkOrders is how many work orders the page-weight test and the
// first-render benchmark put in the store.
const pageWeightWorkOrders = 1000

// storeWith runs a gateway and an orchestrator on their own NATS, without
// an executor, and creates n work orders through the API: each is accepted,
// started and waits for its first step, so the store holds n running work
// orders (over three repositories) in seconds, with no agent run.
func storeWith(tb testing.TB, n int) *stack {
	tb.Helper()
	srv, err := natsembed.Start(natsembed.Options{DataDir: tb.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Shutdown)
	s := newStack(tb, newWorld(tb), "NATS_URL="+srv.ClientURL(), "AWO_CREATE_RATE=off", "LOG_LEVEL=INFO")
	gateway := s.startService("gateway")
	s.cmd, s.exited = gateway.cmd, gateway.exited
	s.startService("orchestrator")
	s.waitHealthy()

	repos := []string{repoURL, "https://github.com/acme/api", "https://github.com/acme/web"}
	jobs := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				errs <- postWorkOrder(s, map[string]any{"repository_url": repos[i%len(repos)],
					"user_request": fmt.Sprintf("Work order %d: add a greeting file\n\nwith some detail on a second line", i)})
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	// The orchestrator has started them all, so nothing happens while the
	// page loads: a quiet store of n running work orders.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, _ := http.NewRequest("GET", s.base+"/api/agent-work-orders/?status=running&limit=1", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("X-Total-Count") == fmt.Sprint(n) {
				return s
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the list does not count %d running work orders after two minutes (%v)", n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// postWorkOrder creates one work order; safe to call from any goroutine.
func postWorkOrder(s *stack, body map[string]any) error {
	j, _ := json.Marshal(body)
	resp, err := http.Post(s.base+"/api/agent-work-orders/", "application/json", bytes.NewReader(j))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		out, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST: %d %s", resp.StatusCode, out)
	}
	return nil
}

// firstRender loads /ui/ as a first visit (no cache) and returns the
// milliseconds from the navigation's start to the list's
// 'awo:list-rendered' mark, and the bytes every response brought.
func firstRender(b *browser) (ms, total float64, byURL map[string]float64) {
	b.tb.Helper()
	b.resetBytes()
	b.open("/ui/")
	b.waitView("list", 60*time.Second)
	b.waitJS("the awo:list-rendered mark", `performance.getEntriesByName('awo:list-rendered', 'mark').length > 0`, 30*time.Second)
	ms = evalJS[float64](b, `performance.measure('awo:first-render', {end: 'awo:list-rendered'}).duration`)
	// What the page fetched right after its first render (the event stream's
	// first bytes, the health corner) counts too: wait until nothing more
	// arrives for half a second.
	last, stableSince := -1.0, time.Now()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		n, _ := b.transferred()
		if n != last {
			last, stableSince = n, time.Now()
		} else if time.Since(stableSince) > 500*time.Millisecond {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	total, byURL = b.transferred()
	return ms, total, byURL
}

// The list of a store with 1,000 work orders weighs under 200 KB over the
// wire, everything it loads included (a first visit: no cache).
func TestUI_PageWeight(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	start := time.Now()
	s := storeWith(t, pageWeightWorkOrders)
	made := time.Since(start)
	b := newBrowser(t, s)
	b.cacheDisabled()
	ms, total, byURL := firstRender(b)
	if got := b.text("#list-count"); !strings.Contains(strings.NewReplacer(",", "", " ", "", "\u00a0", "", "\u202f", "").Replace(got), fmt.Sprintf("of%d", pageWeightWorkOrders)) {
		b.fail("#list-count says %q, want the %d work orders counted", got, pageWeightWorkOrders)
	}
	var parts []string
	for u, n := range byURL {
		parts = append(parts, fmt.Sprintf("%s %.0f", strings.TrimPrefix(u, s.base), n))
	}
	slices.Sort(parts)
	t.Logf("the list with %d work orders (made in %s): %.1f KB over the wire, first render %.0f ms\n%s",
		pageWeightWorkOrders, made.Round(time.Millisecond), total/1024, ms, strings.Join(parts, "\n"))
	if total >= 200*1024 {
		b.fail("the list weighs %.1f KB, want under 200 KB", total/1024)
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		b.fail("the list logged errors: %v", errs)
	}
}

// BenchmarkDashboardFirstRender loads the list of a store with 1,000 work
// orders as a first visit and reports the time from the navigation's start
// to the list's first render with data (first-render-ms) and what came over
// the wire (page-bytes).
func BenchmarkDashboardFirstRender(tb *testing.B) {
	s := storeWith(tb, pageWeightWorkOrders)
	b := newBrowser(tb, s)
	b.cacheDisabled()
	var sumMS, sumBytes float64
	n := 0
	for tb.Loop() {
		ms, bytes, _ := firstRender(b)
		sumMS += ms
		sumBytes += bytes
		n++
	}
	tb.ReportMetric(sumMS/float64(n), "first-render-ms")
	tb.ReportMetric(sumBytes/float64(n), "page-bytes")
}
