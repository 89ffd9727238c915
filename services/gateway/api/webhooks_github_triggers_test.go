package api

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

var defaultRules = triggerRules{label: "awo", command: "/awo", associations: []string{"OWNER", "MEMBER", "COLLABORATOR"}}

// fixture reads testdata/github/name.json, lets edit change it, and
// decodes it as the handler does.
func fixture(t *testing.T, name string, edit func(m map[string]any)) ghPayload {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "github", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	raw, _ = json.Marshal(m)
	p, err := decodeGitHubPayload(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

func TestDecideTrigger(t *testing.T) {
	const wo = workorder.ID("wo-0000aa01")
	tests := []struct {
		name    string
		event   string
		fixture string
		edit    func(m map[string]any)
		rules   *triggerRules
		want    trigger // compared without ignore's text
		ignore  string  // part of the reason when ignored
	}{
		{name: "labelled issue", event: "issues", fixture: "issues_labeled",
			want: trigger{create: true, userRequest: "Resolve issue #42: Login fails with an empty password", issue: 42,
				origin: events.Origin{Kind: events.OriginIssueLabel, Repository: "acme/demo", Number: 42, Sender: "maintainer"}}},
		{name: "label name is case-insensitive", event: "issues", fixture: "issues_labeled",
			edit: func(m map[string]any) { obj(m, "label")["name"] = "AWO" },
			want: trigger{create: true, userRequest: "Resolve issue #42: Login fails with an empty password", issue: 42,
				origin: events.Origin{Kind: events.OriginIssueLabel, Repository: "acme/demo", Number: 42, Sender: "maintainer"}}},
		{name: "another label", event: "issues", fixture: "issues_labeled",
			edit: func(m map[string]any) { obj(m, "label")["name"] = "bug" }, ignore: "a label other than awo"},
		{name: "configured label", event: "issues", fixture: "issues_labeled",
			rules:  &triggerRules{label: "fix-me", command: "/awo", associations: []string{"OWNER"}},
			ignore: "a label other than fix-me"},
		{name: "unlabelled", event: "issues", fixture: "issues_labeled",
			edit: func(m map[string]any) { m["action"] = "unlabeled" }, ignore: "issues action unlabeled"},
		{name: "issue comment", event: "issue_comment", fixture: "issue_comment_issue",
			want: trigger{create: true, userRequest: "add a dark theme that follows prefers-color-scheme\r\n\r\nKeep the contrast at AA.", issue: 43,
				origin: events.Origin{Kind: events.OriginIssueComment, Repository: "acme/demo", Number: 43, CommentID: 9001, Sender: "maintainer"}}},
		{name: "bare command on an issue resolves the issue", event: "issue_comment", fixture: "issue_comment_issue",
			edit: func(m map[string]any) { obj(m, "comment")["body"] = "  /awo  " },
			want: trigger{create: true, userRequest: "Resolve issue #43: Add a dark theme", issue: 43,
				origin: events.Origin{Kind: events.OriginIssueComment, Repository: "acme/demo", Number: 43, CommentID: 9001, Sender: "maintainer"}}},
		{name: "a longer word is not the command", event: "issue_comment", fixture: "issue_comment_issue",
			edit: func(m map[string]any) { obj(m, "comment")["body"] = "/awoken is a word" }, ignore: "does not start with /awo"},
		{name: "command later in the comment", event: "issue_comment", fixture: "issue_comment_issue",
			edit: func(m map[string]any) { obj(m, "comment")["body"] = "please /awo fix" }, ignore: "does not start with /awo"},
		{name: "author without write access", event: "issue_comment", fixture: "issue_comment_issue",
			edit:   func(m map[string]any) { obj(m, "comment")["author_association"] = "CONTRIBUTOR" },
			ignore: "author_association CONTRIBUTOR is not one of OWNER,MEMBER,COLLABORATOR"},
		{name: "edited comment", event: "issue_comment", fixture: "issue_comment_issue",
			edit: func(m map[string]any) { m["action"] = "edited" }, ignore: "issue_comment action edited"},
		{name: "comment on awo's pull request", event: "issue_comment", fixture: "issue_comment_pr",
			want: trigger{followUp: wo, promptTxt: "also handle a password of only spaces",
				origin: events.Origin{Kind: events.OriginPullRequestComment, Repository: "acme/demo", Number: 7, CommentID: 9002, Sender: "maintainer"}}},
		{name: "comment on a pull request awo did not open", event: "issue_comment", fixture: "issue_comment_pr",
			edit: func(m map[string]any) { obj(m, "issue")["body"] = "A person's change." }, ignore: "pull request #7 carries no awo work order marker"},
		{name: "bare command on a pull request", event: "issue_comment", fixture: "issue_comment_pr",
			edit: func(m map[string]any) { obj(m, "comment")["body"] = "/awo" }, ignore: "nothing asked after /awo"},
		{name: "review comment", event: "pull_request_review_comment", fixture: "pull_request_review_comment",
			want: trigger{followUp: wo, promptTxt: "use strings.TrimSpace before the check\n\nReview comment on auth/login.go line 12:\n```diff\n" +
				"@@ -10,6 +10,9 @@ func login(user, password string) error {\n+\tif password == \"\" {\n+\t\treturn errEmpty\n+\t}\n```",
				origin: events.Origin{Kind: events.OriginPullRequestComment, Repository: "acme/demo", Number: 7, CommentID: 7001, Sender: "reviewer"}}},
		{name: "review comment on an outdated line", event: "pull_request_review_comment", fixture: "pull_request_review_comment",
			edit: func(m map[string]any) {
				c := obj(m, "comment")
				c["line"] = nil
				c["original_line"] = 9
				c["diff_hunk"] = ""
			},
			want: trigger{followUp: wo, promptTxt: "use strings.TrimSpace before the check\n\nReview comment on auth/login.go line 9:",
				origin: events.Origin{Kind: events.OriginPullRequestComment, Repository: "acme/demo", Number: 7, CommentID: 7001, Sender: "reviewer"}}},
		{name: "review comment by a contributor", event: "pull_request_review_comment", fixture: "pull_request_review_comment",
			edit: func(m map[string]any) { obj(m, "comment")["author_association"] = "NONE" }, ignore: "author_association NONE"},
		{name: "review", event: "pull_request_review", fixture: "pull_request_review_submitted",
			want: trigger{followUp: wo, promptTxt: "split the validation into its own function",
				origin: events.Origin{Kind: events.OriginPullRequestComment, Repository: "acme/demo", Number: 7, CommentID: 6002, Sender: "reviewer"}}},
		{name: "review without a body", event: "pull_request_review", fixture: "pull_request_review_submitted",
			edit: func(m map[string]any) { obj(m, "review")["body"] = nil }, ignore: "does not start with /awo"},
		{name: "dismissed review", event: "pull_request_review", fixture: "pull_request_review_submitted",
			edit: func(m map[string]any) { m["action"] = "dismissed" }, ignore: "pull_request_review action dismissed"},
		{name: "other event", event: "push", fixture: "issues_labeled", ignore: "event push triggers nothing"},
		{name: "no repository", event: "issues", fixture: "issues_labeled",
			edit: func(m map[string]any) { delete(m, "repository") }, ignore: "names no repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := defaultRules
			if tt.rules != nil {
				rules = *tt.rules
			}
			got := decideTrigger(tt.event, fixture(t, tt.fixture, tt.edit), rules)
			if tt.ignore != "" {
				if !strings.Contains(got.ignore, tt.ignore) {
					t.Fatalf("ignore = %q, want it to contain %q (trigger %+v)", got.ignore, tt.ignore, got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestWorkOrderMarker(t *testing.T) {
	tests := []struct {
		body string
		want workorder.ID
	}{
		{"x\n<!-- awo work_order_id=wo-0000aa01 -->", "wo-0000aa01"},
		{"<!-- awo work_order_id=wo-0000cc01 round=2 -->", "wo-0000cc01"},
		{"<!--awo work_order_id=wo-0000aa01-->", "wo-0000aa01"},
		{"<!-- awo work_order_id=wo-ZZZZ -->", ""},
		{"awo work_order_id=wo-0000aa01", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := workOrderMarker(tt.body)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("workOrderMarker(%q) = %q, %v; want %q", tt.body, got, ok, tt.want)
		}
	}
}

func TestValidSignature(t *testing.T) {
	// GitHub's documented test vector (docs: "Validating webhook
	// deliveries"), also what openssl dgst -sha256 -hmac gives.
	body := []byte("Hello, World!")
	const secret = "It's a Secret to Everybody"
	good := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	for _, tt := range []struct {
		header string
		want   bool
	}{
		{good, true},
		{strings.ToUpper(good[:7]) + good[7:], false},
		{"sha256=" + strings.ToUpper(good[7:]), true},
		{"", false},
		{"sha1=" + good[7:], false},
		{"sha256=" + strings.Repeat("0", 64), false},
		{"sha256=zz", false},
		{good[:len(good)-2], false},
	} {
		if got := validSignature(secret, body, tt.header); got != tt.want {
			t.Errorf("validSignature(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
	if validSignature("", body, good) {
		t.Error("an empty secret verified a signature")
	}
}
