package events

import (
	"errors"
	"fmt"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// The CloudEvents sources of the services (bus.New(js, "awo/"+service)).
const (
	SourceGateway      = "awo/gateway"
	SourceOrchestrator = "awo/orchestrator"
	SourceExecutor     = "awo/executor"
	SourceGitHub       = "awo/github"
)

// ErrForged means an event claims a source that may not produce its type.
var ErrForged = errors.New("event from a source that may not produce it")

// producers is who may produce each event type: requests come from the
// gateway, decisions from the orchestrator. The step events are missing:
// they belong to the worker that runs the step's kind (StepSource).
var producers = map[string]string{
	TypeRequested:         SourceGateway,
	TypeCancelRequested:   SourceGateway,
	TypeRetryRequested:    SourceGateway,
	TypeFollowUpRequested: SourceGateway,
	TypeStarted:           SourceOrchestrator,
	TypeStepDispatched:    SourceOrchestrator,
	TypeCompleted:         SourceOrchestrator,
	TypeFailed:            SourceOrchestrator,
	TypeCancelled:         SourceOrchestrator,
	TypeRunStep:           SourceOrchestrator,
}

// StepSource is the source of the worker that runs step: the github
// service for fetch-issue and create-pr, the executor for the agent steps.
// It is also the source of the step.failed a worker records when it gives
// up on a command (its own wrapper, or its advisory listener after a dead
// replica).
func StepSource(step workorder.Step) string { return "awo/" + step.Service() }

// ExpectedSource is the one source allowed to produce e, or "" when e's
// type is not in the catalogue (it is skipped elsewhere) or its step is
// unreadable.
func ExpectedSource(e Event) string {
	if s, ok := producers[e.Type]; ok {
		return s
	}
	var step workorder.Step
	switch d := e.Data.(type) {
	case *StepStarted:
		if d != nil {
			step = d.Step
		}
	case StepStarted:
		step = d.Step
	case *StepResult:
		if d != nil {
			step = d.Step
		}
	case StepResult:
		step = d.Step
	case *StepWaiting:
		if d != nil {
			step = d.Step
		}
	case StepWaiting:
		step = d.Step
	}
	switch e.Type {
	case TypeStepStarted, TypeStepCompleted, TypeStepFailed, TypeStepWaiting:
		if step == "" {
			return ""
		}
		return StepSource(step)
	}
	return ""
}

// CheckSource returns an error wrapping ErrForged unless e's ce-source may
// produce its type. The source is what the publisher says it is: this
// catches a client that has no business publishing the type (or a
// misrouted one); who may publish which subject at all is NATS's
// permissions' job (deploy/nats/awo.conf).
func CheckSource(e Event) error {
	want := ExpectedSource(e)
	if want == "" {
		if Known(e.Type) {
			return fmt.Errorf("%w: %s from %q names no step", ErrForged, ShortName(e.Type), e.Source)
		}
		return nil
	}
	if e.Source != want {
		return fmt.Errorf("%w: %s from %q, only %s may produce it", ErrForged, ShortName(e.Type), e.Source, want)
	}
	return nil
}
