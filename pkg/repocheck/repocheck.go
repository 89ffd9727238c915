// Package repocheck is the request/reply by which the gateway asks the
// github service whether a repository is reachable with the service's gh
// credentials (POST /repositories with verify, /repositories/{id}/verify,
// /github/verify-repository): the gateway never runs gh itself.
package repocheck

import "errors"

// Subject is the NATS subject the github service answers on.
const Subject = "awo.github.verify_repository"

// Request asks about one repository.
type Request struct {
	RepositoryURL string `json:"repository_url"`
}

// Result is the answer, in the shape of the Python service's
// POST /github/verify-repository response.
type Result struct {
	Accessible    bool   `json:"is_accessible"`
	Name          string `json:"repository_name,omitempty"`  // "owner/repo"
	Owner         string `json:"repository_owner,omitempty"` // "owner"
	DefaultBranch string `json:"default_branch,omitempty"`
	ErrorMessage  string `json:"error_message,omitempty"` // why it is not accessible
}

// ErrUnavailable means no answer could be had: the github service did not
// reply, or gh or GitHub failed (not: the repository is not accessible,
// which is a Result). The gateway answers 502.
var ErrUnavailable = errors.New("repository check unavailable")
