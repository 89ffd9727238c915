// Package api is the gateway's REST API, compatible with the Python service's
// agent_work_orders service: create a work order (published as a
// workorder.requested event), read work orders and their step history from
// the read store, and report health.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/health"
)

// Publisher records events and reads back the latest of a kind; *bus.Bus
// is one.
type Publisher interface {
	Event(id, typ string, wo workorder.ID, data any) events.Event
	PublishEvent(ctx context.Context, e events.Event, guard *uint64) (uint64, error)
	// LastEvent is the newest stored event of type typ about wo.
	LastEvent(ctx context.Context, wo workorder.ID, typ string) (events.Event, bool, error)
}

// Projection tells when the read store has caught up; *projector.Projector
// is one.
type Projection interface {
	// WaitFor returns once the store reflects every event up to seq.
	WaitFor(ctx context.Context, seq uint64) error
}

// LogReader reads stored messages back from the streams: the live logs
// (WORKORDERS_LOGS), and the events that end a work order and with it its
// log stream. *bus.Bus is one; it also serves logentry.Read and Tail.
type LogReader interface {
	// Read hands fn every message on subjects stored so far after
	// sequence after, oldest first.
	Read(ctx context.Context, stream string, subjects []string, after uint64, fn func(bus.Message)) error
	// Follow delivers the messages on subjects stored after sequence
	// after, then each new one, until ctx ends.
	Follow(ctx context.Context, stream string, subjects []string, after uint64) (<-chan bus.Message, error)
	// LastSeq is the sequence of the newest message on subject; 0: none.
	LastSeq(ctx context.Context, stream, subject string) (uint64, error)
}

// HTTPObserver records one request's duration under its route pattern.
type HTTPObserver interface {
	ObserveHTTP(route, method string, code int, d time.Duration)
}

// Options are the API's dependencies and settings.
type Options struct {
	Publisher  Publisher       // required
	Store      readmodel.Store // required
	Projection Projection      // nil: reads do not wait for the projection
	Health     health.Checker  // nil: /health reports no dependencies
	// Ready is what /readyz judges from (its nats, jetstream, read_model
	// and database entries): a checker of only the cheap probes, so a
	// readiness probe is answered quickly; nil: Health's report.
	Ready  health.Checker
	Logger *slog.Logger // nil: slog.Default() (see package app)
	// LogStream reads the live logs (WORKORDERS_LOGS) and watches for a
	// work order's end; nil: the log routes answer 503.
	LogStream LogReader

	// Repositories is the configured-repository bucket every replica
	// shares (*repositories.Store), listed from Store (which must then be
	// a readmodel.RepositoryStore) once RepositoryProjection has mirrored
	// it; nil: the repository routes answer 503. Verifier asks the github
	// service about a repository; nil: verification answers 503.
	Repositories         Repositories
	RepositoryProjection Projection
	Verifier             RepositoryVerifier

	// Idempotency remembers Idempotency-Key headers for every replica; nil:
	// a create that sends one is refused (501). *idempotency.Store is the
	// real one.
	Idempotency IdempotencyKeys

	// Metrics records request durations by route pattern; nil: not
	// recorded. *metrics.Metrics is one.
	Metrics HTTPObserver
	// MetricsHandler serves GET /metrics; nil: 404.
	MetricsHandler http.Handler

	// Admission limits the active work orders (see admission.go); zero
	// values: no limit.
	Admission Admission

	AllowLocalRepos bool   // AWO_ALLOW_LOCAL_REPOS
	StorageType     string // shown by /health
	Version         string // shown by /, /health and the OpenAPI spec

	// AllowedRepositories (AWO_ALLOWED_REPOSITORIES) limits the repositories
	// a create may name; empty allows any.
	AllowedRepositories repourl.Allowlist

	NewID          func() workorder.ID // default workorder.NewID
	ReadWait       time.Duration       // how long a read waits for the projection (default 5s)
	PublishTimeout time.Duration       // how long a create waits for JetStream (default 5s)
	SSEHeartbeat   time.Duration       // ": ping" interval on a log stream (default 15s)
	// Closing is closed when the server starts shutting down: the live
	// streams (log streams, the event feed) end then, so a graceful
	// shutdown is not held for its whole grace by a stream that lasts as
	// long as its client; the client reconnects with Last-Event-ID. nil:
	// streams end only with their client or work order.
	Closing <-chan struct{}

	// Secure by default: access (access.go).
	//
	// APITokens (AWO_API_TOKENS) are the bearer tokens the API routes ask
	// for; none: no authentication.
	APITokens []string
	// MetricsToken (AWO_METRICS_TOKEN) makes /metrics ask for this token
	// or an API token; empty: /metrics is open.
	MetricsToken string
	// LoopbackHostOnly answers 403 to a request whose Host is not a
	// loopback name (DNS rebinding). The gateway turns it on when it
	// listens on loopback without tokens; off by default because test
	// requests carry Host example.com.
	LoopbackHostOnly bool
	// CORSOrigins (AWO_CORS_ORIGINS, normalised by config) are the origins
	// granted CORS; ["*"] is every origin without credentials; none: no
	// grant.
	CORSOrigins []string
	// CreateRate (AWO_CREATE_RATE) limits creates per client; the zero
	// Rate is no limit.
	CreateRate config.Rate
	// SSEMaxPerClient and SSEMax cap open /logs/stream and /events connections per
	// client and in all (defaults 16 and 256).
	SSEMaxPerClient int
	SSEMax          int
	// Secure by default: input
	// MaxRequestBytes caps a create's user_request (AWO_MAX_REQUEST_BYTES);
	// 0: config.DefaultMaxRequestBytes. The request body cap grows with it.
	MaxRequestBytes int
	// MaxCostUSD is the cost cap of a create that sets no max_cost_usd
	// (AWO_MAX_COST_USD); 0: no cap.
	MaxCostUSD float64
	// DailyBudgetUSD (AWO_DAILY_BUDGET_USD) caps what all work orders may
	// spend per UTC day: once Spend reaches it, creates, follow-ups and
	// retries are 429 until the next UTC midnight (dailybudget.go); 0: none.
	DailyBudgetUSD float64
	// Spend reads today's spend of all work orders (*spend.Counter), held
	// against DailyBudgetUSD and shown by /health; nil: neither.
	Spend SpendReader
	// ListMax caps the work orders one list answer holds (AWO_LIST_MAX);
	// 0: config.DefaultListMax.
	ListMax int

	// GitHubWebhook configures POST /webhooks/github (webhooks_github.go);
	// without a secret the route does not exist.
	GitHubWebhook GitHubWebhook

	// Dashboard serves the web dashboard under /ui/ (package ui); nil: no
	// dashboard. Its files carry no data and are served without a token:
	// every read the page makes goes through the API, which asks for one.
	Dashboard http.Handler
}

// server holds the handlers' shared state.
type server struct {
	Options
	log *slog.Logger
	// lastPublished is the highest stream sequence this process wrote.
	// Reads wait for the projection to reach it, so a GET right after a
	// POST sees the new work order (read-your-writes).
	lastPublished atomic.Uint64
	admission     admitter
	spec          []byte // OpenAPI document, rendered once
	endpoints     []string

	apiTokens     tokenSet
	metricsTokens tokenSet // empty: /metrics is open
	origins       map[string]bool
	anyOrigin     bool
	createLimits  *clientLimits // nil: no limit
	streams       *streamCaps
	bodyLimit     int64 // the most a request body may hold
	listPage      int   // how many work orders a list reads from the store at a time

	// lastRepoRevision is lastPublished for the configured-repository
	// bucket: a list waits for its mirror to reach it.
	lastRepoRevision atomic.Uint64
}

// Route parameter carrying a work-order id.
const idParam = "agent_work_order_id"

// New returns the API's handler.
func New(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.NewID == nil {
		o.NewID = workorder.NewID
	}
	if o.ReadWait <= 0 {
		o.ReadWait = 5 * time.Second
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 5 * time.Second
	}
	if o.SSEHeartbeat <= 0 {
		o.SSEHeartbeat = 15 * time.Second
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.SSEMaxPerClient <= 0 {
		o.SSEMaxPerClient = 16
	}
	if o.SSEMax <= 0 {
		o.SSEMax = 256
	}
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = config.DefaultMaxRequestBytes
	}
	if o.ListMax <= 0 {
		o.ListMax = config.DefaultListMax
	}
	s := &server{Options: o, log: o.Logger, bodyLimit: bodyLimit(o.MaxRequestBytes), listPage: listPageSize}
	s.initAccess()
	r := s.routes()
	s.spec = renderSpec(o.Version)
	s.endpoints = endpoints(r)
	return r
}

func (s *server) routes() chi.Router {
	r := chi.NewRouter()
	// Logging outermost so a recovered panic and every refusal are logged;
	// the Host check before anything answers; CORS before routing so
	// preflight requests never reach a 405, and before authentication
	// because preflights carry no token.
	r.Use(traceRequests, s.measure, s.logRequests, s.recoverPanics, s.checkHost, s.cors, middleware.StripSlashes, middleware.GetHead)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not Found"})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"detail": "Method Not Allowed"})
	})

	r.Get("/", s.handle(s.root))
	r.Get("/health", s.handle(s.health))
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Get("/openapi.json", s.openAPI)
	r.Get("/metrics", s.metrics)
	r.Get("/docs", docs)
	if s.Dashboard != nil {
		r.Get("/ui", s.Dashboard.ServeHTTP)
		r.Get("/ui/*", s.Dashboard.ServeHTTP)
	}

	// GitHub sends no bearer token: the delivery's signature is its
	// authentication (webhooks_github.go).
	if s.GitHubWebhook.Secret != "" {
		r.Post(githubWebhookPath, s.handle(s.githubWebhook))
	}

	// Everything a client acts through sits in this group, behind the
	// bearer token and the JSON body check.
	r.Group(func(r chi.Router) {
		// JSON answers are gzipped for clients that ask (a list page of
		// 100 work orders is ~70 KB, ~10 KB gzipped: most of the
		// dashboard's weight); event streams are left alone, unbuffered.
		r.Use(s.authenticate, requireJSON, middleware.Compress(5, "application/json"))
		const base = "/api/agent-work-orders"
		r.Post(base, s.handle(s.create))
		r.Get(base, s.handle(s.list))
		r.Get(base+"/events", s.handle(s.streamEvents))
		r.Get(base+"/{"+idParam+"}", s.handle(s.get))
		r.Get(base+"/{"+idParam+"}/steps", s.handle(s.steps))
		r.Post(base+"/{"+idParam+"}/cancel", s.handle(s.cancel))
		r.Post(base+"/{"+idParam+"}/retry", s.handle(s.retry))
		r.Post(base+"/{"+idParam+"}/prompt", s.handle(s.prompt))
		r.Get(base+"/{"+idParam+"}/git-progress", s.handle(s.gitProgress))
		r.Get(base+"/{"+idParam+"}/logs", s.handle(s.logs))
		r.Get(base+"/{"+idParam+"}/logs/stream", s.handle(s.streamLogs))

		r.Get(base+"/repositories", s.handle(s.listRepositories))
		r.Post(base+"/repositories", s.handle(s.createRepository))
		r.Patch(base+"/repositories/{"+repoIDParam+"}", s.handle(s.updateRepository))
		r.Delete(base+"/repositories/{"+repoIDParam+"}", s.handle(s.deleteRepository))
		r.Post(base+"/repositories/{"+repoIDParam+"}/verify", s.handle(s.verifyConfiguredRepository))
		r.Post(base+"/github/verify-repository", s.handle(s.verifyGitHubRepository))
	})
	return r
}

// handlerFunc is a handler that returns its error instead of writing it,
// so every error goes through errorResponse.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Every value written here is built from plain structs; failing to
		// encode one is a bug, answered without a body.
		http.Error(w, `{"detail":"internal server error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func workOrderParam(r *http.Request) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil {
		return rctx.URLParam(idParam)
	}
	return ""
}

// endpoints lists "METHOD /path" for every route, for the service info.
func endpoints(r chi.Routes) []string {
	var out []string
	_ = chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, method+" "+route)
		return nil
	})
	return out
}
