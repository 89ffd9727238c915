package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Who may call the API and from where: tokens, the bind address, CORS,
// the create rate and the live-log stream caps.

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
	c := GatewayOnly{Host: host, APITokens: tokens, AuthNone: authNone}
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
// it; gateway.New checks again for configurations built in code.
func (c GatewayOnly) BindProblem() error {
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

// accessVariables are who may call the API. The tokens' values join the
// secrets from their parsed settings (see Load), the file's lines included.
var accessVariables = []variable{
	{names: []string{"AGENT_WORK_ORDERS_HOST"}, late: true,
		load: func(p *parser, n []string, c *Config) { c.Host = p.bindHost(n[0], c.APITokens, c.AuthNone) },
		show: func(c *Config) any { return orDefault(c.Host, "(all interfaces)") }},
	{names: []string{"AWO_API_TOKENS", "AWO_API_TOKENS_FILE"},
		load: func(p *parser, n []string, c *Config) { c.APITokens = p.apiTokens(n[0], n[1]) },
		show: func(c *Config) any { return tokenCount(len(c.APITokens)) }},
	{names: []string{"AWO_METRICS_TOKEN"},
		load: func(p *parser, n []string, c *Config) { c.MetricsToken = p.token(n[0]) },
		show: func(c *Config) any { return orDefault(mask(c.MetricsToken), "(none: /metrics is open)") }},
	{names: []string{"AWO_AUTH"},
		load: func(p *parser, n []string, c *Config) {
			c.AuthNone = p.oneOf(n[0], "tokens", "tokens", "none") == "none"
		},
		show: func(c *Config) any { return authString(c.AuthNone) }},
	{names: []string{"AWO_CORS_ORIGINS"},
		load: func(p *parser, n []string, c *Config) { c.CORSOrigins = p.origins(n[0]) },
		show: func(c *Config) any { return orDefault(strings.Join(c.CORSOrigins, ","), "(none: no CORS grant)") }},
	{names: []string{"AWO_CREATE_RATE"},
		load: func(p *parser, n []string, c *Config) { c.CreateRate = p.rate(n[0], DefaultCreateRate) },
		show: func(c *Config) any { return c.CreateRate.String() }},
	{names: []string{"AWO_SSE_MAX_PER_CLIENT"},
		load: func(p *parser, n []string, c *Config) { c.SSEMaxPerClient = p.intRange(n[0], 16, 1, 100000) },
		show: func(c *Config) any { return c.SSEMaxPerClient }},
	{names: []string{"AWO_SSE_MAX"},
		load: func(p *parser, n []string, c *Config) { c.SSEMax = p.intRange(n[0], 256, 1, 1000000) },
		show: func(c *Config) any { return c.SSEMax }},
}
