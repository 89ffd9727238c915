// Package natstest starts an embedded JetStream server per test, in a temp
// directory, reachable in-process only (it never takes a TCP port) unless
// the test asks for a listening one.
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
	return start(t, natsembed.Options{}, "test")
}

// StartListening is StartEmpty with the server also listening on a free
// local TCP port (Server.ClientURL), for tests that run services as
// processes of their own; name is the env's connection's.
func StartListening(t testing.TB, name string) *Env {
	t.Helper()
	return start(t, natsembed.Options{Listen: "127.0.0.1:0"}, name)
}

func start(t testing.TB, opts natsembed.Options, name string) *Env {
	t.Helper()
	opts.DataDir = t.TempDir()
	srv, err := natsembed.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	e := &Env{Server: srv}
	e.NC, e.JS = e.Client(t, name)
	return e
}

// Client is a connection of its own to the env's server, as another
// replica or process has, closed when the test ends.
func (e *Env) Client(t testing.TB, name string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := e.Server.Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
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
