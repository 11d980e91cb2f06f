-- A run's log is read in the order its writers committed, as the event stream is: ids are
-- taken at insert, and writers on several replicas (or the engine and a cancel request)
-- commit them out of order, so a reader paging by id alone could pass an entry that commits
-- later with a smaller id. Entries stored before keep 0: they sort first, all committed.
ALTER TABLE run_logs ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
ALTER TABLE run_logs ALTER COLUMN tx SET DEFAULT (pg_current_xact_id()::text::bigint);
DROP INDEX run_logs_by_run;
CREATE INDEX run_logs_by_run ON run_logs (run_id, tx, id);
