package config

import (
	"slices"
	"time"

	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/tracing"
)

// variable is one row of the configuration: the environment variables it
// reads, what it sets, how the start-up line shows it and whether its value
// is a secret. Load, Attrs, collectSecrets and the test of
// docs/configuration.md all read the table below, so a variable's name is
// written once.
type variable struct {
	// names are the variables read, the first one also the key Attrs
	// prints: GH_TOKEN, then GITHUB_TOKEN when it is unset, and so on.
	names []string
	// load parses names into c, reporting problems to p; nil for
	// variables awo only passes on or redacts.
	load func(p *parser, names []string, c *Config)
	// late rows load after all others: they depend on those.
	late bool
	// show is the value Attrs prints; nil prints nothing. A secret is
	// shown masked.
	show func(c *Config) any
	// key is what Attrs prints under when the row reads no variable of
	// its own.
	key string
	// secret says how the values of names hold secrets.
	secret secretKind
}

// secretKind is how a variable's value holds a secret.
type secretKind int

const (
	notSecret      secretKind = iota
	wholeSecret               // the whole value
	connSecret                // a connection string's password or token (connSecrets)
	connListSecret            // comma-separated connection strings
	headerSecret              // header values of a k=v,k=v list (headerValues)
)

// variables is the table, in the order of the start-up line; problems are
// reported in this order too. The rows of a subject sit in its file.
var variables = slices.Concat(processVariables, tracingVariables, accessVariables, limitVariables,
	inputVariables, repoVariables, natsVariables, streamVariables, agentUserVariables, agentEnvVariables, storageVariables,
	triggerVariables, answersVariables, webhookVariables, budgetVariables, usageLimitVariables, agentVariables, checkpointVariables)

// processVariables are the general settings: ports, the CLIs, storage,
// the executor's steps, NATS and the streams' age.
var processVariables = []variable{
	{names: []string{"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"}, secret: wholeSecret},
	{names: []string{"AGENT_WORK_ORDERS_PORT"},
		load: func(p *parser, n []string, c *Config) { c.Port = p.intRange(n[0], 8053, 1, 65535) },
		show: func(c *Config) any { return c.Port }},
	{names: []string{"SERVICE_DISCOVERY_MODE"},
		load: func(p *parser, n []string, c *Config) {
			c.ServiceDiscoveryMode = p.oneOf(n[0], "local", "local", "docker_compose")
		},
		show: func(c *Config) any { return c.ServiceDiscoveryMode }},
	{names: []string{"ARCHON_SERVER_URL"},
		load: func(p *parser, n []string, c *Config) { c.ArchonServerURL = p.httpURL(n[0]) },
		show: func(c *Config) any { return c.ArchonServerURL }},
	{names: []string{"ARCHON_MCP_URL"},
		load: func(p *parser, n []string, c *Config) { c.ArchonMCPURL = p.httpURL(n[0]) },
		show: func(c *Config) any { return c.ArchonMCPURL }},
	{names: []string{"LOG_LEVEL"},
		load: func(p *parser, n []string, c *Config) { c.LogLevel = p.level(n[0]) },
		show: func(c *Config) any { return c.LogLevel.String() }},
	{names: []string{"CLAUDE_CLI_PATH"},
		load: func(p *parser, n []string, c *Config) { c.ClaudeCLIPath = p.str(n[0], "claude") },
		show: func(c *Config) any { return c.ClaudeCLIPath }},
	{names: []string{"CLAUDE_CLI_MODEL"},
		load: func(p *parser, n []string, c *Config) { c.ClaudeModel = p.str(n[0], "sonnet") },
		show: func(c *Config) any { return c.ClaudeModel }},
	{names: []string{"CLAUDE_CLI_MAX_TURNS"},
		load: func(p *parser, n []string, c *Config) { c.ClaudeMaxTurns = p.intRange(n[0], 0, 1, 10000) },
		show: func(c *Config) any { return c.ClaudeMaxTurns }},
	{names: []string{"CLAUDE_CLI_SKIP_PERMISSIONS"},
		load: func(p *parser, n []string, c *Config) { c.ClaudeSkipPermissions = p.boolean(n[0], true) },
		show: func(c *Config) any { return c.ClaudeSkipPermissions }},
	{names: []string{"IS_SANDBOX"},
		load: func(p *parser, n []string, c *Config) { c.IsSandbox = p.getenv(n[0]) }},
	{names: []string{"GH_CLI_PATH"},
		load: func(p *parser, n []string, c *Config) { c.GHCLIPath = p.str(n[0], "gh") },
		show: func(c *Config) any { return c.GHCLIPath }},
	{names: []string{"GH_TOKEN", "GITHUB_TOKEN"}, secret: wholeSecret,
		load: func(p *parser, n []string, c *Config) { c.GHToken = p.first(n...) },
		show: func(c *Config) any { return mask(c.GHToken) }},
	{names: []string{"STATE_STORAGE_TYPE"},
		load: func(p *parser, n []string, c *Config) { c.StorageType, c.StorageArchon = p.storage(n[0]) },
		show: func(c *Config) any {
			if c.StorageArchon != "" {
				return c.StorageType + " (" + c.StorageArchon + ")"
			}
			return c.StorageType
		}},
	{names: []string{"DATABASE_URL", "SUPABASE_DB_URL"}, secret: connSecret,
		load: func(p *parser, n []string, c *Config) { c.DatabaseURL = p.first(n...) },
		show: func(c *Config) any { return redact.URL(c.DatabaseURL) }},
	{names: []string{"AWO_REBUILD_READ_MODEL"},
		load: func(p *parser, n []string, c *Config) { c.RebuildReadModel = p.boolean(n[0], false) },
		show: func(c *Config) any { return c.RebuildReadModel }},
	{names: []string{"AWO_READ_MODEL_SNAPSHOT_EVERY"},
		load: func(p *parser, n []string, c *Config) {
			c.ReadModelSnapshotEvery = p.intRange(n[0], 50_000, 0, 1_000_000_000)
		},
		show: func(c *Config) any { return c.ReadModelSnapshotEvery }},
	{names: []string{"AGENT_WORK_ORDER_COMMANDS_DIR"},
		load: func(p *parser, n []string, c *Config) { c.CommandsDir = p.str(n[0], "") },
		show: func(c *Config) any { return orDefault(c.CommandsDir, "(embedded prompts)") }},
	{names: []string{"AGENT_WORK_ORDER_TIMEOUT"},
		load: func(p *parser, n []string, c *Config) {
			c.StepTimeout = time.Duration(p.intRange(n[0], 3600, 1, 7*24*3600)) * time.Second
		},
		show: func(c *Config) any { return int(c.StepTimeout.Seconds()) }},
	{names: []string{"AGENT_WORK_ORDER_TEMP_DIR"},
		load: func(p *parser, n []string, c *Config) { c.TempDir = p.str(n[0], "/tmp/agent-work-orders") },
		show: func(c *Config) any { return c.TempDir }},
	{names: []string{"AWO_ALLOW_LOCAL_REPOS"},
		load: func(p *parser, n []string, c *Config) { c.AllowLocalRepos = p.boolean(n[0], false) },
		show: func(c *Config) any { return c.AllowLocalRepos }},
	{names: []string{"AWO_EXECUTOR_CONCURRENCY"},
		load: func(p *parser, n []string, c *Config) { c.ExecConcurrency = p.intRange(n[0], 2, 1, 256) },
		show: func(c *Config) any { return c.ExecConcurrency }},
	{names: []string{"AWO_ACK_WAIT"},
		load: func(p *parser, n []string, c *Config) { c.AckWait = p.duration(n[0], 30*time.Second, time.Second) },
		show: func(c *Config) any { return c.AckWait.String() }},
	{names: []string{"AWO_MAX_DELIVER"},
		load: func(p *parser, n []string, c *Config) { c.MaxDeliver = p.intRange(n[0], 5, 1, 1000) },
		show: func(c *Config) any { return c.MaxDeliver }},
	{names: []string{"AWO_SHUTDOWN_GRACE"},
		load: func(p *parser, n []string, c *Config) { c.ShutdownGrace = p.duration(n[0], 30*time.Second, 0) },
		show: func(c *Config) any { return c.ShutdownGrace.String() }},
	{names: []string{"NATS_URL"}, secret: connListSecret,
		load: func(p *parser, n []string, c *Config) { c.NATSURL = p.str(n[0], "") },
		show: func(c *Config) any { return orDefault(redact.URL(c.NATSURL), "(embedded server)") }},
	{names: []string{"AWO_NATS_LISTEN"},
		load: func(p *parser, n []string, c *Config) { c.NATSListen = p.hostPort(n[0]) },
		show: func(c *Config) any { return orDefault(c.NATSListen, "(in-process only)") }},
	{names: []string{"AWO_DATA_DIR"},
		load: func(p *parser, n []string, c *Config) { c.DataDir = p.str(n[0], ".data") },
		show: func(c *Config) any { return c.DataDir }},
	{names: []string{"AWO_EVENTS_MAX_AGE"},
		load: func(p *parser, n []string, c *Config) {
			c.EventsMaxAge = p.duration(n[0], 30*24*time.Hour, time.Minute)
		},
		show: func(c *Config) any { return c.EventsMaxAge.String() }},
	{names: []string{"AWO_WORKER_ID"},
		load: func(p *parser, n []string, c *Config) { c.WorkerIdentifier = p.str(n[0], "") }},
	{names: []string{"AWO_CHECKPOINTS"},
		load: func(p *parser, n []string, c *Config) { c.Checkpoints = p.boolean(n[0], true) },
		show: func(c *Config) any { return c.Checkpoints }},
	{names: []string{"AWO_METRICS_LISTEN"},
		load: func(p *parser, n []string, c *Config) { c.MetricsListen = p.hostPort(n[0]) },
		show: func(c *Config) any {
			return orDefault(c.MetricsListen, "(off; the gateway serves /metrics on its port)")
		}},
	{names: []string{"AWO_SANDBOX_RETENTION"},
		load: func(p *parser, n []string, c *Config) { c.SandboxRetention = p.duration(n[0], 24*time.Hour, 0) },
		show: func(c *Config) any { return retentionString(c.SandboxRetention) }},
	{names: []string{"AWO_MIN_FREE_DISK"},
		load: func(p *parser, n []string, c *Config) { c.MinFreeDisk = p.size(n[0], 1<<30) },
		show: func(c *Config) any { return sizeString(c.MinFreeDisk) }},
}

// tracingVariables are the standard OpenTelemetry variables: traces are
// exported over OTLP only when an endpoint is set and the SDK is not
// disabled. The header variables come before the endpoints only to keep
// the order in which secrets have always been collected.
var tracingVariables = []variable{
	{names: []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}, secret: headerSecret},
	{names: []string{"OTEL_EXPORTER_OTLP_ENDPOINT"}, secret: connSecret,
		load: func(p *parser, n []string, c *Config) { c.Tracing.Endpoint = p.httpURL(n[0]) }},
	{names: []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"}, secret: connSecret,
		load: func(p *parser, n []string, c *Config) { c.Tracing.TracesEndpoint = p.httpURL(n[0]) }},
	{names: []string{"OTEL_EXPORTER_OTLP_PROTOCOL"},
		load: func(p *parser, n []string, c *Config) {
			c.Tracing.Protocol = p.oneOf(n[0], tracing.ProtocolHTTP, otlpProtocols...)
		}},
	{names: []string{"OTEL_SERVICE_NAME"},
		load: func(p *parser, n []string, c *Config) { c.Tracing.ServiceName = p.str(n[0], "") }},
	{names: []string{"OTEL_SDK_DISABLED"},
		load: func(p *parser, n []string, c *Config) { c.Tracing.Disabled = p.boolean(n[0], false) }},
	// The signal-specific variable wins, as the specification says.
	{names: []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		load: func(p *parser, n []string, c *Config) {
			if _, ok := p.get(n[0]); ok {
				c.Tracing.Protocol = p.oneOf(n[0], c.Tracing.Protocol, otlpProtocols...)
			}
		}},
	{key: "traces", show: func(c *Config) any { return tracingAttr(c.Tracing) }},
}

var otlpProtocols = []string{tracing.ProtocolHTTP, tracing.ProtocolGRPC}

// Variables are the names of every environment variable the configuration
// reads, in the order of the table.
func Variables() []string {
	var out []string
	for _, v := range variables {
		out = append(out, v.names...)
	}
	return out
}

// Attrs renders the effective configuration for the start-up log line,
// secrets masked.
func (c Config) Attrs() []any {
	var out []any
	for _, v := range variables {
		if v.show == nil {
			continue
		}
		key := v.key
		if key == "" {
			key = v.names[0]
		}
		out = append(out, key, v.show(&c))
	}
	return append(out, "redacted_values", len(c.secrets))
}

// variableNames is the list of names for the rows of kind k, in table
// order.
func variableNames(k secretKind) []string {
	var out []string
	for _, v := range variables {
		if v.secret == k {
			out = append(out, v.names...)
		}
	}
	return out
}
