package config

import (
	"fmt"
	"time"

	"github.com/agentworkorders/awo/pkg/repourl"
)

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

// RepoPolicy is what decides whether a repository URL may be used.
func (c Shared) RepoPolicy() repourl.Policy {
	return repourl.Policy{AllowLocal: c.AllowLocalRepos, Allowed: c.AllowedRepositories}
}

// repoVariables are which repositories, and how long git may take.
var repoVariables = []variable{
	{names: []string{"AWO_ALLOWED_REPOSITORIES"},
		load: func(p *parser, n []string, c *Config) { c.AllowedRepositories = p.allowlist(n[0]) },
		show: func(c *Config) any { return orDefault(c.AllowedRepositories.String(), "(any)") }},
	{names: []string{"AWO_GIT_TIMEOUT"},
		load: func(p *parser, n []string, c *Config) { c.GitTimeout = p.duration(n[0], 10*time.Minute, time.Second) },
		show: func(c *Config) any { return c.GitTimeout.String() }},
}
