package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
)

const webhookSecret = "e2e-webhook-secret"

// labeledIssue is an issues.labeled delivery as GitHub documents it (the
// fields awo reads and a few around them), for issue n of acme/demo.
func labeledIssue(n int, title, body string) []byte {
	payload := map[string]any{
		"action": "labeled",
		"label":  map[string]any{"id": 1, "name": "awo", "color": "ededed"},
		"issue": map[string]any{
			"id": 1000 + n, "number": n, "title": title, "body": body, "state": "open",
			"html_url":           fmt.Sprintf("https://github.com/acme/demo/issues/%d", n),
			"user":               map[string]any{"login": "octocat", "id": 1, "type": "User"},
			"author_association": "OWNER",
			"labels":             []map[string]any{{"id": 1, "name": "awo"}},
		},
		"repository": map[string]any{
			"id": 77, "name": "demo", "full_name": "acme/demo", "private": false,
			"owner":          map[string]any{"login": "acme", "id": 2, "type": "Organization"},
			"html_url":       "https://github.com/acme/demo",
			"clone_url":      "https://github.com/acme/demo.git",
			"default_branch": "main",
		},
		"sender": map[string]any{"login": "octocat", "id": 1, "type": "User"},
	}
	b, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	return b
}

// sign is X-Hub-Signature-256 of body.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func deliveryID(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// postWebhook delivers body as GitHub does; signature "" sends none.
func (s *stack) postWebhook(event, delivery, signature string, body []byte) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest("POST", s.base+"/webhooks/github", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/e2e")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-GitHub-Hook-ID", "1")
	if signature != "" {
		req.Header.Set("X-Hub-Signature-256", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST /webhooks/github: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// workOrdersOfIssue lists the work orders for issue n.
func (s *stack) workOrdersOfIssue(n int) []workOrder {
	s.t.Helper()
	code, out := s.do("GET", "/api/agent-work-orders/", nil)
	if code != http.StatusOK {
		s.t.Fatalf("GET /api/agent-work-orders/: %d %s", code, out)
	}
	var all []workOrder
	if err := json.Unmarshal(out, &all); err != nil {
		s.t.Fatal(err)
	}
	var of []workOrder
	for _, wo := range all {
		if deref(wo.IssueNumber) == fmt.Sprint(n) {
			of = append(of, wo)
		}
	}
	return of
}

// An issue labelled awo on GitHub becomes one work order, also when GitHub
// delivers the webhook twice; awo answers on the issue that it is working
// on it, and then with the pull request it opened.
func TestGitHubWebhook_LabelledIssue_OneWorkOrderAnsweredOnTheIssue(t *testing.T) {
	const (
		branch = "feat/add-greeting"
		number = 42
	)
	issue := events.Issue{Number: number, Title: "Add a greeting", Body: "greeting.txt should say hello.",
		URL: "https://github.com/acme/demo/issues/42"}
	w := newWorldWithGH(t, fakegh.Options{Issues: []events.Issue{issue}},
		createBranch(branch), planning(), execute(writeGreeting), review(), commit(branch))
	s := newStack(t, w, "GITHUB_WEBHOOK_SECRET="+webhookSecret, "AWO_PUBLIC_URL=https://awo.example.com")
	s.start()

	body := labeledIssue(number, issue.Title, issue.Body)
	// Unsigned, or signed with another secret: refused, and nothing made.
	if code, out := s.postWebhook("issues", deliveryID(t), "", body); code != http.StatusUnauthorized {
		t.Errorf("unsigned delivery: %d %s, want 401", code, out)
	}
	if code, out := s.postWebhook("issues", deliveryID(t), sign("not-the-secret", body), body); code != http.StatusUnauthorized {
		t.Errorf("delivery signed with another secret: %d %s, want 401", code, out)
	}

	delivery := deliveryID(t)
	for i := range 2 { // GitHub redelivers; the second must change nothing
		if code, out := s.postWebhook("issues", delivery, sign(webhookSecret, body), body); code < 200 || code > 299 {
			t.Fatalf("delivery %d: %d %s, want 2xx", i+1, code, out)
		}
	}

	var id string
	deadline := time.Now().Add(10 * time.Second)
	for id == "" {
		if wos := s.workOrdersOfIssue(number); len(wos) > 0 {
			id = wos[0].ID
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no work order for the labelled issue within 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	wo := s.waitFinished(id, 2*time.Minute)
	if wo.Status != "completed" || !strings.Contains(deref(wo.PRURL), "/pull/") {
		t.Fatalf("work order %+v, error %q", wo, deref(wo.ErrorMessage))
	}
	if wos := s.workOrdersOfIssue(number); len(wos) != 1 {
		t.Errorf("%d work orders for the issue delivered twice, want 1: %+v", len(wos), wos)
	}
	prs := w.GH.PRs(t)
	if len(prs) != 1 || prs[0].Repo != "acme/demo" || !strings.Contains(prs[0].Body, "Closes #42") ||
		!strings.Contains(prs[0].Body, "<!-- awo work_order_id="+id+" -->") {
		t.Errorf("pull requests: %+v", prs)
	}

	// The answers: the start at once, the final word soon after the end.
	var comments []string
	deadline = time.Now().Add(15 * time.Second)
	for {
		comments = w.GH.IssueComments(t, "acme/demo", number)
		if len(comments) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(comments) != 2 {
		t.Fatalf("comments on acme/demo#42: %q, want the start and the end", comments)
	}
	if want := "Working on it: work order `" + id + "` https://awo.example.com/ui/work-orders/" + id; !strings.HasPrefix(comments[0], want) ||
		!strings.Contains(comments[0], "<!-- awo work_order_id="+id+" round=1 answer=start -->") {
		t.Errorf("start comment:\n%s\nwant it to begin %q", comments[0], want)
	}
	if want := "Done: work order `" + id + "` opened " + deref(wo.PRURL); !strings.HasPrefix(comments[1], want) ||
		!strings.Contains(comments[1], "<!-- awo work_order_id="+id+" round=1 answer=end -->") {
		t.Errorf("final comment:\n%s\nwant it to begin %q", comments[1], want)
	}
	for _, c := range w.GH.Calls(t) {
		if len(c.Args) > 0 && c.Args[0] == "api" && c.Env["GH_TOKEN"] != "test-token" {
			t.Errorf("gh api ran without the token: %+v", c.Args)
		}
	}
}

// reviewComment is a pull_request_review_comment.created delivery as GitHub
// documents it: a comment by an owner on a line of awo's pull request,
// whose body (with awo's hidden work-order marker) the payload carries.
func reviewComment(pr fakegh.PR, number int, text string) []byte {
	payload := map[string]any{
		"action": "created",
		"comment": map[string]any{
			"id": 9001, "body": text, "path": "greeting.txt", "line": 1, "side": "RIGHT",
			"diff_hunk":          "@@ -0,0 +1 @@\n+hello",
			"user":               map[string]any{"login": "octocat", "id": 1, "type": "User"},
			"author_association": "OWNER",
			"html_url":           fmt.Sprintf("https://github.com/acme/demo/pull/%d#discussion_r9001", number),
		},
		"pull_request": map[string]any{
			"id": 500 + number, "number": number, "title": pr.Title, "body": pr.Body, "state": "open",
			"html_url": fmt.Sprintf("https://github.com/acme/demo/pull/%d", number),
			"head":     map[string]any{"ref": pr.Head, "repo": map[string]any{"full_name": "acme/demo"}},
			"base":     map[string]any{"ref": "main", "repo": map[string]any{"full_name": "acme/demo"}},
			"user":     map[string]any{"login": "awo-bot", "id": 3, "type": "User"},
		},
		"repository": map[string]any{
			"id": 77, "name": "demo", "full_name": "acme/demo", "private": false,
			"owner":    map[string]any{"login": "acme", "id": 2, "type": "Organization"},
			"html_url": "https://github.com/acme/demo", "clone_url": "https://github.com/acme/demo.git", "default_branch": "main",
		},
		"sender": map[string]any{"login": "octocat", "id": 1, "type": "User"},
	}
	b, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	return b
}

// A "/awo …" review comment on the pull request awo opened runs a
// follow-up round of its work order: the Implementor's session resumed,
// one more commit on the same branch, a comment on the same pull request,
// and no second pull request. The comment's author must have write access.
func TestGitHubWebhook_ReviewCommentOnAwosPR_RunsAFollowUpRound(t *testing.T) {
	w := newWorld(t, createBranch(followUpBranch), executeThenFollowUp(0), commitAndPush())
	s := newStack(t, w, "GITHUB_WEBHOOK_SECRET="+webhookSecret)
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []string{"create-branch", "execute", "commit", "create-pr"}})
	wo := s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" || !strings.Contains(deref(wo.PRURL), "/pull/") {
		t.Fatalf("first run: status %s, PR %q, error %q", wo.Status, deref(wo.PRURL), deref(wo.ErrorMessage))
	}
	commits := w.Origin.CommitCount(t, followUpBranch)
	prs := w.GH.PRs(t)
	if len(prs) != 1 {
		t.Fatalf("pull requests: %+v", prs)
	}
	var number int
	if _, err := fmt.Sscanf(deref(wo.PRURL)[strings.LastIndex(deref(wo.PRURL), "/")+1:], "%d", &number); err != nil {
		t.Fatalf("PR number of %q: %v", deref(wo.PRURL), err)
	}

	// Without write access: acknowledged, and nothing runs.
	outsider := bytes.ReplaceAll(reviewComment(prs[0], number, "/awo "+followUpPrompt), []byte(`"OWNER"`), []byte(`"NONE"`))
	if code, out := s.postWebhook("pull_request_review_comment", deliveryID(t), sign(webhookSecret, outsider), outsider); code != http.StatusAccepted || !strings.Contains(out, "ignored") {
		t.Errorf("comment by an author without write access: %d %s, want 202 ignored", code, out)
	}
	if got := s.get(id); got.Status != "completed" {
		t.Fatalf("after an outsider's comment the work order is %s", got.Status)
	}

	body := reviewComment(prs[0], number, "/awo "+followUpPrompt)
	if code, out := s.postWebhook("pull_request_review_comment", deliveryID(t), sign(webhookSecret, body), body); code != http.StatusAccepted {
		t.Fatalf("review comment: %d %s, want 202", code, out)
	}
	s.waitFor(id, 30*time.Second, "the follow-up round to start", func(wo workOrder) bool { return wo.Status == "running" })
	wo = s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("after the review comment: status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if !resumed(w) {
		t.Errorf("the round did not resume the execute step's session")
	}
	checkRound(t, s, w, id, commits)
}
