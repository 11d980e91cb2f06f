// The active board: one card per snapshot of `GET /runs/active`, kept live by the event stream.
import { useQuery } from "@tanstack/react-query";
import { type RefObject, memo, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { Link } from "wouter";

import { type ActiveRun, type ItemSnapshot } from "../api/client";
import { useAccess } from "../auth/access";
import {
  Loading,
  createdAtOf,
  retryLabel,
  ACTIVE,
  BROWSER_HARNESS,
  ActionFailed,
  ProgressBar,
  QueryError,
  StatusBadge,
  StreamBadge,
  Time,
  doneLabel,
  failureText,
  fixed,
  letter,
  setupOf,
  useSearchParam,
  useTitle,
} from "../components/common";
import { useConfirm } from "../components/confirm";
import { useRunEvents } from "../live/useRunEvents";
import { runQuery, useActiveRunsQuery, useRunAction } from "../queries";

const LIMITS = [6, 12, 24];

export function BoardPage() {
  useTitle("Active board");
  const [shown, setShown] = useSearchParam("runs", "12");
  const limit = LIMITS.includes(Number(shown)) ? Number(shown) : 12;
  const board = useActiveRunsQuery(limit);
  const stream = useRunEvents(limit, board.data);
  const { operate } = useAccess();
  // Which runs are shown follows the server's rule (active ones first, newest first, then the
  // finished ones in its order), so that the folded board still equals `GET /runs/active`:
  // runs created since it was fetched are folded in, and the list outgrows `limit`. Shown
  // newest first whatever their status, so that a card stays where it is when its run
  // finishes, is canceled or retried (moving it put another card's Cancel under the pointer).
  // Run ids begin with their creation time.
  const runs = useMemo(() => {
    const all = board.data?.runs ?? [];
    const newestFirst = (a: ActiveRun, b: ActiveRun) => (a.run.id < b.run.id ? 1 : -1);
    const active = all.filter((r) => ACTIVE.has(r.run.status)).sort(newestFirst);
    const kept = [...active, ...all.filter((r) => !ACTIVE.has(r.run.status))].slice(0, limit);
    return kept.sort(newestFirst);
  }, [board.data, limit]);

  const statusNews = useStatusNews(runs);

  return (
    <section aria-labelledby="board-title">
      <div className="visually-hidden" role="status">
        {statusNews}
      </div>
      <div className="page-head">
        <h1 id="board-title">Active board</h1>
        <div className="controls">
          <StreamBadge state={stream} />
          <label>
            Runs shown{" "}
            <select value={limit} onChange={(e) => setShown(e.target.value)}>
              {LIMITS.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
        </div>
      </div>
      <QueryError error={board.error} loaded={board.data !== undefined} />
      {stream === "reconnecting" && board.data && !board.error && (
        // The cards would otherwise go on saying "running", a caret blinking, as if live.
        <p className="warning" role="status">
          Not live: the connection to the server is down. The cards show what was last received and
          catch up once it is back.
        </p>
      )}
      {board.isPending && <Loading failure={board.failureReason} />}
      {board.data && runs.length === 0 && (
        <p className="empty">
          No runs yet.{operate && (
            <>
              {" "}
              <Link href="/runs/new">Start a run</Link> to watch it here.
            </>
          )}
        </p>
      )}
      <div className="cards">
        {runs.map((snapshot) => (
          <RunCard key={snapshot.run.id} snapshot={snapshot} />
        ))}
      </div>
    </section>
  );
}

/**
 * A sentence for a screen reader when runs shown change status ("sim-1 on demo, created …:
 * completed."): the badges change silently, and announcing the progress too would be a stream
 * of chatter. Nothing is said of the board's first drawing, nor of runs that only appeared.
 */
function useStatusNews(runs: ActiveRun[]): string {
  const seen = useRef<Map<string, string> | null>(null);
  const [news, setNews] = useState("");
  useEffect(() => {
    const before = seen.current;
    seen.current = new Map(runs.map((r) => [r.run.id, r.run.status]));
    if (before === null) return;
    const changed = runs.filter((r) => before.has(r.run.id) && before.get(r.run.id) !== r.run.status);
    if (changed.length > 0) setNews(changed.map((r) => `${cardName(r.run)}: ${r.run.status}.`).join(" "));
  }, [runs]);
  return news;
}

/** How often an active card's rate is computed again without news: a run that stalls (a
 * provider hanging) shows its rate falling instead of the last one it had. */
const RATE_EVERY_MS = 1000;

// One clock for every card's rate: the cards draw again together, in one task a second.
const secondListeners = new Set<() => void>();
let secondTimer: ReturnType<typeof setInterval> | null = null;
let seconds = 0;

function subscribeToSeconds(listener: () => void): () => void {
  secondListeners.add(listener);
  secondTimer ??= setInterval(() => {
    seconds += 1;
    secondListeners.forEach((notify) => notify());
  }, RATE_EVERY_MS);
  return () => {
    secondListeners.delete(listener);
    if (secondListeners.size === 0 && secondTimer !== null) {
      clearInterval(secondTimer);
      secondTimer = null;
    }
  };
}

function currentSecond(): number {
  return seconds;
}

/**
 * Items finished per second, from the progress changes of the last few seconds, drawn again
 * every second on its own (only this text, not the card).
 */
export function LiveRate({ completed }: { completed: number }) {
  const samples = useRef<{ at: number; completed: number }[]>([]);
  useSyncExternalStore(subscribeToSeconds, currentSecond);
  const rate = rateOf(samples.current, completed, performance.now());
  return <>{rate === null ? "–" : fixed(rate, 1)} items/s</>;
}

/**
 * The rate over `samples` (changes of the done count, oldest first; updated in place) once
 * `completed` is seen at `now`. `null` until the count has moved while watched: before that
 * there is nothing to measure (a card would say 0.0 while items finish at a slow pace). A
 * count that went down (a retry reopened items) starts the measure again instead of giving a
 * negative rate.
 */
export function rateOf(samples: { at: number; completed: number }[], completed: number, now: number): number | null {
  const last = samples[samples.length - 1];
  if (last !== undefined && completed < last.completed) {
    samples.length = 0;
  }
  if (samples.length === 0 || samples[samples.length - 1]!.completed !== completed) {
    samples.push({ at: now, completed });
  }
  while (samples.length > 2 && now - samples[0]!.at > 5000) {
    samples.shift();
  }
  const first = samples[0]!;
  const seconds = (now - first.at) / 1000;
  return samples.length >= 2 && seconds >= 0.5 ? (completed - first.completed) / seconds : null;
}

/**
 * The item a card shows: the one in flight or, while the run goes on, the last one it showed
 * (with its verdict once it has one). At hundreds of items a second the run's current item is
 * often none for an instant; showing the last one keeps the card still instead of flickering.
 */
function useShownItem(snapshot: ActiveRun, active: boolean): ItemSnapshot | null {
  const last = useRef<ItemSnapshot | null>(null);
  const { currentItem, recentItems } = snapshot;
  if (!active) {
    last.current = null;
  } else if (currentItem) {
    last.current = currentItem;
  } else if (last.current) {
    const finished = recentItems.find((item) => item.sequence === last.current!.sequence);
    if (finished) {
      // Its verdict, with the preview it streamed (a finished snapshot has no activity).
      last.current = { ...finished, activity: last.current.activity };
    }
  }
  return last.current;
}

/**
 * Whether the element is on screen or near it. Where there is no IntersectionObserver, always.
 */
function useOnScreen<T extends Element>(): [RefObject<T | null>, boolean] {
  const ref = useRef<T | null>(null);
  const [onScreen, setOnScreen] = useState(true);
  useEffect(() => {
    const element = ref.current;
    if (element === null || typeof IntersectionObserver === "undefined") {
      return;
    }
    const observer = new IntersectionObserver(([entry]) => setOnScreen(entry!.isIntersecting), {
      rootMargin: "200px",
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, onScreen];
}

/**
 * One run's card, drawn again only when its snapshot changed and the card is on screen: a card
 * scrolled out of view keeps what it showed and catches up when it comes back. At 24 runs the
 * board takes thousands of events a second; the cards nobody sees cost nothing.
 */
const RunCard = memo(function RunCard({ snapshot }: { snapshot: ActiveRun }) {
  const [ref, onScreen] = useOnScreen<HTMLElement>();
  const shown = useRef(snapshot);
  if (onScreen) {
    shown.current = snapshot;
  }
  return (
    <article ref={ref} className="card" aria-label={`Run ${cardName(snapshot.run)}`}>
      <CardBody snapshot={shown.current} />
    </article>
  );
});

/** What sets a run apart from a whole zero-shot one ("· 5-shot · law · sample of 500 (seed 3)"), as the
 *  archive says it: the board's snapshot (the contract's shape) does not carry the settings,
 *  so the run's detail is read once — two runs of one model on one dataset looked alike. */
function SetupLine({ runId }: { runId: string }) {
  const setup = useQuery({ ...runQuery(runId), select: (detail) => setupOf(detail.settings), staleTime: Infinity }).data;
  if (!setup || setup.length === 0) return null;
  return <>{setup.map((part) => ` · ${part}`).join("")}</>;
}

/** Why a failed run failed: the board's snapshot (the contract's shape) does not say, its
 *  detail does (a retry changes the status, and the line goes). */
export function FailureLine({ runId }: { runId: string }) {
  // Read when the card shows the failure (a run failed again after a retry: read anew).
  const failure = useQuery({ ...runQuery(runId), select: (detail) => detail.failure }).data;
  if (!failure) return null;
  const message = failureText(failure);
  return (
    <p className="meta failure error-inline" title={message}>
      {message}
    </p>
  );
}

/** What tells a run from the others of the same model: its dataset and creation time. Its
 *  card and the card's controls are named with it, so that a screen reader's list of them is
 *  not five "Cancel" and five "Details" of five runs of one model. */
function cardName(run: ActiveRun["run"]): string {
  const created = createdAtOf(run.id);
  return `${run.modelName} on ${run.datasetName}${created ? `, created ${new Date(created).toLocaleString()}` : ""}`;
}

/**
 * What a card shows. Its parts keep their shape while the run streams (the same elements, only
 * their text changes), so that an update costs the browser little.
 */
const CardBody = memo(function CardBody({ snapshot }: { snapshot: ActiveRun }) {
  const { run, progress, lifecycle, recentItems } = snapshot;
  const action = useRunAction();
  const { operate } = useAccess();
  const active = ACTIVE.has(run.status);
  const shown = useShownItem(snapshot, active);
  // After a cancel or a retry the button pressed is disabled or replaced, and the card may move
  // (active runs come first): focus would fall to the page's body. It goes to the card's title
  // link instead (never to a button: Enter pressed again must not undo what was just done),
  // until the run's status shows the action's outcome, for five seconds at most and not after
  // a refusal: focus the user moved elsewhere meanwhile is theirs.
  const title = useRef<HTMLAnchorElement>(null);
  const keepFocus = useRef<{ kind: "cancel" | "retry"; until: number } | null>(null);
  useEffect(() => {
    const kept = keepFocus.current;
    if (kept === null) return;
    if (performance.now() > kept.until) {
      keepFocus.current = null;
      return;
    }
    if (document.activeElement === null || document.activeElement === document.body) {
      title.current?.focus({ preventScroll: true });
    }
    if ((kept.kind === "cancel") !== active) keepFocus.current = null;
  });
  const [confirming, ask] = useConfirm();
  const name = cardName(run);
  const runName = `${name} (${run.id})`;
  const act = (kind: "cancel" | "retry") => {
    const question =
      kind === "cancel"
        ? { text: `Cancel the run of ${runName}? Items in flight are stopped.`, yes: "Cancel the run", no: "Keep it running" }
        : { text: `Send the failed and canceled items of the run of ${runName} again?`, yes: "Retry them", no: "Not now" };
    ask(question, () => {
      keepFocus.current = { kind, until: performance.now() + 5000 };
      action.mutate({ id: run.id, action: kind }, { onError: () => (keepFocus.current = null) });
    });
  };
  return (
    <>
      {confirming}
      <header>
        <h2>
          {/* Named as the card's buttons are: five runs of one model read "sim-1" five times in
              a list of the page's links. */}
          <Link href={`/runs/${run.id}`} ref={title} aria-label={runName}>
            {run.modelName}
          </Link>{" "}
          <span className="muted">on {run.datasetName}</span>
        </h2>
        <StatusBadge status={run.status} />
      </header>
      <p className="meta">
        {run.providerName} · created <Time at={createdAtOf(run.id)} /> · <code className="run-id">{run.id}</code>
        <SetupLine runId={run.id} />
      </p>
      <ProgressBar progress={progress} status={run.status} />
      <p className="meta">
        {doneLabel(progress, run.status)}
        {active && (
          <>
            {" "}
            · <LiveRate completed={progress.completed} />
          </>
        )}
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
      {run.status === "failed" && <FailureLine runId={run.id} />}
      {shown && (
        <div className="current">
          <h3>
            Item {shown.sequence} <StatusBadge status={shown.state} />
            {/* The card shows as many options as fit in three lines: say how many there are. */}
            {shown.choices.length > 0 && <span className="muted">{shown.choices.length} options</span>}
          </h3>
          <p className="question">{shown.promptText}</p>
          {shown.choices.length > 0 && (
            <ol className="choices">
              {shown.choices.map((choice, i) => (
                <li key={i}>
                  <span className="letter">{letter(i)}</span> {choice}
                </li>
              ))}
            </ol>
          )}
          <pre className="preview" role="group" aria-label="Streaming answer">
            {shown.activity?.preview}
            {shown.state === "running" && <span className="caret" aria-hidden="true" />}
          </pre>
        </div>
      )}
      {recentItems.length > 0 && (
        <ul className="recent" aria-label="Recently finished items">
          {recentItems.map((item, i) => (
            // By position: the list shifts by one at every finished item, and the same five
            // elements taking the new text is cheaper than one removed and one created.
            <li key={i} className={item.state} title={item.promptText}>
              {/* Opens the item on the run's page: its question is otherwise only a hover's,
                  which a touch screen never shows. */}
              <Link href={`/runs/${run.id}?item=${item.sequence}`}>
                <span className="mark" aria-hidden="true">
                  {/* Canceled is no fault of the provider's: after a cancel the last finished items are
                      the canceled ones, which a "!" made read as failures. */}
                  {item.state === "correct" ? "✓" : item.state === "incorrect" ? "✗" : item.state === "canceled" ? "⊘" : "!"}
                </span>
                #{item.sequence} <span className="visually-hidden">{item.state}</span>
              </Link>
            </li>
          ))}
        </ul>
      )}
      <footer>
        {/* Keyed apart: React would otherwise turn the focused Cancel button into Retry in place,
            and a second Enter would undo the cancel. */}
        {!operate ? null : active ? (
          <button
            key="cancel"
            type="button"
            onClick={() => act("cancel")}
            disabled={action.isPending || !!lifecycle.cancelRequestedAt}
            aria-label={`Cancel: ${name}`}
          >
            Cancel
          </button>
        ) : (
          (run.status !== "completed" || progress.faulted > 0) && run.providerName !== BROWSER_HARNESS ? (
            <button
              key="retry"
              type="button"
              onClick={() => act("retry")}
              disabled={action.isPending}
              aria-label={`${retryLabel(run.status)}: ${name}`}
            >
              {retryLabel(run.status)}
            </button>
          ) : null
        )}
        <Link href={`/runs/${run.id}`} aria-label={`Details: ${name}`}>
          Details
        </Link>
      </footer>
      <ActionFailed
        action={action.variables?.action}
        error={action.error}
        onDismiss={action.reset}
        onForce={() => {
          keepFocus.current = { kind: "retry", until: performance.now() + 5000 };
          action.mutate({ id: run.id, action: "retry", force: true }, { onError: () => (keepFocus.current = null) });
        }}
      />
    </>
  );
});
