-- An active run's latencies as histograms (JSON), so that its percentiles are read without
-- reading its items. Written with the answers; absent until a run's first answer is stored (and
-- for runs answered before this table existed: their next answer builds it from the items).
CREATE TABLE run_latency_histograms (
    run_id TEXT PRIMARY KEY NOT NULL REFERENCES runs(id),
    histogram TEXT NOT NULL
);
