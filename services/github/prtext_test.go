package github_test

import (
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
	github "github.com/agentworkorders/awo/services/github"
)

func TestPRTitle(t *testing.T) {
	long := strings.Repeat("word ", 30) // 150 characters
	for _, tc := range []struct {
		name, branch, request, want string
	}{
		{"type prefix, kebab description", "feat/add-login-page", "ignored", "feat: add login page"},
		{"ticket id kept whole", "fix/JIRA-12-null-check", "", "fix: JIRA-12 null check"},
		{"ticket id at the end", "fix/null-check-PROJ-45", "", "fix: null check PROJ-45"},
		{"lower-case ticket is just words", "fix/jira-12", "", "fix: jira 12"},
		{"alias feature → feat, underscores", "feature/add_oauth_login", "", "feat: add oauth login"},
		{"alias hotfix → fix, prefix case ignored", "HotFix/Typo", "", "fix: Typo"},
		{"nested path", "docs/readme/usage-section", "", "docs: readme usage section"},
		{"other conventional types", "refactor/split-bus", "", "refactor: split bus"},
		{"unknown prefix uses the request", "wip/stuff", "Fix authentication bug\nin the login form", "feat: fix authentication bug"},
		{"no prefix uses the request", "add-login", "Add a login page.", "feat: add a login page"},
		{"acronym first word kept", "", "JWT refresh tokens", "feat: JWT refresh tokens"},
		{"single capital letter kept", "", "A new settings page", "feat: A new settings page"},
		{"request first non-empty line", "", "\n\n  Make it faster  \nsecond line", "feat: make it faster"},
		{"request cut to 72 characters", "", long, "feat: " + strings.TrimSpace(long[:72])},
		{"known prefix but empty description", "feat/", "Do the thing", "feat: do the thing"},
		{"no request falls back to the branch", "add-login-page", "", "feat: add login page"},
		{"nothing at all", "", "  ", "feat: changes by Agent Work Orders"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := github.PRTitle(tc.branch, tc.request); got != tc.want {
				t.Errorf("PRTitle(%q, %q) = %q, want %q", tc.branch, tc.request, got, tc.want)
			}
		})
	}
}

func TestPRBody_AllSections(t *testing.T) {
	got := github.PRBody(events.StepArgs{
		UserRequest: "Fix the login bug",
		IssueNumber: "#42",
		BranchName:  "fix/login-bug",
		BaseBranch:  "main",
		PlanFile:    "PRPs/features/login-bug.md",
		StepOutputs: map[workorder.Step]string{
			workorder.StepPlanning: "PRPs/features/login-bug.md",
			workorder.StepExecute:  "Handled the nil session in auth.go.",
			workorder.StepReview:   "Looks good; tests pass.\n",
			workorder.StepCommit:   "fix: handle nil session on login",
		},
	})
	want := "## Summary\n\nFix the login bug\n\nCloses #42\n" +
		"\n## Plan\n\nPlan file: `PRPs/features/login-bug.md`\n" +
		"\n## Implementation\n\nHandled the nil session in auth.go.\n" +
		"\n## Review\n\nLooks good; tests pass.\n" +
		"\n## Commit\n\nfix: handle nil session on login\n" +
		"\n---\n_This pull request was opened by Agent Work Orders. Branch `fix/login-bug` into `main`._\n"
	if got != want {
		t.Errorf("body:\n%s\nwant:\n%s", got, want)
	}
}

func TestPRBody(t *testing.T) {
	for _, tc := range []struct {
		name        string
		args        events.StepArgs
		contains    []string
		notContains []string
	}{
		{
			name:        "minimal: request and footer only",
			args:        events.StepArgs{UserRequest: "Add a health check"},
			contains:    []string{"## Summary\n\nAdd a health check\n", "opened by Agent Work Orders"},
			notContains: []string{"Closes", "## Plan", "## Review", "## Commit", "Branch `"},
		},
		{
			name:     "bare issue number",
			args:     events.StepArgs{UserRequest: "x", IssueNumber: "7"},
			contains: []string{"\nCloses #7\n"},
		},
		{
			name:        "not an issue number: no closing keyword",
			args:        events.StepArgs{UserRequest: "x", IssueNumber: "seven; rm -rf"},
			notContains: []string{"Closes"},
		},
		{
			name: "planner said more than the path",
			args: events.StepArgs{UserRequest: "x", PlanFile: "plan.md", StepOutputs: map[workorder.Step]string{
				workorder.StepPlanning: "Wrote the plan to plan.md with 3 tasks.",
			}},
			contains: []string{"## Plan\n\nPlan file: `plan.md`\n\nWrote the plan to plan.md with 3 tasks.\n"},
		},
		{
			name:     "no request",
			args:     events.StepArgs{},
			contains: []string{"## Summary\n\nChanges made by Agent Work Orders.\n"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := github.PRBody(tc.args)
			for _, s := range tc.contains {
				if !strings.Contains(got, s) {
					t.Errorf("body lacks %q:\n%s", s, got)
				}
			}
			for _, s := range tc.notContains {
				if strings.Contains(got, s) {
					t.Errorf("body has %q:\n%s", s, got)
				}
			}
		})
	}
}

func TestPRBody_HugeOutputsStayUnderGitHubsLimit(t *testing.T) {
	huge := strings.Repeat("x", 100_000)
	got := github.PRBody(events.StepArgs{UserRequest: huge, StepOutputs: map[workorder.Step]string{
		workorder.StepPlanning: huge, workorder.StepExecute: huge, workorder.StepReview: huge, workorder.StepCommit: huge,
	}})
	if n := len([]rune(got)); n > 65536 {
		t.Fatalf("body has %d characters; GitHub accepts 65536", n)
	}
	if !strings.Contains(got, "… (cut)") {
		t.Fatal("cut sections are not marked")
	}
}

func TestPRBodyFor_EndsWithTheWorkOrderMarker(t *testing.T) {
	args := events.StepArgs{UserRequest: "Add a login page", IssueNumber: "42", BranchName: "feat/login"}
	got := github.PRBodyFor("wo-1a2b3c4d", args)
	want := github.PRBody(args) + "<!-- awo work_order_id=wo-1a2b3c4d -->\n"
	if got != want {
		t.Fatalf("PRBodyFor =\n%s\nwant\n%s", got, want)
	}
}
