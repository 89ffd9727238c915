package app_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/discovery"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
)

// While a service runs it is listed as its micro service and its bus
// publishes as awo/<name>; once it returns, its error comes back, the
// micro service is gone and the connection is closed.
func TestRunService(t *testing.T) {
	env := natstest.Start(t)
	var conn *nats.Conn
	connect := func(_ context.Context, name string) (*nats.Conn, jetstream.JetStream, error) {
		if name != "probe" {
			t.Errorf("connect(%q), want the service's short name", name)
		}
		nc, err := env.Server.Connect("awo-" + name)
		if err != nil {
			return nil, nil, err
		}
		conn = nc
		js, err := jetstream.New(nc)
		return nc, js, err
	}
	failed := errors.New("probe failed")
	err := app.RunService(context.Background(), connect, app.Service{
		Name: "probe", MicroName: "awo-probe", Description: "a test service",
		Run: func(ctx context.Context, c app.Conn) error {
			if c.NC != conn || c.JS == nil || c.Log == nil {
				t.Errorf("Conn = %+v", c)
			}
			if c.Bus.Source != "awo/probe" {
				t.Errorf("bus source %q, want awo/probe", c.Bus.Source)
			}
			if got := micro(t, env.NC); len(got) != 1 || got[0].Name != "awo-probe" {
				t.Errorf("micro services while running: %+v", got)
			}
			return failed
		},
	}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, failed) {
		t.Errorf("RunService = %v, want the service's error", err)
	}
	if !conn.IsClosed() {
		t.Error("connection still open after the service returned")
	}
	if got := micro(t, env.NC); len(got) != 0 {
		t.Errorf("micro services after return: %+v", got)
	}
}

func micro(t *testing.T, nc *nats.Conn) []discovery.Instance {
	t.Helper()
	list, err := discovery.List(context.Background(), nc, "", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return list
}
