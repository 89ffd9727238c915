package github_test

import (
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
	"github.com/agentworkorders/awo/pkg/workorder"
	github "github.com/agentworkorders/awo/services/github"
)

func TestPRBody_FillsTheRepositorysTemplate(t *testing.T) {
	const footer = "\n---\n_This pull request was opened by Agent Work Orders._\n"
	for _, tc := range []struct {
		name, template, want string
	}{
		{
			name: "summary under the first heading, after its hidden guidance",
			template: "## Description\n\n<!-- Describe your changes -->\n\n## Type of change\n\n- [ ] Bug fix\n\n" +
				"## Checklist\n- [ ] Tests\n",
			want: "## Description\n\n<!-- Describe your changes -->\n\nFix the login bug\n\nCloses #42\n\n" +
				"## Type of change\n\n- [ ] Bug fix\n\n## Checklist\n- [ ] Tests\n",
		},
		{
			name:     "visible placeholder text stays after the summary",
			template: "# What\nDescribe it here.\n# Why\n",
			want:     "# What\n\nFix the login bug\n\nCloses #42\n\nDescribe it here.\n# Why\n",
		},
		{
			name:     "comment over several lines",
			template: "### Summary\n<!--\n  What does this change?\n-->\nFixes # (issue)\n",
			want:     "### Summary\n<!--\n  What does this change?\n-->\n\nFix the login bug\n\nCloses #42\n\nFixes # (issue)\n",
		},
		{
			name:     "headings in comments and code fences, and #42, are not sections",
			template: "#42 is not a heading\n<!--\n# not this\n-->\n```\n# nor this\n```\n## Changes\n",
			want:     "#42 is not a heading\n<!--\n# not this\n-->\n```\n# nor this\n```\n## Changes\n\nFix the login bug\n\nCloses #42\n",
		},
		{
			name:     "no heading: the summary goes above",
			template: "- [ ] I have run the tests\n- [ ] I have updated the docs\n",
			want:     "## Summary\n\nFix the login bug\n\nCloses #42\n\n- [ ] I have run the tests\n- [ ] I have updated the docs\n",
		},
		{
			name:     "windows line endings",
			template: "## Description\r\n\r\n## Testing\r\n",
			want:     "## Description\n\nFix the login bug\n\nCloses #42\n\n## Testing\n",
		},
		{
			name:     "blank template is no template",
			template: " \n\n",
			want:     "## Summary\n\nFix the login bug\n\nCloses #42\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := github.PRBody(events.StepArgs{UserRequest: "Fix the login bug", IssueNumber: "42", PRTemplate: tc.template})
			if got != tc.want+footer {
				t.Errorf("body:\n%s\nwant:\n%s", got, tc.want+footer)
			}
		})
	}
}

// The steps' own sections follow the filled template.
func TestPRBody_TemplateThenTheStepsSections(t *testing.T) {
	got := github.PRBody(events.StepArgs{
		UserRequest: "Fix the login bug", BranchName: "fix/login", BaseBranch: "main",
		PRTemplate:  "## Description\n\n## Checklist\n- [ ] Tests\n",
		StepOutputs: map[workorder.Step]string{workorder.StepExecute: "Handled the nil session."},
	})
	want := "## Description\n\nFix the login bug\n\n## Checklist\n- [ ] Tests\n" +
		"\n## Implementation\n\nHandled the nil session.\n" +
		"\n---\n_This pull request was opened by Agent Work Orders. Branch `fix/login` into `main`._\n"
	if got != want {
		t.Errorf("body:\n%s\nwant:\n%s", got, want)
	}
}

func TestPRBody_HugeTemplateStaysUnderGitHubsLimit(t *testing.T) {
	huge := strings.Repeat("é", 100_000)
	got := github.PRBody(events.StepArgs{UserRequest: huge, IssueNumber: "1", BranchName: strings.Repeat("b", 250),
		PRTemplate: "## Description\n" + huge, StepOutputs: map[workorder.Step]string{
			workorder.StepPlanning: huge, workorder.StepExecute: huge, workorder.StepReview: huge, workorder.StepCommit: huge,
		}})
	if n := len([]rune(got)); n > 65536 {
		t.Fatalf("body has %d characters; GitHub accepts 65536", n)
	}
	if !strings.HasPrefix(got, "## Description\n\n") {
		t.Fatalf("body does not start with the template: %q", got[:40])
	}
}

// create-pr opens the pull request with the template the commit step
// passed along, filled.
func TestCreatePR_UsesTheRepositorysTemplate(t *testing.T) {
	h := start(t, fakegh.Options{}, nil)
	_, res := h.run(t, createPR("wo-0000aa10", events.StepArgs{
		UserRequest: "Add a login page", BranchName: "feat/add-login-page", BaseBranch: "main",
		PRTemplate: "## Description\n\n<!-- what and why -->\n\n## Checklist\n\n- [ ] Tests added\n",
	}))
	prs := h.fake.PRs(t)
	if !res.Success || len(prs) != 1 {
		t.Fatalf("result %+v, %d PRs", res, len(prs))
	}
	want := "## Description\n\n<!-- what and why -->\n\nAdd a login page\n\n## Checklist\n\n- [ ] Tests added\n"
	if !strings.HasPrefix(prs[0].Body, want) {
		t.Fatalf("PR body:\n%s\nwant it to start with:\n%s", prs[0].Body, want)
	}
}
