ALTER TABLE harness_packs DROP COLUMN selection;
