// Package workorder holds the closed domain types shared by every service:
// work-order ids, statuses, workflow steps and sandbox kinds. Values are
// parsed once at the edge so an invalid one cannot exist further in.
package workorder

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrInvalid is wrapped by every parse error in this package so callers can
// map it to a 4xx without string matching.
var ErrInvalid = errors.New("invalid value")

// ID is a work-order id: "wo-" followed by 8 lowercase hex digits, as the Python service.
type ID string

var idPattern = regexp.MustCompile(`^wo-[0-9a-f]{8}$`)

// NewID returns a fresh random work-order id.
func NewID() ID {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ panics
		// itself); keep the signature simple.
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return ID("wo-" + hex.EncodeToString(b[:]))
}

// ParseID validates s as a work-order id. The format keeps ids safe inside
// NATS subjects (no '.', '*', '>' or spaces).
func ParseID(s string) (ID, error) {
	if !idPattern.MatchString(s) {
		return "", fmt.Errorf("%w: work order id %q must look like wo-1a2b3c4d", ErrInvalid, s)
	}
	return ID(s), nil
}

func (id ID) String() string { return string(id) }

// SandboxIdentifier is the Python service's sandbox name for a work order.
func (id ID) SandboxIdentifier() string { return "sandbox-" + string(id) }

// Status is the lifecycle state of a work order as clients see it.
type Status string

const (
	StatusPending   Status = "pending"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusPending, StatusRunning, StatusCompleted, StatusFailed, StatusCancelled}

// ParseStatus validates a status string (used by the ?status= filter).
func ParseStatus(s string) (Status, error) { return oneOf(s, Statuses, "status") }

// Terminal reports whether no further step will run.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Step is one workflow command.
type Step string

const (
	StepCreateBranch Step = "create-branch"
	StepPlanning     Step = "planning"
	StepExecute      Step = "execute"
	StepReview       Step = "prp-review"
	StepCommit       Step = "commit"
	StepCreatePR     Step = "create-pr"
	// StepFetchIssue is internal: the github service reads the issue named
	// in the request before planning. It never appears in the step history.
	StepFetchIssue Step = "fetch-issue"
	// StepFollowUp is a follow-up round's agent step (POST /{id}/prompt):
	// the agent works on the reviewer's prompt in the work order's sandbox,
	// resuming its session. Not user-selectable.
	StepFollowUp Step = "follow-up"
	// StepCommentPR ends a follow-up round on a work order that has a pull
	// request: the github service comments on it with what the round did.
	// Not user-selectable.
	StepCommentPR Step = "comment-pr"
)

// Steps lists the user-selectable steps.
var Steps = []Step{StepCreateBranch, StepPlanning, StepExecute, StepReview, StepCommit, StepCreatePR}

// DefaultSteps is the Python service's default selection.
var DefaultSteps = []Step{StepCreateBranch, StepPlanning, StepExecute, StepCommit, StepCreatePR}

// ParseStep validates a user-selectable step name.
func ParseStep(s string) (Step, error) { return oneOf(s, Steps, "command") }

// AgentName is the name of the agent that runs a step, as the original.
func (s Step) AgentName() string {
	switch s {
	case StepCreateBranch:
		return "BranchCreator"
	case StepPlanning:
		return "Planner"
	case StepExecute:
		return "Implementor"
	case StepReview:
		return "Reviewer"
	case StepCommit:
		return "Committer"
	case StepCreatePR:
		return "PrCreator"
	case StepFetchIssue:
		return "IssueReader"
	case StepFollowUp:
		return "Implementor"
	case StepCommentPR:
		return "PrCommenter"
	}
	return string(s)
}

// Service is the worker service that performs a step.
func (s Step) Service() string {
	switch s {
	case StepCreatePR, StepFetchIssue, StepCommentPR:
		return "github"
	}
	return "executor"
}

// Internal reports whether the step is bookkeeping hidden from the history.
func (s Step) Internal() bool { return s == StepFetchIssue }

// SandboxType is the kind of isolated checkout a work order runs in.
type SandboxType string

const (
	SandboxWorktree SandboxType = "git_worktree"
	SandboxBranch   SandboxType = "git_branch"
)

// ParseSandboxType accepts the Python service's names and the short forms; empty means
// the default, git_worktree.
func ParseSandboxType(s string) (SandboxType, error) {
	switch strings.TrimSpace(s) {
	case "", "git_worktree", "worktree":
		return SandboxWorktree, nil
	case "git_branch", "branch":
		return SandboxBranch, nil
	}
	return "", fmt.Errorf("%w: sandbox_type %q must be one of git_worktree, git_branch (or worktree, branch)", ErrInvalid, s)
}

// oneOf returns the value of all that s names exactly; what names the kind
// of value in the error.
func oneOf[T ~string](s string, all []T, what string) (T, error) {
	for _, v := range all {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: %s %q must be one of %s", ErrInvalid, what, s, joinStrings(all))
}

func joinStrings[T ~string](vs []T) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = string(v)
	}
	return strings.Join(parts, ", ")
}
