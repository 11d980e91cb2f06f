// The archive: every run, filtered as `GET /runs` allows, a page at a time; pick runs to compare.
import { useQueries } from "@tanstack/react-query";
import { type FormEvent, type ReactNode, useEffect, useRef, useState } from "react";
import { Link, useLocation, useSearchParams } from "wouter";

import {
  BROWSER_HARNESS,
  Loading,
  QueryError,
  StatusBadge,
  TableScroll,
  Time,
  accuracy,
  paramsWith,
  setupOf,
  usd,
  useSearchParam,
  useTitle,
} from "../components/common";
import { Download } from "../components/download";
import { LoadMore } from "../components/loadMore";
import { ApiError, type Schemas } from "../api/client";
import { type RunFilters, runQuery, useDatasetsQuery, useProvidersQuery, useRunsQuery } from "../queries";

type RunDetail = Schemas["RunDetailDto"];

const STATUSES = ["pending", "running", "completed", "failed", "canceled"];

/** The filters `GET /runs` takes, as the archive's address holds them. */
const FILTERS = [
  "status",
  "search",
  "providerName",
  "modelName",
  "datasetName",
  "createdFrom",
  "createdBefore",
] as const;
/** The orders `GET /runs` takes (`sort`), the first its default. */
const SORTS = ["-createdAt", "createdAt", "-accuracy", "accuracy"] as const;
type Sort = (typeof SORTS)[number];
/** How many runs a comparison takes at most (`GET /runs/compare`). */
const MAX_COMPARED = 8;

export function ArchivePage() {
  useTitle("Archive");
  // Filters and the runs ticked live in the address: a reload, Back from the comparison and a
  // shared link keep them.
  const [params, setParams] = useSearchParams();
  const knownProviders = useProvidersQuery().data ?? [];
  const knownDatasets = useDatasetsQuery().data ?? [];
  // Fifty a page: an archive of hundreds of runs took a dozen "Load more" at 25.
  const filters: RunFilters = { limit: 50 };
  for (const name of FILTERS) {
    const value = params.get(name);
    if (value) filters[name] = value;
  }
  const filtered = FILTERS.some((name) => filters[name] !== undefined);
  // The order, in the address as the filters are (the default left out).
  const [sortParam, setSort] = useSearchParam("sort", SORTS[0], SORTS);
  const sort = sortParam as Sort;
  if (sort !== SORTS[0]) filters.sort = sort;
  const reversed =
    filters.createdFrom !== undefined &&
    filters.createdBefore !== undefined &&
    filters.createdFrom >= filters.createdBefore;
  const [compare, setCompare] = useSearchParam("compare", "");
  const selected = compare.split(",").filter(Boolean);
  const [, navigate] = useLocation();
  const runs = useRunsQuery(filters);

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const text = (name: string) => {
      const value = String(form.get(name) ?? "").trim();
      return value === "" ? undefined : value;
    };
    const time = (name: string) => {
      const value = text(name);
      return value === undefined ? undefined : new Date(value).toISOString().replace(/\.\d{3}Z$/, "Z");
    };
    const statuses = form.getAll("status").map(String);
    const chosen: Record<(typeof FILTERS)[number], string | undefined> = {
      status: statuses.length > 0 ? statuses.join(",") : undefined,
      search: text("search"),
      providerName: text("providerName"),
      modelName: text("modelName"),
      datasetName: text("datasetName"),
      createdFrom: time("createdFrom"),
      createdBefore: time("createdBefore"),
    };
    drawn.current.applied = FILTERS.map((name) => chosen[name] ?? "").join("|");
    // A new selection of runs is a new page of history: Back returns to the previous one.
    setParams((previous) => paramsWith(previous, chosen));
  };
  const toggle = (id: string) =>
    setCompare((selected.includes(id) ? selected.filter((x) => x !== id) : [...selected, id]).join(","));
  const rows = uniqueRuns(runs.data?.pages.flatMap((page) => page.runs) ?? []);
  // Ticked runs the listing does not show (ticked under other filters, or from a shared link)
  // are fetched, so that the selection can be seen, unticked and checked as a whole.
  const listed = new Map(rows.map((r) => [r.run.id, r]));
  const unlisted = selected.filter((id) => !listed.has(id));
  const fetched = useQueries({ queries: unlisted.map((id) => ({ ...runQuery(id), staleTime: 60_000 })) });
  const picked: { id: string; detail?: RunDetail; missing: boolean }[] = selected.map((id) => {
    const query = fetched[unlisted.indexOf(id)];
    return {
      id,
      detail: listed.get(id) ?? query?.data,
      missing: query?.error instanceof ApiError && query.error.status === 404,
    };
  });
  const datasets = new Set(picked.flatMap((p) => (p.detail ? [p.detail.dataset.name] : [])));
  const gone = picked.some((p) => p.missing);
  const full = selected.length >= MAX_COMPARED;
  const csv = `/runs?${new URLSearchParams(
    Object.entries({ ...filters, limit: undefined, format: "csv" }).filter(
      (entry): entry is [string, string] => entry[1] !== undefined,
    ),
  )}`;
  // The form's fields start from the address; a new address (Back, a link) draws them anew —
  // but not one the form itself applied: drawn anew, it lost the focus of the field or button
  // the filters were applied from.
  const formKey = FILTERS.map((name) => params.get(name) ?? "").join("|");
  const drawn = useRef({ address: formKey, version: 0, applied: null as string | null });
  if (drawn.current.address !== formKey) {
    if (formKey !== drawn.current.applied) drawn.current.version += 1;
    drawn.current = { ...drawn.current, address: formKey, applied: null };
  }
  const rowsShown = useRef<HTMLTableSectionElement>(null);
  // Said once per choice of filters, when its first page has come (not on arrival: the page's
  // name is said then).
  const [found, setFound] = useState("");
  const foundFor = useRef(formKey);
  const firstPage = runs.data?.pages[0];
  useEffect(() => {
    if (firstPage === undefined || runs.isPlaceholderData || foundFor.current === formKey) return;
    foundFor.current = formKey;
    setFound(firstPage.runs.length === 0 ? "No run matches." : `${runsCounted(firstPage, filtered)}.`);
  }, [firstPage, formKey, runs.isPlaceholderData]);

  const compareButton = (
    <button
      type="button"
      disabled={selected.length < 2 || selected.length > MAX_COMPARED || datasets.size > 1 || gone}
      onClick={() => navigate(`/compare?runIds=${selected.join(",")}`)}
    >
      Compare {selected.length > 0 ? `(${selected.length})` : ""}
    </button>
  );
  return (
    <section aria-labelledby="archive-title">
      <div className="page-head">
        <h1 id="archive-title">Archive</h1>
        <div className="controls">
          <Download href={csv} fallbackName="runs.csv">
            Download CSV
          </Download>
          {picked.length === 0 && compareButton}
        </div>
      </div>
      {picked.length > 0 && (
        // Stays in view while the list scrolls, with the button that compares them: ticking a
        // run far down the list (on a phone, screens below) need not be followed by a climb.
        <div className="ticked-runs" role="group" aria-label="Runs ticked to compare">
          {compareButton}
          <span className="muted">To compare (the first ticked is the baseline):</span>
          {picked.map(({ id, detail, missing }, i) => (
            <span key={id} className="chip">
              {detail ? (
                <>
                  {detail.run.modelName} <span className="muted">on {detail.dataset.name}</span>{" "}
                  {/* Runs of one model told apart, as the comparison does. */}
                  <code className="muted" title={id}>
                    …{id.slice(-8)}
                  </code>
                  {i === 0 && <span className="muted"> · baseline</span>}
                </>
              ) : missing ? (
                <>
                  no run <code>{id}</code>
                </>
              ) : (
                <code>{id}</code>
              )}
              <button type="button" className="link" aria-label={`Untick run ${id}`} onClick={() => toggle(id)}>
                ×
              </button>
            </span>
          ))}
          <button type="button" className="link" onClick={() => setCompare("")}>
            Untick all
          </button>
        </div>
      )}
      {(full || datasets.size > 1 || gone) && (
        <p className="warning" role="status">
          {gone
            ? "A ticked run is not on this server: untick it."
            : datasets.size > 1
              ? "Runs of different datasets cannot be compared: untick the runs of all datasets but one."
              : `A comparison takes at most ${MAX_COMPARED} runs.`}
        </p>
      )}
      <form className="filters" onSubmit={submit} aria-label="Filters" key={drawn.current.version}>
        <fieldset>
          <legend>Status</legend>
          {STATUSES.map((status) => (
            <label key={status} className="check">
              <input
                type="checkbox"
                name="status"
                value={status}
                defaultChecked={(filters.status ?? "").split(",").includes(status)}
              />{" "}
              {status}
            </label>
          ))}
        </fieldset>
        {/* Part of any name, for a run whose whole name is not at hand ("claude" for every
            Claude model); the three fields after it match whole names. */}
        <label>
          Name contains <input type="search" name="search" defaultValue={filters.search ?? ""} />
        </label>
        <label>
          Provider <input name="providerName" list="known-providers" defaultValue={filters.providerName ?? ""} />
        </label>
        <label>
          Model <input name="modelName" list="known-models" defaultValue={filters.modelName ?? ""} />
        </label>
        <label>
          Dataset <input name="datasetName" list="known-datasets" defaultValue={filters.datasetName ?? ""} />
        </label>
        {/* The names this server knows, offered as the filters are typed (they match whole
            names); a run of a provider or model configured no more is still found by typing. */}
        {/* Browser Harness runs are made from captures: no configured provider names them. */}
        <KnownNames id="known-providers" names={[...knownProviders.map((p) => p.name), BROWSER_HARNESS]} />
        <KnownNames id="known-models" names={knownProviders.flatMap((p) => p.models)} />
        <KnownNames id="known-datasets" names={knownDatasets.map((d) => d.name)} />
        <label>
          Created from{" "}
          <input type="datetime-local" name="createdFrom" defaultValue={localInput(filters.createdFrom)} />
        </label>
        <label>
          Created before{" "}
          <input type="datetime-local" name="createdBefore" defaultValue={localInput(filters.createdBefore)} />
        </label>
        <button type="submit">Apply</button>
      </form>
      {reversed && (
        <p className="warning" role="status">
          “Created from” is not before “Created before”: no run can match.
        </p>
      )}
      <QueryError error={runs.error} loaded={runs.data !== undefined} />
      {runs.isPending && <Loading failure={runs.failureReason} />}
      {firstPage && firstPage.runs.length > 0 && (
        <p className="meta">
          {runsCounted(firstPage, filtered)}
          {rows.length < (firstPage.total ?? 0) && `; ${rows.length.toLocaleString()} shown`}
        </p>
      )}
      <TableScroll label="Runs">
        <table className="table">
          <caption className="visually-hidden">
            Runs, {orderOf(sort)}; select two or more to compare. Accuracy is over the judged items: faulted
            items are counted apart.
          </caption>
          <thead>
            <tr>
              {/* What a run is read for first — its accuracy, its status — beside its name: on
                  a phone, the rest of the row is screens away to the right. */}
              <th scope="col" className="tick-head">
                <span>Compare</span>
              </th>
              <th scope="col">Model</th>
              <SortHeading column="accuracy" sort={sort} onSort={setSort} className="num">
                Accuracy of judged
              </SortHeading>
              <th scope="col">Status</th>
              <th scope="col">Dataset</th>
              <th scope="col">Provider</th>
              <th scope="col" className="num">Items</th>
              <th scope="col" className="num">Correct</th>
              <th scope="col" className="num">Incorrect</th>
              <th scope="col" className="num">Faulted</th>
              <th scope="col" className="num">Cost</th>
              <SortHeading column="createdAt" sort={sort} onSort={setSort}>
                Created
              </SortHeading>
            </tr>
          </thead>
          <tbody ref={rowsShown}>
            {rows.map((detail) => (
              <tr key={detail.run.id}>
                <td className="tick-cell">
                  {/* The whole cell is the box's to tap: a checkbox alone is a 13-pixel target. */}
                  <label>
                    <input
                      type="checkbox"
                      // Runs of one model on one dataset are many: the id's end tells them apart.
                      aria-label={`Compare run ${detail.run.modelName} on ${detail.dataset.name}, …${detail.run.id.slice(-8)}`}
                      checked={selected.includes(detail.run.id)}
                      disabled={full && !selected.includes(detail.run.id)}
                      onChange={() => toggle(detail.run.id)}
                    />
                  </label>
                </td>
                <td className="name">
                  <Link href={`/runs/${detail.run.id}`}>{detail.run.modelName}</Link>
                  {/* Runs of one model on one dataset are told apart by id (its end is what
                      differs), as in the comparison. */}
                  <div className="muted small">
                    <code title={detail.run.id}>…{detail.run.id.slice(-8)}</code>
                    {/* What sets it apart from a whole zero-shot run of the same model (a
                        5-shot, one category's or a sample's run read as any other). */}
                    {setupOf(detail.settings).map((part) => ` · ${part}`)}
                    {/* Its accuracy is another judge's than the one it ran with. */}
                    {detail.rejudgeCount > 0 && ` · re-judged ${detail.rejudgeCount}×`}
                  </div>
                </td>
                <td className="num">
                  {accuracy(detail.progress)}
                  {/* Over the judged items only: a run most of whose items faulted, or that was
                      canceled early, would otherwise read as well as a whole one. */}
                  {judgedOf(detail.progress) !== null && (
                    <div className="muted small">{judgedOf(detail.progress)} judged</div>
                  )}
                  {/* A finished run that judged nothing: every item failed (its green status
                      alone reads as a run that went well). */}
                  {detail.progress.correct + detail.progress.incorrect === 0 && detail.progress.faulted > 0 && detail.run.status === "completed" && (
                    <div className="muted small">none judged</div>
                  )}
                </td>
                <td>
                  <StatusBadge status={detail.run.status} />
                </td>
                <td className="name">
                  {detail.dataset.name} <span className="muted">v{detail.dataset.version}</span>
                </td>
                <td className="name">{detail.run.providerName}</td>
                <td className="num">{detail.progress.total.toLocaleString()}</td>
                <td className="num">{detail.progress.correct.toLocaleString()}</td>
                <td className="num">{detail.progress.incorrect.toLocaleString()}</td>
                <td className="num">
                  {detail.progress.faulted.toLocaleString()}
                  {detail.canceled > 0 && <span className="muted"> ({detail.canceled.toLocaleString()} canceled)</span>}
                </td>
                <td className="num">{detail.usage.costUsd == null ? "–" : usd(detail.usage.costUsd)}</td>
                {/* On one line: a date broken over three made every row three lines tall. */}
                <td className="nowrap">
                  <Time at={detail.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
      {/* What filters applied found, said to a screen reader too (the table changes silently);
          not at each poll of the list, which changes the count as runs start. */}
      <div className="visually-hidden" role="status">
        {found}
      </div>
      <div>
        {runs.data && rows.length === 0 && (
          <p className="empty">
            No run matches.
            {/* The names as a reason only when they may be one: reversed dates already are. */}
            {!reversed &&
              (filters.providerName || filters.modelName || filters.datasetName) &&
              " Provider, model and dataset match whole names (“sim-1”, not “sim”); “Name contains” matches part of one."}
          </p>
        )}
      </div>
      <LoadMore
        list={rowsShown}
        entries="tr"
        hasMore={runs.hasNextPage}
        fetching={runs.isFetchingNextPage}
        onMore={() => void runs.fetchNextPage()}
      >
        Load more
      </LoadMore>
    </section>
  );
}


/** How many runs the filters select ("302 runs", "41 runs match"), from the first page's count. */
export function runsCounted(first: { runs: unknown[]; total?: number | null }, filtered: boolean): string {
  const total = first.total ?? first.runs.length;
  const runs = `${total.toLocaleString()} ${total === 1 ? "run" : "runs"}`;
  return filtered ? `${runs} ${total === 1 ? "matches" : "match"}` : runs;
}

/** An RFC 3339 time as a `datetime-local` input shows it (local time, to the minute). */
function localInput(at: string | undefined): string {
  if (at === undefined) return "";
  const time = new Date(at);
  if (Number.isNaN(time.getTime())) return "";
  const local = new Date(time.getTime() - time.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

function KnownNames({ id, names }: { id: string; names: string[] }) {
  return (
    <datalist id={id}>
      {[...new Set(names)].sort().map((name) => (
        <option key={name} value={name} />
      ))}
    </datalist>
  );
}

/** How many items an accuracy is over, when that is not every item of the run; `null` when it
 *  is all of them (or none). */
export function judgedOf(progress: { correct: number; incorrect: number; total: number }): string | null {
  const judged = progress.correct + progress.incorrect;
  return judged > 0 && judged < progress.total ? `${judged.toLocaleString()} of ${progress.total.toLocaleString()}` : null;
}

/** `runs` without the later listings of a run listed twice: ordered by accuracy, a run still
 * going moves as its accuracy does, and may come again on a later page. */
export function uniqueRuns<T extends { run: { id: string } }>(runs: T[]): T[] {
  const seen = new Set<string>();
  return runs.filter((detail) => {
    if (seen.has(detail.run.id)) return false;
    seen.add(detail.run.id);
    return true;
  });
}

/** How the archive's runs are ordered by `sort`, for its caption and its headings. */
export function orderOf(sort: Sort): string {
  switch (sort) {
    case "-createdAt":
      return "newest first";
    case "createdAt":
      return "oldest first";
    case "-accuracy":
      return "highest accuracy first";
    case "accuracy":
      return "lowest accuracy first";
  }
}

/** The order a click on `column`'s heading chooses: its own the other way round when the
 * archive is in it already, else its first (the newest, the highest accuracy). */
export function sortAfterClick(column: "createdAt" | "accuracy", sort: Sort): Sort {
  return sort === `-${column}` ? column : `-${column}`;
}

/** A column heading that orders the archive by its column, saying which way it does. */
function SortHeading({
  column,
  sort,
  onSort,
  className,
  children,
}: {
  column: "createdAt" | "accuracy";
  sort: Sort;
  onSort: (sort: Sort) => void;
  className?: string;
  children: ReactNode;
}) {
  const direction = sort === column ? "ascending" : sort === `-${column}` ? "descending" : undefined;
  const next = sortAfterClick(column, sort);
  return (
    <th scope="col" className={className} aria-sort={direction}>
      <button type="button" className="sort-heading" title={`Order ${orderOf(next)}`} onClick={() => onSort(next)}>
        {children}
        <span aria-hidden="true" className="sort-mark">
          {direction === "ascending" ? "▲" : direction === "descending" ? "▼" : "↕"}
        </span>
      </button>
    </th>
  );
}
