DROP TABLE harness_imports;
DROP TABLE harness_packs;
