ALTER TABLE run_items RESET (fillfactor);
