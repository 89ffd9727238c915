// Package config reads the environment once, at start: one table
// (variables.go) says, for each variable, what it sets and how it is
// printed, and Load fills one struct per service from it.
// Variable names are the Python service's where it has them (see
// docs/configuration.md); invalid values are rejected with the variable
// named.
package config

import (
	"log/slog"
	"time"

	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/tracing"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Config is every setting Load read: the part several services share once,
// then each service's own part. Fields are promoted, so cfg.AckWait and
// cfg.Port both work; a service takes only its part (Gateway, Executor,
// ...), which the methods of the same name cut out.
type Config struct {
	Shared
	GatewayOnly
	ExecutorOnly
}

// Gateway is what the gateway is configured with.
type Gateway struct {
	Shared
	GatewayOnly
}

// Executor is what the executor is configured with.
type Executor struct {
	Shared
	ExecutorOnly
}

// Orchestrator is what the orchestrator is configured with: it has no
// settings of its own.
type Orchestrator struct {
	Shared
}

// GitHub is what the github service is configured with: it has no settings
// of its own.
type GitHub struct {
	Shared
}

// Gateway is the gateway's part of c.
func (c Config) Gateway() Gateway { return Gateway{Shared: c.Shared, GatewayOnly: c.GatewayOnly} }

// Executor is the executor's part of c.
func (c Config) Executor() Executor { return Executor{Shared: c.Shared, ExecutorOnly: c.ExecutorOnly} }

// Orchestrator is the orchestrator's part of c.
func (c Config) Orchestrator() Orchestrator { return Orchestrator{Shared: c.Shared} }

// GitHub is the github service's part of c.
func (c Config) GitHub() GitHub { return GitHub{Shared: c.Shared} }

// Shared holds the settings of the process itself (logging, NATS, tracing,
// streams, metrics) and those that more than one service reads. The
// environment variable of each field is in the variables table.
type Shared struct {
	LogLevel slog.Level

	ClaudeCLIPath         string // gateway (health probe) and executor
	ClaudeSkipPermissions bool   // gateway (root check) and executor
	GHCLIPath             string // gateway (health probe) and github
	GHToken               string // executor (push) and github; secret
	// Agents are the coding agents beyond Claude Code's own settings
	// (agents.go): the gateway checks a request's agent against them, the
	// executor runs them.
	Agents Agents

	// PublicURL is where people reach the dashboard (AWO_PUBLIC_URL, no
	// trailing slash): the github service's answers link to a work order's
	// page under it.
	PublicURL string

	AllowLocalRepos  bool          // gateway (validation), executor, github
	AckWait          time.Duration // every consumer
	MaxDeliver       int           // every consumer
	ShutdownGrace    time.Duration
	NATSURL          string // empty = embedded server
	NATSListen       string
	DataDir          string
	EventsMaxAge     time.Duration
	WorkerIdentifier string // default host name + pid
	// MetricsListen is host:port where the standalone orchestrator,
	// executor and github binaries serve /metrics, /healthz and /readyz;
	// empty (the default) serves none. The gateway ignores it (it serves
	// them on AGENT_WORK_ORDERS_PORT); the all-in-one serves its worker
	// services' /readyz there too.
	MetricsListen string
	// Tracing is the OTLP trace export; off unless an endpoint is set.
	Tracing tracing.Settings
	// Webhooks are the outbound webhooks the github service sends
	// (webhooks.go).
	Webhooks Webhooks

	// Stream size limits; see bus.StreamSettings for what each does when
	// full.
	EventsMaxBytes   int64
	LogsMaxBytes     int64
	CommandsMaxBytes int64
	DLQMaxBytes      int64
	// StreamReplicas (1..5) is how many copies JetStream keeps of every
	// stream, key-value bucket and object store awo creates; more than 1
	// needs a clustered NATS.
	StreamReplicas int
	// StreamPlacementTags pick the servers those copies go to (JetStream
	// placement tags); none lets JetStream choose.
	StreamPlacementTags []string
	// AllowedRepositories are the repositories a work order may name (see
	// repourl.Pattern); empty allows every one the other rules allow.
	AllowedRepositories repourl.Allowlist
	// DailyBudgetUSD caps what all work orders' agent runs may cost per
	// UTC day (AWO_DAILY_BUDGET_USD): the gateway refuses new work and the
	// executor makes further steps wait once today's spend reaches it;
	// 0 = no daily budget.
	DailyBudgetUSD float64

	// NATSConfigFile is a nats-server configuration file for the embedded
	// server: users, nkeys, accounts, permissions, TLS.
	NATSConfigFile string
	// NATS client credentials, named as the nats CLI names them. Every
	// connection this process opens uses them, the all-in-one's in-process
	// ones included. At most one of creds, nkey, user and token is set.
	NATSCreds    string // a .creds file (JWT and seed)
	NATSNKey     string // a file holding an nkey seed
	NATSUser     string
	NATSPassword string // secret
	NATSToken    string // secret
	NATSCA       string // CA file to verify the server's certificate
	NATSCert     string // client certificate file (with NATSKey)
	NATSKey      string // client key file (with NATSCert)

	// secrets are the values of the secrets in the environment, collected
	// once by Load; see Secrets.
	secrets []string
}

// GatewayOnly are the settings only the gateway reads.
type GatewayOnly struct {
	Port                 int
	ServiceDiscoveryMode string // local | docker_compose
	ArchonServerURL      string // health-checked when set
	ArchonMCPURL         string // health-checked when set
	// IsSandbox is IS_SANDBOX as the environment holds it, untrimmed: the
	// Claude CLI compares it with "1" exactly, and so does the root check.
	IsSandbox string

	StorageType string // memory | postgres
	// StorageArchon is STATE_STORAGE_TYPE when it named one of Archon's
	// stores (file, supabase), which StorageType maps to; else empty.
	StorageArchon string
	DatabaseURL   string // secret
	// SupabaseURL is Archon's SUPABASE_URL, only read to help find the
	// connection string when DATABASE_URL is missing.
	SupabaseURL string
	// RebuildReadModel makes the gateway empty the read store and replay
	// the event stream into it before serving.
	RebuildReadModel bool
	// ReadModelSnapshotEvery is how many applied events apart a memory
	// read model writes its snapshot (AWO_READ_MODEL_SNAPSHOT_EVERY); 0
	// turns snapshots off, loading as well as writing.
	ReadModelSnapshotEvery int

	// Who may call the API (access.go)
	//
	// Host is the address the gateway listens on: 127.0.0.1 by default
	// without API tokens, all interfaces ("") with them. Load refuses a
	// non-loopback Host without tokens unless AuthNone.
	Host string
	// APITokens are the bearer tokens every /api/ route asks for; none
	// configured means no authentication. Secret.
	APITokens []string
	// MetricsToken makes /metrics ask for this bearer token (or any API
	// token); empty leaves /metrics open. Secret.
	MetricsToken string
	// AuthNone says on purpose that a gateway listening beyond loopback
	// needs no token.
	AuthNone bool
	// CORSOrigins are the browser origins granted CORS, normalised
	// scheme://host[:port]; ["*"] grants every origin without credentials;
	// empty grants none.
	CORSOrigins []string
	// CreateRate limits creates per client (token, or address without
	// tokens); Per == 0 turns the limit off.
	CreateRate Rate
	// SSEMaxPerClient and SSEMax cap concurrent /logs/stream connections
	// per client and in all.
	SSEMaxPerClient int
	SSEMax          int
	// MaxActiveWorkOrders caps the pending and running work orders of the
	// whole system; a create over it is 429. 0 = no limit.
	MaxActiveWorkOrders int
	// MaxActivePerRepository caps them per repository_url; 0 = no limit.
	MaxActivePerRepository int
	// MaxRequestBytes caps a work order's user_request, in bytes; longer
	// is refused with a 422.
	MaxRequestBytes int
	// MaxCostUSD is the cost cap of a work order that does not set its own
	// max_cost_usd (AWO_MAX_COST_USD); 0 = no cap.
	MaxCostUSD float64
	// ListMax caps how many work orders one list answer holds, with or
	// without ?limit=; X-Total-Count still tells the total.
	ListMax int
	// Triggers configure POST /webhooks/github (triggers.go).
	Triggers Triggers
}

// ExecutorOnly are the settings only the executor reads.
type ExecutorOnly struct {
	ClaudeModel    string
	ClaudeMaxTurns int           // 0 = no limit
	CommandsDir    string        // empty = embedded prompts
	StepTimeout    time.Duration // read in seconds
	// StepTimeouts are per-step limits on top of StepTimeout
	// (AWO_STEP_TIMEOUTS); the smaller wins. nil: StepTimeout alone.
	StepTimeouts    map[workorder.Step]time.Duration
	TempDir         string
	ExecConcurrency int
	// Checkpoints makes the executor save the sandbox to the
	// WORKORDERS_CHECKPOINTS stream after each successful step and restore
	// it before a step that lands elsewhere or re-runs.
	Checkpoints bool
	// CheckpointMaxBytes caps the untracked output a checkpoint keeps
	// (AWO_CHECKPOINT_MAX_BYTES); over it, the largest untracked files
	// and directories are left out with a warning. 0: no cap.
	CheckpointMaxBytes int64
	// SandboxRetention is how long the sandbox of a finished work order is
	// kept before the executor removes it; 0 keeps sandboxes forever.
	SandboxRetention time.Duration
	// MinFreeDisk (bytes) is the free space under TempDir below which the
	// executor hands steps back instead of running them; 0 turns the check
	// off.
	MinFreeDisk int64
	// GitTimeout bounds one git clone, fetch or push, so a server that
	// never answers cannot hold a slot.
	GitTimeout time.Duration
	// AgentUser is the Unix user, optionally user:group, by name or
	// number, the executor runs the agent as; empty runs it as the
	// executor's own user. Only its form is checked here: the executor
	// resolves it against the user database at start.
	AgentUser string
	// AgentEnv names further variables the agent's environment takes from
	// the service's (see AgentEnvNames); none of the service's own secrets
	// can be named.
	AgentEnv []string
	// UsageLimits say what a run that hit the agent's usage limit comes
	// to (usagelimit.go).
	UsageLimits UsageLimits
}

// Storage types.
const (
	StorageMemory   = "memory"
	StoragePostgres = "postgres"
)

// RootSandboxProblem explains why the Claude Code CLI would refuse to run,
// or returns "". As root, the CLI (2.1.328) rejects
// --dangerously-skip-permissions ("cannot be used with root/sudo
// privileges") unless IS_SANDBOX is exactly "1". The executor checks this
// before each run and /health reports it.
func RootSandboxProblem(skipPermissions bool, euid int, isSandbox string) string {
	if !skipPermissions || euid != 0 || isSandbox == "1" {
		return ""
	}
	return "running as root: the claude CLI refuses --dangerously-skip-permissions for root " +
		"unless IS_SANDBOX=1 is set; set IS_SANDBOX=1 when running in a sandbox or container, " +
		"run as another user, or set CLAUDE_CLI_SKIP_PERMISSIONS=false"
}
