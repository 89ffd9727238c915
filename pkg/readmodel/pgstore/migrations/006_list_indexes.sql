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
