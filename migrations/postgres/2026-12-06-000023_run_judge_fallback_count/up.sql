-- Verdicts the run's LLM judge did not give (it failed or answered without a verdict every
-- time), so that the extraction rules gave them instead: kept with the other counters so that a
-- run says how many of its verdicts are not its judge's. Such a verdict is the rules' (its
-- judge is not `llm:…`) with reasons, which the rules never give: the reasons say why the LLM
-- judge gave none.
ALTER TABLE runs ADD COLUMN judge_fallback_count BIGINT NOT NULL DEFAULT 0;
-- Only the runs that have any are written (a new row version for every run otherwise).
UPDATE runs SET judge_fallback_count = counted.n
FROM (
    SELECT run_id, COUNT(*) AS n FROM run_items
    WHERE state IN ('correct', 'incorrect')
      AND judge_rationale IS NOT NULL
      AND judge NOT LIKE 'llm:%'
    GROUP BY run_id
) AS counted
WHERE counted.run_id = runs.id;
