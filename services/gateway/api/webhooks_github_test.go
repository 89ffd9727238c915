package api_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
)

const webhookSecret = "whs-0123456789abcdef-test-secret"

func withWebhook(o *api.Options) {
	o.GitHubWebhook = api.GitHubWebhook{Secret: webhookSecret, Label: "awo", Command: "/awo",
		Associations: []string{"OWNER", "MEMBER", "COLLABORATOR"}}
}

func signBody(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ghFixture reads testdata/github/name.json, changed by edit.
func ghFixture(t *testing.T, name string, edit func(m map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "github", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return raw
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, _ := json.Marshal(m)
	return out
}

func field(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

// deliver posts body as GitHub does, signed with the test secret.
func (h *harness) deliver(event, delivery string, body []byte) response {
	h.t.Helper()
	return h.do(http.MethodPost, "/webhooks/github", bytes.NewReader(body),
		"Content-Type", "application/json", "User-Agent", "GitHub-Hookshot/abc123",
		"X-GitHub-Event", event, "X-GitHub-Delivery", delivery, "X-Hub-Signature-256", signBody(webhookSecret, body))
}

type webhookAnswer struct {
	Detail string       `json:"detail"`
	ID     workorder.ID `json:"agent_work_order_id"`
}

func (r response) webhook(t *testing.T, status int) webhookAnswer {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d (%s), want %d", r.status, r.body, status)
	}
	var a webhookAnswer
	r.json(t, &a)
	return a
}

func (h *harness) requested(id workorder.ID) *events.Requested {
	h.t.Helper()
	e, ok := h.last(id, events.TypeRequested)
	req, _ := e.Data.(*events.Requested)
	if !ok || req == nil {
		h.t.Fatalf("no workorder.requested recorded for %s", id)
	}
	return req
}

func TestGitHubWebhook_LabeledIssue_CreatesOneWorkOrder_AlsoWhenRedelivered(t *testing.T) {
	h := newHarness(t, withWebhook)
	body := ghFixture(t, "issues_labeled", nil)
	start := time.Now()
	a := h.deliver("issues", "d-label-1", body).webhook(t, http.StatusAccepted)
	t.Logf("labelled issue answered in %s", time.Since(start).Round(time.Microsecond))
	if a.Detail != "work order created" || a.ID == "" {
		t.Fatalf("answer %+v", a)
	}
	req := h.requested(a.ID)
	want := events.Origin{Kind: events.OriginIssueLabel, Repository: "acme/demo", Number: 42, DeliveryID: "d-label-1", Sender: "maintainer"}
	if req.RepositoryURL != "https://github.com/acme/demo" || req.GitHubIssueNumber != "42" ||
		req.UserRequest != "Resolve issue #42: Login fails with an empty password" || req.Origin == nil || *req.Origin != want {
		t.Fatalf("recorded %+v origin %+v", req, req.Origin)
	}
	if len(req.SelectedCommands) == 0 {
		t.Error("no steps: the create path's defaults were not applied")
	}
	before := h.eventCount()
	again := h.deliver("issues", "d-label-1", body).webhook(t, http.StatusAccepted)
	if again.Detail != "already handled" || again.ID != a.ID {
		t.Fatalf("redelivery answered %+v, want already handled %s", again, a.ID)
	}
	if n := h.eventCount(); n != before {
		t.Fatalf("redelivery recorded %d more events", n-before)
	}
	// Another delivery of the same label is another request.
	if other := h.deliver("issues", "d-label-2", body).webhook(t, http.StatusAccepted); other.ID == a.ID {
		t.Fatalf("a new delivery answered with the first work order")
	}
}

// Two replicas (or GitHub's retry racing the first attempt) handed one
// delivery at once record one work order.
func TestGitHubWebhook_ConcurrentRedeliveries_CreateOne(t *testing.T) {
	h := newHarness(t, withWebhook)
	body := ghFixture(t, "issues_labeled", nil)
	before := h.eventCount()
	ids := make([]workorder.ID, 4)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() { ids[i] = h.deliver("issues", "d-race", body).webhook(t, http.StatusAccepted).ID })
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == "" {
			t.Fatalf("answers name %v, want one work order", ids)
		}
	}
	if n := h.eventCount() - before; n != 1 {
		t.Fatalf("%d events recorded, want 1", n)
	}
}

func TestGitHubWebhook_IssueComment_CreatesWithTheRequest(t *testing.T) {
	h := newHarness(t, withWebhook)
	a := h.deliver("issue_comment", "d-comment-1", ghFixture(t, "issue_comment_issue", nil)).webhook(t, http.StatusAccepted)
	req := h.requested(a.ID)
	want := events.Origin{Kind: events.OriginIssueComment, Repository: "acme/demo", Number: 43, CommentID: 9001, DeliveryID: "d-comment-1", Sender: "maintainer"}
	if req.UserRequest != "add a dark theme that follows prefers-color-scheme\r\n\r\nKeep the contrast at AA." ||
		req.GitHubIssueNumber != "43" || req.Origin == nil || *req.Origin != want {
		t.Fatalf("recorded %+v origin %+v", req, req.Origin)
	}
}

// awoPR makes wo-0000aa01 a completed work order of acme/demo with a
// branch, as after it opened pull request #7.
func (h *harness) awoPR() workorder.ID {
	h.t.Helper()
	id := h.create(map[string]any{"agent_work_order_id": "wo-0000aa01"})
	h.branched(id)
	h.publish(id, events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/demo/pull/7"})
	return id
}

func (h *harness) followUp(id workorder.ID) *events.FollowUpRequested {
	h.t.Helper()
	e, ok := h.last(id, events.TypeFollowUpRequested)
	fu, _ := e.Data.(*events.FollowUpRequested)
	if !ok || fu == nil {
		h.t.Fatalf("no follow_up_requested recorded for %s", id)
	}
	return fu
}

func TestGitHubWebhook_PullRequestComments_AreFollowUps(t *testing.T) {
	h := newHarness(t, withWebhook)
	id := h.awoPR()
	origin := func(comment int64, delivery, sender string) events.Origin {
		return events.Origin{Kind: events.OriginPullRequestComment, Repository: "acme/demo", Number: 7, CommentID: comment, DeliveryID: delivery, Sender: sender}
	}
	steps := []struct {
		event, fixture, delivery string
		round                    int
		prompt                   string
		origin                   events.Origin
	}{
		{"issue_comment", "issue_comment_pr", "d-pr-1", 2, "also handle a password of only spaces", origin(9002, "d-pr-1", "maintainer")},
		{"pull_request_review_comment", "pull_request_review_comment", "d-pr-2", 3,
			"use strings.TrimSpace before the check\n\nReview comment on auth/login.go line 12:\n```diff\n@@ -10,6 +10,9 @@", origin(7001, "d-pr-2", "reviewer")},
		{"pull_request_review", "pull_request_review_submitted", "d-pr-3", 4, "split the validation into its own function", origin(6002, "d-pr-3", "reviewer")},
	}
	for _, st := range steps {
		a := h.deliver(st.event, st.delivery, ghFixture(t, st.fixture, nil)).webhook(t, http.StatusAccepted)
		if a.ID != id || a.Detail != fmt.Sprintf("follow-up round %d requested", st.round) {
			t.Fatalf("%s: answer %+v", st.event, a)
		}
		fu := h.followUp(id)
		if fu.Round != st.round || !strings.HasPrefix(fu.PromptText, st.prompt) || fu.Origin == nil || *fu.Origin != st.origin {
			t.Fatalf("%s: recorded round %d prompt %q origin %+v", st.event, fu.Round, fu.PromptText, fu.Origin)
		}
		// Redelivered while the round runs: already handled, not a
		// conflict, and nothing more recorded.
		before := h.eventCount()
		if again := h.deliver(st.event, st.delivery, ghFixture(t, st.fixture, nil)).webhook(t, http.StatusAccepted); again.Detail != "already handled" || again.ID != id {
			t.Fatalf("%s redelivered: %+v", st.event, again)
		}
		if h.eventCount() != before {
			t.Fatalf("%s redelivered: events recorded", st.event)
		}
		h.publish(id, events.TypeCompleted, &events.Completed{PullRequestURL: "https://github.com/acme/demo/pull/7"})
	}
}

func TestGitHubWebhook_FollowUpThatCannotStart_IsIgnoredAndCanBeRedelivered(t *testing.T) {
	h := newHarness(t, withWebhook)
	id := h.create(map[string]any{"agent_work_order_id": "wo-0000aa01"})
	h.branched(id) // running
	body := ghFixture(t, "issue_comment_pr", nil)
	before := h.eventCount()
	a := h.deliver("issue_comment", "d-busy", body).webhook(t, http.StatusAccepted)
	if !strings.HasPrefix(a.Detail, "ignored: ") || !strings.Contains(a.Detail, "is running") {
		t.Fatalf("answer %+v", a)
	}
	if h.eventCount() != before {
		t.Fatal("events recorded for a follow-up that could not start")
	}
	h.publish(id, events.TypeCompleted, &events.Completed{})
	if a := h.deliver("issue_comment", "d-busy", body).webhook(t, http.StatusAccepted); a.Detail != "follow-up round 2 requested" {
		t.Fatalf("redelivery once the work order completed: %+v", a)
	}
}

func TestGitHubWebhook_NothingTriggered_Is202Ignored(t *testing.T) {
	allowed, err := repourl.ParseAllowlist("github.com/acme/*")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, withWebhook, func(o *api.Options) { o.AllowedRepositories = allowed })
	h.awoPR()
	tests := []struct {
		name, event, fixture string
		edit                 func(m map[string]any)
		reason               string
	}{
		{"author without write access", "issue_comment", "issue_comment_issue",
			func(m map[string]any) { field(m, "comment")["author_association"] = "CONTRIBUTOR" }, "author_association CONTRIBUTOR"},
		{"review by a first-time contributor", "pull_request_review", "pull_request_review_submitted",
			func(m map[string]any) { field(m, "review")["author_association"] = "FIRST_TIME_CONTRIBUTOR" }, "author_association FIRST_TIME_CONTRIBUTOR"},
		{"pull request without marker", "issue_comment", "issue_comment_pr",
			func(m map[string]any) { field(m, "issue")["body"] = "a person's pull request" }, "carries no awo work order marker"},
		{"marker of an unknown work order", "pull_request_review_comment", "pull_request_review_comment",
			func(m map[string]any) { field(m, "pull_request")["body"] = "<!-- awo work_order_id=wo-0000ffff -->" }, "wo-0000ffff, which does not exist"},
		{"marker of another repository's work order", "issue_comment", "issue_comment_pr",
			func(m map[string]any) { field(m, "repository")["full_name"] = "acme/other" }, "is not one of acme/other"},
		{"repository not allowed", "issues", "issues_labeled",
			func(m map[string]any) { field(m, "repository")["full_name"] = "evil/demo" }, "AWO_ALLOWED_REPOSITORIES"},
		{"another label", "issues", "issues_labeled",
			func(m map[string]any) { field(m, "label")["name"] = "bug" }, "a label other than awo"},
		{"an event awo does not act on", "star", "issues_labeled", nil, "event star triggers nothing"},
		{"a request the create refuses", "issue_comment", "issue_comment_issue",
			func(m map[string]any) { field(m, "comment")["body"] = "/awo colour \x1b[31mred" }, "user_request: control character U+001B"},
		{"a request over AWO_MAX_REQUEST_BYTES", "issue_comment", "issue_comment_issue",
			func(m map[string]any) { field(m, "comment")["body"] = "/awo " + strings.Repeat("x", 70_000) }, "AWO_MAX_REQUEST_BYTES"},
		{"a follow-up the prompt route refuses", "pull_request_review", "pull_request_review_submitted",
			func(m map[string]any) { field(m, "review")["body"] = "/awo \x00" }, "control character U+0000"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.eventCount()
			a := h.deliver(tt.event, fmt.Sprintf("d-ignored-%d", i), ghFixture(t, tt.fixture, tt.edit)).webhook(t, http.StatusAccepted)
			if !strings.HasPrefix(a.Detail, "ignored: ") || !strings.Contains(a.Detail, tt.reason) || a.ID != "" {
				t.Fatalf("answer %+v, want ignored: …%s…", a, tt.reason)
			}
			if n := h.eventCount(); n != before {
				t.Fatalf("%d events recorded", n-before)
			}
		})
	}
}

func TestGitHubWebhook_RefusedByAdmission_AnswersTheStatusAndReleasesTheDelivery(t *testing.T) {
	h := newHarness(t, withWebhook, withAdmission(api.Admission{MaxActive: 1}))
	busy := h.create(nil)
	body := ghFixture(t, "issues_labeled", nil)
	r := h.deliver("issues", "d-full", body)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || !strings.Contains(r.detail(t), "AWO_MAX_ACTIVE_WORK_ORDERS") {
		t.Fatalf("over the limit: %d %s", r.status, r.body)
	}
	h.started(busy)
	h.publish(busy, events.TypeCompleted, &events.Completed{})
	if a := h.deliver("issues", "d-full", body).webhook(t, http.StatusAccepted); a.Detail != "work order created" {
		t.Fatalf("redelivery after a slot freed: %+v", a)
	}
}

func TestGitHubWebhook_RefusesUnsignedAndMalformedDeliveries(t *testing.T) {
	var logs bytes.Buffer
	h := newHarness(t, withWebhook, func(o *api.Options) { o.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	body := ghFixture(t, "issues_labeled", nil)
	post := func(body []byte, headers ...string) response {
		return h.do(http.MethodPost, "/webhooks/github", bytes.NewReader(body), append([]string{"Content-Type", "application/json"}, headers...)...)
	}
	before := h.eventCount()
	for name, r := range map[string]response{
		"no signature":     post(body, "X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-1"),
		"another secret":   post(body, "X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-1", "X-Hub-Signature-256", signBody("another-secret-0123456789", body)),
		"another body":     post(body, "X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-1", "X-Hub-Signature-256", signBody(webhookSecret, append(body, ' '))),
		"sha1 only":        post(body, "X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-1", "X-Hub-Signature", "sha1=0123"),
		"garbage":          post(body, "X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-1", "X-Hub-Signature-256", "sha256=not-hex"),
		"bearer, unsigned": post(body, "X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-1", "Authorization", "Bearer "+webhookSecret),
	} {
		if r.status != http.StatusUnauthorized || !strings.Contains(r.detail(t), "X-Hub-Signature-256") {
			t.Errorf("%s: %d %s, want 401", name, r.status, r.body)
		}
	}
	signed := func(body []byte, headers ...string) response {
		return post(body, append(headers, "X-Hub-Signature-256", signBody(webhookSecret, body))...)
	}
	for name, tt := range map[string]struct {
		r    response
		want int
	}{
		"no event":       {signed(body, "X-GitHub-Delivery", "d-2"), http.StatusBadRequest},
		"no delivery":    {signed(body, "X-GitHub-Event", "issues"), http.StatusBadRequest},
		"malformed JSON": {signed([]byte(`{"action": "labeled",`), "X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-3"), http.StatusBadRequest},
		"not an object":  {signed([]byte(`[1,2]`), "X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-4"), http.StatusBadRequest},
		"not UTF-8":      {signed([]byte("{\"action\": \"\xff\"}"), "X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-5"), http.StatusBadRequest},
		"form-encoded": {post([]byte("payload=x"), "Content-Type", "application/x-www-form-urlencoded", "X-GitHub-Event", "issues",
			"X-GitHub-Delivery", "d-6", "X-Hub-Signature-256", signBody(webhookSecret, []byte("payload=x"))), http.StatusUnsupportedMediaType},
		"too large": {signed(bytes.Repeat([]byte(" "), 5<<20+1), "X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-7"), http.StatusRequestEntityTooLarge},
	} {
		if tt.r.status != tt.want {
			t.Errorf("%s: %d %s, want %d", name, tt.r.status, tt.r.body, tt.want)
		} else {
			tt.r.detail(t)
		}
	}
	if n := h.eventCount(); n != before {
		t.Fatalf("%d events recorded for refused deliveries", n-before)
	}
	ping := signed([]byte(`{"zen":"Design for failure.","hook_id":1}`), "X-GitHub-Event", "ping", "X-GitHub-Delivery", "d-ping")
	if ping.status != http.StatusOK || ping.detail(t) != "pong" {
		t.Fatalf("ping: %d %s", ping.status, ping.body)
	}
	if strings.Contains(logs.String(), webhookSecret) {
		t.Fatal("the webhook secret appears in the logs")
	}
	if !strings.Contains(logs.String(), "missing or bad signature") {
		t.Fatal("refused deliveries are not logged")
	}
}

func TestGitHubWebhook_RouteAbsentWithoutSecret(t *testing.T) {
	h := newHarness(t)
	body := ghFixture(t, "issues_labeled", nil)
	r := h.do(http.MethodPost, "/webhooks/github", bytes.NewReader(body), "Content-Type", "application/json",
		"X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-1", "X-Hub-Signature-256", signBody("", body))
	if r.status != http.StatusNotFound || r.detail(t) != "Not Found" {
		t.Fatalf("without GITHUB_WEBHOOK_SECRET: %d %s, want 404", r.status, r.body)
	}
}
