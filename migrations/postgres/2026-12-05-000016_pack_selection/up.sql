-- Which items of its dataset a pack was cut from (the request's selection, as JSON): the run
-- made from its captures records it, so that runs of different packs do not look alike.
-- NULL for packs issued before it was kept.
ALTER TABLE harness_packs ADD COLUMN selection TEXT;
