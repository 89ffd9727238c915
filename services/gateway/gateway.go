// Package gateway wires the REST API, the projector that keeps the read
// store current, and the health probes into one runnable service. The
// all-in-one binary and cmd/gateway both build it with New and call Run.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/spend"
	"github.com/agentworkorders/awo/services/gateway/api"
	"github.com/agentworkorders/awo/services/gateway/health"
	"github.com/agentworkorders/awo/services/gateway/idempotency"
	"github.com/agentworkorders/awo/services/gateway/projector"
	"github.com/agentworkorders/awo/services/gateway/repositories"
	"github.com/agentworkorders/awo/services/gateway/snapshot"
	"github.com/agentworkorders/awo/services/gateway/ui"
)

// Deps is what the caller has built: configuration, connections and the
// read store. New builds the rest of the gateway from it.
type Deps struct {
	Config config.Gateway
	// Bus is the gateway's JetStream: it publishes, serves the log routes,
	// and its JS feeds the projector, the idempotency store and /health.
	Bus    *bus.Bus
	NC     *nats.Conn // for /health; may be nil
	Store  readmodel.Store
	Logger *slog.Logger
	// Listener, when set, is served instead of listening on :Config.Port
	// (tests pass one on 127.0.0.1:0).
	Listener net.Listener
	// Health, when set, replaces the real dependency probes.
	Health health.Checker
	// Metrics, when set, is served on /metrics and records the HTTP
	// requests and the read store's work orders by status. The all-in-one
	// passes the registry every service shares.
	Metrics *metrics.Metrics
	// RepoVerifier asks the github service whether a repository is
	// accessible (the repocheck request/reply); nil: the verify routes
	// answer 503 "repository verification is not available".
	RepoVerifier api.RepositoryVerifier
}

// Micro service identity, as `nats micro ls` shows it.
const (
	MicroName        = "awo-gateway"
	MicroDescription = "REST API, read-model projector and health of Agent Work Orders"
)

// servicesWait is how long /health listens for micro services answering
// $SRV.PING: replicas on one broker answer within milliseconds.
const servicesWait = 500 * time.Millisecond

// Gateway is a gateway built and ready to serve: New builds it from Deps,
// Run serves it.
type Gateway struct {
	log   *slog.Logger
	grace time.Duration
	proj  *projector.Projector
	repos *projector.Repositories // nil: the store keeps no repositories
	snap  *snapshot.Keeper        // nil: no read-model snapshots
	ln    net.Listener
	srv   *http.Server
	conns *connStates
	spend *spend.Counter
	nc    *nats.Conn // the bus's connection, which the spend watch runs on
}

// New builds the gateway from d: it rebuilds the read store first when
// AWO_REBUILD_READ_MODEL asks, then makes the projector, the health probes
// (unless d.Health is set), the idempotency keys, the daily spend counter
// and the API, and opens the listener (unless d.Listener is set). Run the
// result: it holds the listener.
func New(ctx context.Context, d Deps) (*Gateway, error) {
	if d.Bus == nil || d.Bus.JS == nil || d.Store == nil {
		return nil, errors.New("gateway: Bus (with its JetStream) and Store are required")
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	if d.Config.RebuildReadModel {
		// Before the projector starts: it resumes after the rebuilt
		// store's AppliedSequence instead of racing the replay.
		if err := Rebuild(ctx, d.Bus.JS, d.Store, log); err != nil {
			return nil, fmt.Errorf("gateway: AWO_REBUILD_READ_MODEL=true: %w", err)
		}
	}
	keeper := openSnapshots(ctx, d, log)
	proj := projector.New(d.Bus.JS, d.Store, log.With("component", "projector"))
	if d.Metrics != nil { // no typed nils in the interfaces
		proj.CountRejections(d.Metrics)
	}
	checker := d.Health
	if checker == nil {
		checker = newMonitor(d, proj)
	}
	if err := d.Metrics.WatchWorkOrders(d.Store); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	keys, err := idempotency.Open(ctx, d.Bus.JS, app.Replication(d.Config.Shared))
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	counter, err := openSpend(ctx, d)
	if err != nil {
		return nil, err
	}
	repos, mirror, err := openRepositories(ctx, d, log)
	if err != nil {
		return nil, err
	}
	ln, err := listen(d.Config, d.Listener)
	if err != nil {
		return nil, err
	}
	loopback := listensOnLoopback(ln)
	switch {
	case len(d.Config.APITokens) > 0:
		log.Info("API tokens required", "tokens", len(d.Config.APITokens))
	case !loopback:
		log.Warn("the API asks for no token and listens beyond loopback (AWO_AUTH=none): anyone who can reach "+
			ln.Addr().String()+" can run agents; set AWO_API_TOKENS to require a token", "addr", ln.Addr().String())
	}
	warnUncappedCodex(d.Config, log)
	dashboard, err := ui.New()
	if err != nil {
		return nil, err
	}
	opts := apiOptions(d, log, keys, proj, checker, loopback, dashboard)
	opts.Spend, opts.DailyBudgetUSD = counter, d.Config.DailyBudgetUSD
	logWebhookRoute(log, opts)
	if mirror != nil { // no typed nils in the interfaces
		opts.Repositories, opts.RepositoryProjection = repos, mirror
	}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	conns := &connStates{state: map[net.Conn]http.ConnState{}}
	srv.ConnState = conns.track
	// Live streams end when the shutdown starts; other requests drain.
	closing := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(closing) })
	opts.Closing = closing
	srv.Handler = api.New(opts)
	return &Gateway{log: log, grace: d.Config.ShutdownGrace, proj: proj, repos: mirror, snap: keeper, ln: ln, srv: srv, conns: conns,
		spend: counter, nc: d.Bus.JS.Conn()}, nil
}

// openSnapshots opens the memory read model's snapshot and loads it into
// the store unless AWO_REBUILD_READ_MODEL has just filled it, so the
// projector replays only the events after it. nil: no snapshots (another
// store, AWO_READ_MODEL_SNAPSHOT_EVERY=0, or a bucket that cannot be
// opened, which is logged: the gateway then starts as without them).
func openSnapshots(ctx context.Context, d Deps, log *slog.Logger) *snapshot.Keeper {
	mem, ok := d.Store.(*readmodel.Memory)
	if !ok || d.Config.ReadModelSnapshotEvery <= 0 {
		return nil
	}
	log = log.With("component", "snapshot")
	k, err := snapshot.Open(ctx, d.Bus.JS, app.Replication(d.Config.Shared), mem, log,
		snapshot.Options{Every: uint64(d.Config.ReadModelSnapshotEvery)})
	if err != nil {
		log.Warn("read-model snapshots are off: the bucket cannot be opened; every start replays the whole event stream", "err", err)
		return nil
	}
	if !d.Config.RebuildReadModel {
		k.Load(ctx)
	}
	return k
}

// openSpend opens the daily spend counter the executors add to, for the
// daily budget, /health and the metrics' spend gauges.
func openSpend(ctx context.Context, d Deps) (*spend.Counter, error) {
	counter, err := spend.Open(ctx, d.Bus.JS, app.Replication(d.Config.Shared))
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	d.Metrics.WatchSpend(func(ctx context.Context) (float64, error) {
		t, err := counter.Today(ctx)
		return t.USD, err
	}, d.Config.DailyBudgetUSD)
	return counter, nil
}

// openRepositories opens the configured-repository bucket and the mirror
// that keeps the read store's copy; none when the store keeps no
// repositories (a test's wrapper), and the routes answer 503.
func openRepositories(ctx context.Context, d Deps, log *slog.Logger) (*repositories.Store, *projector.Repositories, error) {
	rs, ok := d.Store.(readmodel.RepositoryStore)
	if !ok {
		log.Warn("the read store keeps no configured repositories; the /repositories routes answer 503", "store", fmt.Sprintf("%T", d.Store))
		return nil, nil, nil
	}
	bucket, err := repositories.Open(ctx, d.Bus.JS, app.Replication(d.Config.Shared))
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: %w", err)
	}
	return bucket, projector.NewRepositories(bucket, rs, log.With("component", "repositories")), nil
}

// newMonitor runs the real dependency probes, plus the read model's
// progress and, for a store kept in a database, the database.
func newMonitor(d Deps, proj *projector.Projector) health.Checker {
	probes := append(health.Probes(health.Sources{
		ClaudeCLIPath:     d.Config.ClaudeCLIPath,
		ClaudeRootProblem: config.RootSandboxProblem(d.Config.ClaudeSkipPermissions, os.Geteuid(), d.Config.IsSandbox),
		CodexCLIPath:      d.Config.Agents.CodexCLIPath,
		GHCLIPath:         d.Config.GHCLIPath,
		GHTokenSet:        d.Config.GHToken != "",
		GHToken:           d.Config.GHToken,
		ArchonServerURL:   d.Config.ArchonServerURL,
		ArchonMCPURL:      d.Config.ArchonMCPURL,
		NC:                d.NC,
		JS:                d.Bus.JS,
	}), readModelProbe(proj))
	if db, ok := d.Store.(Database); ok {
		probes = append(probes, databaseProbe(db))
	}
	if d.NC != nil {
		probes = append(probes, health.ServicesProbe(d.NC, servicesWait))
	}
	return health.NewMonitor(probes, health.Options{})
}

// readinessMonitor is /readyz's checker: only the probes readiness needs
// (NATS, JetStream, the read model, the database), which answer within
// milliseconds, not /health's CLIs and GitHub round trips. nil when the
// caller substituted Health: /readyz then judges from that.
func readinessMonitor(d Deps, proj *projector.Projector) health.Checker {
	if d.Health != nil {
		return nil
	}
	var probes []health.Probe
	for _, p := range health.Probes(health.Sources{NC: d.NC, JS: d.Bus.JS}) {
		if p.Name == "nats" || p.Name == "jetstream" {
			probes = append(probes, p)
		}
	}
	probes = append(probes, readModelProbe(proj))
	if db, ok := d.Store.(Database); ok {
		probes = append(probes, databaseProbe(db))
	}
	return health.NewMonitor(probes, health.Options{Timeout: 2 * time.Second, TTL: time.Second})
}

// listen returns ln, or a listener on the configured host and port.
func listen(cfg config.Gateway, ln net.Listener) (net.Listener, error) {
	if ln != nil {
		return ln, nil
	}
	// Checked again here for configurations built in code; Load has
	// refused it already for every binary.
	if err := cfg.BindProblem(); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: listening on %s (AGENT_WORK_ORDERS_HOST, AGENT_WORK_ORDERS_PORT): %w", addr, err)
	}
	return ln, nil
}

func apiOptions(d Deps, log *slog.Logger, keys *idempotency.Store, proj *projector.Projector, checker health.Checker, loopback bool, dashboard http.Handler) api.Options {
	var (
		httpMetrics    api.HTTPObserver
		metricsHandler http.Handler
	)
	if d.Metrics != nil { // no typed nils in the interfaces
		httpMetrics, metricsHandler = d.Metrics, d.Metrics.Handler()
	}
	return api.Options{
		Idempotency:     keys,
		Verifier:        d.RepoVerifier,
		Metrics:         httpMetrics,
		MetricsHandler:  metricsHandler,
		Publisher:       d.Bus,
		Store:           d.Store,
		Projection:      proj,
		Health:          checker,
		Ready:           readinessMonitor(d, proj),
		Logger:          log,
		LogStream:       d.Bus,
		AllowLocalRepos: d.Config.AllowLocalRepos,
		StorageType:     d.Config.StorageType,
		Version:         app.Version,
		// Secure by default: access
		APITokens:    d.Config.APITokens,
		MetricsToken: d.Config.MetricsToken,
		// Without tokens on loopback, only requests addressed to loopback
		// are answered (DNS rebinding).
		LoopbackHostOnly: len(d.Config.APITokens) == 0 && loopback,
		CORSOrigins:      d.Config.CORSOrigins,
		CreateRate:       d.Config.CreateRate,
		SSEMaxPerClient:  d.Config.SSEMaxPerClient,
		SSEMax:           d.Config.SSEMax,
		// Secure by default: poison
		Admission: api.Admission{MaxActive: d.Config.MaxActiveWorkOrders, MaxPerRepository: d.Config.MaxActivePerRepository},
		// Secure by default: input
		MaxRequestBytes: d.Config.MaxRequestBytes,
		MaxCostUSD:      d.Config.MaxCostUSD,
		Agents:          d.Config.Agents,
		ListMax:         d.Config.ListMax,

		AllowedRepositories: d.Config.AllowedRepositories,
		Dashboard:           dashboard,
		GitHubWebhook: api.GitHubWebhook{
			Secret:       d.Config.Triggers.WebhookSecret,
			Label:        d.Config.Triggers.Label,
			Command:      d.Config.Triggers.Command,
			Associations: d.Config.Triggers.Associations,
		},
	}
}

// logWebhookRoute says at start whether POST /webhooks/github is served,
// and when GitHub could not reach it anyway.
func logWebhookRoute(log *slog.Logger, o api.Options) {
	switch {
	case o.GitHubWebhook.Secret == "":
		log.Info("GitHub webhook route off: POST /webhooks/github answers 404 (set GITHUB_WEBHOOK_SECRET to turn it on)")
	case o.LoopbackHostOnly:
		log.Warn("GitHub webhook route on, but the gateway listens on loopback without API tokens and answers only requests "+
			"addressed to loopback, so GitHub's deliveries are refused (403); set AWO_API_TOKENS and listen where GitHub reaches it",
			"route", "POST /webhooks/github")
	default:
		log.Info("GitHub webhook route on", "route", "POST /webhooks/github", "label", o.GitHubWebhook.Label,
			"command", o.GitHubWebhook.Command, "associations", o.GitHubWebhook.Associations)
	}
}

// Serve builds the gateway (New) and runs it until ctx is cancelled: the
// gateway binary and the all-in-one both run it so.
func Serve(ctx context.Context, d Deps) error {
	g, err := New(ctx, d)
	if err != nil {
		return err
	}
	return g.Run(ctx)
}

// Run serves the API and runs the projector until ctx is cancelled, then
// shuts the HTTP server down gracefully (within Config.ShutdownGrace) and
// stops the projector. It returns an error if either fails on its own.
func (g *Gateway) Run(ctx context.Context) error {
	// Either half failing stops the whole gateway; a gateway that answers
	// but never projects would serve stale reads forever.
	group, runCtx := errgroup.WithContext(ctx)
	// The projector outlives ctx until the HTTP server has drained, so the
	// last reads can still wait for it.
	projCtx, stopProjector := context.WithCancel(context.WithoutCancel(ctx))
	defer stopProjector()
	// The daily spend is read on every create, /health and /metrics
	// scrape: from memory, kept by a watch, for as long as requests come.
	g.spend.Watch(projCtx, g.nc, g.log.With("component", "spend"))
	group.Go(func() error {
		if err := g.proj.Run(projCtx); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		return nil
	})
	if g.repos != nil {
		group.Go(func() error {
			if err := g.repos.Run(projCtx); err != nil {
				return fmt.Errorf("gateway: %w", err)
			}
			return nil
		})
	}
	if g.snap != nil {
		// It writes its last snapshot once the projector is told to stop.
		group.Go(func() error { g.snap.Run(projCtx, g.proj); return nil })
	}
	group.Go(func() error {
		g.log.Info("gateway listening", "addr", g.ln.Addr().String())
		if err := g.srv.Serve(g.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("gateway: serving HTTP: %w", err)
		}
		return nil
	})

	<-runCtx.Done()
	g.log.Info("gateway shutting down", "grace", g.grace.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.grace)
	defer cancel()
	shutdownErr := g.srv.Shutdown(shutdownCtx)
	if shutdownErr != nil {
		// Grace ran out: cut the remaining connections. Connections that
		// never sent a request hold no work (net/http waits 5 s before it
		// counts them idle; a client's losing dial race leaves one open):
		// cutting only those is a clean stop.
		unused := g.conns.allNew()
		_ = g.srv.Close()
		if unused {
			shutdownErr = nil
		} else {
			shutdownErr = fmt.Errorf("gateway: HTTP shutdown: %w", shutdownErr)
		}
	}
	stopProjector()
	// The first error is what stopped the gateway before ctx did; what
	// fails after ctx is cancelled is part of stopping.
	if err := group.Wait(); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		return errors.Join(err, shutdownErr)
	}
	return shutdownErr
}

// readModelProbe shows in /health how far the projection has got. It is
// not critical: a lagging read model makes reads slow, not wrong, and a
// store that refuses events shows up in the database section.
func readModelProbe(p *projector.Projector) health.Probe {
	return health.Probe{Name: health.SectionReadModel, OKKey: "caught_up", TopLevel: true, Check: func(ctx context.Context) health.Result {
		fields := map[string]any{}
		pos, err := p.Position(ctx)
		fields["applied_seq"] = pos.Applied
		if err != nil {
			fields["error"] = err.Error()
		} else {
			fields["stream_seq"], fields["lag"] = pos.Stream, pos.Lag()
		}
		if err := p.StoreErr(); err != nil {
			fields["store_error"] = err.Error()
		}
		return health.Result{OK: p.CaughtUp(), Fields: fields}
	}}
}

// Database is what /health asks of a read store kept in a database; the
// Postgres store is one, the memory store is not (and has no section).
type Database interface {
	Ping(ctx context.Context) error
	TablesExist(ctx context.Context) (bool, error)
}

// databaseProbe reports the database as the Python service does, {status,
// tables_exist}, plus error. Critical: without it reads fail and the
// projection stalls.
func databaseProbe(db Database) health.Probe {
	return health.Probe{Name: health.SectionDatabase, OKKey: "-", Critical: true, TopLevel: true, Check: func(ctx context.Context) health.Result {
		unhealthy := func(tables bool, msg string) health.Result {
			return health.Result{Fields: map[string]any{"status": "unhealthy", "tables_exist": tables, "error": msg}}
		}
		if err := db.Ping(ctx); err != nil {
			// /health is an answer anyone may read: a driver error quoting
			// the connection string must not carry its password.
			return unhealthy(false, redact.Default().String(fmt.Sprintf("database unreachable (DATABASE_URL): %v", err)))
		}
		exists, err := db.TablesExist(ctx)
		switch {
		case err != nil:
			return unhealthy(false, fmt.Sprintf("checking the read-model tables: %v", err))
		case !exists:
			return unhealthy(false, "the tables archon_agent_work_orders and archon_agent_work_order_steps are missing")
		}
		return health.Result{OK: true, Fields: map[string]any{"status": "healthy", "tables_exist": true}}
	}}
}

// RebuildReadModel is the rebuild-read-model subcommand of the gateway and
// the all-in-one: it refuses the memory store (rebuilt at every start
// anyway), opens the configured store, connects with connect and rebuilds.
func RebuildReadModel(ctx context.Context, cfg config.Gateway, log *slog.Logger,
	connect func(context.Context) (jetstream.JetStream, func(), error)) error {
	if cfg.StorageType == config.StorageMemory {
		return fmt.Errorf("STATE_STORAGE_TYPE=memory: nothing to rebuild; the memory read model lives in the gateway process and is rebuilt from the stream at every start")
	}
	store, closeStore, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeStore()
	js, disconnect, err := connect(ctx)
	if err != nil {
		return err
	}
	defer disconnect()
	return Rebuild(ctx, js, store, log)
}

// Rebuild empties store and replays the event stream into it, logging
// progress. The store must support Truncate, as the memory and Postgres
// stores do. Run it with no other gateway projecting into the same store.
func Rebuild(ctx context.Context, js jetstream.JetStream, store readmodel.Store, log *slog.Logger) error {
	ts, ok := store.(projector.TruncatableStore)
	if !ok {
		return fmt.Errorf("the read store %T cannot be emptied for a rebuild", store)
	}
	if _, err := projector.Rebuild(ctx, js, ts, log.With("component", "rebuild"), projector.RebuildOptions{}); err != nil {
		return err
	}
	// A store just filled in bulk reads slowly until its statistics and
	// visibility are current (Postgres: ANALYZE, VACUUM), which autovacuum
	// would do only minutes later.
	if a, ok := store.(interface{ Tidy(context.Context) error }); ok {
		if err := a.Tidy(ctx); err != nil {
			return fmt.Errorf("after the rebuild: %w", err)
		}
	}
	return nil
}

// listensOnLoopback tells whether ln accepts connections from this
// machine only.
// warnUncappedCodex says at start-up when AWO_MAX_COST_USD cannot apply to
// codex work orders: without a price for CODEX_MODEL their cost is unknown.
func warnUncappedCodex(c config.Gateway, log *slog.Logger) {
	a := c.Agents
	if c.MaxCostUSD <= 0 || !a.IsConfigured(config.AgentCodex) {
		return
	}
	if _, priced := a.Prices.Cost(a.CodexModel, 0, 0, 0); !priced {
		log.Warn("AWO_MAX_COST_USD is not given to codex work orders: AWO_PRICES has no price for CODEX_MODEL, so their cost "+
			"is unknown and a cap could not be kept (their max_cost_usd shows null)", "codex_model", a.CodexModel)
	}
}

func listensOnLoopback(ln net.Listener) bool {
	a, ok := ln.Addr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// connStates is the state of each open connection (http.Server.ConnState).
type connStates struct {
	mu    sync.Mutex
	state map[net.Conn]http.ConnState
}

func (c *connStates) track(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st == http.StateClosed || st == http.StateHijacked {
		delete(c.state, conn)
		return
	}
	c.state[conn] = st
}

// allNew tells whether every open connection is one that has not sent a
// request yet.
func (c *connStates) allNew() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.state {
		if st != http.StateNew {
			return false
		}
	}
	return true
}
