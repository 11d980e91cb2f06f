// The active board: one card per snapshot of `GET /runs/active`, kept live by the event stream.
import { memo, useMemo, useRef, useState } from "react";
import { Link } from "wouter";

import { type ActiveRun, ApiError } from "../api/client";
import { ACTIVE, ErrorNote, ProgressBar, StatusBadge, Time, letter } from "../components/common";
import { useRunEvents } from "../live/useRunEvents";
import { useActiveRunsQuery, useRunAction } from "../queries";

const LIMITS = [6, 12, 24];

export function BoardPage() {
  const [limit, setLimit] = useState(12);
  const board = useActiveRunsQuery(limit);
  const stream = useRunEvents(limit, board.data?.lastEventId);
  // Active runs first (newest first), then the finished ones in the server's order.
  const runs = useMemo(() => {
    const all = board.data?.runs ?? [];
    const active = all.filter((r) => ACTIVE.has(r.run.status)).sort((a, b) => (a.run.id < b.run.id ? 1 : -1));
    return [...active, ...all.filter((r) => !ACTIVE.has(r.run.status))].slice(0, limit);
  }, [board.data, limit]);

  return (
    <section aria-labelledby="board-title">
      <div className="page-head">
        <h1 id="board-title">Active board</h1>
        <div className="controls">
          <span className={`stream ${stream}`} role="status" aria-live="polite">
            {stream === "open" ? "Live" : stream === "connecting" ? "Connecting…" : "Reconnecting…"}
          </span>
          <label>
            Runs shown{" "}
            <select value={limit} onChange={(e) => setLimit(Number(e.target.value))}>
              {LIMITS.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
        </div>
      </div>
      <ErrorNote error={board.error} />
      {board.isPending && <p>Loading…</p>}
      {board.data && runs.length === 0 && <p className="empty">No runs yet.</p>}
      <div className="cards">
        {runs.map((snapshot) => (
          <RunCard key={snapshot.run.id} snapshot={snapshot} />
        ))}
      </div>
    </section>
  );
}

/**
 * Items finished per second, from the progress changes of the last few seconds. Computed while
 * rendering (no state of its own: a card changing draws once, not twice).
 */
function useRate(completed: number): number | null {
  const samples = useRef<{ at: number; completed: number }[]>([]);
  const list = samples.current;
  const now = performance.now();
  if (list.length === 0 || list[list.length - 1]!.completed !== completed) {
    list.push({ at: now, completed });
  }
  while (list.length > 2 && now - list[0]!.at > 5000) {
    list.shift();
  }
  const first = list[0]!;
  const seconds = (now - first.at) / 1000;
  return seconds >= 0.5 ? (completed - first.completed) / seconds : null;
}

/** One run's card; drawn again only when its snapshot changed. */
const RunCard = memo(function RunCard({ snapshot }: { snapshot: ActiveRun }) {
  const { run, progress, lifecycle, currentItem, recentItems } = snapshot;
  const rate = useRate(progress.completed);
  const action = useRunAction();
  const active = ACTIVE.has(run.status);
  const act = (kind: "cancel" | "retry") => {
    const question =
      kind === "cancel"
        ? `Cancel run ${run.id}? Items in flight are stopped.`
        : `Retry the failed and canceled items of run ${run.id}?`;
    if (window.confirm(question)) {
      action.mutate({ id: run.id, action: kind });
    }
  };
  return (
    <article className="card" aria-label={`Run ${run.modelName} on ${run.datasetName}`}>
      <header>
        <h2>
          <Link href={`/runs/${run.id}`}>{run.modelName}</Link>
        </h2>
        <StatusBadge status={run.status} />
      </header>
      <p className="meta">
        {run.providerName} · {run.datasetName} · <code>{run.id}</code>
      </p>
      <ProgressBar progress={progress} />
      <p className="meta">
        {progress.completed} / {progress.total} done
        {rate !== null && active && <> · {rate.toFixed(1)} items/s</>}
        {lifecycle.resumedCount > 0 && (
          <>
            {" "}
            · resumed {lifecycle.resumedCount}× (last <Time at={lifecycle.lastResumedAt} />)
          </>
        )}
        {lifecycle.cancelRequestedAt && (
          <>
            {" "}
            · cancel requested <Time at={lifecycle.cancelRequestedAt} />
          </>
        )}
      </p>
      {currentItem && (
        <div className="current">
          <h3>
            Item {currentItem.sequence} <StatusBadge status={currentItem.state} />
          </h3>
          <p className="question">{currentItem.promptText}</p>
          <ol className="choices" type="A">
            {currentItem.choices.map((choice, i) => (
              <li key={i} aria-label={`${letter(i)}: ${choice}`}>
                {choice}
              </li>
            ))}
          </ol>
          {currentItem.activity && (
            <pre className="preview" aria-label="Streaming answer">
              {currentItem.activity.preview}
              <span className="caret" aria-hidden="true" />
            </pre>
          )}
        </div>
      )}
      {recentItems.length > 0 && (
        <ul className="recent" aria-label="Recently finished items">
          {recentItems.map((item) => (
            <li key={item.sequence} className={item.state} title={item.promptText}>
              <span className="mark" aria-hidden="true">
                {item.state === "correct" ? "✓" : item.state === "incorrect" ? "✗" : "!"}
              </span>
              #{item.sequence} <span className="visually-hidden">{item.state}</span>
            </li>
          ))}
        </ul>
      )}
      <footer>
        {active ? (
          <button type="button" onClick={() => act("cancel")} disabled={action.isPending || !!lifecycle.cancelRequestedAt}>
            Cancel
          </button>
        ) : (
          run.status !== "completed" || progress.faulted > 0 ? (
            <button type="button" onClick={() => act("retry")} disabled={action.isPending}>
              Retry faulted
            </button>
          ) : null
        )}
        <Link href={`/runs/${run.id}`}>Details</Link>
      </footer>
      {action.error instanceof ApiError && action.error.status === 409 ? (
        <p className="error" role="alert">
          Not possible now: {action.error.message}
        </p>
      ) : (
        <ErrorNote error={action.error} />
      )}
    </article>
  );
});
