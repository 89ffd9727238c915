package config

import (
	"errors"
	"fmt"
	"strings"
)

// natsCredentials rejects client credentials that contradict each other:
// the server would see only one of them, and which one would be a guess.
func (p *parser) natsCredentials(c Shared) {
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

// natsVariables are the NATS credentials.
var natsVariables = []variable{
	{names: []string{"AWO_NATS_CONFIG"},
		load: func(p *parser, n []string, c *Config) { c.NATSConfigFile = p.str(n[0], "") },
		show: func(c *Config) any { return orDefault(c.NATSConfigFile, "(none: no NATS authentication)") }},
	{names: []string{"NATS_CREDS"},
		load: func(p *parser, n []string, c *Config) { c.NATSCreds = p.str(n[0], "") },
		show: func(c *Config) any { return c.NATSCreds }},
	{names: []string{"NATS_NKEY"},
		load: func(p *parser, n []string, c *Config) { c.NATSNKey = p.str(n[0], "") },
		show: func(c *Config) any { return c.NATSNKey }},
	{names: []string{"NATS_USER"},
		load: func(p *parser, n []string, c *Config) { c.NATSUser = p.str(n[0], "") },
		show: func(c *Config) any { return c.NATSUser }},
	{names: []string{"NATS_PASSWORD"}, secret: wholeSecret,
		load: func(p *parser, n []string, c *Config) { c.NATSPassword = p.str(n[0], "") },
		show: func(c *Config) any { return mask(c.NATSPassword) }},
	{names: []string{"NATS_TOKEN"}, secret: wholeSecret,
		load: func(p *parser, n []string, c *Config) { c.NATSToken = p.str(n[0], "") },
		show: func(c *Config) any { return mask(c.NATSToken) }},
	{names: []string{"NATS_CA"},
		load: func(p *parser, n []string, c *Config) { c.NATSCA = p.str(n[0], "") },
		show: func(c *Config) any { return c.NATSCA }},
	{names: []string{"NATS_CERT"},
		load: func(p *parser, n []string, c *Config) { c.NATSCert = p.str(n[0], "") },
		show: func(c *Config) any { return c.NATSCert }},
	{names: []string{"NATS_KEY"},
		load: func(p *parser, n []string, c *Config) { c.NATSKey = p.str(n[0], "") },
		show: func(c *Config) any { return c.NATSKey }},
}
