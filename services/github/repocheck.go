package github

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/repocheck"
	"github.com/agentworkorders/awo/services/github/gh"
)

// verifyRepository answers a repository check (pkg/repocheck) with
// `gh repo view` and the service's token. A repository gh cannot see is an
// answer (not accessible, with gh's words); gh missing, a refused token,
// GitHub down or slow is an error, which the gateway shows as 502. Both
// are redacted: they leave the service.
func (s *service) verifyRepository(ctx context.Context, repositoryURL string) (repocheck.Result, error) {
	log := s.log.With("repository_url", redact.URL(repositoryURL))
	repo, err := ghRepo(repositoryURL, s.cfg.AllowLocalRepos)
	if err != nil {
		return repocheck.Result{ErrorMessage: s.red.String(err.Error())}, nil
	}
	info, err := s.gh.ViewRepo(ctx, repo)
	if err != nil {
		msg := s.red.String(fmt.Sprintf("checking %s with gh: %v", repo, err))
		if notAccessible(err) {
			log.Info("repository not accessible", "reason", msg)
			return repocheck.Result{ErrorMessage: msg}, nil
		}
		log.Warn("repository check failed", "err", msg)
		return repocheck.Result{}, errors.New(msg)
	}
	// gh names both; should it not, what was asked stands in.
	parts := strings.Split(repo, "/") // [HOST/]OWNER/REPO, checked by ghRepo
	owner, name := orElse(info.Owner, parts[len(parts)-2]), orElse(info.Name, parts[len(parts)-1])
	return repocheck.Result{
		Accessible: true, Name: owner + "/" + name, Owner: owner, DefaultBranch: info.DefaultBranch,
	}, nil
}

// notAccessible tells gh's "this repository does not exist for you" (GitHub
// answers the same for a private repository the token cannot see) from
// failures that say nothing about the repository.
func notAccessible(err error) bool {
	var ghErr *gh.Error
	if !errors.As(err, &ghErr) || ghErr.TimedOut {
		return false
	}
	said := ghErr.Stderr
	switch {
	case strings.Contains(said, "Could not resolve to a Repository"), strings.Contains(said, "HTTP 404"),
		strings.Contains(said, "HTTP 451"): // blocked for legal reasons
		return true
	case strings.Contains(said, "HTTP 403"):
		// Forbidden is about the repository unless it is the rate limit.
		return !strings.Contains(strings.ToLower(said), "rate limit")
	}
	return false
}

func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
