-- Items enter the two indexes below only once they have what the indexes are read for: a
-- finish time (the board's recent items) or a lease (claims to expire). A run's items are
-- created `pending` with neither, so creating a 20,000-item run writes two index entries
-- per item fewer; on PostgreSQL, where every new row version of an item enters every index
-- it belongs to, the claim's version skips the finished index too.
DROP INDEX run_items_by_finished;
CREATE INDEX run_items_by_finished ON run_items (run_id, finished_at, sequence)
    WHERE finished_at IS NOT NULL;
DROP INDEX run_items_by_lease;
CREATE INDEX run_items_by_lease ON run_items (state, lease_expires_at)
    WHERE lease_expires_at IS NOT NULL;
