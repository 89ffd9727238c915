// Package natstest starts an embedded JetStream server per test, in a temp
// directory, reachable in-process only (it never takes a TCP port).
package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/natsembed"
)

// Env is a running server with one client connection and the streams made.
type Env struct {
	Server *natsembed.Server
	NC     *nats.Conn
	JS     jetstream.JetStream
}

// Start runs a server for the test's lifetime and ensures the streams.
func Start(t testing.TB) *Env {
	t.Helper()
	e := StartEmpty(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, e.JS, bus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// StartEmpty runs a server for the test's lifetime with no stream made,
// for tests of how streams come to be.
func StartEmpty(t testing.TB) *Env {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Server: srv, NC: nc, JS: js}
}

// Bus returns a Bus on the env's connection.
func (e *Env) Bus(source string) *bus.Bus { return bus.New(e.JS, source) }

// CountDirectGets counts the direct gets (stream reads without a consumer)
// sent from now on; the returned function says how many so far. A Bus from
// Env.Bus sends them on the env's connection, so after a flush every one
// is queued on the synchronous subscription: the count is exact.
func (e *Env) CountDirectGets(t testing.TB) func() int {
	t.Helper()
	sub, err := e.NC.SubscribeSync("$JS.API.DIRECT.GET.>")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := e.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() int {
		t.Helper()
		if err := e.NC.Flush(); err != nil {
			t.Fatal(err)
		}
		n, _, err := sub.Pending()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
}
