package readmodel

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// ConfiguredRepository is a repository a user registered, with the
// defaults a work order for it takes. JSON names are the Python service's
// ConfiguredRepository model.
//
// The source of truth is the gateway's key-value bucket AWO_REPOSITORIES
// (every replica writes and watches it); a RepositoryStore holds the copy
// the projector mirrors from it, so reads are served like the work orders'
// and Postgres users see the rows in archon_configured_repositories.
type ConfiguredRepository struct {
	ID                 string                `json:"id"` // a UUID
	RepositoryURL      string                `json:"repository_url"`
	DisplayName        *string               `json:"display_name"` // "owner/repo"
	Owner              *string               `json:"owner"`
	DefaultBranch      *string               `json:"default_branch"`
	IsVerified         bool                  `json:"is_verified"`
	LastVerifiedAt     *time.Time            `json:"last_verified_at"`
	DefaultSandboxType workorder.SandboxType `json:"default_sandbox_type"`
	DefaultCommands    []workorder.Step      `json:"default_commands"`
	// DefaultAgent is the agent of a work order for this repository that
	// names none; nil: AWO_DEFAULT_AGENT.
	DefaultAgent *string   `json:"default_agent"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Revision is the bucket revision the value was read at: stores keep
	// the newest, so a replica that mirrors late never moves a row back.
	Revision uint64 `json:"-"`
}

// RepositoryStore keeps the configured repositories; the memory and
// Postgres stores are ones.
type RepositoryStore interface {
	// PutRepository stores r unless the store holds its id at a revision
	// at least r.Revision.
	PutRepository(ctx context.Context, r ConfiguredRepository) error
	// DeleteRepository removes id unless the store holds it at a revision
	// at least revision (it was created again since). An unknown id is no
	// error.
	DeleteRepository(ctx context.Context, id string, revision uint64) error
	// Repositories lists every configured repository, oldest first.
	Repositories(ctx context.Context) ([]ConfiguredRepository, error)
}

// Clone returns a copy sharing nothing with r.
func (r ConfiguredRepository) Clone() ConfiguredRepository {
	r.DisplayName = cloneString(r.DisplayName)
	r.Owner = cloneString(r.Owner)
	r.DefaultBranch = cloneString(r.DefaultBranch)
	r.DefaultAgent = cloneString(r.DefaultAgent)
	if r.LastVerifiedAt != nil {
		t := *r.LastVerifiedAt
		r.LastVerifiedAt = &t
	}
	r.DefaultCommands = slices.Clone(r.DefaultCommands)
	return r
}

// sortRepositories orders oldest first, ties by id, as both stores list.
func sortRepositories(rs []ConfiguredRepository) {
	slices.SortFunc(rs, func(a, b ConfiguredRepository) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

var _ RepositoryStore = (*Memory)(nil)

// PutRepository implements RepositoryStore.
func (m *Memory) PutRepository(ctx context.Context, r ConfiguredRepository) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.repos == nil {
		m.repos = make(map[string]ConfiguredRepository)
	}
	if old, ok := m.repos[r.ID]; ok && old.Revision >= r.Revision {
		return nil
	}
	// One repository per URL, as Postgres's unique column keeps it.
	for id, old := range m.repos {
		if id != r.ID && old.RepositoryURL == r.RepositoryURL && old.Revision < r.Revision {
			delete(m.repos, id)
		}
	}
	m.repos[r.ID] = r.Clone()
	return nil
}

// DeleteRepository implements RepositoryStore.
func (m *Memory) DeleteRepository(ctx context.Context, id string, revision uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.repos[id]; ok && old.Revision < revision {
		delete(m.repos, id)
	}
	return nil
}

// Repositories implements RepositoryStore.
func (m *Memory) Repositories(ctx context.Context) ([]ConfiguredRepository, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	out := make([]ConfiguredRepository, 0, len(m.repos))
	for _, r := range m.repos {
		out = append(out, r.Clone())
	}
	m.mu.RUnlock()
	sortRepositories(out)
	return out, nil
}
