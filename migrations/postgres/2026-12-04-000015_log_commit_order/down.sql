DROP INDEX run_logs_by_run;
CREATE INDEX run_logs_by_run ON run_logs (run_id, id);
ALTER TABLE run_logs DROP COLUMN tx;
