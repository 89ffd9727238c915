-- Follow-up rounds (POST /{id}/prompt): every step record names the run it
-- belongs to, 1 for the work order's first, 2, 3, ... for follow-ups.
-- Records written before rounds existed were all of the first run.
-- (The work order's round in hand is kept in metadata, as "round".)
ALTER TABLE archon_agent_work_order_steps
    ADD COLUMN IF NOT EXISTS round INT NOT NULL DEFAULT 1;
