package config

import (
	"fmt"

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
func (c Config) RepoPolicy() repourl.Policy {
	return repourl.Policy{AllowLocal: c.AllowLocalRepos, Allowed: c.AllowedRepositories}
}
