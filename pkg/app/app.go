// Package app is the start-up every binary shares: configuration from the
// environment, the logger, signal handling and the connection to NATS.
//
// The logger rule: a constructor, Run function or Options given no logger
// (nil) logs to slog.Default(), never to a discarding handler. Main
// installs the process's logger (leveled, redacting) as slog.Default(), so
// a component someone forgot to hand a logger still reports its warnings
// and errors, with secrets masked, instead of failing silently; a test
// that wants quiet passes a logger of its own.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/tracing"
)

// Version is stamped at build time with -ldflags "-X .../pkg/app.Version=...".
var Version = "0.1.0-dev"

// RunFunc is a binary's body: it returns when ctx is cancelled (SIGINT /
// SIGTERM) after shutting down, or earlier with an error.
type RunFunc func(ctx context.Context, cfg config.Config, log *slog.Logger) error

// Main loads the configuration, builds the logger, runs run until a signal
// arrives and exits non-zero on error. It is the whole of every main().
func Main(name string, run RunFunc) {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		// No configured secret is known yet: token shapes and URL
		// passwords are still taken out of the values the error quotes.
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, redact.Default().String(err.Error()))
		os.Exit(2)
	}
	// Built once: every logger, event and live-log entry of the process
	// uses it (see redact.Default).
	redact.SetDefault(cfg.Redactor())
	log := NewLogger(cfg.LogLevel).With("service", name)
	slog.SetDefault(log)
	log.Info("starting", append([]any{"version", Version}, cfg.Attrs()...)...)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	flushTraces, err := tracing.Setup(ctx, cfg.Tracing, TraceServiceName(name), Version, log)
	if err != nil {
		log.Error("cannot export traces", "err", err)
		os.Exit(2)
	}
	err = run(ctx, cfg, log)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracing.ShutdownTimeout)
	if ferr := flushTraces(fctx); ferr != nil {
		log.Warn("flushing the last traces", "err", ferr)
	}
	cancel()
	if err != nil {
		log.Error("stopped with error", "err", err)
		os.Exit(1)
	}
	log.Info("stopped")
}

// TraceServiceName is the service.name of a binary's spans unless
// OTEL_SERVICE_NAME says otherwise: awo for the all-in-one, awo-<name>
// for each standalone service.
func TraceServiceName(binary string) string {
	if binary == "awo" || strings.HasPrefix(binary, "awo-") {
		return binary
	}
	return "awo-" + binary
}

// NewLogger writes text lines to stderr at level, each redacted by the
// process's redactor (redact.Default, set by Main from the configuration).
// The handler looks the redactor up when it writes rather than taking it
// here: every logger of the process, including those made before Main set
// it and those libraries get through slog.Default, then redacts the same.
func NewLogger(level slog.Level) *slog.Logger { return newLogger(os.Stderr, level) }

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(redact.NewHandler(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}), nil))
}

// ConnectNATS connects a standalone service to cfg.NATSURL and makes sure
// the streams exist.
func ConnectNATS(ctx context.Context, cfg config.Shared, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	if cfg.NATSURL == "" {
		return nil, nil, fmt.Errorf("NATS_URL is not set: a standalone %s needs a NATS server with JetStream (or run the all-in-one binary, which embeds one)", name)
	}
	auth, err := NATSOptions(cfg)
	if err != nil {
		return nil, nil, err
	}
	nc, err := nats.Connect(cfg.NATSURL, append(auth, ClientOptions("awo-"+name, log)...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to NATS_URL=%s: %w", redact.URL(cfg.NATSURL), err)
	}
	js, err := Setup(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// ClientOptions are how every connection to an external NATS (NATS_URL)
// behaves when its server goes away. NATS_URL may list several members of
// a cluster, comma-separated: the client picks one at random (so replicas
// spread over the members), learns the others from the cluster, and on a
// lost connection tries the members it has not just tried at once, and
// keeps trying all of them for ever, ReconnectWait apart per server — a
// member that comes back is used again. Publishes made meanwhile wait in
// the client's reconnect buffer and are retried by the bus if their answer
// is lost (bus.IsTransient).
//
// A first connection that fails is not retried here
// (RetryOnFailedConnect): the start fails naming NATS_URL, and the process
// supervisor (systemd, Compose's restart, Kubernetes) starts it again, which
// is clearer than a service that looks up but cannot reach anything.
func ClientOptions(name string, log *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("NATS reconnected", "url", c.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(LogNATSErrors(log)),
	}
}

// Setup opens JetStream on nc and ensures the streams.
func Setup(ctx context.Context, nc *nats.Conn, cfg config.Shared) (jetstream.JetStream, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("opening JetStream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, js, StreamSettings(cfg)); err != nil {
		return nil, err
	}
	return js, nil
}

// StreamSettings are the stream limits cfg asks for.
func StreamSettings(cfg config.Shared) bus.StreamSettings {
	return bus.StreamSettings{
		EventsMaxAge:     cfg.EventsMaxAge,
		EventsMaxBytes:   cfg.EventsMaxBytes,
		LogsMaxBytes:     cfg.LogsMaxBytes,
		CommandsMaxBytes: cfg.CommandsMaxBytes,
		DLQMaxBytes:      cfg.DLQMaxBytes,
		Replication:      Replication(cfg),
	}
}

// Replication is the replica count and placement cfg asks for, for every
// stream, key-value bucket and object store.
func Replication(cfg config.Shared) bus.Replication {
	return bus.Replication{Replicas: cfg.StreamReplicas, PlacementTags: cfg.StreamPlacementTags}
}
