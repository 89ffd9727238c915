package config

import (
	"fmt"
	"slices"
	"strings"
)

// GitHub webhook triggers (the gateway's POST /webhooks/github).

// Triggers is what the gateway's GitHub webhook route is configured with.
type Triggers struct {
	// WebhookSecret (GITHUB_WEBHOOK_SECRET) verifies X-Hub-Signature-256;
	// empty: the route does not exist. Secret.
	WebhookSecret string
	// Label (AWO_TRIGGER_LABEL) is the issue label that creates a work
	// order.
	Label string
	// Command (AWO_TRIGGER_COMMAND) starts a comment that asks awo for
	// work.
	Command string
	// Associations (AWO_TRIGGER_ASSOCIATIONS) are the author_association
	// values whose comments trigger, upper case.
	Associations []string
}

// Trigger defaults.
const (
	DefaultTriggerLabel   = "awo"
	DefaultTriggerCommand = "/awo"
)

// DefaultTriggerAssociations are the associations of people with write
// access to a repository: its owner, members of its organisation, and
// invited collaborators.
var DefaultTriggerAssociations = []string{"OWNER", "MEMBER", "COLLABORATOR"}

// minWebhookSecretLength refuses a guessable secret: anyone who guesses it
// can sign deliveries that start agents.
const minWebhookSecretLength = 16

// knownAssociations are GitHub's author_association values.
var knownAssociations = []string{"OWNER", "MEMBER", "COLLABORATOR", "CONTRIBUTOR",
	"FIRST_TIME_CONTRIBUTOR", "FIRST_TIMER", "MANNEQUIN", "NONE"}

// githubWebhookSecret reads the secret without ever quoting it in an error.
func (p *parser) githubWebhookSecret(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}
	if len(v) < minWebhookSecretLength {
		p.errs = append(p.errs, fmt.Errorf("%s: is %d characters long; a webhook secret needs at least %d (e.g. openssl rand -hex 32)",
			name, len(v), minWebhookSecretLength))
		return ""
	}
	return v
}

// associations reads a comma-separated list of author_association values.
func (p *parser) associations(name string) []string {
	v, ok := p.get(name)
	if !ok {
		return slices.Clone(DefaultTriggerAssociations)
	}
	var out []string
	for _, a := range strings.Split(v, ",") {
		a = strings.ToUpper(strings.TrimSpace(a))
		if a == "" {
			continue
		}
		if !slices.Contains(knownAssociations, a) {
			p.fail(name, v, "must be comma-separated author_association values: "+strings.Join(knownAssociations, ", "))
			return slices.Clone(DefaultTriggerAssociations)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		p.fail(name, v, "must name at least one author_association")
		return slices.Clone(DefaultTriggerAssociations)
	}
	return out
}

// trigger reads a label or command: one line without spaces at the ends.
func (p *parser) trigger(name, def string) string {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	if strings.ContainsAny(v, " \t\r\n") || len(v) > 50 {
		p.fail(name, v, "must be one word of at most 50 characters")
		return def
	}
	return v
}

// triggerVariables are the GitHub webhook's settings.
var triggerVariables = []variable{
	{names: []string{"GITHUB_WEBHOOK_SECRET"}, secret: wholeSecret,
		load: func(p *parser, n []string, c *Config) { c.Triggers.WebhookSecret = p.githubWebhookSecret(n[0]) },
		show: func(c *Config) any {
			if c.Triggers.WebhookSecret == "" {
				return "(unset: POST /webhooks/github is off)"
			}
			return mask(c.Triggers.WebhookSecret)
		}},
	{names: []string{"AWO_TRIGGER_LABEL"},
		load: func(p *parser, n []string, c *Config) { c.Triggers.Label = p.trigger(n[0], DefaultTriggerLabel) },
		show: func(c *Config) any { return c.Triggers.Label }},
	{names: []string{"AWO_TRIGGER_COMMAND"},
		load: func(p *parser, n []string, c *Config) { c.Triggers.Command = p.trigger(n[0], DefaultTriggerCommand) },
		show: func(c *Config) any { return c.Triggers.Command }},
	{names: []string{"AWO_TRIGGER_ASSOCIATIONS"},
		load: func(p *parser, n []string, c *Config) { c.Triggers.Associations = p.associations(n[0]) },
		show: func(c *Config) any { return strings.Join(c.Triggers.Associations, ",") }},
}
