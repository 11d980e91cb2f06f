// One run: summary, settings, spending and fingerprint; its items grouped with per-group
// accuracy and every detail of each; its log.
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, type RefObject, useEffect, useRef, useState } from "react";
import { Link, useSearchParams } from "wouter";

import { ApiError, type Schemas, api, unwrap } from "../api/client";
import { useAccess } from "../auth/access";
import {
  Loading,
  retryLabel,
  tierLabel,
  ACTIVE,
  ActionFailed,
  BROWSER_HARNESS,
  CategorySelect,
  ErrorNote,
  QueryError,
  failureMessage,
  Field,
  ProgressBar,
  fixed,
  StaleNote,
  StatusBadge,
  StreamBadge,
  TableScroll,
  Time,
  accuracy,
  judgeLabel,
  letter,
  paramsWith,
  percent,
  usd,
  useSearchParam,
  useTitle,
  withCode,
} from "../components/common";
import { Download } from "../components/download";
import { LoadMore } from "../components/loadMore";
import { useConfirm } from "../components/confirm";
import { useItemText } from "../live/useItemText";
import { useRunFollow } from "../live/useRunFollow";
import {
  refetchRunContents,
  useItemsQuery,
  useRunAction,
  useRunItemsQuery,
  type LogOrder,
  useRunLogsQuery,
  useRunQuery,
} from "../queries";
import { RejudgeForm } from "./Rejudge";

type Item = Schemas["ItemDetailDto"];
type Group = Schemas["ItemGroupDto"];

const ITEM_STATES = ["pending", "running", "awaiting", "correct", "incorrect", "failed", "canceled"];
const GROUPINGS = ["category", "state", "none"];
/** Item states whose answer may still come. */
const STILL_TO_ANSWER = new Set(["pending", "running"]);

export function RunPage({ id }: { id: string }) {
  const [live, setLive] = useState(true);
  const stream = useRunFollow(id, live);
  const [shownState] = useSearchParam("state", "", ["", ...ITEM_STATES]);
  const [shownCategory] = useSearchParam("category", "");
  const following = stream === "open";
  const detail = useRunQuery(id, live, following);
  const run = detail.data;
  const active = run !== undefined && ACTIVE.has(run.run.status);
  if (run !== undefined && live !== active) {
    setLive(active);
  }
  // A status seen to change (by the stream, a poll or an action) may have ended the run, after
  // which nothing polls: its items and log are fetched once more, as they are now.
  const client = useQueryClient();
  const status = run?.run.status;
  // Said to a screen reader too: the badge changes silently.
  const [statusNews, setStatusNews] = useState("");
  useWhenChanged(status, () => {
    refetchRunContents(client, id);
    setStatusNews(`The run is ${status}.`);
  });
  // A retry or a re-judging started elsewhere can begin and end between two reads of a
  // finished run (every 30 s): the status read the same, and the items and log stayed those
  // of before it while the summary moved on. Each one counts, so a count that moved refetches.
  useWhenChanged(run === undefined ? undefined : `${run.retryCount}/${run.rejudgeCount}`, () =>
    refetchRunContents(client, id),
  );
  const action = useRunAction();
  const [confirming, ask] = useConfirm();
  const [rejudging, setRejudging] = useState(false);
  const rejudgeButton = useRef<HTMLButtonElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  // After Cancel or Retry the button pressed is disabled, then replaced (Cancel by Retry) once
  // the status changes: the focus, which the dialog gave back to it, would fall to nothing.
  // For the next five seconds it goes to the page's title instead (not to a button: Enter
  // pressed again must not undo what was just done); a focus the reader moved is theirs.
  const refocusUntil = useRef(0);
  useEffect(() => {
    if (performance.now() > refocusUntil.current) return;
    if (document.activeElement === null || document.activeElement === document.body) heading.current?.focus();
  });
  const { operate } = useAccess();
  useTitle(run ? `${run.run.modelName} on ${run.run.datasetName}` : "Run");
  if (!run) {
    if (detail.error instanceof ApiError && detail.error.status === 404) {
      return (
        <section aria-labelledby="run-title">
          <h1 id="run-title">No such run</h1>
          <p>
            This server has no run <code>{id}</code>. <Link href="/runs">Back to the archive</Link>.
          </p>
        </section>
      );
    }
    return detail.error ? <ErrorNote error={detail.error} /> : <Loading failure={detail.failureReason} />;
  }
  const act = (kind: "cancel" | "retry") =>
    ask(
      kind === "cancel"
        ? { text: cancelQuestion(run), yes: "Cancel the run", no: "Keep it running" }
        : { text: retryQuestion(run), yes: "Retry them", no: "Not now" },
      () => {
        refocusUntil.current = performance.now() + 5000;
        action.mutate({ id, action: kind });
      },
    );
  // The items list's state and category filters, exported as shown (a researcher filtering
  // to law's wrong answers downloaded all 12,032 items).
  const exportQuery = (format: string) =>
    new URLSearchParams({
      format,
      ...(shownState ? { state: shownState } : {}),
      ...(shownCategory ? { category: shownCategory } : {}),
    }).toString();
  const filtered = shownState !== "" || shownCategory !== "";
  const tokens = tokenFigures(run);
  // Answers a re-judging would take: judged ones, and those still waiting for a verdict.
  const answered = run.progress.correct + run.progress.incorrect + run.progress.awaiting;
  return (
    <section aria-labelledby="run-title">
      {confirming}
      <div className="visually-hidden" role="status">
        {statusNews}
      </div>
      <div className="page-head">
        <h1 id="run-title" ref={heading} tabIndex={-1}>
          {run.run.modelName} <span className="muted">on {run.run.datasetName}</span>
        </h1>
        <div className="controls">
          {active && <StreamBadge state={stream} />}
          <StatusBadge status={run.run.status} />
          {!operate ? null : active ? (
            <button key="cancel" type="button" onClick={() => act("cancel")} disabled={action.isPending}>
              Cancel
            </button>
          ) : (run.run.status !== "completed" || run.progress.faulted > 0) &&
            run.failure?.kind !== "budget_exhausted" &&
            run.run.providerName !== BROWSER_HARNESS ? (
            // A completed run with nothing faulted has nothing a retry would take, and one
            // whose budget is spent would stop before sending anything (the server refuses).
            <button key="retry" type="button" onClick={() => act("retry")} disabled={action.isPending}>
              {retryLabel(run.run.status)}
            </button>
          ) : null}
          {operate && !active && answered > 0 && (
            <button
              type="button"
              ref={rejudgeButton}
              onClick={() => setRejudging(!rejudging)}
              // Escape closes the panel from its own button too, not only from inside it.
              onKeyDown={(e) => {
                if (e.key === "Escape" && rejudging) setRejudging(false);
              }}
              aria-expanded={rejudging}
            >
              Re-judge…
            </button>
          )}
          {operate && run.run.providerName !== BROWSER_HARNESS && (
            // The same items asked the same way, of another model (or the same one again).
            <Link href={`/runs/new?like=${id}`}>New run like this</Link>
          )}
          <Download href={`/runs/${id}/export?${exportQuery("csv")}`} fallbackName={`${id}-items${filtered ? "-filtered" : ""}.csv`}>
            Export CSV{filtered && " (filtered)"}
          </Download>
          <Download href={`/runs/${id}/export?${exportQuery("jsonl")}`} fallbackName={`${id}-items${filtered ? "-filtered" : ""}.jsonl`}>
            Export JSONL{filtered && " (filtered)"}
          </Download>
        </div>
      </div>
      {rejudging && operate && !active && (
        <RejudgeForm
          answered={answered}
          busy={action.isPending}
          onClose={() => {
            setRejudging(false);
            // Closed from inside the panel (Escape, its Cancel): focus back where it opened.
            rejudgeButton.current?.focus();
          }}
          // Closed as it is sent: a re-judging by the rules ends before its answer comes back,
          // and the panel, shown again for the finished run, stayed open (a refusal is said
          // above the figures either way).
          onRejudge={(judge) => {
            setRejudging(false);
            action.mutate({ id, action: "rejudge", judge });
          }}
        />
      )}
      <StaleNote error={detail.error} />
      {active && stream === "reconnecting" && !detail.error && (
        // Else the page would go on saying "running" after the server stopped, as if live. (No
        // live region: the badge beside the status announces the change already.)
        <p className="warning">
          Not live: the connection to the server is down. The page shows what was last received and
          catches up once it is back.
        </p>
      )}
      <ActionFailed
        action={action.variables?.action}
        error={action.error}
        onDismiss={action.reset}
        onForce={() => {
          refocusUntil.current = performance.now() + 5000;
          action.mutate({ id, action: "retry", force: true });
        }}
      />
      {run.failure && (
        <div className="error" role="alert">
          <strong>{run.failure.kind}</strong>
          <p>{failureMessage(run.failure)}</p>
        </div>
      )}
      <ProgressBar progress={run.progress} canceled={run.canceled} status={run.run.status} />
      {/* Above the figures, whole: every one of them is partly the rules' when it shows. */}
      <NothingAnswered progress={run.progress} status={run.run.status} />
      <JudgeFallbacks
        count={run.judgeFallbacks}
        judged={run.progress.correct + run.progress.incorrect}
        judge={judgeLabel(run.judge)}
      />
      <dl className="summary">
        <Field label="Run">
          <code>{run.run.id}</code>
        </Field>
        <Field label="Provider">
          {run.run.providerName}
          {run.simulated && <span className="muted"> (simulated answers)</span>}
        </Field>
        <Field label="Dataset">
          {run.dataset.name} v{run.dataset.version} <code className="muted">{run.dataset.digest.slice(0, 19)}…</code>
        </Field>
        <Field label="Accuracy of judged (strict)">{accuracy(run.progress)}</Field>
        <Field label="Unparsed answers">{run.unparsed}</Field>
        <Field label="Cut-off answers">
          <CutOffCount count={run.answersCutOff} maxTokens={run.settings.generation?.maxTokens} />
        </Field>
        <Field label="Judge">
          {judgeLabel(run.judge)}
          {run.rejudgeCount > 0 && (
            <span className="muted">
              {" "}
              (re-judged {run.rejudgeCount}×
              {run.judgingRound < run.rejudgeCount && `; round ${run.judgingRound} in force, the latest undone`})
            </span>
          )}
        </Field>
        <Field label="Created">
          <Time at={run.createdAt} />
        </Field>
        <Field label="Started">
          <Time at={run.startedAt} />
        </Field>
        {/* A re-judging ends the run again: its end is the re-judging's, which read as a run of
            seconds that took minutes (the answering's end is not kept apart). */}
        <Field label={run.judgingRound > 0 ? `Finished (re-judging ${run.judgingRound})` : "Finished"}>
          <Time at={run.finishedAt} />
        </Field>
        <Field label="Run retries / resumes">
          {run.retryCount} / {run.lifecycle.resumedCount}
        </Field>
        <Field label="Tokens">
          {tokens.text}
          {tokens.note && <span className="muted"> — {tokens.note}</span>}
        </Field>
        <Field label="Cost">
          {run.usage.costUsd == null ? "no price" : usd(run.usage.costUsd)}
          {/* The same answers are missing from the cost. */}
          {run.usage.costUsd != null && tokens.note && <span className="muted"> — {tokens.note}</span>}
        </Field>
        {run.usage.judge && (
          // Apart from the answers' figures, which compare models whatever judged them; a budget
          // caps both together.
          <Field label="LLM judge's own">
            {run.usage.judge.promptTokens.toLocaleString()} in · {run.usage.judge.completionTokens.toLocaleString()} out
            {" · "}
            {run.usage.judge.costUsd == null ? "no price" : usd(run.usage.judge.costUsd)}
          </Field>
        )}
        {run.usage.cachedAnswers > 0 && (
          <Field label="From the cache">{run.usage.cachedAnswers.toLocaleString()} answers (not sent, not paid)</Field>
        )}
        <Field label="Latency p50 / p95">
          {ms(run.latency.totalP50Ms)} / {ms(run.latency.totalP95Ms)} (first token {ms(run.latency.timeToFirstTokenP50Ms)}
          {" / "}
          {ms(run.latency.timeToFirstTokenP95Ms)})
        </Field>
        <Field label="Fingerprint">
          {run.fingerprint ? <code title={JSON.stringify(run.fingerprint.inputs, null, 2)}>{run.fingerprint.digest.slice(0, 19)}…</code> : "–"}
        </Field>
      </dl>
      <details>
        <summary>Settings in force</summary>
        <pre className="code">{JSON.stringify(run.settings, null, 2)}</pre>
      </details>
      {/* The page says once that it shows what was last loaded (above); its sections only
          when they alone could not be read again. */}
      <Items id={id} live={active} following={following} stale={detail.error != null} />
      <Logs id={id} live={active} following={following} stale={detail.error != null} />
    </section>
  );
}

/**
 * The opened item (`?item=N`) when the list below does not show it: a link from the comparison,
 * an item on a page not loaded yet, or one that left the state filter while open (a running item
 * that was answered).
 */
function OpenedElsewhere({
  id,
  asked,
  live,
  following,
  onToggle,
  carryFocus,
}: {
  id: string;
  asked: string;
  live: boolean;
  following: boolean;
  onToggle: (sequence: number, open: boolean) => void;
  /** Set when the item held the focus as it left the list: its row here takes it. */
  carryFocus: RefObject<boolean>;
}) {
  const wanted = Number(asked);
  const valid = Number.isInteger(wanted) && wanted > 0 && wanted <= 999_999_999;
  // Polled like the list below: while the run's event stream is down only polls keep it current.
  const items = useItemsQuery(id, valid ? [wanted] : [], live, following);
  const item = items.data?.[0];
  if (!valid || (items.data !== undefined && !item)) {
    // The address names an item this run does not have: said, not silently ignored.
    return (
      <p className="warning" role="status">
        {valid ? `This run has no item ${wanted}.` : `“${asked}” is not an item number.`}
      </p>
    );
  }
  if (!item) {
    return <ErrorNote error={items.error} />;
  }
  return (
    <section aria-labelledby="linked-title" className="opened-elsewhere">
      <h3 id="linked-title">
        Item {item.sequence} <span className="muted">(opened; not in the list below)</span>
      </h3>
      <ItemRow runId={id} item={item} open onToggle={onToggle} takeFocus={carryFocus} />
    </section>
  );
}

/** Calls `onChange` when `value` changes from one known value to another (not when it first
 *  becomes known, nor while it is unknown). */
export function useWhenChanged(value: string | undefined, onChange: () => void) {
  const seen = useRef(value);
  const latest = useRef(onChange);
  latest.current = onChange;
  useEffect(() => {
    if (seen.current !== undefined && value !== undefined && value !== seen.current) {
      latest.current();
    }
    if (value !== undefined) {
      seen.current = value;
    }
  }, [value]);
}

/** A run's tokens as the page says them, and what they leave out. Nothing counted over answered
 *  items is "not reported" (a Browser Harness capture, a provider that reports no usage), not
 *  zero tokens — unless the answers came from the cache, which spent none. Some answers without
 *  counts make the figures (and the cost) a part of what the run used. */
export function tokenFigures(run: {
  progress: { correct: number; incorrect: number; awaiting: number };
  usage: Pick<
    Schemas["RunUsageDto"],
    "promptTokens" | "completionTokens" | "reasoningTokens" | "totalTokens" | "cachedAnswers" | "answersWithoutUsage"
  >;
}): { text: string; note: string | null } {
  const { usage, progress } = run;
  const answered = progress.correct + progress.incorrect + progress.awaiting;
  if (usage.totalTokens === 0 && (usage.answersWithoutUsage > 0 || answered > usage.cachedAnswers)) {
    return { text: "not reported", note: null };
  }
  const reasoning = usage.reasoningTokens > 0 ? ` (${usage.reasoningTokens.toLocaleString()} reasoning)` : "";
  const without = usage.answersWithoutUsage;
  return {
    text: `${usage.promptTokens.toLocaleString()} in · ${usage.completionTokens.toLocaleString()} out${reasoning}`,
    note:
      without > 0
        ? `not counting ${without.toLocaleString()} ${without === 1 ? "answer" : "answers"} reported without token counts`
        : null,
  };
}

/**
 * Each item once, where it first appears. Grouped by state, a running run's items change groups
 * between the pages "Load more" adds, so an item can be on two of them until the next refetch
 * reads every page again.
 */
export function distinctItems<T extends { sequence: number }>(items: T[]): T[] {
  const seen = new Set<number>();
  return items.filter((item) => {
    if (seen.has(item.sequence)) return false;
    seen.add(item.sequence);
    return true;
  });
}

/** Whether an item's extracted letter names none of its options. */
export function outsideOptions(item: { choices: string[]; extractedAnswer?: string | null }): boolean {
  const answer = item.extractedAnswer;
  if (item.choices.length === 0 || answer == null || !/^[A-Z]$/.test(answer)) return false;
  return answer.charCodeAt(0) - 65 >= item.choices.length;
}

function ms(value: number | null | undefined): string {
  return value == null ? "–" : value >= 1000 ? `${fixed(value / 1000, 2)} s` : `${fixed(value, 0)} ms`;
}

function Items({
  id,
  live,
  following,
  stale,
}: {
  id: string;
  live: boolean;
  following: boolean;
  /** Whether the page says already that it shows what was last loaded. */
  stale: boolean;
}) {
  const [groupBy, setGroupBy] = useSearchParam("groupBy", "category", GROUPINGS);
  const [state, setState] = useSearchParam("state", "", ["", ...ITEM_STATES]);
  // The run's categories, from the groups of one item's page (every group is counted there),
  // read once: a run's items, and so its categories, are fixed when it is created. A name with
  // a comma cannot be asked for: the API reads `category` as a comma-separated list.
  const categories = (
    useRunItemsQuery(id, { groupBy: "category", limit: 1 }, false).data?.pages[0]?.groups ?? []
  )
    .map((group) => group.key)
    .filter((name) => !name.includes(","));
  const [category, setCategory] = useSearchParam("category", "");
  const items = useRunItemsQuery(
    id,
    { groupBy, state: state || undefined, category: category || undefined, limit: 50 },
    live,
    following,
  );
  // A category none of the run's items is in (named in the address by a link from another
  // run) is refused by the server, naming the run's: said as the empty list it is, not as an
  // error.
  const noSuchCategory = categoryRefused(items.error);
  const groups = items.data?.pages[0]?.groups ?? [];
  const list = distinctItems(items.data?.pages.flatMap((page) => page.items) ?? []);
  const shown = useRef<HTMLDivElement>(null);
  // One item is open at a time, named in the address (`?item=N`): a link to it opens it, and
  // Back closes it. Opening an item is a history entry of its own (opening another instead
  // replaces it), and closing it goes back from that entry: no step of Back does nothing.
  const [params, setParams] = useSearchParams();
  const asked = params.get("item");
  // `?item=07` is item 7.
  const opened = asked !== null && /^\d+$/.test(asked) ? String(Number(asked)) : asked;
  const pushed = useRef<string | null>(null);
  const onToggle = (sequence: number, open: boolean) => {
    const named = String(sequence);
    if (open && opened !== named) {
      setParams((previous) => paramsWith(previous, { item: named }), { replace: opened !== null });
      pushed.current = opened === null ? named : pushed.current && named;
    } else if (!open && opened === named) {
      if (pushed.current === named) {
        window.history.back();
      } else {
        setParams((previous) => paramsWith(previous, { item: undefined }), { replace: true });
      }
      pushed.current = null;
    }
  };
  const listed = opened !== null && list.some((item) => String(item.sequence) === opened);
  // Focus inside the opened item when it leaves the list (a running item answered under the
  // "running" filter) follows it above the list: read while rendering, before React removes the
  // row that holds it.
  const carryFocus = useRef(false);
  // (A number only: the address's text is no selector.)
  const moving = opened !== null && !listed && /^\d+$/.test(opened);
  // Kept only while the item is away from the list (its row above may still be loading); any
  // other state forgets it, so that no later item takes the focus unasked.
  carryFocus.current =
    moving &&
    (carryFocus.current || document.activeElement?.closest(`.items details[data-sequence="${opened}"]`) != null);
  // An item a link opened is brought into view where the first list shows it; not when "Load
  // more" brings it in later, away from the button just pressed.
  const [linked] = useState(opened);
  const firstListed = useRef<Set<number> | null>(null);
  if (firstListed.current === null && items.data !== undefined) {
    firstListed.current = new Set(list.map((item) => item.sequence));
  }
  return (
    <section aria-labelledby="items-title">
      <div className="page-head">
        <h2 id="items-title">Items</h2>
        <div className="controls">
          <label>
            Group by{" "}
            <select value={groupBy} onChange={(e) => setGroupBy(e.target.value)}>
              <option value="category">category</option>
              <option value="state">state</option>
              <option value="none">nothing</option>
            </select>
          </label>
          {(categories.length > 1 || category !== "") && (
            <CategorySelect value={category} onChange={setCategory} categories={categories} />
          )}
          <FindItem id={id} onOpen={(sequence) => onToggle(sequence, true)} />
          <label>
            State{" "}
            <select value={state} onChange={(e) => setState(e.target.value)}>
              <option value="">all</option>
              {ITEM_STATES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
        </div>
      </div>
      {!(stale && items.data !== undefined) && !noSuchCategory && (
        <QueryError error={items.error} loaded={items.data !== undefined} />
      )}
      {noSuchCategory && (
        <p className="empty">{withCode(`${noSuchCategory.charAt(0).toUpperCase()}${noSuchCategory.slice(1)}.`)}</p>
      )}
      {opened !== null && !listed && (items.data !== undefined || items.error) && (
        <OpenedElsewhere
          id={id}
          asked={opened}
          live={live}
          following={following}
          onToggle={onToggle}
          carryFocus={carryFocus}
        />
      )}
      {/* Not under a state filter: each group's accuracy would be its filtered items' (every
          category 0.0 % under "incorrect"), read as the run's. */}
      {groups.length > 1 && !state && <GroupChart groups={groups} />}
      {/* Under a filter the list is paged: how many items it holds in all is said once. */}
      {(state || category) && list.length > 0 && !items.isPlaceholderData && (
        <MatchingCount count={matchingCount(groups)} />
      )}
      {items.isPending && (
        <p className="muted" role="status">
          Loading…
        </p>
      )}
      {items.isSuccess && !items.isPlaceholderData && list.length === 0 && (
        <p className="empty">
          {state || category
            ? `No item of this run is ${[state, category && `in ${category}`].filter(Boolean).join(" ")}.`
            : "This run has no items."}
        </p>
      )}
      {/* Another filter's items stay shown while this one's load: dimmed, and said busy. */}
      <div ref={shown} className={items.isPlaceholderData ? "items refreshing" : "items"} aria-busy={items.isPlaceholderData}>
        {list.map((item) => (
          <ItemRow
            key={item.sequence}
            runId={id}
            item={item}
            open={String(item.sequence) === opened}
            onToggle={onToggle}
            bringIntoView={String(item.sequence) === linked && (firstListed.current?.has(item.sequence) ?? false)}
          />
        ))}
      </div>
      <LoadMore
        list={shown}
        entries="details.item"
        hasMore={items.hasNextPage}
        fetching={items.isFetchingNextPage}
        onMore={() => void items.fetchNextPage()}
      >
        Load more items
      </LoadMore>
    </section>
  );
}

/** Per-group accuracy as horizontal bars, with the counts. */
/** What "Find item" was given: `#N` is the run's Nth item; anything else a dataset item's id
 *  (MMLU-Pro's are numbers too, which is why the run's own numbering takes the `#`). */
export function findTarget(text: string): { sequence: number } | { datasetItemId: string } | null {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  const numbered = /^#\s*(\d{1,9})$/.exec(trimmed);
  if (numbered) return { sequence: Number(numbered[1]) };
  return { datasetItemId: trimmed };
}

/**
 * Opens one item of the run by its dataset id (as the comparison and the dataset name it) or
 * by `#N`: in a run of thousands, the item a colleague named is otherwise dozens of "Load more"
 * away.
 */
function FindItem({ id, onOpen }: { id: string; onOpen: (sequence: number) => void }) {
  const [text, setText] = useState("");
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const find = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const target = findTarget(text);
    setNote(null);
    if (target === null) return;
    if ("sequence" in target) {
      onOpen(target.sequence);
      return;
    }
    setBusy(true);
    try {
      const page = unwrap(
        await api.GET("/runs/{run_id}/items", {
          params: { path: { run_id: id }, query: { datasetItemId: target.datasetItemId, groupBy: "none", limit: 1 } },
        }),
      );
      const item = page.items[0];
      if (item) onOpen(item.sequence);
      else setNote(`No item of this run has the dataset id “${target.datasetItemId}”.`);
    } catch (error) {
      setNote(error instanceof Error ? error.message : String(error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="find-item" onSubmit={(event) => void find(event)}>
      <label>
        Find item{" "}
        <input
          type="search"
          value={text}
          onChange={(event) => setText(event.target.value)}
          placeholder="dataset id, or #N"
          maxLength={128}
          size={14}
        />
      </label>{" "}
      <button type="submit" disabled={busy || text.trim() === ""}>
        Open
      </button>
      {note && (
        <span className="muted" role="status">
          {" "}
          {note}
        </span>
      )}
    </form>
  );
}

/** The server's words when it refused the items' `category` filter (a category none of the
 *  run's items is in), or `undefined`. */
export function categoryRefused(error: unknown): string | undefined {
  if (!(error instanceof ApiError) || error.status !== 422) return undefined;
  return error.problems.find((problem) => problem.field === "category")?.detail;
}

function GroupChart({ groups }: { groups: Group[] }) {
  return (
    <TableScroll label="Accuracy per group">
      <table className="table groups">
        <caption className="visually-hidden">Accuracy per group</caption>
        <thead>
          <tr>
            <th scope="col">Group</th>
            <th scope="col">Accuracy</th>
            <th scope="col" className="num">Correct / judged</th>
            <th scope="col" className="num">Items</th>
          </tr>
        </thead>
        <tbody>
          {groups.map((group) => (
            <tr key={group.key}>
              <th scope="row">{group.key}</th>
              <td>
                <div className="hbar" aria-hidden="true">
                  <span style={{ width: `${100 * (group.accuracy ?? 0)}%` }} />
                </div>{" "}
                {percent(group.accuracy)}
              </td>
              <td className="num">
                {group.progress.correct} / {group.progress.correct + group.progress.incorrect}
              </td>
              <td className="num">{group.progress.total}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableScroll>
  );
}

function ItemRow({
  runId,
  item,
  open,
  onToggle,
  bringIntoView = false,
  takeFocus,
}: {
  runId: string;
  item: Item;
  open: boolean;
  onToggle: (sequence: number, open: boolean) => void;
  /** Whether a link opened it: brought into view once. */
  bringIntoView?: boolean;
  /** Set when its row elsewhere held the focus: its summary takes it once mounted. */
  takeFocus?: RefObject<boolean>;
}) {
  // The answer streams into an open item while it runs; closed rows cost nothing.
  const live = useItemText(runId, item.sequence, open && item.state === "running");
  // An item opened by a link is brought into view once, where the list shows it.
  const row = useRef<HTMLDetailsElement>(null);
  const scrolled = useRef(false);
  useEffect(() => {
    if (open && bringIntoView && !scrolled.current) {
      row.current?.scrollIntoView?.({ block: "nearest" });
      scrolled.current = true;
    }
  }, [open, bringIntoView]);
  useEffect(() => {
    if (takeFocus?.current) {
      takeFocus.current = false;
      row.current?.querySelector("summary")?.focus();
    }
  }, [takeFocus]);
  // What the LLM judge spent on the verdict in force (the rule judges spend nothing): the latest
  // not undone (an undone re-judging's verdict is not in force); an item waiting for a
  // re-judging's verdict has none in force yet.
  const judgeSpent = item.verdict ? item.verdicts.filter((v) => !v.undone).at(-1)?.usage : null;
  return (
    <details
      ref={row}
      data-sequence={item.sequence}
      className={`item ${item.state}`}
      open={open}
      onToggle={(e) => onToggle(item.sequence, e.currentTarget.open)}
      onKeyDown={(e) => {
        // Escape closes the open item from anywhere in it, its summary keeping the focus.
        if (e.key === "Escape" && open) {
          e.stopPropagation();
          onToggle(item.sequence, false);
          row.current?.querySelector("summary")?.focus();
        }
      }}
    >
      <summary>
        {/* A running item with no attempt in flight is queued: claimed ahead of its turn, or
            waiting to be tried again (the API's state stays `running`). */}
        <span className="seq">#{item.sequence}</span>{" "}
        <StatusBadge status={item.state === "running" && item.timings.startedAt == null ? "queued" : item.state} />{" "}
        <span className="muted">{item.category}</span> <span className="q">{item.question}</span>
      </summary>
      {/* Only an open item's body is drawn: a list of thousands of closed items would otherwise
          hold every option, prompt and attempt of each (a 12,000-item run: over a million
          nodes). */}
      {open && (
        <div className="item-body">
          {item.choices.length > 0 && (
            <ol className="choices" type="A">
              {item.choices.map((choice, i) => (
                <li
                  key={i}
                  className={[
                    letter(i) === item.expectedAnswer ? "expected" : "",
                    letter(i) === item.extractedAnswer ? "picked" : "",
                  ].join(" ")}
                >
                  {choice}
                  {letter(i) === item.expectedAnswer && <em> (key)</em>}
                  {letter(i) === item.extractedAnswer && <em> (answered)</em>}
                </li>
              ))}
            </ol>
          )}
          <dl className="summary">
            {/* The dataset's own id (MMLU-Pro's question_id), as the comparison names items:
                not the item's place in the run (#N), and a number of its own. */}
            <Field label="Dataset item id">
              <code>{item.datasetItemId}</code>
            </Field>
            <Field label="Expected">{item.expectedAnswer}</Field>
            <Field label="Extracted">
              {item.extractedAnswer ?? "–"}
              {/* The last-letter fallback can read a capital that names no option ("I cannot
                  answer"): said, as the item has no such option to mark. */}
              {outsideOptions(item) && <span className="muted"> (not one of its {item.choices.length} options)</span>}{" "}
              {item.extractionTier && (
              <span className="muted" title={`extractionTier: ${item.extractionTier}`}>
                ({tierLabel(item.extractionTier)})
              </span>
            )}
            </Field>
            <Field label="Verdict">
              {item.verdict ?? "–"} {item.judge && <span className="muted">by {judgeLabel(item.judge)}</span>}
            </Field>
            <Field label="Latency">{ms(item.timings.latencyMs)}</Field>
            <Field label="Tokens">
              {/* An answer without counts (a Browser Harness capture) is not zero tokens. */}
              {item.responseText != null && item.usage.promptTokens == null && item.usage.completionTokens == null
                ? "not reported"
                : `${item.usage.promptTokens ?? "–"} in · ${item.usage.completionTokens ?? "–"} out`}
            </Field>
            {judgeSpent && (
              <Field label="Judge's tokens">
                {judgeSpent.promptTokens ?? "–"} in · {judgeSpent.completionTokens ?? "–"} out
                {judgeSpent.costUsd != null && ` · ${usd(judgeSpent.costUsd)}`}
              </Field>
            )}
          </dl>
          {item.judgeRationale && (
            <p>
              <strong>Judge:</strong> {item.judgeRationale}
            </p>
          )}
          {item.error && (
            <p className="error">
              <strong>{item.error.kind}</strong>: {item.error.message}
            </p>
          )}
          <h3>
            Response{" "}
            {item.responseText === null && live.streaming && (
              <span className="stream open">streaming (attempt {live.attempt})</span>
            )}
          </h3>
          <CutOffNote cutOff={item.cutOff} />
          {item.responseText === null && live.interrupted && (
            <p className="muted" role="status">
              The stream of this answer broke off: opening it again. What shows below may be behind.
            </p>
          )}
          {item.responseText === null && live.waiting && (
            <p className="muted">
              {item.timings.startedAt == null
                ? // Claimed by a worker (a run takes items ahead of the ones it sends), or waiting to
                  // be tried again: no attempt of it is in flight.
                  "Queued: waiting for its turn to be sent (or to be tried again)."
                : "Not streaming on this server just now: in flight on another server, or just ended."}{" "}
              The answer shows here as it streams or once it is stored.
            </p>
          )}
          <pre className="code" aria-live="off">
            {item.responseText ?? live.text ?? (STILL_TO_ANSWER.has(item.state) ? "(no answer yet)" : "(no answer)")}
            {item.responseText === null && live.streaming && <span className="caret" aria-hidden="true" />}
          </pre>
          {item.reasoningText && (
            <details>
              <summary>Reasoning ({item.reasoningText.length.toLocaleString()} characters, not judged)</summary>
              <pre className="code">{item.reasoningText}</pre>
            </details>
          )}
          <details>
            {/* The prompt is stored when the item is first claimed, before its request goes out:
                the attempts below say whether and when it was sent. */}
            <summary>Prompt</summary>
            <pre className="code">{item.renderedPrompt ?? "(not claimed yet)"}</pre>
          </details>
          <h3>Attempts</h3>
          {item.attempts.length === 0 && (
            // Not claimed yet, claimed and queued, or never sent (a Browser Harness item its
            // bundle did not capture, a run that failed or was canceled before its turn).
            <p className="muted">
              {item.state === "pending"
                ? "None yet."
                : item.state === "running"
                  ? "None yet: queued, not sent."
                  : item.error?.kind === "not_captured"
                    ? "None: the capture bundle it was imported from had no capture of it."
                    : "None: it was never sent."}
            </p>
          )}
          <ul>
            {item.attempts.map((attempt) => (
              <li key={attempt.attempt}>
                #{attempt.attempt} {attempt.outcome ?? "in flight"} · <Time at={attempt.startedAt} />
                {attempt.latencyMs != null && ` · ${ms(attempt.latencyMs)}`}
                {attempt.usage.promptTokens != null && ` · ${attempt.usage.promptTokens}+${attempt.usage.completionTokens ?? 0} tokens`}
                {attempt.error && (
                  <span className="error-inline">
                    {" "}
                    — {attempt.error.kind}: {attempt.error.message}
                  </span>
                )}
                {/* Where a Browser Harness captured it. Shown as text, not a link: the capture's
                    URL is whatever the harness wrote. */}
                {attempt.page && Object.keys(attempt.page).length > 0 && (
                  <span className="muted page-facts">
                    {" "}
                    · captured on{" "}
                    {Object.entries(attempt.page)
                      .map(([key, value]) => `${key}: ${value}`)
                      .join(", ")}
                  </span>
                )}
              </li>
            ))}
          </ul>
          {item.verdicts.length > 1 && (
            <>
              <h3>Verdict history</h3>
              <ul>
                {item.verdicts.map((v, i) => (
                  <li key={i}>
                    round {v.round}: {v.verdict} by {judgeLabel(v.judge)} · <Time at={v.judgedAt} />
                    {v.undone && (
                      <span className="muted">
                        {" "}
                        · undone: its re-judging did not finish (canceled or failed), and the run went back to the
                        verdicts it had
                      </span>
                    )}
                    {v.usage && ` · judge ${v.usage.promptTokens ?? "–"}+${v.usage.completionTokens ?? "–"} tokens`}
                    {/* Each round's own reasons: comparing two judges is reading what each said. */}
                    {v.rationale && <p className="muted rationale">{v.rationale}</p>}
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}
    </details>
  );
}

/** How many of a run's answers the provider cut off, and, when there are some, why and what it
 *  means for their verdicts. */
export function CutOffCount({ count, maxTokens }: { count: number; maxTokens: number | null | undefined }) {
  if (count === 0) return <>0</>;
  const limit = maxTokens == null ? "the provider's token limit" : `maxTokens ${maxTokens}`;
  return (
    <>
      {count}
      <span className="muted">{` — stopped before the model finished (${limit}, or a content filter: each item says which)`}</span>
    </>
  );
}

/** The cancel's question. On a run judged again, what a cancel of a re-judging does: it is undone,
 *  the run going back to the verdicts it had (the server keeps them while it runs). */
export function cancelQuestion(run: { rejudgeCount: number }): string {
  const question = "Cancel this run? Items in flight are stopped.";
  if (run.rejudgeCount === 0) return question;
  return `${question} A re-judging in progress is undone: the run goes back to the verdicts it had (what its judge spent stays spent).`;
}

/** The retry's question. A run judged by an LLM judge, or judged again, may hold answers on its
 *  failed and canceled items (a judging canceled or failed before it judged them: its judge
 *  refused, the run canceled): a retry asks the model anew and replaces them, paid for again,
 *  where a re-judging judges them as they are — said before it happens. */
export function retryQuestion(run: { rejudgeCount: number; judge: string }): string {
  const question = "Send this run's failed and canceled items again?";
  if (run.rejudgeCount === 0 && !run.judge.startsWith("llm:")) return question;
  return `${question} The model is asked anew: an answer one holds (its judging was canceled, or its judge failed) is replaced, and paid for again. To judge kept answers without asking again, use Re-judge… instead.`;
}

/** Said above the run's figures when some of its verdicts are not its LLM judge's: the rules gave
 *  them because it gave none (it failed, or answered without a verdict), and the accuracy mixes
 *  both. Nothing when every verdict is the judge's. */
export function JudgeFallbacks({ count, judged, judge }: { count: number; judged: number; judge: string }) {
  if (count === 0) return null;
  const all = count === judged;
  return (
    <p className="warning" role="note">
      {all ? `None of the ${count} verdicts is the judge's` : `${count} of the ${judged} verdicts are not the judge's`} (
      {judge}): it failed or answered without a verdict, and the extraction rules judged {all ? "them all" : "those"}{" "}
      instead, so the accuracy is {all ? "" : "partly "}theirs. Each such item's judge's reasons say why.
    </p>
  );
}

function MatchingCount({ count }: { count: number }) {
  return (
    <p className="muted" role="status">
      {count.toLocaleString()} {count === 1 ? "item matches" : "items match"}
    </p>
  );
}

/** How many items a filtered listing holds in all: its groups cover every one of them. */
export function matchingCount(groups: { progress: { total: number } }[]): number {
  return groups.reduce((sum, group) => sum + group.progress.total, 0);
}

/** Said of a finished run none of whose items was judged because every one failed: its status
 *  alone (`completed`, in green) reads as a run that went well. */
export function NothingAnswered({
  progress,
  status,
}: {
  progress: { correct: number; incorrect: number; faulted: number; total: number };
  status: string;
}) {
  // (A completed run has no item still open: judging nothing, every one of its items failed.)
  if (status !== "completed" || progress.correct + progress.incorrect > 0 || progress.faulted === 0) return null;
  return (
    <p className="warning" role="note">
      Nothing was evaluated: every one of the {progress.total.toLocaleString()} items failed. Each item's attempts say
      why; a retry of the faulted items sends them again.
    </p>
  );
}

/** Said beside an answer the provider stopped before the model finished it: judged as written,
 *  its extracted answer may be a word of its reasoning. */
export function CutOffNote({ cutOff }: { cutOff: string | null }) {
  if (!cutOff) return null;
  const why =
    cutOff === "max_tokens"
      ? "Cut off at the token limit: the provider stopped this answer before the model finished it (a larger maximum of tokens lets it finish)."
      : cutOff === "content_filter"
        ? "Cut off by the provider's content filter before the model finished it."
        : `Cut off by the provider (${cutOff}) before the model finished it.`;
  return (
    <p className="warning" role="note">
      {why} It was judged as written: what was extracted may be a word of its reasoning, not its conclusion.
    </p>
  );
}

function Logs({ id, live, following, stale }: { id: string; live: boolean; following: boolean; stale: boolean }) {
  // From `info` up by default: every attempt sent is a `debug` line, and a large run's
  // thousands of them would bury its story (creation, status, retries, failures).
  const [level, setLevel] = useState("info");
  // Newest first by default: a long run's log holds thousands of lines, and what a reader
  // comes for is mostly how it stands now (oldest first, that was a hundred "Load more" away).
  const [order, setOrder] = useState<LogOrder>("newest");
  const logs = useRunLogsQuery(id, level, order, live, following);
  const entries = logs.data?.pages.flatMap((page) => page.logs) ?? [];
  const shown = useRef<HTMLOListElement>(null);
  return (
    <section aria-labelledby="logs-title">
      <div className="page-head">
        <h2 id="logs-title">Log</h2>
        <div className="controls">
          <label>
            Level{" "}
            <select value={level} onChange={(e) => setLevel(e.target.value)}>
              <option value="info">info and above</option>
              <option value="">everything (with each attempt sent)</option>
              <option value="warn">warnings and errors</option>
              <option value="error">errors</option>
            </select>
          </label>
          <label>
            Order{" "}
            <select value={order} onChange={(e) => setOrder(e.target.value as LogOrder)}>
              <option value="newest">newest first</option>
              <option value="oldest">oldest first</option>
            </select>
          </label>
        </div>
      </div>
      {!(stale && logs.data !== undefined) && <QueryError error={logs.error} loaded={logs.data !== undefined} />}
      <ol className="logs" ref={shown}>
        {entries.map((entry) => (
          <li key={entry.id} className={entry.level}>
            <Time at={entry.at} /> <span className="badge">{entry.level}</span>
            {entry.sequence !== null && <span className="muted"> item {entry.sequence}</span>} {entry.message}
          </li>
        ))}
      </ol>
      <LoadMore
        list={shown}
        entries="li"
        hasMore={logs.hasNextPage}
        fetching={logs.isFetchingNextPage}
        onMore={() => void logs.fetchNextPage()}
      >
        Load more
      </LoadMore>
      <p>
        <Link href="/runs">Back to the archive</Link>
      </p>
    </section>
  );
}
