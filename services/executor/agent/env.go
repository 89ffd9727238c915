package agent

import "strings"

// The agent's environment is an allowlist: the CLI runs whatever a prompt
// (and so a repository's content or an issue's text) talks it into, with
// permissions skipped, so it gets what a shell and the CLI need and
// nothing of the service's own configuration: no DATABASE_URL, NATS_*,
// AWO_* or OTEL_* variable ever reaches it, whatever the operator sets.

// agentVariables pass by exact name.
var agentVariables = set(
	// A shell's own (SHLVL: see Environ).
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "SHLVL", "TMPDIR", "TZ", "LANG", "LANGUAGE",
	"TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "COLUMNS", "LINES",
	"XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
	// The CLI's: root check, network, certificates, limits.
	"IS_SANDBOX",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
	"NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR",
	"MAX_THINKING_TOKENS", "API_TIMEOUT_MS", "BASH_DEFAULT_TIMEOUT_MS", "BASH_MAX_TIMEOUT_MS", "BASH_MAX_OUTPUT_LENGTH",
	"MCP_TIMEOUT", "MCP_TOOL_TIMEOUT", "MAX_MCP_OUTPUT_TOKENS", "USE_BUILTIN_RIPGREP",
	// git's configuration and identity, for the commits the agent makes.
	// Not GIT_CONFIG_COUNT/KEY_n/VALUE_n: those can carry an
	// http.extraHeader with a token.
	"GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_TERMINAL_PROMPT",
	"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
	"GIT_SSH", "GIT_SSH_COMMAND",
)

// agentPrefixes pass by prefix: locale, and the CLI's own settings and
// credentials (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, CLAUDE_CONFIG_DIR,
// CLAUDE_CODE_*, DISABLE_TELEMETRY, ...).
var agentPrefixes = []string{"LC_", "ANTHROPIC_", "CLAUDE_", "DISABLE_"}

// gitHubVariables are credentials for pushing and calling GitHub, passed
// only to the steps that do (Request.GitHub).
var gitHubVariables = set("GH_TOKEN", "GITHUB_TOKEN", "GH_HOST", "GH_ENTERPRISE_TOKEN", "SSH_AUTH_SOCK", "GIT_ASKPASS")

// Environ picks the agent's environment out of parent ("KEY=value"
// entries, as os.Environ gives them): the allowlisted variables, the names
// in passThrough (AWO_AGENT_ENV, validated by config), and the GitHub
// credentials when gitHub is set. Order and duplicates are kept, so the
// last entry of a key still wins.
//
// SHLVL is set to 1 when the parent has none (a service started by
// systemd or a container runtime): on the development machine, whose login
// profile runs `pyenv init`, a one-call run of the CLI (2.1.328) against
// the scripted model took 3.2 s without SHLVL of 1 or more and 2.2 s with it.
func Environ(parent, passThrough []string, gitHub bool) []string {
	extra := set(passThrough...)
	var env []string
	for _, kv := range parent {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if agentVariables[k] || extra[k] || (gitHub && gitHubVariables[k]) || hasAnyPrefix(k, agentPrefixes) {
			env = append(env, kv)
		}
	}
	if lvl := lookupEnv(env, "SHLVL"); lvl == "" || strings.Trim(lvl, "0") == "" {
		env = append(env, "SHLVL=1")
	}
	return env
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
