-- Agent Work Orders: the read model's schema, for pasting into the Supabase
-- SQL editor (or psql) when the service's database user may not change the
-- schema itself. It is what the service's migrations
-- (pkg/readmodel/pgstore/migrations) produce, in one file, and safe to run
-- again: every statement is idempotent. On a database where Archon's
-- agent_work_orders_state.sql already ran it keeps the existing rows and
-- adds what this service needs.
--
-- The service applies the same migrations itself at start (under an
-- advisory lock); the rows at the end of this file tell it they are done.

BEGIN;

-- ===== 001_work_orders.sql =====

-- The tables of the seed service (Archon's agent_work_orders_state.sql),
-- column for column, so that a database the seed already uses keeps working
-- and one made here can be read by the seed's clients. Every statement is
-- idempotent: on a database that has the seed's tables it changes nothing.

CREATE TABLE IF NOT EXISTS archon_agent_work_orders (
    agent_work_order_id TEXT PRIMARY KEY,
    repository_url TEXT NOT NULL,
    sandbox_identifier TEXT NOT NULL,
    git_branch_name TEXT,
    agent_session_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'blocked')),
    metadata JSONB DEFAULT '{}'::jsonb,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
);

CREATE TABLE IF NOT EXISTS archon_agent_work_order_steps (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_work_order_id TEXT NOT NULL REFERENCES archon_agent_work_orders(agent_work_order_id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    agent_name TEXT NOT NULL,
    success BOOLEAN NOT NULL,
    output TEXT,
    error_message TEXT,
    duration_seconds FLOAT NOT NULL,
    session_id TEXT,
    executed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    step_order INT NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_agent_work_orders_status
    ON archon_agent_work_orders(status);
CREATE INDEX IF NOT EXISTS idx_agent_work_orders_created_at
    ON archon_agent_work_orders(created_at DESC);
CREATE INDEX IF NOT EXISTS idx_agent_work_orders_repository
    ON archon_agent_work_orders(repository_url);
CREATE INDEX IF NOT EXISTS idx_agent_work_orders_metadata
    ON archon_agent_work_orders USING GIN(metadata);
CREATE INDEX IF NOT EXISTS idx_agent_work_order_steps_work_order_id
    ON archon_agent_work_order_steps(agent_work_order_id);
CREATE INDEX IF NOT EXISTS idx_agent_work_order_steps_executed_at
    ON archon_agent_work_order_steps(executed_at);

-- ===== 002_projection.sql =====

-- What the event projection needs on top of the seed's tables. Idempotent,
-- like 001, so that it also upgrades a database the seed made.

-- version is the stream sequence of the last event folded into the row:
-- writes are guarded by it, so a replayed or late event never moves a row
-- backwards. created_seq (the sequence of the requested event) breaks ties
-- between work orders created in the same instant when listing newest first.
ALTER TABLE archon_agent_work_orders
    ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS created_seq BIGINT NOT NULL DEFAULT 0;

-- The seed's statuses lack cancelled; blocked stays so that the seed's
-- rows remain valid.
ALTER TABLE archon_agent_work_orders DROP CONSTRAINT IF EXISTS archon_agent_work_orders_status_check;
ALTER TABLE archon_agent_work_orders ADD CONSTRAINT archon_agent_work_orders_status_check
    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'blocked', 'cancelled'));

-- The seed stamps updated_at with the time of the write. Here it is the
-- time of the last event, so that a rebuild from the stream reproduces the
-- rows exactly.
DROP TRIGGER IF EXISTS update_agent_work_orders_updated_at ON archon_agent_work_orders;

CREATE INDEX IF NOT EXISTS idx_agent_work_orders_created_at_seq
    ON archon_agent_work_orders(created_at DESC, created_seq DESC);

ALTER TABLE archon_agent_work_order_steps
    ADD COLUMN IF NOT EXISTS attempt INT NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS input_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS output_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS num_turns INT NOT NULL DEFAULT 0;

-- A step record is written once: a redelivered step result finds its place
-- in the history taken.
CREATE UNIQUE INDEX IF NOT EXISTS idx_agent_work_order_steps_order
    ON archon_agent_work_order_steps(agent_work_order_id, step_order);

-- The projection's checkpoint: the highest stream sequence applied, written
-- in the same transaction as the rows it produced.
CREATE TABLE IF NOT EXISTS awo_projection_state (
    name TEXT PRIMARY KEY,
    last_seq BIGINT NOT NULL DEFAULT 0
);

-- ===== 003_configured_repositories.sql =====

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

-- ===== 004_follow_up_rounds.sql =====

-- Follow-up rounds (POST /{id}/prompt): every step record names the run it
-- belongs to, 1 for the work order's first, 2, 3, ... for follow-ups.
-- Records written before rounds existed were all of the first run.
-- (The work order's round in hand is kept in metadata, as "round".)
ALTER TABLE archon_agent_work_order_steps
    ADD COLUMN IF NOT EXISTS round INT NOT NULL DEFAULT 1;

-- ===== 005_agents.sql =====

-- A second agent (codex): a step whose agent reported tokens without a
-- cost, with no price configured, has an unknown cost (the API shows
-- cost_usd null); a configured repository may name the agent its work
-- orders run with (NULL: AWO_DEFAULT_AGENT). The work order's own agent and
-- unknown cost are kept in metadata, as "agent" and "cost_unknown".
ALTER TABLE archon_agent_work_order_steps
    ADD COLUMN IF NOT EXISTS cost_unknown BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE archon_configured_repositories
    ADD COLUMN IF NOT EXISTS default_agent TEXT;

-- ===== 006_list_indexes.sql =====

-- The list's filtered pages (GET /?status=...&limit=50, GET
-- /?repository_url=...&limit=50&offset=5000) in the order they are read:
-- newest first within the status or repository. With only the one-column
-- indexes of 001 Postgres fetched every matching row and sorted it; with
-- these it reads the page off the index, and a deep page skips its
-- offset in the index alone (hence the id), reading only the page's rows
-- (bench/cmd/history measured both
-- at 100,000 work orders: docs/performance.md).
CREATE INDEX IF NOT EXISTS idx_agent_work_orders_status_created
    ON archon_agent_work_orders(status, created_at DESC, created_seq DESC) INCLUDE (agent_work_order_id);
CREATE INDEX IF NOT EXISTS idx_agent_work_orders_repository_created
    ON archon_agent_work_orders(repository_url, created_at DESC, created_seq DESC) INCLUDE (agent_work_order_id);

-- ===== migration bookkeeping =====

CREATE TABLE IF NOT EXISTS awo_schema_migrations (
    version INT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO awo_schema_migrations (version, name) VALUES
    (1, 'work_orders'),
    (2, 'projection'),
    (2, 'projection'),
    (3, 'configured_repositories'),
    (4, 'follow_up_rounds'),
    (5, 'agents'),
    (6, 'list_indexes')
ON CONFLICT (version) DO NOTHING;

COMMIT;
