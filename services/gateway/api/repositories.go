package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/agentworkorders/awo/pkg/freetext"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/repocheck"
	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/textcut"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/repositories"
)

// RepositoryVerifier asks the github service whether a repository is
// accessible with its gh credentials (the gateway never runs gh). An
// error wrapping repocheck.ErrUnavailable means no answer could be had.
type RepositoryVerifier interface {
	Verify(ctx context.Context, repositoryURL string) (repocheck.Result, error)
}

// Repositories is the shared bucket of configured repositories, the source
// of truth every replica writes; *repositories.Store is one. Errors wrap
// repositories.ErrExists and ErrNotFound.
type Repositories interface {
	// Create stores r unless its id is taken, returning the revision.
	Create(ctx context.Context, r readmodel.ConfiguredRepository) (uint64, error)
	Get(ctx context.Context, id string) (readmodel.ConfiguredRepository, error)
	// Update applies change under a compare-and-set on the revision read.
	Update(ctx context.Context, id string, change func(*readmodel.ConfiguredRepository) error) (readmodel.ConfiguredRepository, error)
	// Delete returns a revision at or after the delete's.
	Delete(ctx context.Context, id string) (uint64, error)
}

// Route parameter carrying a configured repository's id.
const repoIDParam = "repository_id"

// repositoryNotFound is Archon's answer for an unknown repository id.
var repositoryNotFound = &problem{status: http.StatusNotFound, detail: "Repository not found"}

// createRepositoryBody is the Python service's CreateRepositoryRequest.
type createRepositoryBody struct {
	RepositoryURL *string `json:"repository_url"`
	Verify        *bool   `json:"verify"` // default true, as in the Python service
}

// updateRepositoryBody is the Python service's UpdateRepositoryRequest.
type updateRepositoryBody struct {
	DefaultSandboxType *string   `json:"default_sandbox_type"`
	DefaultCommands    *[]string `json:"default_commands"`
	// DefaultAgent: claude or codex; "" clears it (AWO_DEFAULT_AGENT).
	DefaultAgent *string `json:"default_agent"`
}

// verifyRepositoryBody is the body of POST /github/verify-repository.
type verifyRepositoryBody struct {
	RepositoryURL *string `json:"repository_url"`
}

// repositoryVerified is the answer of POST /repositories/{id}/verify.
type repositoryVerified struct {
	IsAccessible bool   `json:"is_accessible"`
	RepositoryID string `json:"repository_id"`
}

// repositories returns the bucket, or a 503 when the gateway has none.
func (s *server) repositories() (Repositories, readmodel.RepositoryStore, error) {
	store, ok := s.Store.(readmodel.RepositoryStore)
	if s.Repositories == nil || !ok {
		return nil, nil, &problem{status: http.StatusServiceUnavailable, detail: "configured repositories are not available"}
	}
	return s.Repositories, store, nil
}

// repoUnavailable words a failure of the bucket: JetStream, not the
// client, is at fault.
func repoUnavailable(err error) error {
	return &problem{status: http.StatusServiceUnavailable,
		detail: "the configured-repository store (NATS JetStream) is unavailable; retry shortly", cause: err}
}

// repoErr maps the bucket's errors to answers.
func repoErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, repositories.ErrNotFound):
		return repositoryNotFound
	case errors.As(err, new(*problem)):
		return err
	}
	return repoUnavailable(err)
}

func (s *server) listRepositories(w http.ResponseWriter, r *http.Request) error {
	_, store, err := s.repositories()
	if err != nil {
		return err
	}
	if s.RepositoryProjection != nil {
		ctx, cancel := context.WithTimeout(r.Context(), s.ReadWait)
		defer cancel()
		if err := s.RepositoryProjection.WaitFor(ctx, s.lastRepoRevision.Load()); err != nil {
			return fmt.Errorf("%w: %w", errBehind, err)
		}
	}
	list, err := store.Repositories(r.Context())
	if err != nil {
		return fmt.Errorf("listing configured repositories: %w", err)
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *server) createRepository(w http.ResponseWriter, r *http.Request) error {
	bucket, _, err := s.repositories()
	if err != nil {
		return err
	}
	var body createRepositoryBody
	if err := decodeJSON(w, r, &body, s.bodyLimit); err != nil {
		return err
	}
	url, repo, err := s.checkRepositoryURL(body.RepositoryURL)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	slug := repo.Slug()
	rec := readmodel.ConfiguredRepository{
		ID: repositories.IDFor(repo), RepositoryURL: url, DisplayName: &slug, Owner: &repo.Owner,
		DefaultSandboxType: workorder.SandboxWorktree, DefaultCommands: slices.Clone(workorder.DefaultSteps),
		CreatedAt: now, UpdatedAt: now,
	}
	// Looked up first so a repository already configured costs no
	// verification; Create below is what refuses it atomically.
	if _, err := bucket.Get(r.Context(), rec.ID); err == nil {
		return alreadyConfigured(url, rec.ID)
	} else if !errors.Is(err, repositories.ErrNotFound) {
		return repoUnavailable(err)
	}
	if body.Verify == nil || *body.Verify {
		res, err := s.verify(r.Context(), url)
		if err != nil {
			return err
		}
		if !res.Accessible {
			return badRequest("repository_url: %s is not accessible: %s", repourl.Mask(url), s.redacted(res.ErrorMessage))
		}
		applyVerification(&rec, res, now)
	}
	rev, err := bucket.Create(r.Context(), rec)
	if errors.Is(err, repositories.ErrExists) {
		return alreadyConfigured(url, rec.ID)
	}
	if err != nil {
		return repoUnavailable(err)
	}
	s.repoWritten(rev)
	s.log.Info("repository configured", "repository_id", rec.ID, "repository_url", repourl.Mask(url), "verified", rec.IsVerified)
	writeJSON(w, http.StatusCreated, rec)
	return nil
}

func alreadyConfigured(url, id string) error {
	return &problem{status: http.StatusConflict,
		detail: fmt.Sprintf("repository_url: %s is already configured (id %s)", repourl.Mask(url), id)}
}

// checkRepositoryURL validates a repository URL as a create does.
func (s *server) checkRepositoryURL(raw *string) (string, repourl.Repo, error) {
	url := trimmed(raw)
	if url == "" {
		return "", repourl.Repo{}, unprocessable("repository_url: field required")
	}
	if err := freetext.Check("repository_url", url, maxURLBytes); err != nil {
		return "", repourl.Repo{}, unprocessable(err.Error())
	}
	repo, err := repourl.Policy{AllowLocal: s.AllowLocalRepos, Allowed: s.AllowedRepositories}.Check(url)
	if err != nil {
		return "", repourl.Repo{}, unprocessable("repository_url: " + plain(err))
	}
	return url, repo, nil
}

// verify asks the github service about url: 503 without a verifier, 502
// when no answer could be had.
func (s *server) verify(ctx context.Context, url string) (repocheck.Result, error) {
	if s.Verifier == nil {
		return repocheck.Result{}, &problem{status: http.StatusServiceUnavailable, detail: "repository verification is not available"}
	}
	res, err := s.Verifier.Verify(ctx, url)
	switch {
	case err == nil:
		res.ErrorMessage = s.redacted(res.ErrorMessage)
		return res, nil
	case errors.Is(err, repocheck.ErrUnavailable):
		return res, &problem{status: http.StatusBadGateway, cause: err,
			detail: "could not verify the repository: " + s.redacted(err.Error())}
	}
	return res, fmt.Errorf("verifying %s: %w", repourl.Mask(url), err)
}

func (s *server) redacted(msg string) string { return redact.Default().String(msg) }

// applyVerification records a verification's answer in rec.
func applyVerification(rec *readmodel.ConfiguredRepository, res repocheck.Result, now time.Time) {
	rec.IsVerified, rec.LastVerifiedAt, rec.UpdatedAt = res.Accessible, &now, now
	if !res.Accessible {
		return
	}
	if res.Name != "" {
		rec.DisplayName = &res.Name
	}
	if res.Owner != "" {
		rec.Owner = &res.Owner
	}
	if res.DefaultBranch != "" {
		rec.DefaultBranch = &res.DefaultBranch
	}
}

func (s *server) updateRepository(w http.ResponseWriter, r *http.Request) error {
	bucket, _, err := s.repositories()
	if err != nil {
		return err
	}
	var body updateRepositoryBody
	if err := decodeJSON(w, r, &body, s.bodyLimit); err != nil {
		return err
	}
	sandbox, commands, err := parseRepositoryDefaults(body)
	if err != nil {
		return err
	}
	agent, err := s.parseDefaultAgent(body.DefaultAgent)
	if err != nil {
		return err
	}
	rec, err := bucket.Update(r.Context(), chi.URLParam(r, repoIDParam), func(rec *readmodel.ConfiguredRepository) error {
		if sandbox != "" {
			rec.DefaultSandboxType = sandbox
		}
		if commands != nil {
			rec.DefaultCommands = commands
		}
		if body.DefaultAgent != nil {
			rec.DefaultAgent = agent
		}
		rec.UpdatedAt = time.Now().UTC()
		return nil
	})
	if err != nil {
		return repoErr(err)
	}
	s.repoWritten(rec.Revision)
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// parseRepositoryDefaults validates a repository's defaults as a create
// validates sandbox_type and selected_commands; zero values: unchanged.
func parseRepositoryDefaults(b updateRepositoryBody) (workorder.SandboxType, []workorder.Step, error) {
	var problems []string
	var sandbox workorder.SandboxType
	if b.DefaultSandboxType != nil {
		st, err := workorder.ParseSandboxType(*b.DefaultSandboxType)
		if err != nil || strings.TrimSpace(*b.DefaultSandboxType) == "" {
			problems = append(problems, fmt.Sprintf("default_sandbox_type: must be one of git_worktree, git_branch (or worktree, branch), got %q", *b.DefaultSandboxType))
		}
		sandbox = st
	}
	var commands []workorder.Step
	if b.DefaultCommands != nil {
		steps, msg := parseSteps(*b.DefaultCommands)
		if msg != "" {
			problems = append(problems, "default_commands: "+msg)
		}
		commands = steps
	}
	if len(problems) > 0 {
		return "", nil, unprocessable(strings.Join(problems, "; "))
	}
	return sandbox, commands, nil
}

func (s *server) deleteRepository(w http.ResponseWriter, r *http.Request) error {
	bucket, _, err := s.repositories()
	if err != nil {
		return err
	}
	id := chi.URLParam(r, repoIDParam)
	rev, err := bucket.Delete(r.Context(), id)
	if err != nil {
		return repoErr(err)
	}
	s.repoWritten(rev)
	s.log.Info("configured repository deleted", "repository_id", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) verifyConfiguredRepository(w http.ResponseWriter, r *http.Request) error {
	bucket, _, err := s.repositories()
	if err != nil {
		return err
	}
	id := chi.URLParam(r, repoIDParam)
	rec, err := bucket.Get(r.Context(), id)
	if err != nil {
		return repoErr(err)
	}
	res, err := s.verify(r.Context(), rec.RepositoryURL)
	if err != nil {
		return err
	}
	rec, err = bucket.Update(r.Context(), id, func(rec *readmodel.ConfiguredRepository) error {
		applyVerification(rec, res, time.Now().UTC())
		return nil
	})
	if err != nil {
		return repoErr(err)
	}
	s.repoWritten(rec.Revision)
	writeJSON(w, http.StatusOK, repositoryVerified{IsAccessible: res.Accessible, RepositoryID: id})
	return nil
}

func (s *server) verifyGitHubRepository(w http.ResponseWriter, r *http.Request) error {
	var body verifyRepositoryBody
	if err := decodeJSON(w, r, &body, s.bodyLimit); err != nil {
		return err
	}
	url, _, err := s.checkRepositoryURL(body.RepositoryURL)
	if err != nil {
		return err
	}
	res, err := s.verify(r.Context(), url)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// repoWritten remembers the highest bucket revision this process wrote, so
// a list after a write sees it (read-your-writes).
func (s *server) repoWritten(rev uint64) {
	for {
		cur := s.lastRepoRevision.Load()
		if rev <= cur || s.lastRepoRevision.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// configuredDefaults fills what a create leaves out from the configured
// repository it names by repository_id, or else the one configured for
// its repository_url: the sandbox type and the commands.
func (s *server) configuredDefaults(ctx context.Context, b *createBody) error {
	id := trimmed(b.RepositoryID)
	if id == "" && (s.Repositories == nil || trimmed(b.RepositoryURL) == "") {
		return nil
	}
	if s.Repositories == nil {
		return &problem{status: http.StatusServiceUnavailable, detail: "configured repositories are not available"}
	}
	if id == "" {
		repo, err := repourl.Parse(trimmed(b.RepositoryURL), s.AllowLocalRepos)
		if err != nil {
			return nil // parseCreate names the problem
		}
		id = repositories.IDFor(repo)
	}
	rec, err := s.Repositories.Get(ctx, id)
	switch {
	case errors.Is(err, repositories.ErrNotFound) && b.RepositoryID == nil:
		return nil // a repository nobody configured
	case errors.Is(err, repositories.ErrNotFound):
		return unprocessable(fmt.Sprintf("repository_id: no configured repository has id %q", textcut.Runes(id, 64, "…")))
	case err != nil:
		return repoUnavailable(err)
	}
	if b.RepositoryID != nil {
		if err := matchConfigured(b, rec, s.AllowLocalRepos); err != nil {
			return err
		}
	}
	if b.SandboxType == nil {
		st := string(rec.DefaultSandboxType)
		b.SandboxType = &st
	}
	// "agent": "" asks for no agent in particular, like leaving it out.
	if trimmed(b.Agent) == "" && rec.DefaultAgent != nil {
		agent := *rec.DefaultAgent
		b.Agent, b.agentFrom = &agent, rec.ID
	}
	if b.SelectedCommands == nil && len(rec.DefaultCommands) > 0 {
		cmds := make([]string, len(rec.DefaultCommands))
		for i, c := range rec.DefaultCommands {
			cmds[i] = string(c)
		}
		b.SelectedCommands = &cmds
	}
	return nil
}

// matchConfigured takes the configured repository's URL when the create
// names none, and refuses one naming another repository.
func matchConfigured(b *createBody, rec readmodel.ConfiguredRepository, allowLocal bool) error {
	url := trimmed(b.RepositoryURL)
	if url == "" {
		b.RepositoryURL = &rec.RepositoryURL
		return nil
	}
	repo, err := repourl.Parse(url, allowLocal)
	if err != nil {
		return nil // parseCreate names the problem
	}
	if repositories.IDFor(repo) != rec.ID {
		return unprocessable(fmt.Sprintf("repository_id: configured repository %s is %s, not the repository_url %s",
			rec.ID, repourl.Mask(rec.RepositoryURL), repourl.Mask(url)))
	}
	return nil
}
