package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

var _ readmodel.RepositoryStore = (*Store)(nil)

// PutRepository implements readmodel.RepositoryStore: one upsert guarded by
// kv_revision. A row of the same URL under another id (left by Archon, or a
// delete not mirrored yet) gives way: the bucket holds one repository per
// URL, and it is the source of truth.
func (s *Store) PutRepository(ctx context.Context, r readmodel.ConfiguredRepository) error {
	commands, err := json.Marshal(r.DefaultCommands)
	if err != nil {
		return fmt.Errorf("encoding the default commands of %s: %w", r.ID, err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM archon_configured_repositories
			WHERE repository_url = $1 AND id <> $2 AND kv_revision < $3`, r.RepositoryURL, r.ID, int64(r.Revision)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO archon_configured_repositories AS t
				(id, repository_url, display_name, owner, default_branch, is_verified, last_verified_at,
				 default_sandbox_type, default_commands, created_at, updated_at, kv_revision, default_agent)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (id) DO UPDATE SET
				repository_url = EXCLUDED.repository_url, display_name = EXCLUDED.display_name,
				owner = EXCLUDED.owner, default_branch = EXCLUDED.default_branch,
				is_verified = EXCLUDED.is_verified, last_verified_at = EXCLUDED.last_verified_at,
				default_sandbox_type = EXCLUDED.default_sandbox_type, default_commands = EXCLUDED.default_commands,
				created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, kv_revision = EXCLUDED.kv_revision,
				default_agent = EXCLUDED.default_agent
			WHERE t.kv_revision < EXCLUDED.kv_revision`,
			r.ID, r.RepositoryURL, r.DisplayName, r.Owner, r.DefaultBranch, r.IsVerified, r.LastVerifiedAt,
			string(r.DefaultSandboxType), commands, r.CreatedAt, r.UpdatedAt, int64(r.Revision), r.DefaultAgent)
		return err
	})
	if err != nil {
		return classify(fmt.Errorf("storing configured repository %s: %w", r.ID, err))
	}
	return nil
}

// DeleteRepository implements readmodel.RepositoryStore.
func (s *Store) DeleteRepository(ctx context.Context, id string, revision uint64) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM archon_configured_repositories WHERE id = $1 AND kv_revision < $2`,
		id, int64(revision))
	if err != nil {
		return classify(fmt.Errorf("deleting configured repository %s: %w", id, err))
	}
	return nil
}

// Repositories implements readmodel.RepositoryStore.
func (s *Store) Repositories(ctx context.Context) ([]readmodel.ConfiguredRepository, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text, repository_url, display_name, owner, default_branch,
			is_verified, last_verified_at, default_sandbox_type, default_commands, created_at, updated_at, kv_revision, default_agent
		FROM archon_configured_repositories ORDER BY created_at, id`)
	if err != nil {
		return nil, classify(fmt.Errorf("listing configured repositories: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (readmodel.ConfiguredRepository, error) {
		var (
			r        readmodel.ConfiguredRepository
			sandbox  string
			commands []byte
			rev      int64
		)
		err := row.Scan(&r.ID, &r.RepositoryURL, &r.DisplayName, &r.Owner, &r.DefaultBranch, &r.IsVerified,
			&r.LastVerifiedAt, &sandbox, &commands, &r.CreatedAt, &r.UpdatedAt, &rev, &r.DefaultAgent)
		if err != nil {
			return r, err
		}
		r.DefaultSandboxType, r.Revision = workorder.SandboxType(sandbox), uint64(rev)
		if err := json.Unmarshal(commands, &r.DefaultCommands); err != nil {
			return r, fmt.Errorf("decoding default_commands of %s: %w", r.ID, err)
		}
		return r, nil
	})
	if err != nil {
		return nil, classify(fmt.Errorf("reading configured repositories: %w", err))
	}
	return out, nil
}
