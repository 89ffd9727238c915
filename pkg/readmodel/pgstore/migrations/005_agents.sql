-- A second agent (codex): a step whose agent reported tokens without a
-- cost, with no price configured, has an unknown cost (the API shows
-- cost_usd null); a configured repository may name the agent its work
-- orders run with (NULL: AWO_DEFAULT_AGENT). The work order's own agent and
-- unknown cost are kept in metadata, as "agent" and "cost_unknown".
ALTER TABLE archon_agent_work_order_steps
    ADD COLUMN IF NOT EXISTS cost_unknown BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE archon_configured_repositories
    ADD COLUMN IF NOT EXISTS default_agent TEXT;
