-- Archon's configured repositories (its archon_configured_repositories
-- table), so that an Archon user sees awo's rows in Supabase. The rows are
-- mirrored from the gateway's AWO_REPOSITORIES key-value bucket, the
-- source of truth; kv_revision is the bucket revision a row was written
-- at, so a replica that mirrors late never moves a row back. Archon's own
-- rows (kv_revision 0) are imported into the bucket when a gateway starts.

CREATE TABLE IF NOT EXISTS archon_configured_repositories (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    repository_url TEXT NOT NULL UNIQUE,
    display_name TEXT,
    owner TEXT,
    default_branch TEXT,
    is_verified BOOLEAN NOT NULL DEFAULT FALSE,
    last_verified_at TIMESTAMP WITH TIME ZONE,
    default_sandbox_type TEXT NOT NULL DEFAULT 'git_worktree'
        CHECK (default_sandbox_type IN ('git_worktree', 'git_branch', 'e2b', 'dagger')),
    default_commands JSONB NOT NULL DEFAULT '["create-branch", "planning", "execute", "commit", "create-pr"]'::jsonb,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);

ALTER TABLE archon_configured_repositories
    ADD COLUMN IF NOT EXISTS kv_revision BIGINT NOT NULL DEFAULT 0;

CREATE INDEX IF NOT EXISTS idx_configured_repositories_created_at
    ON archon_configured_repositories(created_at);
