// Package config reads the environment once, at start, into one struct.
// Variable names are the seed's and the original Python service's where
// they exist (ARCHITECTURE §7); invalid values are rejected with the
// variable named.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
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

	// Secure by default: access
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
	// Secure by default: poison (admission control and stream limits).
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
	// Secure by default: input
	// MaxRequestBytes (AWO_MAX_REQUEST_BYTES) caps a work order's
	// user_request, in bytes; longer is refused with a 422.
	MaxRequestBytes int
	// ListMax (AWO_LIST_MAX) caps how many work orders one list answer
	// holds, with or without ?limit=; X-Total-Count still tells the total.
	ListMax int
	// Secure by default: repos
	//
	// AllowedRepositories (AWO_ALLOWED_REPOSITORIES) are the repositories a
	// work order may name (see repourl.Pattern); empty allows every one the
	// other rules allow.
	AllowedRepositories repourl.Allowlist
	// GitTimeout (AWO_GIT_TIMEOUT) bounds one git clone, fetch or push of
	// the executor, so a server that never answers cannot hold a slot.
	GitTimeout time.Duration
	// Secure by default: natsauth
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
	// Secure by default: agentuser
	// AgentUser (AWO_AGENT_USER) is the Unix user, optionally user:group,
	// by name or number, the executor runs the agent as; empty runs it as
	// the executor's own user. Only its form is checked here: the executor
	// resolves it against the user database at start.
	AgentUser string
	// Secure by default: secrets
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

		// Secure by default: access
		APITokens:       p.apiTokens("AWO_API_TOKENS", "AWO_API_TOKENS_FILE"),
		MetricsToken:    p.token("AWO_METRICS_TOKEN"),
		AuthNone:        p.oneOf("AWO_AUTH", "tokens", "tokens", "none") == "none",
		CORSOrigins:     p.origins("AWO_CORS_ORIGINS"),
		CreateRate:      p.rate("AWO_CREATE_RATE", DefaultCreateRate),
		SSEMaxPerClient: p.intRange("AWO_SSE_MAX_PER_CLIENT", 16, 1, 100000),
		SSEMax:          p.intRange("AWO_SSE_MAX", 256, 1, 1000000),
		// Secure by default: poison
		MaxActiveWorkOrders:    p.intRange("AWO_MAX_ACTIVE_WORK_ORDERS", 0, 0, 1_000_000),
		MaxActivePerRepository: p.intRange("AWO_MAX_ACTIVE_PER_REPOSITORY", 0, 0, 1_000_000),
		EventsMaxBytes:         p.streamSize("AWO_EVENTS_MAX_BYTES", DefaultEventsMaxBytes),
		LogsMaxBytes:           p.streamSize("AWO_LOGS_MAX_BYTES", DefaultLogsMaxBytes),
		CommandsMaxBytes:       p.streamSize("AWO_COMMANDS_MAX_BYTES", DefaultCommandsMaxBytes),
		DLQMaxBytes:            p.streamSize("AWO_DLQ_MAX_BYTES", DefaultDLQMaxBytes),
		// Secure by default: input
		MaxRequestBytes: p.sizeRange("AWO_MAX_REQUEST_BYTES", DefaultMaxRequestBytes, 1, MaxRequestBytesLimit),
		ListMax:         p.intRange("AWO_LIST_MAX", DefaultListMax, 1, MaxListMaxSetting),
		// Secure by default: repos
		AllowedRepositories: p.allowlist("AWO_ALLOWED_REPOSITORIES"),
		GitTimeout:          p.duration("AWO_GIT_TIMEOUT", 10*time.Minute, time.Second),
		// Secure by default: natsauth
		NATSConfigFile: p.str("AWO_NATS_CONFIG", ""),
		NATSCreds:      p.str("NATS_CREDS", ""),
		NATSNKey:       p.str("NATS_NKEY", ""),
		NATSUser:       p.str("NATS_USER", ""),
		NATSPassword:   p.str("NATS_PASSWORD", ""),
		NATSToken:      p.str("NATS_TOKEN", ""),
		NATSCA:         p.str("NATS_CA", ""),
		NATSCert:       p.str("NATS_CERT", ""),
		NATSKey:        p.str("NATS_KEY", ""),
		// Secure by default: agentuser
		AgentUser: p.agentUser("AWO_AGENT_USER"),
		// Secure by default: secrets
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

		// Secure by default: access
		"AGENT_WORK_ORDERS_HOST", orDefault(c.Host, "(all interfaces)"),
		"AWO_API_TOKENS", tokenCount(len(c.APITokens)),
		"AWO_METRICS_TOKEN", orDefault(mask(c.MetricsToken), "(none: /metrics is open)"),
		"AWO_AUTH", authString(c.AuthNone),
		"AWO_CORS_ORIGINS", orDefault(strings.Join(c.CORSOrigins, ","), "(none: no CORS grant)"),
		"AWO_CREATE_RATE", c.CreateRate.String(),
		"AWO_SSE_MAX_PER_CLIENT", c.SSEMaxPerClient,
		"AWO_SSE_MAX", c.SSEMax,
		// Secure by default: poison
		"AWO_MAX_ACTIVE_WORK_ORDERS", limitString(c.MaxActiveWorkOrders),
		"AWO_MAX_ACTIVE_PER_REPOSITORY", limitString(c.MaxActivePerRepository),
		"AWO_EVENTS_MAX_BYTES", FormatSize(c.EventsMaxBytes),
		"AWO_LOGS_MAX_BYTES", FormatSize(c.LogsMaxBytes),
		"AWO_COMMANDS_MAX_BYTES", FormatSize(c.CommandsMaxBytes),
		"AWO_DLQ_MAX_BYTES", FormatSize(c.DLQMaxBytes),
		// Secure by default: input
		"AWO_MAX_REQUEST_BYTES", c.MaxRequestBytes,
		"AWO_LIST_MAX", c.ListMax,
		// Secure by default: repos
		"AWO_ALLOWED_REPOSITORIES", orDefault(c.AllowedRepositories.String(), "(any)"),
		"AWO_GIT_TIMEOUT", c.GitTimeout.String(),
		// Secure by default: natsauth
		"AWO_NATS_CONFIG", orDefault(c.NATSConfigFile, "(none: no NATS authentication)"),
		"NATS_CREDS", c.NATSCreds,
		"NATS_NKEY", c.NATSNKey,
		"NATS_USER", c.NATSUser,
		"NATS_PASSWORD", mask(c.NATSPassword),
		"NATS_TOKEN", mask(c.NATSToken),
		"NATS_CA", c.NATSCA,
		"NATS_CERT", c.NATSCert,
		"NATS_KEY", c.NATSKey,
		// Secure by default: agentuser
		"AWO_AGENT_USER", orDefault(c.AgentUser, "(the executor's own user)"),
		// Secure by default: secrets
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

// Secure by default: access

// DefaultCreateRate is AWO_CREATE_RATE's default: ten creates a second per
// client with bursts of twenty. A work order runs an agent for minutes, so
// no person and no sensible script comes near it; a runaway loop or a
// hostile page does, and is cut down to what the executors could start
// anyway. Benchmarks set AWO_CREATE_RATE=off.
var DefaultCreateRate = Rate{Events: 10, Per: time.Second, Burst: 20}

// Rate is Events per Per, with bursts of up to Burst; Per == 0 is no limit.
type Rate struct {
	Events int
	Per    time.Duration
	Burst  int
}

// Off tells that there is no limit.
func (r Rate) Off() bool { return r.Per <= 0 || r.Events <= 0 }

// PerSecond is the sustained rate in events per second.
func (r Rate) PerSecond() float64 {
	if r.Off() {
		return 0
	}
	return float64(r.Events) / r.Per.Seconds()
}

func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	return fmt.Sprintf("%d/%s,burst=%d", r.Events, unit, r.Burst)
}

// ParseRate reads "off" or N/UNIT[,burst=B]: UNIT is s, m or h (second,
// minute, hour spelt out also work), B defaults to N.
func ParseRate(s string) (Rate, error) {
	s = strings.ToLower(strings.ReplaceAll(s, " ", ""))
	if s == "off" || s == "0" || s == "none" {
		return Rate{}, nil
	}
	spec, burst, hasBurst := strings.Cut(s, ",")
	n, unit, ok := strings.Cut(spec, "/")
	if !ok {
		return Rate{}, errors.New("must be off or N/s, N/m or N/h with an optional ,burst=B (e.g. 10/s,burst=20)")
	}
	events, err := strconv.Atoi(n)
	if err != nil || events < 1 || events > 1_000_000 {
		return Rate{}, errors.New("the count before / must be a whole number from 1 to 1000000")
	}
	var per time.Duration
	switch unit {
	case "s", "sec", "second":
		per = time.Second
	case "m", "min", "minute":
		per = time.Minute
	case "h", "hour":
		per = time.Hour
	default:
		return Rate{}, errors.New("the unit after / must be s, m or h")
	}
	r := Rate{Events: events, Per: per, Burst: events}
	if hasBurst {
		b, ok := strings.CutPrefix(burst, "burst=")
		v, err := strconv.Atoi(b)
		if !ok || err != nil || v < 1 || v > 1_000_000 {
			return Rate{}, errors.New("the burst must be written burst=B with B a whole number from 1 to 1000000")
		}
		r.Burst = v
	}
	return r, nil
}

func (p *parser) rate(name string, def Rate) Rate {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	r, err := ParseRate(v)
	if err != nil {
		p.fail(name, v, err.Error())
		return def
	}
	return r
}

// MinTokenLength is the shortest API token accepted: a guessable token is
// no token. `openssl rand -hex 32` makes a good one.
const MinTokenLength = 16

// tokenProblem tells what is wrong with a bearer token, without quoting
// it. Tokens are RFC 6750 b64token characters, so they survive the
// Authorization header and the comma-separated list unchanged.
func tokenProblem(t string) string {
	if len(t) < MinTokenLength {
		return fmt.Sprintf("is %d characters long; tokens need at least %d (e.g. openssl rand -hex 32)", len(t), MinTokenLength)
	}
	body := strings.TrimRight(t, "=")
	if body == "" {
		return "is only '=' signs"
	}
	for _, c := range body {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~+/", c)) {
			return "holds a character other than letters, digits and -._~+/ (with = only at the end)"
		}
	}
	return ""
}

// apiTokens reads the comma-separated list and the file (one token a
// line, blank lines and # comments skipped) and returns their union, so a
// rotation can add the new token in one place before removing the old one
// from the other. Errors never quote a token.
func (p *parser) apiTokens(listName, fileName string) []string {
	var tokens []string
	seen := map[string]bool{}
	add := func(where string, i int, t string) {
		if problem := tokenProblem(t); problem != "" {
			p.errs = append(p.errs, fmt.Errorf("%s: token %d %s", where, i, problem))
			return
		}
		if !seen[t] {
			seen[t] = true
			tokens = append(tokens, t)
		}
	}
	if v, ok := p.get(listName); ok {
		i := 0
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				i++
				add(listName, i, t)
			}
		}
	}
	if path, ok := p.get(fileName); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("%s=%q: %w", fileName, path, err))
		} else {
			for n, line := range strings.Split(string(b), "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
					add(fmt.Sprintf("%s=%q line %d", fileName, path, n+1), 1, line)
				}
			}
		}
	}
	return tokens
}

// token reads one secret bearer token; errors never quote it.
func (p *parser) token(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}
	if problem := tokenProblem(v); problem != "" {
		p.errs = append(p.errs, fmt.Errorf("%s: the token %s", name, problem))
		return ""
	}
	return v
}

// origins reads a comma-separated list of browser origins, normalised;
// "*" stands alone.
func (p *parser) origins(name string) []string {
	v, ok := p.get(name)
	if !ok {
		return nil
	}
	var out []string
	for o := range strings.SplitSeq(v, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if o == "*" {
			out = append(out, o)
			continue
		}
		n, err := NormalizeOrigin(o)
		if err != nil {
			p.fail(name, v, fmt.Sprintf("%q: %v", o, err))
			return nil
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if slices.Contains(out, "*") && len(out) > 1 {
		p.fail(name, v, "* grants every origin and cannot be mixed with listed origins")
		return nil
	}
	return out
}

// NormalizeOrigin turns a browser origin into the form compared for CORS:
// lower-case scheme://host[:port], the default port dropped, as browsers
// send the Origin header.
func NormalizeOrigin(origin string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(origin, "/"))
	if err != nil {
		return "", errors.New("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("an origin is http:// or https:// followed by host[:port]")
	}
	if u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", errors.New("an origin is scheme://host[:port], nothing more")
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		host = strings.TrimSuffix(host, ":"+port)
	}
	return scheme + "://" + host, nil
}

// bindHost reads the gateway's listen address: loopback unless tokens
// protect the API.
func (p *parser) bindHost(name string, tokens []string, authNone bool) string {
	if authNone && len(tokens) > 0 {
		p.errs = append(p.errs, errors.New("AWO_AUTH=none contradicts AWO_API_TOKENS/AWO_API_TOKENS_FILE: remove one"))
	}
	v, ok := p.get(name)
	if !ok {
		if len(tokens) > 0 {
			return "" // all interfaces, as before tokens existed
		}
		return "127.0.0.1"
	}
	host := strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	if host == "*" {
		host = ""
	}
	if host != "" && net.ParseIP(host) == nil && !validHostName(host) {
		p.fail(name, v, "must be an IP address or a host name, without a port (the port is AGENT_WORK_ORDERS_PORT)")
		return "127.0.0.1"
	}
	c := Config{Host: host, APITokens: tokens, AuthNone: authNone}
	if err := c.BindProblem(); err != nil {
		p.errs = append(p.errs, err)
	}
	return host
}

func validHostName(h string) bool {
	if len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// BindProblem refuses a gateway listening beyond loopback with nobody
// asked for a token, unless AWO_AUTH=none says so on purpose. Load checks
// it; gateway.Run checks again for configurations built in code.
func (c Config) BindProblem() error {
	if len(c.APITokens) > 0 || c.AuthNone || IsLoopbackHost(c.Host) {
		return nil
	}
	where := c.Host
	if ip := net.ParseIP(where); where == "" || (ip != nil && ip.IsUnspecified()) {
		where = "all interfaces"
	}
	return fmt.Errorf("AGENT_WORK_ORDERS_HOST=%q listens on %s without API tokens, so anyone who can reach the port "+
		"could run agents: set AWO_API_TOKENS (or AWO_API_TOKENS_FILE), keep AGENT_WORK_ORDERS_HOST=127.0.0.1, "+
		"or set AWO_AUTH=none to run without authentication on purpose", c.Host, where)
}

// IsLoopbackHost tells whether listening on host stays on this machine:
// localhost or a loopback address (127/8, ::1).
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func tokenCount(n int) string {
	switch n {
	case 0:
		return "(none: the API asks for no token)"
	case 1:
		return "1 token (****)"
	}
	return fmt.Sprintf("%d tokens (****)", n)
}

func authString(none bool) string {
	if none {
		return "none"
	}
	return "tokens"
}

// Secure by default: poison.

// Default stream sizes, the same as bus.StreamSettings'. JetStream
// reserves every stream's MaxBytes on disk when it creates the stream, and
// the embedded server grants at most 75% of the free space of its data
// directory, so the sum (6.5 GiB, needing about 9 GB free) must fit a
// laptop's disk: larger defaults would stop `make run` on a nearly full
// one. Within that they are far above normal use: a work order's events
// are tens of KiB (step outputs included), so 5 GiB is tens of thousands
// of work orders within AWO_EVENTS_MAX_AGE; the live logs (every line an
// agent prints) keep their earlier 1 GiB and expire after 7 days anyway;
// a queued command is under a KiB and leaves the work queue once run, so
// 256 MiB is only reached when no worker consumes; the DLQ holds copies of
// what failed.
const (
	DefaultEventsMaxBytes   int64 = 5 << 30
	DefaultLogsMaxBytes     int64 = 1 << 30
	DefaultCommandsMaxBytes int64 = 256 << 20
	DefaultDLQMaxBytes      int64 = 256 << 20
)

// minStreamBytes keeps a typo ("10" meaning 10 GiB) from making a stream
// that cannot hold one message.
const minStreamBytes = 1 << 20

func (p *parser) streamSize(name string, def int64) int64 {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	n, err := ParseSize(v)
	if err != nil || n < minStreamBytes {
		p.fail(name, v, "must be a size of at least 1MiB such as 10GiB, 500MiB or 2GB")
		return def
	}
	return n
}

func limitString(n int) string {
	if n == 0 {
		return "0 (no limit)"
	}
	return strconv.Itoa(n)
}

// Secure by default: input. A user_request travels inside one
// workorder.requested event (and the step commands), and NATS refuses
// messages over its max_payload (1 MiB unless configured). The event is
// JSON that escapes '<', '>' and '&' as six bytes each, so the cap stays
// below a sixth of that.
const (
	DefaultMaxRequestBytes = 64 << 10
	MaxRequestBytesLimit   = 128 << 10
	DefaultListMax         = 10_000
	MaxListMaxSetting      = 1_000_000
)

// sizeRange is a byte size ("64KiB", "65536") from lo to hi.
func (p *parser) sizeRange(name string, def, lo, hi int) int {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	n, err := ParseSize(v)
	if err != nil || n < int64(lo) || n > int64(hi) {
		p.fail(name, v, fmt.Sprintf("must be a size from %d bytes to %s, such as 64KiB or 65536", lo, FormatSize(int64(hi))))
		return def
	}
	return int(n)
}

// allowlist parses AWO_ALLOWED_REPOSITORIES-style patterns.
func (p *parser) allowlist(name string) repourl.Allowlist {
	v, ok := p.get(name)
	if !ok {
		return nil
	}
	list, err := repourl.ParseAllowlist(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w (want comma-separated host/owner/name or host/owner/* patterns)", name, err))
		return nil
	}
	return list
}

// natsCredentials rejects client credentials that contradict each other:
// the server would see only one of them, and which one would be a guess.
func (p *parser) natsCredentials(c Config) {
	var set []string
	for _, v := range []struct{ name, value string }{
		{"NATS_CREDS", c.NATSCreds}, {"NATS_NKEY", c.NATSNKey}, {"NATS_USER", c.NATSUser}, {"NATS_TOKEN", c.NATSToken},
	} {
		if v.value != "" {
			set = append(set, v.name)
		}
	}
	if len(set) > 1 {
		p.errs = append(p.errs, fmt.Errorf("%s: set only one way to authenticate to NATS", strings.Join(set, " and ")))
	}
	if c.NATSUser != "" && c.NATSPassword == "" {
		p.errs = append(p.errs, errors.New("NATS_USER needs NATS_PASSWORD (for a token, set NATS_TOKEN)"))
	}
	if c.NATSPassword != "" && c.NATSUser == "" {
		p.errs = append(p.errs, errors.New("NATS_PASSWORD needs NATS_USER"))
	}
	if (c.NATSCert == "") != (c.NATSKey == "") {
		p.errs = append(p.errs, errors.New("NATS_CERT and NATS_KEY go together: set both for a client certificate, or neither"))
	}
}

// userOrGroupPattern is a user or group name as useradd accepts it (with
// the usual allowance for upper case and a trailing '$'), or a number.
var userOrGroupPattern = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|[0-9]{1,10})$`)

// agentUser checks the form of AWO_AGENT_USER: user, uid, user:group or
// uid:gid. Root is refused by name and number: an agent running as root
// is what the setting exists to avoid.
func (p *parser) agentUser(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}
	u, g, hasGroup := strings.Cut(v, ":")
	switch {
	case !userOrGroupPattern.MatchString(u) || (hasGroup && !userOrGroupPattern.MatchString(g)):
		p.fail(name, v, "must be a user name or uid, optionally followed by :group or :gid")
	case u == "root" || isZero(u) || (hasGroup && (g == "root" || isZero(g))):
		p.fail(name, v, "must not be root: the agent would run with every right the executor has")
	default:
		return v
	}
	return ""
}

func isZero(s string) bool { return strings.Trim(s, "0") == "" }

// RepoPolicy is what decides whether a repository URL may be used.
func (c Config) RepoPolicy() repourl.Policy {
	return repourl.Policy{AllowLocal: c.AllowLocalRepos, Allowed: c.AllowedRepositories}
}
