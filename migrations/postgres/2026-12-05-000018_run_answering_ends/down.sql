DROP TABLE run_answering_ends;
