// Runs of one dataset compared item by item against the first (the baseline): accuracy with
// Wilson intervals, paired differences with Newcombe intervals and exact McNemar p-values,
// per category, and the items whose verdict differs (docs/analysis.md).
import { Fragment, type ReactNode, useRef } from "react";
import { Link, useSearch } from "wouter";

import type { Schemas } from "../api/client";
import {
  ACTIVE,
  CategorySelect,
  ErrorNote,
  TableScroll,
  Time,
  fixed,
  judgeLabel,
  letter,
  percent,
  usd,
  useSearchParam,
  useTitle,
  withCode,
} from "../components/common";
import { LoadMore } from "../components/loadMore";
import { COMPARE_POLL_MS, type FlippedFilters, useComparisonQuery, useItemsQuery } from "../queries";

type Breakdown = Schemas["BreakdownDto"];
type Interval = Schemas["IntervalDto"];
type Flipped = Schemas["FlippedItemDto"];

export function ComparePage() {
  useTitle("Compare");
  const search = new URLSearchParams(useSearch());
  const runIds = (search.get("runIds") ?? "").split(",").filter(Boolean);
  // Which flipped items are listed: in the address, so a reload and a shared link keep them.
  const [baseline, setBaseline] = useSearchParam("baseline", "", ["", "right", "wrong"]);
  const [category, setCategory] = useSearchParam("category", "");
  const flippedFilters: FlippedFilters = {
    ...(baseline ? { baseline: baseline as "right" | "wrong" } : {}),
    ...(category ? { category } : {}),
  };
  const comparison = useComparisonQuery(runIds, flippedFilters);
  const first = comparison.data?.pages[0];
  const page = useRef<HTMLElement>(null);
  if (runIds.length < 2) {
    return (
      <section>
        <h1>Compare</h1>
        <p>
          Pick two to eight runs of one dataset in the <Link href="/runs">archive</Link>.
        </p>
      </section>
    );
  }
  const names = first?.runs.map((r, i) => `${r.run.modelName} (${runTag(i)})`) ?? [];
  const flipped = comparison.data?.pages.flatMap((page) => page.flipped.items) ?? [];
  // Items of a run still going count wrong until judged: their column shows when there are some.
  const unanswered = first?.overall.runs.some((figures) => figures.unanswered > 0) ?? false;
  const going = first?.runs.some((compared) => ACTIVE.has(compared.run.status)) ?? false;
  return (
    <section aria-labelledby="compare-title" ref={page}>
      <h1 id="compare-title">Compare</h1>
      {comparison.isPending && (
        <p className="muted" role="status">
          Loading…
        </p>
      )}
      <ErrorNote error={comparison.error} />
      {first && (
        <>
          <p className="meta">
            {first.compared.toLocaleString()} items compared · dataset {first.runs[0]?.dataset.name}
            {going && (
              <>
                {" "}
                · figures as of <Time at={new Date(comparison.dataUpdatedAt).toISOString()} />, read again every{" "}
                {COMPARE_POLL_MS / 1000} s while a run is still going
              </>
            )}
          </p>
          {first.warnings.map((warning) => (
            <p key={warning} className="warning" role="note">
              {/* The server names runs by id; the tables below by these names. */}
              {withCode(
                first.runs.reduce((text, compared, i) => text.replaceAll(compared.run.id, names[i] ?? compared.run.id), warning),
              )}
            </p>
          ))}
          {first.compared === 0 ? (
            <p className="warning" role="note">
              These runs have no item in common (each run's items outside the others are left out): there is nothing
              to compare. Compare runs made on the same items — the same dataset version and sample.
            </p>
          ) : (
            <ComparedFigures
              first={first}
              flipped={flipped}
              names={names}
              unanswered={unanswered}
              filters={
                <FlippedFilterControls
                  baseline={baseline}
                  onBaseline={setBaseline}
                  category={category}
                  onCategory={setCategory}
                  categories={first.categories.map((c) => c.category)}
                  names={names}
                  matching={first.flipped.matching}
                  total={first.flipped.total}
                  loading={comparison.isPlaceholderData}
                />
              }
            />
          )}
          <LoadMore
            list={page}
            entries=".flipped-items > tbody > tr"
            hasMore={comparison.hasNextPage && first.compared > 0}
            fetching={comparison.isFetchingNextPage}
            onMore={() => void comparison.fetchNextPage()}
          >
            Load more flipped items
          </LoadMore>
        </>
      )}
    </section>
  );
}

/** The comparison's tables: the runs, the paired differences, per category, flipped items. */
function ComparedFigures({
  first,
  flipped,
  names,
  unanswered,
  filters,
}: {
  first: Schemas["ComparisonDto"];
  flipped: Flipped[];
  names: string[];
  unanswered: boolean;
  filters: ReactNode;
}) {
  return (
    <>
      <TableScroll label="Runs over the compared items">
        <table className="table">
          <caption>Runs over the compared items</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Accuracy (95 % CI)</th>
              <th scope="col" className="num">Correct</th>
              <th scope="col" className="num">Unparsed</th>
              <th scope="col" className="num">Faulted</th>
              {unanswered && (
                <th scope="col" className="num">
                  Not judged yet
                </th>
              )}
              <th scope="col" className="num">Left out</th>
              <th scope="col" className="num">Cost (whole run)</th>
              <th scope="col">Differs from baseline in</th>
            </tr>
          </thead>
          <tbody>
            {first.runs.map((compared, i) => {
              const figures = first.overall.runs[i];
              return (
                <tr key={compared.run.id}>
                  <th scope="row">
                    <Link href={`/runs/${compared.run.id}`}>{names[i]}</Link>
                    <div className="muted small">
                      {/* Runs of one model are told apart by id (its end is what differs). */}
                      <code title={compared.run.id}>…{compared.run.id.slice(-8)}</code> · {compared.run.providerName} ·{" "}
                      {judgeLabel(compared.judge)}
                      {compared.run.status !== "completed" && <> · {compared.run.status}</>}
                    </div>
                  </th>
                  <td>
                    {figures && <IntervalBar value={figures.accuracy} interval={figures.accuracyInterval} />}
                  </td>
                  <td className="num">{figures?.correct}</td>
                  <td className="num">{figures?.unparsed}</td>
                  <td className="num">{figures?.faulted}</td>
                  {unanswered && <td className="num">{figures?.unanswered}</td>}
                  <td className="num">{compared.leftOut}</td>
                  <td className="num">
                    {compared.usage.costUsd == null ? "–" : usd(compared.usage.costUsd)}
                    {/* The model's cost compares models; what an LLM judge cost is apart. */}
                    {compared.usage.judge?.costUsd != null && (
                      <div className="muted small">+ {usd(compared.usage.judge.costUsd)} judge</div>
                    )}
                  </td>
                  <td>{compared.differsFromBaseline.join(", ") || "–"}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </TableScroll>
      <Paired breakdown={first.overall} names={names} caption="Against the baseline" />
      <TableScroll label="Per category">
        <table className="table">
          <caption>
            Per category: accuracy, and the difference from the baseline (coloured where McNemar's p is below 0.05;
            each category's p stands alone, uncorrected for the number of categories: among many, some fall below
            0.05 by chance)
          </caption>
          <thead>
            <tr>
              <th scope="col">Category</th>
              <th scope="col" className="num">
                Items
              </th>
              {names.map((name, i) => (
                <th key={name} scope="col" className="num">
                  <RunColumn model={first.runs[i]?.run.modelName ?? name} tag={runTag(i)} />
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {first.categories.map((category) => (
              <tr key={category.category}>
                <th scope="row">{category.category}</th>
                <td className="num">{(category.runs[0]?.items ?? 0).toLocaleString()}</td>
                {category.runs.map((figures, i) => {
                  const paired = i === 0 ? undefined : category.comparisons[i - 1];
                  // Counted wrong without an answer (a run canceled before it reached the
                  // category, still going, failed): a 0 % there is no model's result.
                  const unanswered = figures.faulted + figures.unanswered;
                  return (
                    <td key={i} className="num">
                      {/* Each figure whole on its line: a narrow column broke "50.0 %" and
                          "(-25.0 pt, p 0.022)" at every space. */}
                      <span className="nowrap">{percent(figures.accuracy)}</span>
                      {paired && paired.accuracyDifference !== null && " "}
                      {paired && paired.accuracyDifference !== null && (
                        <span className={`${delta(paired)} nowrap`}>
                          ({signed(paired.accuracyDifference)}
                          {paired.mcnemarPValue !== null && `, p ${pValue(paired.mcnemarPValue, 3)}`})
                        </span>
                      )}
                      {unanswered > 0 && (
                        <div className="muted small">{unanswered.toLocaleString()} without an answer</div>
                      )}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
      <h2>Flipped items ({first.flipped.total.toLocaleString()})</h2>
      {first.flipped.total === 0 ? (
        <p className="empty">None: every compared item is right in all these runs or wrong in all of them.</p>
      ) : first.flipped.matching === 0 ? (
        <>
          {filters}
          <p className="empty">No flipped item is of this choice.</p>
        </>
      ) : (
        <>
          {filters}
          <TableScroll label="Flipped items">
            <table className="table flipped-items">
              <caption className="visually-hidden">Items whose verdict differs, with each run's answer</caption>
              <thead>
                <tr>
                  {/* The dataset's id of the item; each run's cell links to its place in the run (#N). */}
                  <th scope="col">Dataset item id</th>
                  <th scope="col">Category</th>
                  {names.map((name, i) => (
                    <th key={name} scope="col">
                      <RunColumn model={first.runs[i]?.run.modelName ?? name} tag={runTag(i)} />
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {flipped.map((item) => (
                  <FlippedRow key={item.datasetItemId} item={item} names={names} />
                ))}
              </tbody>
            </table>
          </TableScroll>
        </>
      )}
    </>
  );
}

/**
 * Which flipped items are listed: "which items did the baseline get right and another run
 * wrong?" is the question a comparison is read for (4,602 flipped items of two 12,032-item
 * runs, otherwise paged through 50 at a time), and one category's.
 */
function FlippedFilterControls({
  baseline,
  onBaseline,
  category,
  onCategory,
  categories,
  names,
  matching,
  total,
  loading,
}: {
  baseline: string;
  onBaseline: (value: string) => void;
  category: string;
  onCategory: (value: string) => void;
  categories: string[];
  names: string[];
  matching: number;
  total: number;
  loading: boolean;
}) {
  const base = names[0] ?? "the baseline";
  const others = names.length > 2 ? "another run" : (names[1] ?? "the other run");
  return (
    <div className="controls flipped-filters">
      <label>
        Show{" "}
        <select value={baseline} onChange={(e) => onBaseline(e.target.value)}>
          <option value="">every flipped item</option>
          <option value="right">
            right in {base}, wrong in {others}
          </option>
          <option value="wrong">
            wrong in {base}, right in {others}
          </option>
        </select>
      </label>
      <CategorySelect value={category} onChange={onCategory} categories={categories} />
      {/* Not a live region: while a run is going the comparison is read every 10 s, and its
          count would be announced at each change. */}
      <span className="muted">
        {loading
          ? "Loading…"
          : matching === total
            ? `${total.toLocaleString()} ${total === 1 ? "item" : "items"}`
            : `${matching.toLocaleString()} of ${total.toLocaleString()}`}
      </span>
    </div>
  );
}

/** What came of a flipped item in one run, in words: the answer read from a judged response, or
 *  why there is none (a response with nothing extractable, a failure, a cancel, still going). */
export function outcomeText(outcome: { state: string; extractedAnswer?: string | null }): string {
  switch (outcome.state) {
    case "correct":
    case "incorrect":
      return outcome.extractedAnswer == null ? "no answer found in the response" : `answered ${outcome.extractedAnswer}`;
    case "failed":
      return "failed (no answer)";
    case "canceled":
      return "canceled (no answer)";
    case "awaiting":
      return "answered, awaiting its judge";
    default:
      return `${outcome.state} (no answer yet)`;
  }
}

/** A flipped item: each run's verdict and letter; opened, both answers side by side. The open
 *  one is named in the address (`item=`), so that Back from a run's item it links to finds it
 *  open again. */
/**
 * A run's column header: its model's name cut to three lines (whole in the page's text, for
 * screen readers and on hover) and its tag whole, so that eight runs of long model names keep
 * headers a few lines tall and each column still says which run it is.
 */
function RunColumn({ model, tag }: { model: string; tag: string }) {
  return (
    <>
      <span className="clamped" title={model}>
        {model}
      </span>{" "}
      <span className="nowrap">({tag})</span>
    </>
  );
}

/** How the comparison's tables tell its runs apart: "run 2", not "#2" (items are numbered `#N`
 * in the same tables). */
function runTag(index: number): string {
  return index === 0 ? "baseline" : `run ${index + 1}`;
}

function FlippedRow({ item, names }: { item: Flipped; names: string[] }) {
  const columns = names.length + 2;
  const [openItem, setOpenItem] = useSearchParam("item", "");
  const open = openItem === item.datasetItemId;
  const setOpen = (opening: boolean) => setOpenItem(opening ? item.datasetItemId : "");
  return (
    <Fragment>
      <tr>
        <th scope="row">
          {/* Named for what it opens (a bare "5" said nothing), and larger than its text. */}
          <button
            type="button"
            className="link flipped-toggle"
            aria-expanded={open}
            aria-label={`Item ${item.datasetItemId}: the question and each run's answer`}
            onClick={() => setOpen(!open)}
          >
            <code>{item.datasetItemId}</code>
          </button>
        </th>
        <td>{item.category}</td>
        {item.outcomes.map((outcome, i) => (
          <td key={outcome.runId} className={outcome.correct ? "good" : "bad"}>
            <span aria-hidden="true">{outcome.correct ? "✓" : "✗"}</span>{" "}
            <span className="visually-hidden">{outcome.correct ? "right" : "wrong"}:</span>
            {outcomeText(outcome)}{" "}
            <Link
              href={`/runs/${outcome.runId}?item=${outcome.sequence}`}
              className="small"
              // One per run in the row: "#3" alone would be said as many times.
              aria-label={`#${outcome.sequence} in ${names[i] ?? outcome.runId}`}
            >
              #{outcome.sequence}
            </Link>
          </td>
        ))}
      </tr>
      {open && (
        <tr>
          <td colSpan={columns}>
            <div className="flipped-detail">
              {item.outcomes[0] && <Question runId={item.outcomes[0].runId} sequence={item.outcomes[0].sequence} />}
              <div className="side-by-side">
                {item.outcomes.map((outcome, i) => (
                  <Answer key={outcome.runId} name={names[i] ?? outcome.runId} runId={outcome.runId} sequence={outcome.sequence} />
                ))}
              </div>
            </div>
          </td>
        </tr>
      )}
    </Fragment>
  );
}

/** A flipped item's question and options, the key marked: once, above the answers (every
 *  run of a comparison asks the same item). */
function Question({ runId, sequence }: { runId: string; sequence: number }) {
  const item = useItemsQuery(runId, [sequence]).data?.[0];
  if (!item) return null;
  return (
    <div className="flipped-question">
      <p>{item.question}</p>
      {item.choices.length > 0 ? (
        <ol className="choices" type="A">
          {item.choices.map((choice, i) => (
            <li key={i} className={letter(i) === item.expectedAnswer ? "expected" : ""}>
              {choice}
              {letter(i) === item.expectedAnswer && <em> (key)</em>}
            </li>
          ))}
        </ol>
      ) : (
        <p className="muted">Expected: {item.expectedAnswer}</p>
      )}
    </div>
  );
}

function Answer({ name, runId, sequence }: { name: string; runId: string; sequence: number }) {
  const items = useItemsQuery(runId, [sequence]);
  const item = items.data?.[0];
  return (
    <div>
      <h3 className="answer-of">
        {name}
        {item && (
          <span className="muted">
            {" · "}
            {item.responseText == null
              ? "no answer"
              : item.extractedAnswer == null
                ? "nothing extractable"
                : `answered ${item.extractedAnswer}`}
          </span>
        )}
      </h3>
      <ErrorNote error={items.error} />
      {item && <pre className="code">{item.responseText ?? "(no answer)"}</pre>}
    </div>
  );
}

function Paired({ breakdown, names, caption }: { breakdown: Breakdown; names: string[]; caption: string }) {
  return (
    <TableScroll label={caption}>
      <table className="table">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Difference (95 % CI)</th>
            <th scope="col" className="num">Right only in baseline (b)</th>
            <th scope="col" className="num">Right only here (c)</th>
            <th scope="col" className="num">McNemar p</th>
            <th scope="col" className="num">Agreement</th>
          </tr>
        </thead>
        <tbody>
          {breakdown.comparisons.map((paired, i) => (
            <tr key={paired.runId}>
              <th scope="row">{names[i + 1]}</th>
              <td className={delta(paired)}>
                {paired.accuracyDifference === null ? "–" : signed(paired.accuracyDifference)}
                {paired.differenceInterval && ` [${signed(paired.differenceInterval.low)}, ${signed(paired.differenceInterval.high)}]`}
              </td>
              <td className="num">{paired.baselineOnly}</td>
              <td className="num">{paired.otherOnly}</td>
              <td className="num">{paired.mcnemarPValue === null ? "–" : pValue(paired.mcnemarPValue, 4)}</td>
              <td className="num">{percent(paired.agreement)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableScroll>
  );
}

/** An accuracy with its interval drawn on a 0–100 % scale. */
function IntervalBar({ value, interval }: { value: number | null; interval: Interval | null }) {
  if (value === null) {
    return <span>–</span>;
  }
  return (
    <span className="interval">
      <span className="scale" aria-hidden="true">
        {interval && (
          <span className="ci" style={{ left: `${100 * interval.low}%`, width: `${100 * (interval.high - interval.low)}%` }} />
        )}
        <span className="point" style={{ left: `${100 * value}%` }} />
      </span>{" "}
      {percent(value)}
      {interval && (
        <span className="muted">
          {" "}
          [{percent(interval.low)}, {percent(interval.high)}]
        </span>
      )}
    </span>
  );
}

/** A difference in percentage points, signed. Below a tenth of a point it keeps one significant
 * digit: an interval bound of +0.0004 must not read "+0.0 pt", nor -0.0004 "-0.0 pt", when
 * which side of zero it lies on is the point. */
export function signed(value: number): string {
  const points = 100 * value;
  const text =
    points !== 0 && Math.abs(points) < 0.05
      ? points.toLocaleString(undefined, { maximumSignificantDigits: 1 })
      : fixed(points, 1);
  return `${points > 0 ? "+" : ""}${text} pt`;
}

/** A p-value to `digits` decimals; one too small to show says so ("< 0.0001"), not "0.0000". */
export function pValue(p: number, digits: number): string {
  const smallest = 10 ** -digits;
  return p < smallest ? `< ${fixed(smallest, digits)}` : fixed(p, digits);
}

/** The colour of a difference: green or red only where it is significant at the 5 % level
 *  (McNemar's exact p, else the interval excluding zero); a difference chance explains as well
 *  stays uncoloured, so that the eye does not read it as a gain or a loss. */
export function delta(paired: {
  accuracyDifference: number | null;
  mcnemarPValue: number | null;
  differenceInterval?: { low: number; high: number } | null;
}): string {
  const difference = paired.accuracyDifference;
  if (difference === null || difference === 0) return "";
  const interval = paired.differenceInterval;
  const significant =
    paired.mcnemarPValue !== null
      ? paired.mcnemarPValue < 0.05
      : interval != null && (interval.low > 0 || interval.high < 0);
  if (!significant) return "";
  return difference > 0 ? "good" : "bad";
}
