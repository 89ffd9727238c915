package bus_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// BenchmarkAppend is one event appended to a work order's subjects in an
// events stream holding 1000 other work orders' events, guarded by the
// work order's last sequence (every decision and step result) and not.
func BenchmarkAppend(b *testing.B) {
	env := natstest.Start(b)
	bs := env.Bus("awo/bench")
	ctx := context.Background()
	for i := range 1000 {
		wo := workorder.ID(fmt.Sprintf("wo-%08x", i))
		for _, typ := range []string{events.TypeRequested, events.TypeStarted, events.TypeStepDispatched, events.TypeStepStarted, events.TypeStepCompleted} {
			if _, err := bs.PublishEvent(ctx, bs.Event(fmt.Sprintf("fill-%d-%s", i, typ), typ, wo, &events.StepStarted{Step: workorder.StepPlanning, Attempt: 1}), nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	runs := 0
	for _, guarded := range []bool{false, true} {
		b.Run(fmt.Sprintf("guarded=%v", guarded), func(b *testing.B) {
			runs++ // a fresh work order for every run, so the guard starts at 0
			wo := workorder.ID(fmt.Sprintf("wo-1%07x", runs))
			var last uint64
			i := 0
			for b.Loop() {
				i++
				e := bs.Event(fmt.Sprintf("%s-%d", wo, i), events.TypeStepStarted, wo, &events.StepStarted{Step: workorder.StepPlanning, Attempt: i})
				var guard *uint64
				if guarded {
					guard = &last
				}
				seq, err := bs.PublishEvent(ctx, e, guard)
				if err != nil {
					b.Fatal(err)
				}
				last = seq
			}
		})
	}
}
