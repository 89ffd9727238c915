package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/agentworkorders/awo/pkg/redact"
)

// Secrets returns the value of every secret the environment held at Load:
// the variables the table marks wholeSecret (some, like ANTHROPIC_API_KEY,
// are not settings of this project but pass through the processes it
// starts), each of the comma-separated AWO_API_TOKENS and the
// lines of AWO_API_TOKENS_FILE, the database password (DATABASE_URL,
// SUPABASE_DB_URL: URL, query or key/value form), the NATS_URL passwords
// and tokens, and the values of the OTLP header variables. They are what
// the redactor replaces wherever text leaves the process.
func (c Shared) Secrets() []string { return slices.Clone(c.secrets) }

// Redactor builds the redactor for c's secrets. Main builds it once.
func (c Shared) Redactor() *redact.Redactor { return redact.New(c.secrets...) }

// collectSecrets reads the secret values of the variables the table marks
// secret: whole values first, then the others in table order.
func collectSecrets(getenv func(string) string) []string {
	var out []string
	add := func(vs ...string) {
		for _, v := range vs {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
	}
	for _, name := range variableNames(wholeSecret) {
		add(getenv(name))
	}
	for _, v := range variables {
		for _, name := range v.names {
			switch v.secret {
			case connSecret:
				add(connSecrets(getenv(name))...)
			case connListSecret:
				for _, u := range strings.Split(getenv(name), ",") {
					add(connSecrets(u)...)
				}
			case headerSecret:
				add(headerValues(getenv(name))...)
			}
		}
	}
	return out
}

var dsnPassword = regexp.MustCompile(`(?i)\b(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s,;]+)`)

// connSecrets are the credentials in a connection string: a URL's password
// (or its lone user part for NATS, which is a token), credential query
// parameters, and key/value DSN passwords.
func connSecrets(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	var out []string
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		if u.User != nil {
			if pw, has := u.User.Password(); has {
				out = append(out, pw)
			} else if strings.HasPrefix(strings.ToLower(u.Scheme), "nats") || u.Scheme == "tls" || strings.HasPrefix(u.Scheme, "ws") {
				out = append(out, u.User.Username())
			}
		}
		for k, vs := range u.Query() {
			switch strings.ToLower(k) {
			case "password", "sslpassword", "token", "access_token", "api_key", "apikey", "secret":
				out = append(out, vs...)
			}
		}
		return out
	}
	for _, m := range dsnPassword.FindAllStringSubmatch(s, -1) {
		v := m[1]
		if strings.HasPrefix(v, "'") {
			v = strings.ReplaceAll(strings.Trim(v, "'"), `\'`, "'")
		}
		out = append(out, v)
	}
	return out
}

// headerValues are the values of an OTLP headers variable
// ("key1=value1,key2=value2", values percent-encoded), in both spellings.
func headerValues(s string) []string {
	var out []string
	for _, kv := range strings.Split(s, ",") {
		_, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		out = append(out, v)
		if d, err := url.QueryUnescape(v); err == nil && d != v {
			out = append(out, d)
		}
		// "Bearer abc": the credential alone, should it be printed apart.
		if _, cred, ok := strings.Cut(v, " "); ok {
			out = append(out, cred)
		}
		if d, err := url.PathUnescape(v); err == nil {
			if _, cred, ok := strings.Cut(d, " "); ok {
				out = append(out, cred)
			}
		}
	}
	return out
}

// forbiddenAgentEnv are the prefixes of variables AWO_AGENT_ENV may not
// name: the service's own configuration and credentials, which the agent
// (running what a prompt asks, with permissions skipped) must never see.
var forbiddenAgentEnv = []string{"AWO_", "DATABASE_URL", "SUPABASE_", "NATS_", "OTEL_", "GH_TOKEN", "GITHUB_TOKEN"}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// agentEnv parses AWO_AGENT_ENV: comma-separated variable names. A name of
// the service's own secrets or settings is refused at start rather than
// quietly dropped, so that an operator who meant to hand the agent
// DATABASE_URL learns at once that it will not happen. GH_TOKEN is given
// per step (see the executor), never through this list.
func (p *parser) agentEnv(name string) []string {
	v, ok := p.get(name)
	if !ok {
		return nil
	}
	var names []string
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !envName.MatchString(n) {
			p.fail(name, v, fmt.Sprintf("%q is not a variable name (letters, digits and _)", n))
			continue
		}
		for _, f := range forbiddenAgentEnv {
			if strings.HasPrefix(strings.ToUpper(n), f) {
				p.fail(name, v, fmt.Sprintf("%s may not be passed to the agent: variables starting with %s are the service's own settings and secrets", n, f))
				break
			}
		}
		names = append(names, n)
	}
	return names
}

var agentEnvVariables = []variable{
	{names: []string{"AWO_AGENT_ENV"},
		load: func(p *parser, n []string, c *Config) { c.AgentEnv = p.agentEnv(n[0]) },
		show: func(c *Config) any { return strings.Join(c.AgentEnv, ",") }},
}
