package logentry

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// A work order's own start and end are facts in the event stream, so its
// log shows them rendered from there when it is read (Lifecycle), rather
// than published a second time by whoever decided them: every reader sees
// the same entries, on a replay too, and none is lost to a crash between
// the event and its log line.

// LifecycleTypes are the events a work order's log shows: its start and
// end, and the boundaries of the steps whose worker keeps no live log.
var LifecycleTypes = []string{events.TypeStarted, events.TypeRetryRequested, events.TypeFollowUpRequested,
	events.TypeCompleted, events.TypeFailed, events.TypeCancelled,
	events.TypeStepStarted, events.TypeStepCompleted}

// Lifecycle renders one of LifecycleTypes as the entry Archon's UI reads;
// ok is false for any other event, and for the step events of a step
// whose worker logs its own boundaries. plan is the work order's selected
// steps, which number a step as the executor numbers its own. Only
// workflow_failed is an error.
func Lifecycle(ev events.Event, plan []workorder.Step) (e Entry, ok bool) {
	e = Entry{Timestamp: ev.Time.UTC(), Level: LevelInfo, WorkOrderID: ev.WorkOrderID}
	switch d := ev.Data.(type) {
	case *events.StepStarted:
		if !logless(d.Step) {
			return Entry{}, false
		}
		e.Event, e.Step, e.Attempt = EventStepStarted, d.Step, d.Attempt
		e.Message = fmt.Sprintf("step %s started (attempt %d)", d.Step, d.Attempt)
		e.SetProgress(slices.Index(plan, d.Step)+1, len(plan))
	case *events.StepResult:
		if ev.Type != events.TypeStepCompleted || !logless(d.Step) {
			return Entry{}, false
		}
		e.Event, e.Step, e.Attempt = EventStepCompleted, d.Step, d.Attempt
		e.Message = fmt.Sprintf("step %s completed in %.1fs", d.Step, d.DurationSeconds)
		succeeded := true
		e.Success, e.DurationMS = &succeeded, int64(d.DurationSeconds*1000)
		if n := slices.Index(plan, d.Step) + 1; n > 0 {
			e.SetProgress(n, len(plan))
			pct := n * 100 / len(plan)
			e.ProgressPct = &pct
		}
	case *events.Started:
		e.Event = EventWorkflowStarted
		e.Message = fmt.Sprintf("work order started: %d steps (%s)", len(d.Steps), joinSteps(d.Steps))
	case *events.RetryRequested:
		e.Event = EventWorkflowStarted
		e.Message = withReason(fmt.Sprintf("work order retried (round %d)", d.Round), d.Reason)
	case *events.FollowUpRequested:
		e.Event = EventWorkflowStarted
		e.Message = Truncate(fmt.Sprintf("follow-up round %d: %s", d.Round, d.PromptText), MaxTextBytes)
	case *events.Completed:
		e.Event, e.Message = EventWorkflowCompleted, "work order completed"
		if d.PullRequestURL != "" {
			e.Message += ": " + d.PullRequestURL
		}
		pct := 100
		e.ProgressPct = &pct
	case *events.Failed:
		e.Event, e.Level, e.Step = EventWorkflowFailed, LevelError, d.Step
		e.Message = Truncate(withReason("work order failed", d.ErrorMessage), MaxTextBytes)
	case *events.Cancelled:
		e.Event, e.Level = EventWorkflowCancelled, LevelWarn
		e.Message = Truncate(withReason("work order cancelled", d.Reason), MaxTextBytes)
	default:
		return Entry{}, false
	}
	return e, true
}

// logless says whether a step's worker keeps no live log of its own: the
// github service's (create-pr, comment-pr); the internal fetch-issue is
// not shown at all.
func logless(st workorder.Step) bool {
	return st.Service() == "github" && !st.Internal()
}

func joinSteps(steps []workorder.Step) string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func withReason(msg, reason string) string {
	if reason == "" {
		return msg
	}
	return msg + ": " + reason
}

// LifecycleSubjects are the subjects of wo's lifecycle events.
func LifecycleSubjects(wo workorder.ID) []string {
	out := make([]string, len(LifecycleTypes))
	for i, t := range LifecycleTypes {
		out[i] = bus.EventSubject(wo, t)
	}
	return out
}

// ReadLifecycle returns wo's lifecycle entries stored so far, oldest first,
// and the event stream sequence read up to (to follow on from). Events
// that do not decode are skipped, as log entries are.
func ReadLifecycle(ctx context.Context, r StreamReader, wo workorder.ID, plan []workorder.Step) ([]Entry, uint64, error) {
	var (
		out  []Entry
		last uint64
	)
	err := r.Read(ctx, bus.StreamEvents, LifecycleSubjects(wo), 0, func(m bus.Message) {
		last = m.Seq
		if e, ok := DecodeLifecycle(m, plan); ok {
			out = append(out, e)
		}
	})
	if err != nil {
		return nil, 0, fmt.Errorf("reading the lifecycle of %s: %w", wo, err)
	}
	return out, last, nil
}

// DecodeLifecycle is the lifecycle entry of a stored event message.
func DecodeLifecycle(m bus.Message, plan []workorder.Step) (Entry, bool) {
	ev, err := events.Decode(m.Header, m.Data)
	if err != nil {
		return Entry{}, false
	}
	return Lifecycle(ev, plan)
}

// Clock stamps entries with the seconds since their work order started:
// its first workflow_started.
type Clock struct{ start time.Time }

// Observe starts the clock at e when e is the work order's first start.
func (c *Clock) Observe(e Entry) {
	if c.start.IsZero() && e.Event == EventWorkflowStarted {
		c.start = e.Timestamp
	}
}

// Started reports whether the clock has seen the work order's start.
func (c *Clock) Started() bool { return !c.start.IsZero() }

// Stamp sets e's elapsed seconds when it has none and the clock runs.
func (c *Clock) Stamp(e *Entry) {
	if c.start.IsZero() || e.ElapsedSeconds != nil || e.Timestamp.Before(c.start) {
		return
	}
	s := int(e.Timestamp.Sub(c.start) / time.Second)
	e.ElapsedSeconds = &s
}

// Merge puts a work order's log entries and lifecycle entries in time
// order, a start before the entries of its instant and an end after them,
// each stamped by the clock.
func Merge(logs, lifecycle []Entry) []Entry {
	out := make([]Entry, 0, len(logs)+len(lifecycle))
	out = append(append(out, lifecycle...), logs...)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Timestamp.Equal(out[j].Timestamp) {
			return out[i].Timestamp.Before(out[j].Timestamp)
		}
		return rank(out[i]) < rank(out[j])
	})
	var c Clock
	for i := range out {
		c.Observe(out[i])
		c.Stamp(&out[i])
	}
	return out
}

// rank orders entries of one instant: a start, the step's lines, an end.
func rank(e Entry) int {
	switch e.Event {
	case EventWorkflowStarted:
		return 0
	case EventWorkflowCompleted, EventWorkflowFailed, EventWorkflowCancelled:
		return 2
	}
	return 1
}
