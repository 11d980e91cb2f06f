DROP INDEX dataset_items_by_category;
CREATE INDEX dataset_items_by_category ON dataset_items (dataset_id, category);
