DROP TABLE idempotency_keys;
DROP TABLE run_events;
DROP TABLE run_logs;
DROP TABLE item_attempts;
DROP TABLE run_items;
DROP TABLE runs;
DROP TABLE dataset_items;
DROP TABLE datasets;
