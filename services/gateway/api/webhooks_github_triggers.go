package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// What a GitHub delivery asks of awo, decided from the payload alone (no
// I/O), so every rule is table-tested with payload fixtures.

// triggerRules are the configured triggers (AWO_TRIGGER_*).
type triggerRules struct {
	label        string
	command      string
	associations []string
}

// trigger is what a delivery asks for: nothing (ignore says why), a new
// work order (create), or a follow-up round of an awo pull request's work
// order (followUp).
type trigger struct {
	ignore string

	create      bool
	userRequest string
	issue       int

	followUp  workorder.ID
	promptTxt string

	// origin is where on GitHub it was asked; DeliveryID is the handler's.
	origin events.Origin
}

// ghPayload is the part of GitHub's webhook payloads the triggers read
// (issues, issue_comment, pull_request_review_comment,
// pull_request_review): unknown members are ignored.
type ghPayload struct {
	Action     string `json:"action"`
	Repository *struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	Sender struct {
		Login string `json:"login"`
	} `json:"sender"`
	Label *struct {
		Name string `json:"name"`
	} `json:"label"`
	Issue       *ghIssue   `json:"issue"`
	PullRequest *ghIssue   `json:"pull_request"`
	Comment     *ghComment `json:"comment"`
	Review      *ghComment `json:"review"`
}

type ghIssue struct {
	Number int     `json:"number"`
	Title  string  `json:"title"`
	Body   *string `json:"body"` // null when empty
	// PullRequest is set on an issue that is a pull request.
	PullRequest json.RawMessage `json:"pull_request"`
}

// ghComment is an issue comment, a review comment or a review.
type ghComment struct {
	ID                int64   `json:"id"`
	Body              *string `json:"body"`
	AuthorAssociation string  `json:"author_association"`
	// Review comments only.
	Path         string `json:"path"`
	Line         *int   `json:"line"`
	OriginalLine *int   `json:"original_line"`
	DiffHunk     string `json:"diff_hunk"`
}

func (i *ghIssue) isPullRequest() bool {
	raw := bytes.TrimSpace(i.PullRequest)
	return len(raw) > 0 && string(raw) != "null"
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// The GitHub events awo acts on.
const (
	ghEventIssues        = "issues"
	ghEventIssueComment  = "issue_comment"
	ghEventReviewComment = "pull_request_review_comment"
	ghEventReview        = "pull_request_review"
)

// decodeGitHubPayload reads a delivery's JSON; an error is the sender's
// fault (400).
func decodeGitHubPayload(body []byte) (ghPayload, error) {
	var p ghPayload
	if !utf8.Valid(body) {
		return p, fmt.Errorf("the payload is not valid UTF-8")
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return p, fmt.Errorf("the payload is not a JSON object of GitHub's shape: %v", err)
	}
	return p, nil
}

// decideTrigger says what a delivery of event asks for under rules.
func decideTrigger(event string, p ghPayload, rules triggerRules) trigger {
	if p.Repository == nil || p.Repository.FullName == "" {
		return trigger{ignore: "the payload names no repository"}
	}
	origin := events.Origin{Repository: p.Repository.FullName, Sender: p.Sender.Login}
	switch event {
	case ghEventIssues:
		return issueLabeled(p, rules, origin)
	case ghEventIssueComment:
		return issueCommented(p, rules, origin)
	case ghEventReviewComment:
		if p.Action != "created" {
			return trigger{ignore: "pull_request_review_comment action " + p.Action}
		}
		return pullRequestComment(p.PullRequest, p.Comment, rules, origin, true)
	case ghEventReview:
		if p.Action != "submitted" {
			return trigger{ignore: "pull_request_review action " + p.Action}
		}
		return pullRequestComment(p.PullRequest, p.Review, rules, origin, false)
	}
	return trigger{ignore: "event " + event + " triggers nothing"}
}

// issueLabeled: the trigger label on an issue creates a work order for it.
// The payload carries no author_association for whoever labelled, and none
// is needed: only people with triage or write access to the repository
// can label its issues.
func issueLabeled(p ghPayload, rules triggerRules, origin events.Origin) trigger {
	switch {
	case p.Action != "labeled":
		return trigger{ignore: "issues action " + p.Action}
	case p.Label == nil || !strings.EqualFold(p.Label.Name, rules.label):
		return trigger{ignore: "a label other than " + rules.label}
	case p.Issue == nil || p.Issue.Number <= 0:
		return trigger{ignore: "the payload names no issue"}
	}
	origin.Kind, origin.Number = events.OriginIssueLabel, p.Issue.Number
	return trigger{create: true, userRequest: resolveIssue(p.Issue), issue: p.Issue.Number, origin: origin}
}

// resolveIssue is the request of a work order for a whole issue: the
// planner reads the issue's title and body through its number.
func resolveIssue(i *ghIssue) string {
	return fmt.Sprintf("Resolve issue #%d: %s", i.Number, strings.TrimSpace(i.Title))
}

// issueCommented: the command on an issue creates a work order with the
// request after it (the whole issue when none); on a pull request it is a
// follow-up of awo's work order.
func issueCommented(p ghPayload, rules triggerRules, origin events.Origin) trigger {
	switch {
	case p.Action != "created":
		return trigger{ignore: "issue_comment action " + p.Action}
	case p.Issue == nil || p.Comment == nil || p.Issue.Number <= 0:
		return trigger{ignore: "the payload names no issue or comment"}
	case p.Issue.isPullRequest():
		// The issue of a pull request carries the pull request's body.
		return pullRequestComment(p.Issue, p.Comment, rules, origin, false)
	}
	request, ok := commandRequest(str(p.Comment.Body), rules.command)
	if !ok {
		return trigger{ignore: "the comment does not start with " + rules.command}
	}
	if why := unauthorized(p.Comment.AuthorAssociation, rules); why != "" {
		return trigger{ignore: why}
	}
	if request == "" {
		request = resolveIssue(p.Issue)
	}
	origin.Kind, origin.Number, origin.CommentID = events.OriginIssueComment, p.Issue.Number, p.Comment.ID
	return trigger{create: true, userRequest: request, issue: p.Issue.Number, origin: origin}
}

// pullRequestComment: the command in a comment or review on a pull
// request awo opened is a follow-up round of the work order its body's
// marker names.
func pullRequestComment(pr *ghIssue, c *ghComment, rules triggerRules, origin events.Origin, review bool) trigger {
	if pr == nil || c == nil || pr.Number <= 0 {
		return trigger{ignore: "the payload names no pull request or comment"}
	}
	request, ok := commandRequest(str(c.Body), rules.command)
	if !ok {
		return trigger{ignore: "the comment does not start with " + rules.command}
	}
	if why := unauthorized(c.AuthorAssociation, rules); why != "" {
		return trigger{ignore: why}
	}
	if request == "" {
		return trigger{ignore: "nothing asked after " + rules.command}
	}
	id, ok := workOrderMarker(str(pr.Body))
	if !ok {
		return trigger{ignore: fmt.Sprintf("pull request #%d carries no awo work order marker (awo did not open it)", pr.Number)}
	}
	origin.Kind, origin.Number, origin.CommentID = events.OriginPullRequestComment, pr.Number, c.ID
	return trigger{followUp: id, promptTxt: reviewPrompt(request, c, review), origin: origin}
}

// reviewPrompt gives the agent the place a review comment was made on.
func reviewPrompt(request string, c *ghComment, review bool) string {
	if !review || c.Path == "" {
		return request
	}
	var b strings.Builder
	b.WriteString(request)
	b.WriteString("\n\nReview comment on ")
	b.WriteString(c.Path)
	switch {
	case c.Line != nil:
		b.WriteString(" line " + strconv.Itoa(*c.Line))
	case c.OriginalLine != nil:
		b.WriteString(" line " + strconv.Itoa(*c.OriginalLine))
	}
	b.WriteString(":")
	if hunk := strings.TrimSpace(c.DiffHunk); hunk != "" {
		b.WriteString("\n```diff\n" + hunk + "\n```")
	}
	return b.String()
}

// commandRequest returns the text after command when body starts with it
// (after leading blanks) as a word of its own: "/awo fix it" but not
// "/awoken".
func commandRequest(body, command string) (string, bool) {
	t := strings.TrimLeftFunc(body, unicode.IsSpace)
	if command == "" || len(t) < len(command) || !strings.EqualFold(t[:len(command)], command) {
		return "", false
	}
	rest := t[len(command):]
	if r, _ := utf8.DecodeRuneInString(rest); rest != "" && !unicode.IsSpace(r) {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

func unauthorized(association string, rules triggerRules) string {
	if slices.Contains(rules.associations, strings.ToUpper(association)) {
		return ""
	}
	if association == "" {
		association = "(none)"
	}
	return fmt.Sprintf("author_association %s is not one of %s (AWO_TRIGGER_ASSOCIATIONS)", association, strings.Join(rules.associations, ","))
}

// workOrderMarkerRE is the hidden marker awo writes into the bodies of its
// pull requests and comments.
var workOrderMarkerRE = regexp.MustCompile(`<!--\s*awo\s+work_order_id=(wo-[0-9A-Za-z]+)[^>]*-->`)

func workOrderMarker(body string) (workorder.ID, bool) {
	m := workOrderMarkerRE.FindStringSubmatch(body)
	if m == nil {
		return "", false
	}
	id, err := workorder.ParseID(m[1])
	return id, err == nil
}
