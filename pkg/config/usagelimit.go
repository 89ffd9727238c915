package config

import "time"

// Usage limits: what the executor does when an agent's account hits its
// usage or rate limit (see docs/usage-limits.md).

// UsageLimits are the executor's rules for a run that ended on a usage or
// rate limit of the agent's account.
type UsageLimits struct {
	// Retry is the first wait when the agent names no reset time
	// (AWO_USAGE_LIMIT_RETRY); every further limit in a row doubles it, up
	// to RetryMax (AWO_USAGE_LIMIT_RETRY_MAX).
	Retry    time.Duration
	RetryMax time.Duration
	// Resume parks a limited step and runs it again once the limit has
	// reset (AWO_RESUME_AFTER_USAGE_LIMIT); false fails it instead, with
	// the reset time in the message.
	Resume bool
}

// Defaults of the usage limit rules.
const (
	DefaultUsageLimitRetry    = 5 * time.Minute
	DefaultUsageLimitRetryMax = time.Hour
)

var usageLimitVariables = []variable{
	{names: []string{"AWO_USAGE_LIMIT_RETRY"},
		load: func(p *parser, n []string, c *Config) {
			c.UsageLimits.Retry = p.duration(n[0], DefaultUsageLimitRetry, time.Second)
		},
		show: func(c *Config) any { return c.UsageLimits.Retry.String() }},
	{names: []string{"AWO_USAGE_LIMIT_RETRY_MAX"},
		load: func(p *parser, n []string, c *Config) {
			c.UsageLimits.RetryMax = p.duration(n[0], DefaultUsageLimitRetryMax, time.Second)
			if c.UsageLimits.RetryMax < c.UsageLimits.Retry {
				v, _ := p.get(n[0])
				p.fail(n[0], v, "must be at least AWO_USAGE_LIMIT_RETRY ("+c.UsageLimits.Retry.String()+")")
			}
		},
		show: func(c *Config) any { return c.UsageLimits.RetryMax.String() }},
	{names: []string{"AWO_RESUME_AFTER_USAGE_LIMIT"},
		load: func(p *parser, n []string, c *Config) { c.UsageLimits.Resume = p.boolean(n[0], true) },
		show: func(c *Config) any { return c.UsageLimits.Resume }},
}
