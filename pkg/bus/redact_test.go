package bus_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Every event is redacted where it is published: a step's output and error
// carrying a configured secret (one with a quote and a backslash, which
// JSON escapes) and a token shape are stored as [REDACTED].
func TestPublish_RedactsEventData(t *testing.T) {
	const secret = `db"pass\word-0123`
	const ghp = "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"
	env := natstest.Start(t)
	b := env.Bus("test")
	b.Redactor = redact.New(secret)
	ctx := context.Background()
	wo := workorder.ID("wo-00005ec7")
	cmd := events.RunStep{WorkOrderID: wo, Step: workorder.StepExecute, Attempt: 1}
	if err := worker.FinishStep(ctx, b, cmd, events.StepResult{Output: "DATABASE_PASSWORD=" + secret, ErrorMessage: "GH_TOKEN=" + ghp}, 0); err != nil {
		t.Fatal(err)
	}
	stream, err := env.JS.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, bus.WorkOrderFilter(wo))
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"pass", ghp} {
		if bytes.Contains(msg.Data, []byte(leak)) {
			t.Errorf("%q stored: %s", leak, msg.Data)
		}
	}
	e, err := events.Decode(msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	r := e.Data.(*events.StepResult)
	if r.Output != "DATABASE_PASSWORD=[REDACTED]" || r.ErrorMessage != "GH_TOKEN=[REDACTED]" {
		t.Errorf("stored result = %+v", r)
	}
}
