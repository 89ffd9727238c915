// Package config reads the environment once, at start, into one struct.
// Variable names are the Python service's where it has them (see
// docs/configuration.md); invalid values are rejected with the variable
// named.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/tracing"
)

// Config is every setting of every service; each service reads the part it
// needs.
type Config struct {
	Port                 int    // AGENT_WORK_ORDERS_PORT
	ServiceDiscoveryMode string // SERVICE_DISCOVERY_MODE: local | docker_compose
	ArchonServerURL      string // ARCHON_SERVER_URL (health-checked when set)
	ArchonMCPURL         string // ARCHON_MCP_URL (health-checked when set)
	LogLevel             slog.Level

	ClaudeCLIPath         string // CLAUDE_CLI_PATH
	ClaudeModel           string // CLAUDE_CLI_MODEL
	ClaudeMaxTurns        int    // CLAUDE_CLI_MAX_TURNS; 0 = no limit
	ClaudeSkipPermissions bool   // CLAUDE_CLI_SKIP_PERMISSIONS
	GHCLIPath             string // GH_CLI_PATH
	GHToken               string // GH_TOKEN or GITHUB_TOKEN (secret)

	StorageType string // STATE_STORAGE_TYPE: memory | postgres
	DatabaseURL string // DATABASE_URL or SUPABASE_DB_URL (secret)
	// RebuildReadModel (AWO_REBUILD_READ_MODEL) makes the gateway empty
	// the read store and replay the event stream into it before serving.
	RebuildReadModel bool

	CommandsDir      string        // AGENT_WORK_ORDER_COMMANDS_DIR; empty = embedded prompts
	StepTimeout      time.Duration // AGENT_WORK_ORDER_TIMEOUT (seconds)
	TempDir          string        // AGENT_WORK_ORDER_TEMP_DIR
	AllowLocalRepos  bool          // AWO_ALLOW_LOCAL_REPOS
	ExecConcurrency  int           // AWO_EXECUTOR_CONCURRENCY
	AckWait          time.Duration // AWO_ACK_WAIT
	MaxDeliver       int           // AWO_MAX_DELIVER
	ShutdownGrace    time.Duration // AWO_SHUTDOWN_GRACE
	NATSURL          string        // NATS_URL; empty = embedded server
	NATSListen       string        // AWO_NATS_LISTEN
	DataDir          string        // AWO_DATA_DIR
	EventsMaxAge     time.Duration // AWO_EVENTS_MAX_AGE
	WorkerIdentifier string        // AWO_WORKER_ID; default host name + pid
	// Checkpoints (AWO_CHECKPOINTS, default on) makes the executor save the
	// sandbox to the WORKORDERS_CHECKPOINTS stream after each successful
	// step and restore it before a step that lands elsewhere or re-runs.
	Checkpoints bool
	// MetricsListen (AWO_METRICS_LISTEN) is host:port where the standalone
	// orchestrator, executor and github binaries serve /metrics; empty (the
	// default) serves none. The gateway and the all-in-one always serve
	// /metrics on AGENT_WORK_ORDERS_PORT and ignore it.
	MetricsListen string
	// SandboxRetention (AWO_SANDBOX_RETENTION) is how long the sandbox of a
	// finished work order is kept before the executor removes it; 0 keeps
	// sandboxes forever.
	SandboxRetention time.Duration
	// MinFreeDisk (AWO_MIN_FREE_DISK, bytes) is the free space under TempDir
	// below which the executor hands steps back instead of running them; 0
	// turns the check off.
	MinFreeDisk int64
	// Tracing is the OTLP trace export (OTEL_EXPORTER_OTLP_ENDPOINT and
	// friends); off unless an endpoint is set.
	Tracing tracing.Settings

	// Who may call the API (access.go)
	//
	// Host (AGENT_WORK_ORDERS_HOST) is the address the gateway listens on:
	// 127.0.0.1 by default without API tokens, all interfaces ("") with
	// them. Load refuses a non-loopback Host without tokens unless AuthNone.
	Host string
	// APITokens (AWO_API_TOKENS, comma-separated, and AWO_API_TOKENS_FILE,
	// one per line: the union of both) are the bearer tokens every /api/
	// route asks for; none configured means no authentication. Secret.
	APITokens []string
	// MetricsToken (AWO_METRICS_TOKEN) makes /metrics ask for this bearer
	// token (or any API token); empty leaves /metrics open. Secret.
	MetricsToken string
	// AuthNone (AWO_AUTH=none) says on purpose that a gateway listening
	// beyond loopback needs no token.
	AuthNone bool
	// CORSOrigins (AWO_CORS_ORIGINS) are the browser origins granted CORS,
	// normalised scheme://host[:port]; ["*"] grants every origin without
	// credentials; empty grants none.
	CORSOrigins []string
	// CreateRate (AWO_CREATE_RATE) limits creates per client (token, or
	// address without tokens); Per == 0 turns the limit off.
	CreateRate Rate
	// SSEMaxPerClient (AWO_SSE_MAX_PER_CLIENT) and SSEMax (AWO_SSE_MAX) cap
	// concurrent /logs/stream connections per client and in all.
	SSEMaxPerClient int
	SSEMax          int
	// Admission control and stream sizes (limits.go)
	// MaxActiveWorkOrders (AWO_MAX_ACTIVE_WORK_ORDERS) caps the pending and
	// running work orders of the whole system; a create over it is 429.
	// 0 = no limit.
	MaxActiveWorkOrders int
	// MaxActivePerRepository (AWO_MAX_ACTIVE_PER_REPOSITORY) caps them per
	// repository_url; 0 = no limit.
	MaxActivePerRepository int
	// Stream size limits (AWO_EVENTS_MAX_BYTES, AWO_LOGS_MAX_BYTES,
	// AWO_COMMANDS_MAX_BYTES, AWO_DLQ_MAX_BYTES); see bus.StreamSettings
	// for what each does when full.
	EventsMaxBytes   int64
	LogsMaxBytes     int64
	CommandsMaxBytes int64
	DLQMaxBytes      int64
	// What a request may hold (input.go)
	// MaxRequestBytes (AWO_MAX_REQUEST_BYTES) caps a work order's
	// user_request, in bytes; longer is refused with a 422.
	MaxRequestBytes int
	// ListMax (AWO_LIST_MAX) caps how many work orders one list answer
	// holds, with or without ?limit=; X-Total-Count still tells the total.
	ListMax int
	// Which repositories (repos.go)
	//
	// AllowedRepositories (AWO_ALLOWED_REPOSITORIES) are the repositories a
	// work order may name (see repourl.Pattern); empty allows every one the
	// other rules allow.
	AllowedRepositories repourl.Allowlist
	// GitTimeout (AWO_GIT_TIMEOUT) bounds one git clone, fetch or push of
	// the executor, so a server that never answers cannot hold a slot.
	GitTimeout time.Duration
	// NATS credentials (natsauth.go)
	// NATSConfigFile (AWO_NATS_CONFIG) is a nats-server configuration file
	// for the embedded server: users, nkeys, accounts, permissions, TLS.
	NATSConfigFile string
	// NATS client credentials, named as the nats CLI names them. Every
	// connection this process opens uses them, the all-in-one's in-process
	// ones included. At most one of creds, nkey, user and token is set.
	NATSCreds    string // NATS_CREDS: a .creds file (JWT and seed)
	NATSNKey     string // NATS_NKEY: a file holding an nkey seed
	NATSUser     string // NATS_USER
	NATSPassword string // NATS_PASSWORD (secret)
	NATSToken    string // NATS_TOKEN (secret)
	NATSCA       string // NATS_CA: CA file to verify the server's certificate
	NATSCert     string // NATS_CERT: client certificate file (with NATS_KEY)
	NATSKey      string // NATS_KEY: client key file (with NATS_CERT)
	// The agent's Unix user (agentuser.go)
	// AgentUser (AWO_AGENT_USER) is the Unix user, optionally user:group,
	// by name or number, the executor runs the agent as; empty runs it as
	// the executor's own user. Only its form is checked here: the executor
	// resolves it against the user database at start.
	AgentUser string
	// Secrets and the agent's environment (secrets.go)
	// AgentEnv (AWO_AGENT_ENV) names further variables the agent's
	// environment takes from the service's (see AgentEnvNames); none of
	// the service's own secrets can be named.
	AgentEnv []string
	// secrets are the values of the secrets in the environment, collected
	// once by Load; see Secrets.
	secrets []string
}

// Storage types.
const (
	StorageMemory   = "memory"
	StoragePostgres = "postgres"
)

// Load reads the configuration through getenv (os.Getenv in main, a map in
// tests). All problems are reported at once.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		Port:                 p.intRange("AGENT_WORK_ORDERS_PORT", 8053, 1, 65535),
		ServiceDiscoveryMode: p.oneOf("SERVICE_DISCOVERY_MODE", "local", "local", "docker_compose"),
		ArchonServerURL:      p.httpURL("ARCHON_SERVER_URL"),
		ArchonMCPURL:         p.httpURL("ARCHON_MCP_URL"),
		LogLevel:             p.level("LOG_LEVEL"),

		ClaudeCLIPath:         p.str("CLAUDE_CLI_PATH", "claude"),
		ClaudeModel:           p.str("CLAUDE_CLI_MODEL", "sonnet"),
		ClaudeMaxTurns:        p.intRange("CLAUDE_CLI_MAX_TURNS", 0, 1, 10000),
		ClaudeSkipPermissions: p.boolean("CLAUDE_CLI_SKIP_PERMISSIONS", true),
		GHCLIPath:             p.str("GH_CLI_PATH", "gh"),
		GHToken:               p.first("GH_TOKEN", "GITHUB_TOKEN"),

		StorageType: p.storage("STATE_STORAGE_TYPE"),
		DatabaseURL: p.first("DATABASE_URL", "SUPABASE_DB_URL"),

		RebuildReadModel: p.boolean("AWO_REBUILD_READ_MODEL", false),

		CommandsDir:      p.str("AGENT_WORK_ORDER_COMMANDS_DIR", ""),
		StepTimeout:      time.Duration(p.intRange("AGENT_WORK_ORDER_TIMEOUT", 3600, 1, 7*24*3600)) * time.Second,
		TempDir:          p.str("AGENT_WORK_ORDER_TEMP_DIR", "/tmp/agent-work-orders"),
		AllowLocalRepos:  p.boolean("AWO_ALLOW_LOCAL_REPOS", false),
		ExecConcurrency:  p.intRange("AWO_EXECUTOR_CONCURRENCY", 2, 1, 256),
		AckWait:          p.duration("AWO_ACK_WAIT", 30*time.Second, time.Second),
		MaxDeliver:       p.intRange("AWO_MAX_DELIVER", 5, 1, 1000),
		ShutdownGrace:    p.duration("AWO_SHUTDOWN_GRACE", 30*time.Second, 0),
		NATSURL:          p.str("NATS_URL", ""),
		NATSListen:       p.hostPort("AWO_NATS_LISTEN"),
		DataDir:          p.str("AWO_DATA_DIR", ".data"),
		EventsMaxAge:     p.duration("AWO_EVENTS_MAX_AGE", 30*24*time.Hour, time.Minute),
		WorkerIdentifier: p.str("AWO_WORKER_ID", ""),
		Checkpoints:      p.boolean("AWO_CHECKPOINTS", true),
		MetricsListen:    p.hostPort("AWO_METRICS_LISTEN"),
		SandboxRetention: p.duration("AWO_SANDBOX_RETENTION", 24*time.Hour, 0),
		MinFreeDisk:      p.size("AWO_MIN_FREE_DISK", 1<<30),
		Tracing:          p.tracing(),

		// Who may call the API (access.go)
		APITokens:       p.apiTokens("AWO_API_TOKENS", "AWO_API_TOKENS_FILE"),
		MetricsToken:    p.token("AWO_METRICS_TOKEN"),
		AuthNone:        p.oneOf("AWO_AUTH", "tokens", "tokens", "none") == "none",
		CORSOrigins:     p.origins("AWO_CORS_ORIGINS"),
		CreateRate:      p.rate("AWO_CREATE_RATE", DefaultCreateRate),
		SSEMaxPerClient: p.intRange("AWO_SSE_MAX_PER_CLIENT", 16, 1, 100000),
		SSEMax:          p.intRange("AWO_SSE_MAX", 256, 1, 1000000),
		// Admission control and stream sizes (limits.go)
		MaxActiveWorkOrders:    p.intRange("AWO_MAX_ACTIVE_WORK_ORDERS", 0, 0, 1_000_000),
		MaxActivePerRepository: p.intRange("AWO_MAX_ACTIVE_PER_REPOSITORY", 0, 0, 1_000_000),
		EventsMaxBytes:         p.streamSize("AWO_EVENTS_MAX_BYTES", DefaultEventsMaxBytes),
		LogsMaxBytes:           p.streamSize("AWO_LOGS_MAX_BYTES", DefaultLogsMaxBytes),
		CommandsMaxBytes:       p.streamSize("AWO_COMMANDS_MAX_BYTES", DefaultCommandsMaxBytes),
		DLQMaxBytes:            p.streamSize("AWO_DLQ_MAX_BYTES", DefaultDLQMaxBytes),
		// What a request may hold (input.go)
		MaxRequestBytes: p.sizeRange("AWO_MAX_REQUEST_BYTES", DefaultMaxRequestBytes, 1, MaxRequestBytesLimit),
		ListMax:         p.intRange("AWO_LIST_MAX", DefaultListMax, 1, MaxListMaxSetting),
		// Which repositories (repos.go)
		AllowedRepositories: p.allowlist("AWO_ALLOWED_REPOSITORIES"),
		GitTimeout:          p.duration("AWO_GIT_TIMEOUT", 10*time.Minute, time.Second),
		// NATS credentials (natsauth.go)
		NATSConfigFile: p.str("AWO_NATS_CONFIG", ""),
		NATSCreds:      p.str("NATS_CREDS", ""),
		NATSNKey:       p.str("NATS_NKEY", ""),
		NATSUser:       p.str("NATS_USER", ""),
		NATSPassword:   p.str("NATS_PASSWORD", ""),
		NATSToken:      p.str("NATS_TOKEN", ""),
		NATSCA:         p.str("NATS_CA", ""),
		NATSCert:       p.str("NATS_CERT", ""),
		NATSKey:        p.str("NATS_KEY", ""),
		// The agent's Unix user (agentuser.go)
		AgentUser: p.agentUser("AWO_AGENT_USER"),
		// Secrets and the agent's environment (secrets.go)
		AgentEnv: p.agentEnv("AWO_AGENT_ENV"),
		secrets:  collectSecrets(getenv),
	}
	c.Host = p.bindHost("AGENT_WORK_ORDERS_HOST", c.APITokens, c.AuthNone)
	c.secrets = append(c.secrets, c.APITokens...)
	if c.MetricsToken != "" {
		c.secrets = append(c.secrets, c.MetricsToken)
	}
	p.natsCredentials(c)
	if c.StorageType == StoragePostgres && c.DatabaseURL == "" {
		p.errs = append(p.errs, errors.New("STATE_STORAGE_TYPE=postgres needs DATABASE_URL (or SUPABASE_DB_URL)"))
	}
	if len(p.errs) > 0 {
		return Config{}, fmt.Errorf("invalid configuration:\n  %w", joinLines(p.errs))
	}
	return c, nil
}

// Attrs renders the effective configuration for the start-up log line,
// secrets masked.
func (c Config) Attrs() []any {
	return []any{
		"AGENT_WORK_ORDERS_PORT", c.Port,
		"SERVICE_DISCOVERY_MODE", c.ServiceDiscoveryMode,
		"ARCHON_SERVER_URL", c.ArchonServerURL,
		"ARCHON_MCP_URL", c.ArchonMCPURL,
		"LOG_LEVEL", c.LogLevel.String(),
		"CLAUDE_CLI_PATH", c.ClaudeCLIPath,
		"CLAUDE_CLI_MODEL", c.ClaudeModel,
		"CLAUDE_CLI_MAX_TURNS", c.ClaudeMaxTurns,
		"CLAUDE_CLI_SKIP_PERMISSIONS", c.ClaudeSkipPermissions,
		"GH_CLI_PATH", c.GHCLIPath,
		"GH_TOKEN", mask(c.GHToken),
		"STATE_STORAGE_TYPE", c.StorageType,
		"DATABASE_URL", redact.URL(c.DatabaseURL),
		"AWO_REBUILD_READ_MODEL", c.RebuildReadModel,
		"AGENT_WORK_ORDER_COMMANDS_DIR", orDefault(c.CommandsDir, "(embedded prompts)"),
		"AGENT_WORK_ORDER_TIMEOUT", int(c.StepTimeout.Seconds()),
		"AGENT_WORK_ORDER_TEMP_DIR", c.TempDir,
		"AWO_ALLOW_LOCAL_REPOS", c.AllowLocalRepos,
		"AWO_EXECUTOR_CONCURRENCY", c.ExecConcurrency,
		"AWO_ACK_WAIT", c.AckWait.String(),
		"AWO_MAX_DELIVER", c.MaxDeliver,
		"AWO_SHUTDOWN_GRACE", c.ShutdownGrace.String(),
		"NATS_URL", orDefault(redact.URL(c.NATSURL), "(embedded server)"),
		"AWO_NATS_LISTEN", orDefault(c.NATSListen, "(in-process only)"),
		"AWO_DATA_DIR", c.DataDir,
		"AWO_EVENTS_MAX_AGE", c.EventsMaxAge.String(),
		"AWO_CHECKPOINTS", c.Checkpoints,
		"AWO_METRICS_LISTEN", orDefault(c.MetricsListen, "(off; the gateway serves /metrics on its port)"),
		"AWO_SANDBOX_RETENTION", retentionString(c.SandboxRetention),
		"AWO_MIN_FREE_DISK", sizeString(c.MinFreeDisk),
		"traces", tracingAttr(c.Tracing),

		// Who may call the API (access.go)
		"AGENT_WORK_ORDERS_HOST", orDefault(c.Host, "(all interfaces)"),
		"AWO_API_TOKENS", tokenCount(len(c.APITokens)),
		"AWO_METRICS_TOKEN", orDefault(mask(c.MetricsToken), "(none: /metrics is open)"),
		"AWO_AUTH", authString(c.AuthNone),
		"AWO_CORS_ORIGINS", orDefault(strings.Join(c.CORSOrigins, ","), "(none: no CORS grant)"),
		"AWO_CREATE_RATE", c.CreateRate.String(),
		"AWO_SSE_MAX_PER_CLIENT", c.SSEMaxPerClient,
		"AWO_SSE_MAX", c.SSEMax,
		// Admission control and stream sizes (limits.go)
		"AWO_MAX_ACTIVE_WORK_ORDERS", limitString(c.MaxActiveWorkOrders),
		"AWO_MAX_ACTIVE_PER_REPOSITORY", limitString(c.MaxActivePerRepository),
		"AWO_EVENTS_MAX_BYTES", FormatSize(c.EventsMaxBytes),
		"AWO_LOGS_MAX_BYTES", FormatSize(c.LogsMaxBytes),
		"AWO_COMMANDS_MAX_BYTES", FormatSize(c.CommandsMaxBytes),
		"AWO_DLQ_MAX_BYTES", FormatSize(c.DLQMaxBytes),
		// What a request may hold (input.go)
		"AWO_MAX_REQUEST_BYTES", c.MaxRequestBytes,
		"AWO_LIST_MAX", c.ListMax,
		// Which repositories (repos.go)
		"AWO_ALLOWED_REPOSITORIES", orDefault(c.AllowedRepositories.String(), "(any)"),
		"AWO_GIT_TIMEOUT", c.GitTimeout.String(),
		// NATS credentials (natsauth.go)
		"AWO_NATS_CONFIG", orDefault(c.NATSConfigFile, "(none: no NATS authentication)"),
		"NATS_CREDS", c.NATSCreds,
		"NATS_NKEY", c.NATSNKey,
		"NATS_USER", c.NATSUser,
		"NATS_PASSWORD", mask(c.NATSPassword),
		"NATS_TOKEN", mask(c.NATSToken),
		"NATS_CA", c.NATSCA,
		"NATS_CERT", c.NATSCert,
		"NATS_KEY", c.NATSKey,
		// The agent's Unix user (agentuser.go)
		"AWO_AGENT_USER", orDefault(c.AgentUser, "(the executor's own user)"),
		// Secrets and the agent's environment (secrets.go)
		"AWO_AGENT_ENV", strings.Join(c.AgentEnv, ","),
		"redacted_values", len(c.secrets),
	}
}

type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) get(name string) (string, bool) {
	v := strings.TrimSpace(p.getenv(name))
	return v, v != ""
}

func (p *parser) fail(name, v, want string) {
	p.errs = append(p.errs, fmt.Errorf("%s=%q: %s", name, v, want))
}

func (p *parser) str(name, def string) string {
	if v, ok := p.get(name); ok {
		return v
	}
	return def
}

func (p *parser) first(names ...string) string {
	for _, n := range names {
		if v, ok := p.get(n); ok {
			return v
		}
	}
	return ""
}

func (p *parser) intRange(name string, def, lo, hi int) int {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(name, v, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
		return def
	}
	return n
}

func (p *parser) boolean(name string, def bool) bool {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	p.fail(name, v, "must be true or false")
	return def
}

// duration accepts Go durations ("90s", "5m") or plain seconds ("30").
func (p *parser) duration(name string, def, lo time.Duration) time.Duration {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			p.fail(name, v, "must be a duration such as 30s or 5m, or a number of seconds")
			return def
		}
		d = time.Duration(n) * time.Second
	}
	if d < lo {
		p.fail(name, v, fmt.Sprintf("must be at least %s", lo))
		return def
	}
	return d
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	p.fail(name, v, "must be one of "+strings.Join(allowed, ", "))
	return def
}

func (p *parser) storage(name string) string {
	v := p.oneOf(name, StorageMemory, StorageMemory, StoragePostgres, "supabase")
	if v == "supabase" {
		return StoragePostgres
	}
	return v
}

func (p *parser) level(name string) slog.Level {
	v, ok := p.get(name)
	if !ok {
		return slog.LevelInfo
	}
	var l slog.Level
	s := strings.ToUpper(v)
	if s == "WARNING" {
		s = "WARN"
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		p.fail(name, v, "must be one of DEBUG, INFO, WARN, ERROR")
		return slog.LevelInfo
	}
	return l
}

func (p *parser) httpURL(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, redact.URL(v), "must be an http:// or https:// URL")
		return ""
	}
	return strings.TrimRight(v, "/")
}

func (p *parser) hostPort(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		p.fail(name, v, "must be host:port, e.g. 127.0.0.1:4222 or :9464")
		return ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.fail(name, v, "port must be a number from 0 to 65535")
		return ""
	}
	return v
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return "****"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func joinLines(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

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
