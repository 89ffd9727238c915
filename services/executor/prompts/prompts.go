// Package prompts holds the markdown prompt of every workflow step, as the
// original service kept them: one file per step, `$1`, `$2`, ... and
// `$ARGUMENTS` replaced by the step's arguments, the result sent to the CLI
// on stdin. The files are embedded; a directory named by
// AGENT_WORK_ORDER_COMMANDS_DIR may override any of them.
package prompts

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

//go:embed *.md
var embedded embed.FS

// Set is the prompt of every step an agent runs: the user-selectable ones
// and a follow-up round's (see promptSteps).
type Set struct {
	templates map[workorder.Step]string
	sources   map[workorder.Step]string
}

// Load reads the prompts. dir "" means the embedded ones; otherwise
// dir/<step>.md overrides the embedded prompt of that step and missing
// files fall back to it. A dir that cannot be read is an error, so a typo
// in the setting does not silently run the defaults.
func Load(dir string) (*Set, error) {
	s := &Set{templates: map[workorder.Step]string{}, sources: map[workorder.Step]string{}}
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("AGENT_WORK_ORDER_COMMANDS_DIR %s: %w", dir, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("AGENT_WORK_ORDER_COMMANDS_DIR %s is not a directory", dir)
		}
	}
	for _, step := range promptSteps() {
		name := string(step) + ".md"
		if dir != "" {
			path := filepath.Join(dir, name)
			b, err := os.ReadFile(path)
			if err == nil {
				s.templates[step], s.sources[step] = string(b), path
				continue
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("AGENT_WORK_ORDER_COMMANDS_DIR: reading %s: %w", path, err)
			}
		}
		b, err := embedded.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("embedded prompt for %s: %w", step, err) // a build without the file
		}
		s.templates[step], s.sources[step] = string(b), "embedded:"+name
	}
	return s, nil
}

// promptSteps are the steps with a prompt: the user-selectable ones and
// follow-up, which only a follow-up round (POST /{id}/prompt) runs.
func promptSteps() []workorder.Step {
	return append(slices.Clone(workorder.Steps), workorder.StepFollowUp)
}

// Source says where a step's prompt came from: a file path or
// "embedded:<step>.md". Worth logging at start when overrides are in use.
func (s *Set) Source(step workorder.Step) string { return s.sources[step] }

// Render returns the step's prompt with its arguments substituted.
func (s *Set) Render(step workorder.Step, args []string) (string, error) {
	tmpl, ok := s.templates[step]
	if !ok {
		return "", fmt.Errorf("no prompt for step %q", step)
	}
	return Substitute(tmpl, args), nil
}

// Substitute replaces `$ARGUMENTS` with all arguments joined by a space and
// `$N` (N = 1, 2, ..., all digits taken together, so `$10` is the tenth) with
// the N-th argument, empty when there are fewer. Other `$` stay as they are
// (shell snippets in a prompt keep `$BRANCH`). The template is scanned once,
// so a `$1` inside an argument is never replaced in turn.
func Substitute(tmpl string, args []string) string {
	const all = "$ARGUMENTS"
	var b strings.Builder
	b.Grow(len(tmpl))
	for i := 0; i < len(tmpl); {
		if tmpl[i] != '$' {
			b.WriteByte(tmpl[i])
			i++
			continue
		}
		if strings.HasPrefix(tmpl[i:], all) {
			b.WriteString(strings.Join(args, " "))
			i += len(all)
			continue
		}
		j := i + 1
		for j < len(tmpl) && tmpl[j] >= '0' && tmpl[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(tmpl[i+1 : j])
		if err != nil || n == 0 { // a lone `$`, or `$0`
			b.WriteByte('$')
			i++
			continue
		}
		if n <= len(args) {
			b.WriteString(args[n-1])
		}
		i = j
	}
	return b.String()
}

// Arguments are the prompt arguments of a step, from what its command
// carries:
//
//	create-branch  $1 user request
//	planning       $1 user request (with the GitHub issue appended), $2 issue number
//	execute        $1 plan file
//	prp-review     $1 plan file, $2 branch
//	commit         $1 branch, $2 plan file
//	create-pr      $1 branch, $2 plan file
//	follow-up      $1 the reviewer's prompt, $2 plan file, $3 branch
func Arguments(step workorder.Step, a events.StepArgs) []string {
	switch step {
	case workorder.StepCreateBranch:
		return []string{a.UserRequest}
	case workorder.StepPlanning:
		return []string{requestWithIssue(a), issueNumber(a)}
	case workorder.StepExecute:
		return []string{a.PlanFile}
	case workorder.StepReview:
		return []string{a.PlanFile, a.BranchName}
	case workorder.StepCommit, workorder.StepCreatePR:
		return []string{a.BranchName, a.PlanFile}
	case workorder.StepFollowUp:
		return []string{a.FollowUpPrompt, a.PlanFile, a.BranchName}
	}
	return nil
}

func requestWithIssue(a events.StepArgs) string {
	if a.Issue == nil {
		return a.UserRequest
	}
	var b strings.Builder
	b.WriteString(a.UserRequest)
	fmt.Fprintf(&b, "\n\nGitHub issue #%d: %s", a.Issue.Number, a.Issue.Title)
	if a.Issue.URL != "" {
		fmt.Fprintf(&b, "\n%s", a.Issue.URL)
	}
	if body := strings.TrimSpace(a.Issue.Body); body != "" {
		b.WriteString("\n\n")
		b.WriteString(body)
	}
	return b.String()
}

func issueNumber(a events.StepArgs) string {
	if a.IssueNumber == "" && a.Issue != nil && a.Issue.Number > 0 {
		return strconv.Itoa(a.Issue.Number)
	}
	return a.IssueNumber
}
