package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
)

func inProcess(t *testing.T) app.Connector {
	t.Helper()
	env := natstest.Start(t)
	return connectTo(func(name string) (*nats.Conn, error) { return env.Server.Connect(name) })
}

// untilStopped is a service that runs until its context ends and then
// returns what a service cut off mid-start returns.
func untilStopped(name string, stopped chan<- string) app.Service {
	return app.Service{Name: name, MicroName: "awo-" + name, Run: func(ctx context.Context, _ app.Conn) error {
		<-ctx.Done()
		stopped <- name
		return ctx.Err()
	}}
}

// The first service to fail stops the others; its error, naming it, is
// what runAll returns.
func TestRunAll_FirstFailureStopsTheOthers(t *testing.T) {
	cfg := load(t, map[string]string{})
	stopped := make(chan string, 2)
	failed := errors.New("cannot start")
	done := make(chan error, 1)
	go func() {
		done <- runAll(context.Background(), cfg, inProcess(t), []app.Service{
			untilStopped("a", stopped),
			{Name: "b", MicroName: "awo-b", Run: func(context.Context, app.Conn) error { return failed }},
			untilStopped("c", stopped),
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, failed) || !strings.HasPrefix(err.Error(), "b: ") {
			t.Errorf("runAll = %v, want b's error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runAll still running 30s after a service failed")
	}
	if len(stopped) != 2 {
		t.Errorf("%d services stopped, want both others", len(stopped))
	}
}

// Services that stop on the shutdown signal, with context.Canceled, are
// not an error.
func TestRunAll_ShutdownIsNotAnError(t *testing.T) {
	cfg := load(t, map[string]string{})
	stopped := make(chan string, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runAll(ctx, cfg, inProcess(t), []app.Service{untilStopped("a", stopped), untilStopped("b", stopped)})
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runAll after the shutdown signal = %v, want nil", err)
	}
	if len(stopped) != 2 {
		t.Errorf("%d services stopped, want 2", len(stopped))
	}
}
