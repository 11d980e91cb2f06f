// The archive: every run, filtered as `GET /runs` allows, a page at a time; pick runs to compare.
import { type FormEvent, useState } from "react";
import { Link, useLocation } from "wouter";

import { ErrorNote, StatusBadge, TableScroll, Time, accuracy } from "../components/common";
import { type RunFilters, useRunsQuery } from "../queries";

const STATUSES = ["pending", "running", "completed", "failed", "canceled"];

export function ArchivePage() {
  const [filters, setFilters] = useState<RunFilters>({ limit: 25 });
  const [selected, setSelected] = useState<string[]>([]);
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
    setFilters({
      limit: 25,
      status: statuses.length > 0 ? statuses.join(",") : undefined,
      providerName: text("providerName"),
      modelName: text("modelName"),
      datasetName: text("datasetName"),
      createdFrom: time("createdFrom"),
      createdBefore: time("createdBefore"),
    });
  };
  const toggle = (id: string) =>
    setSelected((now) => (now.includes(id) ? now.filter((x) => x !== id) : [...now, id].slice(-8)));
  const rows = runs.data?.pages.flatMap((page) => page.runs) ?? [];
  const csv = `/runs?${new URLSearchParams(
    Object.entries({ ...filters, limit: undefined, format: "csv" }).filter(
      (entry): entry is [string, string] => entry[1] !== undefined,
    ),
  )}`;

  return (
    <section aria-labelledby="archive-title">
      <div className="page-head">
        <h1 id="archive-title">Archive</h1>
        <div className="controls">
          <a href={csv} download>
            Download CSV
          </a>
          <button
            type="button"
            disabled={selected.length < 2}
            onClick={() => navigate(`/compare?runIds=${selected.join(",")}`)}
          >
            Compare {selected.length > 0 ? `(${selected.length})` : ""}
          </button>
        </div>
      </div>
      <form className="filters" onSubmit={submit} aria-label="Filters">
        <fieldset>
          <legend>Status</legend>
          {STATUSES.map((status) => (
            <label key={status} className="check">
              <input type="checkbox" name="status" value={status} /> {status}
            </label>
          ))}
        </fieldset>
        <label>
          Provider <input name="providerName" />
        </label>
        <label>
          Model <input name="modelName" />
        </label>
        <label>
          Dataset <input name="datasetName" />
        </label>
        <label>
          Created from <input type="datetime-local" name="createdFrom" />
        </label>
        <label>
          Created before <input type="datetime-local" name="createdBefore" />
        </label>
        <button type="submit">Apply</button>
      </form>
      <ErrorNote error={runs.error} />
      <TableScroll label="Runs">
        <table className="table">
          <caption className="visually-hidden">Runs, newest first; select two or more to compare</caption>
          <thead>
            <tr>
              <th scope="col">Compare</th>
              <th scope="col">Model</th>
              <th scope="col">Provider</th>
              <th scope="col">Dataset</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">Items</th>
              <th scope="col" className="num">Correct</th>
              <th scope="col" className="num">Faulted</th>
              <th scope="col" className="num">Accuracy</th>
              <th scope="col" className="num">Cost</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((detail) => (
              <tr key={detail.run.id}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Compare run ${detail.run.id}`}
                    checked={selected.includes(detail.run.id)}
                    onChange={() => toggle(detail.run.id)}
                  />
                </td>
                <td className="name">
                  <Link href={`/runs/${detail.run.id}`}>{detail.run.modelName}</Link>
                </td>
                <td className="name">{detail.run.providerName}</td>
                <td className="name">
                  {detail.dataset.name} <span className="muted">v{detail.dataset.version}</span>
                </td>
                <td>
                  <StatusBadge status={detail.run.status} />
                </td>
                <td className="num">{detail.progress.total}</td>
                <td className="num">{detail.progress.correct}</td>
                <td className="num">{detail.progress.faulted}</td>
                <td className="num">{accuracy(detail.progress)}</td>
                <td className="num">{detail.usage.costUsd == null ? "–" : `$${detail.usage.costUsd.toFixed(4)}`}</td>
                <td>
                  <Time at={detail.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
      {runs.data && rows.length === 0 && <p className="empty">No run matches.</p>}
      {runs.hasNextPage && (
        <button type="button" onClick={() => void runs.fetchNextPage()} disabled={runs.isFetchingNextPage}>
          {runs.isFetchingNextPage ? "Loading…" : "Load more"}
        </button>
      )}
    </section>
  );
}
