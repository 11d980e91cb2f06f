-- A run's items of one category are joined to their questions by (dataset_id, position); on
-- tables never analyzed, PostgreSQL took this index for that join with the position as a
-- filter, reading every item of the category again for each of the run's items (3-5 s a page
-- of 12,032 items). With the position in it, whichever index it takes finds one row.
DROP INDEX dataset_items_by_category;
CREATE INDEX dataset_items_by_category ON dataset_items (dataset_id, category, position);
