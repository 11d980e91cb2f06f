-- PostgreSQL only (its fillfactor on run_items); both backends keep the same migration names.
SELECT 1;
