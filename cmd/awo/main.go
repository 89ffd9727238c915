// Command awo is the all-in-one: every service in one process, with an
// embedded NATS JetStream server keeping its data under AWO_DATA_DIR (or an
// external one when NATS_URL is set) and the read store STATE_STORAGE_TYPE
// selects (memory, rebuilt from the event stream at start, or Postgres).
// It is what `make run` starts. Each service registers as its own NATS micro
// service (awo-gateway, awo-orchestrator, awo-executor, awo-github); their
// metrics share one registry, served on the gateway's /metrics.
//
//	awo, awo serve          run every service
//	awo rebuild-read-model  empty the read store, replay the stream into it, exit
//	awo list, create, …     client commands: talk to a gateway over HTTP
//	                        (AWO_URL, AWO_API_TOKEN; see docs/cli.md)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/natsembed"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/repocheck"
	"github.com/agentworkorders/awo/services/executor"
	"github.com/agentworkorders/awo/services/gateway"
	githubsvc "github.com/agentworkorders/awo/services/github"
	"github.com/agentworkorders/awo/services/orchestrator"
)

func main() {
	// Client commands run before any server configuration is loaded: they
	// need only AWO_URL and AWO_API_TOKEN.
	if isClientCommand(os.Args[1:]) {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := runCLI(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	app.MainCommands("awo", map[string]app.RunFunc{"": run, "serve": run, "rebuild-read-model": rebuildReadModel})
}

func run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	store, closeStore, err := gateway.OpenStore(ctx, cfg.Gateway(), log)
	if err != nil {
		return err
	}
	defer closeStore()
	connect, shutdownNATS, err := broker(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer shutdownNATS()
	setupConn, err := connect("awo-setup")
	if err != nil {
		return err
	}
	_, err = app.Setup(ctx, setupConn, cfg.Shared)
	setupConn.Close()
	if err != nil {
		return err
	}

	logClaudeCLI(ctx, cfg, log)

	// One registry for the whole process: /metrics on the gateway's port
	// shows every service's series.
	m := metrics.New()
	return runAll(ctx, cfg, connectTo(connect), []app.Service{
		{Name: "gateway", MicroName: gateway.MicroName, Description: gateway.MicroDescription,
			Run: func(ctx context.Context, c app.Conn) error {
				return gateway.Serve(ctx, gateway.Deps{Config: cfg.Gateway(), Bus: c.Bus, NC: c.NC, Store: store, Logger: c.Log, Metrics: m,
					RepoVerifier: repocheck.NewClient(c.NC, 0)})
			}},
		{Name: "orchestrator", MicroName: orchestrator.MicroName, Description: orchestrator.MicroDescription,
			Run: func(ctx context.Context, c app.Conn) error {
				return orchestrator.Run(ctx, orchestrator.Deps{Config: cfg.Orchestrator(), Bus: c.Bus, Logger: c.Log, Metrics: m})
			}},
		{Name: "executor", MicroName: executor.MicroName, Description: executor.MicroDescription,
			Run: func(ctx context.Context, c app.Conn) error {
				return executor.Serve(ctx, cfg.Executor(), c.Bus, m, c.Log)
			}},
		{Name: "github", MicroName: githubsvc.MicroName, Description: githubsvc.MicroDescription,
			Run: func(ctx context.Context, c app.Conn) error {
				return githubsvc.Serve(ctx, cfg.GitHub(), c.Bus, m, c.Log)
			}},
	})
}

// runAll runs every service on a connection of its own (a slow consumer
// in one cannot stall the others, as when they run as separate binaries)
// until ctx is cancelled. The first service to fail stops the others: a
// half-running system would accept work it cannot do.
func runAll(ctx context.Context, cfg config.Config, connect app.Connector, services []app.Service) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range services {
		g.Go(func() error {
			err := app.RunService(ctx, connect, s, app.NewLogger(cfg.LogLevel).With("service", s.Name))
			// A service that stops on the shutdown signal, even mid-start,
			// is not an error.
			if err != nil && !(ctx.Err() != nil && errors.Is(err, context.Canceled)) {
				return fmt.Errorf("%s: %w", s.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// connectTo opens a service's connection, named awo-<name>, on the
// broker; the streams were ensured once at start.
func connectTo(connect func(name string) (*nats.Conn, error)) app.Connector {
	return func(_ context.Context, name string) (*nats.Conn, jetstream.JetStream, error) {
		nc, err := connect("awo-" + name)
		if err != nil {
			return nil, nil, err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("opening JetStream: %w", err)
		}
		return nc, js, nil
	}
}

// rebuildReadModel empties the Postgres read store and replays the event
// stream into it. With the embedded broker, stop the running awo first:
// both would open the same AWO_DATA_DIR.
func rebuildReadModel(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	return gateway.RebuildReadModel(ctx, cfg.Gateway(), log, func(ctx context.Context) (jetstream.JetStream, func(), error) {
		connect, shutdownNATS, err := broker(ctx, cfg, log)
		if err != nil {
			return nil, nil, err
		}
		nc, err := connect("awo-rebuild")
		if err != nil {
			shutdownNATS()
			return nil, nil, err
		}
		js, err := app.Setup(ctx, nc, cfg.Shared)
		if err != nil {
			nc.Close()
			shutdownNATS()
			return nil, nil, err
		}
		return js, func() { nc.Close(); shutdownNATS() }, nil
	})
}

// broker returns how to connect to NATS: the embedded server unless NATS_URL
// names an external one. Every connection presents the NATS_* credentials,
// the in-process ones included: with an AWO_NATS_CONFIG that requires
// authentication they go through the server's auth like any client, so the
// all-in-one needs one user allowed everything its four services do (the
// example's admin user, or a user of its own); per-service users are for
// the separate binaries.
func broker(ctx context.Context, cfg config.Config, log *slog.Logger) (func(name string) (*nats.Conn, error), func(), error) {
	auth, err := app.NATSOptions(cfg.Shared)
	if err != nil {
		return nil, nil, err
	}
	auth = append(auth, nats.ErrorHandler(app.LogNATSErrors(log)))
	flags := app.NATSCLIFlags(cfg.Shared)
	if flags != "" {
		flags = " " + flags
	}
	if cfg.NATSURL != "" {
		url := redact.URL(cfg.NATSURL)
		log.Info("using external NATS", "url", url)
		return func(name string) (*nats.Conn, error) {
			nc, err := nats.Connect(cfg.NATSURL, append(app.ClientOptions(name, log), auth...)...)
			if err != nil {
				return nil, fmt.Errorf("connecting to NATS_URL=%s: %w", url, err)
			}
			return nc, nil
		}, func() {}, nil
	}
	srv, err := natsembed.Start(natsembed.Options{DataDir: cfg.DataDir, Listen: cfg.NATSListen, ConfigFile: cfg.NATSConfigFile})
	if err != nil {
		return nil, nil, fmt.Errorf("AWO_DATA_DIR=%s: %w", cfg.DataDir, err)
	}
	if srv.RequiresAuthentication() && !app.HasNATSCredentials(cfg.Shared) {
		srv.Shutdown()
		return nil, nil, fmt.Errorf("AWO_NATS_CONFIG=%s requires clients to authenticate, and the all-in-one's own connections "+
			"go through it too: set NATS_USER and NATS_PASSWORD (or NATS_CREDS, NATS_NKEY, NATS_TOKEN) to a user allowed "+
			"everything the services do", cfg.NATSConfigFile)
	}
	if url := srv.ClientURL(); url != "" {
		log.Info("embedded NATS accepts clients", "url", url, "hint", "nats --server "+url+flags+" stream ls")
	} else {
		log.Info("embedded NATS is in-process only; set AWO_NATS_LISTEN=127.0.0.1:4222 to watch it with the nats CLI")
	}
	return func(name string) (*nats.Conn, error) { return srv.Connect(name, auth...) }, srv.Shutdown, nil
}
