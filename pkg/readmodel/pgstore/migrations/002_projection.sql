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
