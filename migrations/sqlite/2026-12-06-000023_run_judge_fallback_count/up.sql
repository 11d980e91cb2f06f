-- Verdicts the run's LLM judge did not give (it failed or answered without a verdict every
-- time), so that the extraction rules gave them instead: kept with the other counters so that a
-- run says how many of its verdicts are not its judge's. Such a verdict is the rules' (its
-- judge is not `llm:…`) with reasons, which the rules never give: the reasons say why the LLM
-- judge gave none.
ALTER TABLE runs ADD COLUMN judge_fallback_count BIGINT NOT NULL DEFAULT 0;
UPDATE runs SET judge_fallback_count = (
    SELECT COUNT(*) FROM run_items
    WHERE run_items.run_id = runs.id
      AND run_items.state IN ('correct', 'incorrect')
      AND run_items.judge_rationale IS NOT NULL
      AND run_items.judge NOT LIKE 'llm:%'
);
