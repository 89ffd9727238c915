// Package handoff pairs each step.completed event with the command for the
// step after it, to measure how long the system takes to hand a work order
// from one step to the next.
package handoff

import (
	"sync"
	"time"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// Sample is one hand-off.
type Sample struct {
	WorkOrderID workorder.ID
	From, To    workorder.Step
	// FromPublish runs from the step.completed event's ce-time (stamped
	// just before the worker published it) to the next command's arrival
	// at the observer: the whole hand-off as the system performs it.
	FromPublish time.Duration
	// FromArrival runs from the step.completed event's arrival at the
	// observer to the next command's: the worker's publish round trip left
	// out. Both are stamped in subscription callbacks on different
	// goroutines, so under heavy load it can be slightly off, even negative.
	FromArrival time.Duration
	// ToDispatch runs from the step.completed event's ce-time to the
	// arrival of the next step's step.dispatched event (the orchestrator's
	// guarded append), when it was seen: the first part of FromPublish,
	// the rest being the command's publish. Zero when not seen.
	ToDispatch time.Duration

	published time.Time // the completion's ce-time, for ToDispatch
}

// Matcher pairs completions with commands that arrive in either order:
// they are seen through separate subscriptions, whose callbacks run on
// separate goroutines. Safe for concurrent use.
type Matcher struct {
	steps []workorder.Step

	mu         sync.Mutex
	completed  map[key]stamp     // completion of key.step, waiting for the next command
	commands   map[key]stamp     // command whose predecessor key.step has not been seen completing
	dispatched map[key]time.Time // arrival of the dispatch of the step after key.step
	samples    []Sample
}

type key struct {
	wo   workorder.ID
	step workorder.Step // the step that completed
}

type stamp struct {
	published, arrived time.Time
	next               workorder.Step
}

// NewMatcher pairs hand-offs for work orders that run steps in this order.
func NewMatcher(steps []workorder.Step) *Matcher {
	return &Matcher{steps: steps, completed: map[key]stamp{}, commands: map[key]stamp{}, dispatched: map[key]time.Time{}}
}

// Completed records that step of wo completed: published is the event's
// ce-time, arrived when the observer received it.
func (m *Matcher) Completed(wo workorder.ID, step workorder.Step, published, arrived time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := key{wo, step}
	if c, ok := m.commands[k]; ok {
		delete(m.commands, k)
		m.add(k, c.next, published, arrived, c.arrived)
		return
	}
	m.completed[k] = stamp{published: published, arrived: arrived}
}

// Command records the arrival of the first attempt's command for step of
// wo. Commands for the first step, and retries, are not hand-offs and are
// ignored.
func (m *Matcher) Command(wo workorder.ID, step workorder.Step, attempt int, arrived time.Time) {
	prev, ok := m.previous(step)
	if !ok || attempt != 1 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := key{wo, prev}
	if c, ok := m.completed[k]; ok {
		delete(m.completed, k)
		m.add(k, step, c.published, c.arrived, arrived)
		return
	}
	m.commands[k] = stamp{arrived: arrived, next: step}
}

// Dispatched records the arrival of the first attempt's step.dispatched
// event for step of wo; Samples joins it to the hand-off it is part of,
// whichever order the observer's callbacks ran in.
func (m *Matcher) Dispatched(wo workorder.ID, step workorder.Step, attempt int, arrived time.Time) {
	prev, ok := m.previous(step)
	if !ok || attempt != 1 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dispatched[key{wo, prev}] = arrived
}

func (m *Matcher) add(k key, next workorder.Step, published, completedArrived, commandArrived time.Time) {
	m.samples = append(m.samples, Sample{
		WorkOrderID: k.wo, From: k.step, To: next,
		FromPublish: commandArrived.Sub(published),
		FromArrival: commandArrived.Sub(completedArrived),
		published:   published,
	})
}

func (m *Matcher) previous(step workorder.Step) (workorder.Step, bool) {
	for i, s := range m.steps {
		if s == step && i > 0 {
			return m.steps[i-1], true
		}
	}
	return "", false
}

// Samples returns the hand-offs paired so far.
func (m *Matcher) Samples() []Sample {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]Sample(nil), m.samples...)
	for i, s := range out {
		if at, ok := m.dispatched[key{s.WorkOrderID, s.From}]; ok {
			out[i].ToDispatch = at.Sub(s.published)
		}
	}
	return out
}

// Unpaired is how many completions and commands still wait for their
// partner; after every work order finished, only the last step's
// completions should be left.
func (m *Matcher) Unpaired() (completions, commands int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.completed), len(m.commands)
}
