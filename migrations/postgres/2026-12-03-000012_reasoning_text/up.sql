-- What a model reasoned apart from its answer (thinking blocks, reasoning deltas, <think>
-- text): shown beside the answer, never read by the extraction rules.
ALTER TABLE run_items ADD COLUMN reasoning_text TEXT;
