package prompts

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func TestSubstitute(t *testing.T) {
	ten := []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10"}
	tests := []struct {
		name string
		tmpl string
		args []string
		want string
	}{
		{"positional", "branch $1 plan $2", []string{"feat/x", "PRPs/features/x.md"}, "branch feat/x plan PRPs/features/x.md"},
		{"all arguments", "run: $ARGUMENTS.", []string{"one", "two"}, "run: one two."},
		{"missing argument is empty", "[$1][$2]", []string{"only"}, "[only][]"},
		{"no arguments", "[$1][$ARGUMENTS]", nil, "[][]"},
		{"$10 is the tenth argument", "$10|$1|$9", ten, "a10|a1|a9"},
		{"$10 with fewer arguments is empty, not $1 then 0", "[$10]", []string{"x"}, "[]"},
		{"arguments are not substituted again", "$1 / $2", []string{"literal $2 and $ARGUMENTS", "second"}, "literal $2 and $ARGUMENTS / second"},
		{"$ARGUMENTS inside an argument stays", "$ARGUMENTS", []string{"$1", "$ARGUMENTS"}, "$1 $ARGUMENTS"},
		{"shell variables are kept", `BRANCH=$(git branch --show-current); echo "$BRANCH" costs $ 5`, []string{"x"}, `BRANCH=$(git branch --show-current); echo "$BRANCH" costs $ 5`},
		{"$0 and a trailing $ are kept", "$0 and $", []string{"x"}, "$0 and $"},
		{"adjacent text", "x$1y$2z", []string{"A", "B"}, "xAyBz"},
		{"$ARGUMENTSX is $ARGUMENTS then X", "$ARGUMENTSX", []string{"a"}, "aX"},
		{"multibyte text around", "→ $1 ←", []string{"ü"}, "→ ü ←"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Substitute(tt.tmpl, tt.args); got != tt.want {
				t.Errorf("Substitute(%q, %q) = %q, want %q", tt.tmpl, tt.args, got, tt.want)
			}
		})
	}
}

func TestArguments(t *testing.T) {
	base := events.StepArgs{
		UserRequest: "Fix the login bug",
		BranchName:  "fix/login",
		PlanFile:    "PRPs/features/fix-login.md",
	}
	withIssue := base
	withIssue.IssueNumber = "42"
	withIssue.Issue = &events.Issue{Number: 42, Title: "Login fails", Body: "Steps:\n1. log in\n", URL: "https://github.com/acme/demo/issues/42"}
	issueOnly := base
	issueOnly.Issue = &events.Issue{Number: 7, Title: "Crash"}

	tests := []struct {
		name string
		step workorder.Step
		args events.StepArgs
		want []string
	}{
		{"create-branch", workorder.StepCreateBranch, base, []string{"Fix the login bug"}},
		{"planning without issue", workorder.StepPlanning, base, []string{"Fix the login bug", ""}},
		{"planning with issue", workorder.StepPlanning, withIssue, []string{
			"Fix the login bug\n\nGitHub issue #42: Login fails\nhttps://github.com/acme/demo/issues/42\n\nSteps:\n1. log in", "42"}},
		{"planning takes the number from the issue", workorder.StepPlanning, issueOnly, []string{
			"Fix the login bug\n\nGitHub issue #7: Crash", "7"}},
		{"execute", workorder.StepExecute, base, []string{"PRPs/features/fix-login.md"}},
		{"prp-review", workorder.StepReview, base, []string{"PRPs/features/fix-login.md", "fix/login"}},
		{"commit", workorder.StepCommit, base, []string{"fix/login", "PRPs/features/fix-login.md"}},
		{"create-pr", workorder.StepCreatePR, base, []string{"fix/login", "PRPs/features/fix-login.md"}},
		{"follow-up", workorder.StepFollowUp, func() events.StepArgs {
			a := base
			a.FollowUpPrompt, a.Round = "Also handle the empty case", 2
			return a
		}(), []string{"Also handle the empty case", "PRPs/features/fix-login.md", "fix/login"}},
		{"internal step has none", workorder.StepFetchIssue, base, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Arguments(tt.step, tt.args); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Arguments = %q, want %q", got, tt.want)
			}
		})
	}
}

// Every embedded prompt uses exactly the arguments its step gets, and none
// is left unreplaced after rendering.
func TestEmbeddedPrompts_RenderEveryArgument(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	args := events.StepArgs{
		UserRequest: "USER-REQUEST", IssueNumber: "4242", BranchName: "feat/BRANCH", PlanFile: "PRPs/features/PLAN.md",
		FollowUpPrompt: "FOLLOW-UP-PROMPT",
	}
	placeholder := regexp.MustCompile(`\$(\d+|ARGUMENTS)`)
	for _, step := range promptSteps() {
		t.Run(string(step), func(t *testing.T) {
			if got := s.Source(step); got != "embedded:"+string(step)+".md" {
				t.Errorf("Source = %q", got)
			}
			a := Arguments(step, args)
			out, err := s.Render(step, a)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range a {
				if !strings.Contains(out, v) {
					t.Errorf("argument $%d (%q) does not appear in the prompt", i+1, v)
				}
			}
			if left := placeholder.FindAllString(out, -1); len(left) > 0 {
				t.Errorf("placeholders left after rendering: %q", left)
			}
		})
	}
}

func TestLoad_OverridesFromDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "commit.md"), []byte("custom commit of $1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "unrelated.md"), []byte("ignored"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The follow-up round's prompt is overridable like the others.
	if err := os.WriteFile(filepath.Join(dir, "follow-up.md"), []byte("our follow-up: $1 on $3"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Render(workorder.StepCommit, []string{"fix/x"})
	if err != nil || got != "custom commit of fix/x" {
		t.Errorf("commit = %q, %v", got, err)
	}
	if src := s.Source(workorder.StepCommit); src != filepath.Join(dir, "commit.md") {
		t.Errorf("commit source = %q", src)
	}
	if got, err := s.Render(workorder.StepFollowUp, []string{"add tests", "plan.md", "fix/x"}); err != nil || got != "our follow-up: add tests on fix/x" {
		t.Errorf("follow-up = %q, %v", got, err)
	}
	// Steps without a file keep the embedded prompt.
	got, err = s.Render(workorder.StepExecute, []string{"PRPs/features/x.md"})
	if err != nil || !strings.Contains(got, "Implement the plan in `PRPs/features/x.md`") {
		t.Errorf("execute fell back to %q, %v", got, err)
	}
}

func TestLoad_Errors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	unreadable := t.TempDir()
	// A directory where the prompt file should be cannot be read as one.
	if err := os.Mkdir(filepath.Join(unreadable, "planning.md"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, want string
	}{
		{"missing directory", filepath.Join(t.TempDir(), "nope"), "no such file or directory"},
		{"not a directory", file, "is not a directory"},
		{"unreadable prompt file", unreadable, "planning.md"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.dir)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), "AGENT_WORK_ORDER_COMMANDS_DIR") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to name AGENT_WORK_ORDER_COMMANDS_DIR and %q", err, tt.want)
			}
		})
	}
}

func TestRender_UnknownStep(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Render(workorder.StepFetchIssue, nil); err == nil {
		t.Error("rendering an internal step succeeded")
	}
}
