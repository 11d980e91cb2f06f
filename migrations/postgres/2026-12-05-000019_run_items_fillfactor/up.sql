-- Room on each page of run_items for the send's mark (`started_at`, no indexed column) to be a
-- HOT update: a new row version on the same page, without new index entries. Measured at
-- concurrency 32 and 50 ms (docs/performance.md, 2026-12-05): HOT updates of run_items 1,006 →
-- 2,010 of 9,000 for a 3,000-item run, PostgreSQL's own CPU per item −7 %, and the table no
-- larger (fewer row versions moved to other pages). Only rows written after it get the room.
ALTER TABLE run_items SET (fillfactor = 70);
