package logentry_test

import (
	"context"
	"testing"

	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
)

// BenchmarkPublisher is a step's live-log lines handed over and flushed,
// as the executor does at the end of every step: ten entries per op.
func BenchmarkPublisher(b *testing.B) {
	env := natstest.Start(b)
	ctx := context.Background()
	p := logentry.NewPublisher(env.JS, nil, 0, nil)
	defer p.Close(ctx)
	e := entry("a line the agent wrote")
	b.ReportAllocs()
	for b.Loop() {
		for range 10 {
			p.Publish(e)
		}
		if err := p.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if n := p.Failed() + p.Dropped(); n != 0 {
		b.Fatalf("%d entries failed or dropped", n)
	}
}
