package machine_test

import (
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/services/orchestrator/machine"
)

// history is a whole six-step work order as the stream holds it: every
// event the orchestrator folds on the hand-off path, numbered.
func history() []events.Event {
	evs := []events.Event{requested("", allSix...), started(allSix...)}
	for _, st := range allSix {
		evs = append(evs, dispatched(st, 1), stepStarted(st, 1), stepCompleted(st, 1, events.StepResult{Output: "done"}))
	}
	evs = append(evs, completed())
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
	}
	return evs
}

// BenchmarkFold measures Transition (the fold plus what the new state owes)
// over a whole work order, one op per work order.
func BenchmarkFold(b *testing.B) {
	evs := history()
	b.ReportAllocs()
	for b.Loop() {
		var s machine.State
		for _, e := range evs {
			next, _, err := machine.Transition(s, e, env)
			if err != nil {
				b.Fatal(err)
			}
			s = next
		}
	}
}

// BenchmarkReplay measures the fold alone, as a restarted orchestrator
// rebuilds a work order from its history.
func BenchmarkReplay(b *testing.B) {
	evs := history()
	b.ReportAllocs()
	for b.Loop() {
		if s := machine.Replay(machine.State{}, evs...); s.LastSeq != uint64(len(evs)) {
			b.Fatalf("replayed to seq %d", s.LastSeq)
		}
	}
}
