package github

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/textcut"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// maxTitleDescription is where a title's description is cut: the common
// limit for a commit or PR subject line.
const maxTitleDescription = 72

// branchTypes maps a branch prefix to its conventional-commit type.
var branchTypes = map[string]string{
	"feat": "feat", "feature": "feat",
	"fix": "fix", "bugfix": "fix", "hotfix": "fix",
	"docs": "docs", "style": "style", "refactor": "refactor", "perf": "perf",
	"test": "test", "tests": "test", "build": "build", "ci": "ci",
	"chore": "chore", "revert": "revert",
}

// PRTitle derives a conventional title from the branch when it has a known
// type prefix ("fix/JIRA-12-null-check" → "fix: JIRA-12 null check");
// otherwise it is a feature titled by the first line of the user's request.
func PRTitle(branch, userRequest string) string {
	if prefix, rest, ok := strings.Cut(strings.TrimSpace(branch), "/"); ok {
		if typ, known := branchTypes[strings.ToLower(prefix)]; known {
			if desc := humanizeBranch(rest); desc != "" {
				return typ + ": " + strings.TrimSpace(textcut.Runes(desc, maxTitleDescription, ""))
			}
		}
	}
	desc := firstLine(userRequest)
	if desc == "" {
		desc = humanizeBranch(branch)
	}
	if desc == "" {
		desc = "changes by Agent Work Orders"
	}
	return "feat: " + lowerFirst(strings.TrimSuffix(strings.TrimSpace(textcut.Runes(desc, maxTitleDescription, "")), "."))
}

// humanizeBranch turns a branch slug into words, keeping ticket ids such as
// JIRA-12 whole.
func humanizeBranch(slug string) string {
	parts := strings.FieldsFunc(slug, isBranchSeparator)
	var words []string
	for i := 0; i < len(parts); i++ {
		if i+1 < len(parts) && isTicketKey(parts[i]) && isDigits(parts[i+1]) {
			words = append(words, parts[i]+"-"+parts[i+1])
			i++
			continue
		}
		words = append(words, parts[i])
	}
	return strings.Join(words, " ")
}

func isBranchSeparator(r rune) bool { return r == '-' || r == '_' || r == '/' || unicode.IsSpace(r) }

// isTicketKey matches the project key of an issue-tracker id: two or more
// upper-case letters or digits, starting with a letter (JIRA, ABC2).
func isTicketKey(s string) bool {
	if len(s) < 2 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func firstLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if l := strings.TrimSpace(line); l != "" {
			return l
		}
	}
	return ""
}

// lowerFirst lower-cases a capitalised first word ("Fix the bug" → "fix the
// bug") but leaves acronyms and single letters alone ("JWT", "A").
func lowerFirst(s string) string {
	first, n := utf8.DecodeRuneInString(s)
	second, _ := utf8.DecodeRuneInString(s[n:])
	if unicode.IsUpper(first) && unicode.IsLower(second) {
		return string(unicode.ToLower(first)) + s[n:]
	}
	return s
}

// GitHub refuses bodies over 65536 characters; sections are cut so the
// whole stays well below that.
const (
	maxRequestChars = 8000
	maxSectionChars = 12000
)

// sectionCut marks where a section of the body was cut.
const sectionCut = "\n\n… (cut)"

// PRBody writes the pull request description from what the earlier steps
// established: the request with "Closes #N" for the issue it resolves (in
// the first section of the repository's pull request template when it has
// one), then the plan, the implementation summary, the review and the
// commit.
func PRBody(a events.StepArgs) string {
	summary := "Changes made by Agent Work Orders."
	if req := strings.TrimSpace(a.UserRequest); req != "" {
		summary = textcut.Runes(req, maxRequestChars, sectionCut)
	}
	if n, ok := parseIssueNumber(a.IssueNumber); ok {
		summary += fmt.Sprintf("\n\nCloses #%d", n)
	}
	var b strings.Builder
	if strings.TrimSpace(a.PRTemplate) != "" {
		b.WriteString(fillTemplate(a.PRTemplate, summary))
	} else {
		b.WriteString("## Summary\n\n" + summary + "\n")
	}

	plan := strings.TrimSpace(a.StepOutputs[workorder.StepPlanning])
	var planText []string
	if a.PlanFile != "" {
		planText = append(planText, "Plan file: `"+a.PlanFile+"`")
	}
	// The planner answers with the plan's path; repeat it only if it said more.
	if plan != "" && plan != a.PlanFile && strings.TrimPrefix(plan, "./") != a.PlanFile {
		planText = append(planText, plan)
	}
	section(&b, "Plan", strings.Join(planText, "\n\n"))
	section(&b, "Implementation", a.StepOutputs[workorder.StepExecute])
	section(&b, "Review", a.StepOutputs[workorder.StepReview])
	section(&b, "Commit", a.StepOutputs[workorder.StepCommit])

	b.WriteString("\n---\n_This pull request was opened by Agent Work Orders.")
	if a.BranchName != "" {
		fmt.Fprintf(&b, " Branch `%s`", a.BranchName)
		if a.BaseBranch != "" {
			fmt.Fprintf(&b, " into `%s`", a.BaseBranch)
		}
		b.WriteString(".")
	}
	b.WriteString("_\n")
	return b.String()
}

// PRBodyFor is the body create-pr opens the pull request with: PRBody
// ending with the hidden line naming work order wo (WorkOrderMarker), by
// which a webhook about a comment on the pull request finds its work order.
func PRBodyFor(wo workorder.ID, a events.StepArgs) string {
	return PRBody(a) + WorkOrderMarker(wo) + "\n"
}

// WorkOrderMarker is the hidden line that names work order wo in a pull
// request's body: the same form as the comment markers, without a round.
func WorkOrderMarker(wo workorder.ID) string {
	return fmt.Sprintf("<!-- awo work_order_id=%s -->", wo)
}

func section(b *strings.Builder, heading, text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	fmt.Fprintf(b, "\n## %s\n\n%s\n", heading, textcut.Runes(text, maxSectionChars, sectionCut))
}

// parseIssueNumber reads a GitHub issue number as clients send it: "42" or
// "#42".
func parseIssueNumber(s string) (int, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "#")
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || !isDigits(s) {
		return 0, false
	}
	return n, true
}
