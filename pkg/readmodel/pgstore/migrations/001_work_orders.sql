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
