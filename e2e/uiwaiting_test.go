package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// A waiting step on the dashboard: the detail page says until when and
// why, offers "Retry now", the list says waiting; cancelling from the page
// ends it. The wait is recorded as the executor records it (step.waiting
// on the embedded server) while the real agent runs, so the page is seen
// against the real stack whatever makes a step wait.
func TestUI_WaitingStep_ShowsUntilWhenAndWhy_OffersRetryNow(t *testing.T) {
	chromiumPath(t)
	const marker = "Translate the error messages"
	w := newWorld(t, fm.Rule{Name: "held", Prompt: marker, Turns: []fm.Turn{
		fm.Bash("git checkout -b feat/held", "create the branch").After(3 * time.Minute),
		fm.Text("feat/held"),
	}})
	natsPort, token := freePort(t), "waiting-ui-test-token"
	s := newStack(t, w, "NATS_TOKEN="+token, "AWO_NATS_LISTEN=127.0.0.1:"+natsPort)
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": marker, "selected_commands": []string{"create-branch"}})
	s.waitFor(id, 2*time.Minute, "the create-branch agent running", func(wo workOrder) bool {
		return wo.Status == "running" && len(w.Model.Conversation("held")) > 0
	})

	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	const why = "waiting for Claude Code's usage limit to reset (browser test)"
	recordWait(t, "nats://127.0.0.1:"+natsPort, token, workorder.ID(id), until, why)

	b := newBrowser(t, s)
	b.open("/ui/work-orders/" + id)
	b.waitView("detail", 30*time.Second)
	b.waitVisible("#wo-waiting", 30*time.Second)
	b.waitJS("until when and why", fmt.Sprintf(`(e => e.textContent.startsWith('Waiting until ') && e.textContent.includes(%s) && `+
		`e.querySelector('time').getAttribute('datetime') === %s)(document.querySelector('#wo-waiting'))`,
		jsString(why), jsString(until.Format(time.RFC3339))), 10*time.Second)
	if got := b.text("#wo-status"); got != "running" {
		b.fail("status %q while waiting, want running", got)
	}
	if got := b.text("#wo-phase"); got != "waiting" {
		b.fail("current step %q while waiting, want waiting", got)
	}
	b.waitSel(`.step-pending[data-step="create-branch"][data-state="waiting"]`, 10*time.Second)
	retry := evalJS[map[string]any](b, `(e => ({disabled: e.disabled, text: e.textContent}))(document.querySelector('button#action-retry'))`)
	if retry["disabled"] != false || retry["text"] != "Retry now" {
		b.fail("retry button while waiting: %v, want enabled and labelled Retry now", retry)
	}
	b.screenshot("detail-waiting.png")

	list := newBrowser(t, s)
	list.open("/ui/")
	list.waitView("list", 30*time.Second)
	list.waitJS("the list says waiting", fmt.Sprintf(`(e => e && e.textContent === 'waiting' && e.title === %s)`+
		`(document.querySelector('tr[data-id=%q] td[data-col="step"][data-waiting]'))`, jsString(why), id), 30*time.Second)

	// Cancelled from the page: the wait is over, and so is the work order.
	b.click("button#action-cancel")
	b.waitVisible("#cancel-reason", 10*time.Second)
	b.click("button#action-cancel")
	b.waitJS("cancelled", statusIs("#wo-status", "cancelled"), time.Minute)
	b.waitJS("the wait no longer shown", `document.querySelector('#wo-waiting').hidden`, 10*time.Second)
	if got := b.text("button#action-retry"); got != "Retry" {
		b.fail("retry button after the cancel reads %q, want Retry", got)
	}
	code, body := s.do(http.MethodGet, "/api/agent-work-orders/"+id, nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"waiting_until":null`) {
		b.fail("the API after the cancel: %d %s, want waiting_until null", code, body)
	}
	b.noExceptions()
	list.noExceptions()
}

// recordWait appends step.waiting for the work order's create-branch
// attempt 1 as the executor's protocol does (worker.WaitStep).
func recordWait(t *testing.T, url, token string, wo workorder.ID, until time.Time, why string) {
	t.Helper()
	nc, err := nats.Connect(url, nats.Token(token))
	if err != nil {
		t.Fatalf("connecting to the embedded NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	b := bus.New(js, events.SourceExecutor)
	cmd := events.RunStep{WorkOrderID: wo, Step: workorder.StepCreateBranch, Attempt: 1}
	e := b.Event(cmd.ID()+".waiting", events.TypeStepWaiting, wo, &events.StepWaiting{
		Step: cmd.Step, Attempt: 1, AgentName: cmd.Step.AgentName(), WaitingUntil: until,
		Reason: events.WaitUsageLimit, Message: why, Agent: events.AgentClaude,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.PublishEvent(ctx, e, nil); err != nil {
		t.Fatalf("recording step.waiting: %v", err)
	}
}
