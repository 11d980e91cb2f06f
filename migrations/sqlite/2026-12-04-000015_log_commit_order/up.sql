-- One writer at a time commits log entries in id order: the transaction order is always 0
-- here (PostgreSQL keeps its writers' transaction ids), and the (run_id, id) index serves.
ALTER TABLE run_logs ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
