package config

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/repourl"
)

// Webhooks are the outbound webhooks the github service sends
// (services/github/webhooks): every chosen event, POSTed to each URL.
type Webhooks struct {
	// URLs receive the events; none turns the sender off.
	URLs []string
	// Secret is the signing secret in the Standard Webhooks form
	// whsec_<base64>; Key is its decoded bytes, the HMAC key. Secret.
	Secret string
	Key    []byte
	// Events are the full CloudEvents types sent.
	Events []string
	// MaxAge is how long after an event's time a delivery is retried.
	MaxAge time.Duration
	// Timeout bounds one delivery attempt.
	Timeout time.Duration
	// AllowPrivate lets URLs (and the addresses their names resolve to)
	// be on loopback, private or link-local networks.
	AllowPrivate bool
}

// Enabled says whether any URL is configured.
func (w Webhooks) Enabled() bool { return len(w.URLs) > 0 }

// WebhookSecretPrefix starts a Standard Webhooks secret.
const WebhookSecretPrefix = "whsec_"

// DefaultWebhookEvents are the work-order lifecycle events sent when
// AWO_WEBHOOK_EVENTS is unset.
var DefaultWebhookEvents = []string{
	events.TypeRequested, events.TypeStarted, events.TypeStepCompleted, events.TypeStepFailed,
	events.TypeCompleted, events.TypeFailed, events.TypeCancelled,
}

// webhookVariables are the outbound webhook settings. The URL and secret
// rows load late: whether a URL may be private, and whether a secret is
// needed, depend on the others.
var webhookVariables = []variable{
	{names: []string{"AWO_WEBHOOK_ALLOW_PRIVATE"},
		load: func(p *parser, n []string, c *Config) { c.Webhooks.AllowPrivate = p.boolean(n[0], false) },
		show: func(c *Config) any { return c.Webhooks.AllowPrivate }},
	{names: []string{"AWO_WEBHOOK_URLS"}, secret: connListSecret, late: true,
		load: func(p *parser, n []string, c *Config) { c.Webhooks.URLs = p.webhookURLs(n[0], c.Webhooks.AllowPrivate) },
		show: func(c *Config) any { return orDefault(strings.Join(webhookTargets(c.Webhooks.URLs), ","), "(off)") }},
	{names: []string{"AWO_WEBHOOK_SECRET"}, secret: wholeSecret, late: true,
		load: func(p *parser, n []string, c *Config) {
			c.Webhooks.Secret, c.Webhooks.Key = p.webhookSecret(n[0], c.Webhooks.Enabled())
		},
		show: func(c *Config) any { return mask(c.Webhooks.Secret) }},
	{names: []string{"AWO_WEBHOOK_EVENTS"},
		load: func(p *parser, n []string, c *Config) { c.Webhooks.Events = p.eventTypes(n[0], DefaultWebhookEvents) },
		show: func(c *Config) any { return webhookEventsAttr(c.Webhooks.Events) }},
	{names: []string{"AWO_WEBHOOK_MAX_AGE"},
		load: func(p *parser, n []string, c *Config) {
			c.Webhooks.MaxAge = p.duration(n[0], 24*time.Hour, time.Second)
		},
		show: func(c *Config) any { return c.Webhooks.MaxAge.String() }},
	{names: []string{"AWO_WEBHOOK_TIMEOUT"},
		load: func(p *parser, n []string, c *Config) {
			c.Webhooks.Timeout = p.duration(n[0], 10*time.Second, 100*time.Millisecond)
		},
		show: func(c *Config) any { return c.Webhooks.Timeout.String() }},
}

// webhookURLs reads the comma-separated receivers: http(s) URLs, not on
// the local machine or network unless allowPrivate.
func (p *parser) webhookURLs(name string, allowPrivate bool) []string {
	v, ok := p.get(name)
	if !ok {
		return nil
	}
	var out []string
	for _, raw := range strings.Split(v, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if problem := CheckWebhookURL(raw, allowPrivate); problem != "" {
			p.fail(name, WebhookTarget(raw), problem)
			continue
		}
		if !slices.Contains(out, raw) {
			out = append(out, raw)
		}
	}
	return out
}

// CheckWebhookURL explains why raw cannot be a webhook receiver, or
// returns "". The sender checks again at every connection the addresses a
// name resolves to.
func CheckWebhookURL(raw string, allowPrivate bool) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return "must be http:// or https:// URLs, comma-separated"
	}
	if allowPrivate {
		return ""
	}
	kind, ok := repourl.LocalKind(u.Hostname())
	if !ok {
		return "has an invalid IPv4 address as its host"
	}
	if kind != "" {
		return "is a " + kind + " address; set AWO_WEBHOOK_ALLOW_PRIVATE=true to send webhooks inside your network"
	}
	return ""
}

// WebhookTarget is raw as logs and dead letters may show it: scheme, host
// and path, without user information, query or fragment, which may hold
// credentials.
func WebhookTarget(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

func webhookTargets(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = WebhookTarget(u)
	}
	return out
}

// webhookSecret reads a Standard Webhooks secret, whsec_ and the base64
// of the key; it is required when there are URLs to sign for.
func (p *parser) webhookSecret(name string, needed bool) (string, []byte) {
	v, ok := p.get(name)
	if !ok {
		if needed {
			p.fail(name, "", "is required when AWO_WEBHOOK_URLS is set: a Standard Webhooks secret, whsec_ then the base64 of 24 to 64 random bytes")
		}
		return "", nil
	}
	// The value is never quoted back: it is a secret even when malformed.
	enc, has := strings.CutPrefix(v, WebhookSecretPrefix)
	key, err := base64.StdEncoding.DecodeString(enc)
	if !has || err != nil || len(key) < 24 || len(key) > 64 {
		p.fail(name, mask(v), "must be whsec_ then the base64 of 24 to 64 random bytes, e.g. whsec_$(openssl rand -base64 32)")
		return "", nil
	}
	return v, key
}

// eventTypes reads comma-separated event types, short (step.completed) or
// full (io.archon.workorders.step.completed.v1); "*" is every event.
func (p *parser) eventTypes(name string, def []string) []string {
	v, ok := p.get(name)
	if !ok {
		return slices.Clone(def)
	}
	byShort := map[string]string{}
	var all []string
	for _, t := range events.Types() {
		if t == events.TypeRunStep {
			continue
		}
		byShort[events.ShortName(t)] = t
		all = append(all, t)
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if s == "*" {
			return all
		}
		t, ok := byShort[events.ShortName(s)]
		if !ok || (s != t && s != events.ShortName(t)) {
			p.fail(name, v, "must be event types such as workorder.completed,step.failed (or * for all); unknown: "+s)
			return slices.Clone(def)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return slices.Clone(def)
	}
	return out
}

func webhookEventsAttr(types []string) string {
	short := make([]string, len(types))
	for i, t := range types {
		short[i] = events.ShortName(t)
	}
	return strings.Join(short, ",")
}
