package app

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/discovery"
	"github.com/agentworkorders/awo/pkg/redact"
)

// Service is one awo service as a process runs it on a NATS connection of
// its own: the standalone binaries run one, the all-in-one runs all four.
type Service struct {
	Name        string // short name: logs, CloudEvents source awo/<name>, NATS connection awo-<name>
	MicroName   string // NATS micro service name
	Description string
	// Run runs the service on c until ctx is cancelled.
	Run func(ctx context.Context, c Conn) error
}

// Conn is what RunService hands a service: its connection and a bus on it.
type Conn struct {
	NC  *nats.Conn
	JS  jetstream.JetStream
	Bus *bus.Bus // source awo/<name>, redacting with redact.Default
	Log *slog.Logger
}

// Connector opens the NATS connection of the service name (short name),
// with JetStream ready.
type Connector func(ctx context.Context, name string) (*nats.Conn, jetstream.JetStream, error)

// Standalone is the Connector of a standalone binary: NATS_URL, streams
// ensured (ConnectNATS).
func Standalone(cfg config.Shared, log *slog.Logger) Connector {
	return func(ctx context.Context, name string) (*nats.Conn, jetstream.JetStream, error) {
		return ConnectNATS(ctx, cfg, name, log)
	}
}

// RunService connects s, registers it as its NATS micro service and runs
// it. However it ends, the micro service is taken down before the
// connection (so `nats micro ls` never lists a service that cannot
// answer), and the connection, when connected, is flushed before it
// closes so the acks of the last messages reach the server.
func RunService(ctx context.Context, connect Connector, s Service, log *slog.Logger) error {
	nc, js, err := connect(ctx, s.Name)
	if err != nil {
		return err
	}
	defer func() {
		// Disconnected, nothing can reach the server: a flush would only
		// hold the stop for its whole timeout (10s).
		if nc.IsConnected() {
			_ = nc.Flush()
		}
		nc.Close()
	}()
	svc, err := discovery.Register(nc, discovery.Config{Name: s.MicroName, Version: Version, Description: s.Description})
	if err != nil {
		return err
	}
	defer func() { _ = svc.Stop() }()
	b := bus.New(js, "awo/"+s.Name)
	b.Redactor = redact.Default()
	return s.Run(ctx, Conn{NC: nc, JS: js, Bus: b, Log: log})
}
