// Small pieces every page uses: readable API errors, the segmented progress bar, times.
import { type ReactNode, useEffect } from "react";
import { useSearchParams } from "wouter";

import { ApiError, type Progress, type Schemas } from "../api/client";
import type { StreamState } from "../live/useRunEvents";

/** A server's sentence, whose `quoted` names (a field, a command) it writes as Markdown code:
 * shown as code, not with their backticks. A sentence whose backticks do not pair (a name that
 * holds one) is shown as it is. */
export function withCode(text: string): ReactNode[] {
  const parts = text.split("`");
  if (parts.length % 2 === 0) {
    return [text];
  }
  return parts.map((part, i) => (i % 2 === 1 && part !== "" ? <code key={i}>{part}</code> : part));
}

/** A rejected file's or bundle's sentence names its first problem for readers of the sentence
 * alone ("the jsonl file has 3 problem(s); first: line 2: …", "the bundle was not imported; …,
 * the first: /captures/0: …"); above the list that starts with that problem, it is said once. */
function withoutFirstProblem(error: ApiError): string {
  const first = error.problems[0];
  if (first === undefined) {
    return error.message;
  }
  const at = first.line != null ? `line ${first.line}: ` : `${first.field ?? "(document)"}: `;
  for (const lead of ["; first: ", ", the first: "]) {
    for (const named of [`${at}${first.detail}`, first.detail]) {
      if (error.message.endsWith(lead + named)) {
        return error.message.slice(0, -(lead + named).length);
      }
    }
  }
  return error.message;
}

/** An error as a person can read it: the problem's title and detail, and each field's problem. */
export function ErrorNote({ error }: { error: unknown }) {
  if (error === null || error === undefined) {
    return null;
  }
  if (error instanceof ApiError) {
    // A problem with one field's error states it as its detail too: said once, in the list.
    const only = error.problems.length === 1 ? error.problems[0] : undefined;
    const restated = only !== undefined && only.field != null && error.message === `${only.field}: ${only.detail}`;
    return (
      <div className="error" role="alert">
        {/* Status 0: a problem found here, before anything was sent. */}
        <strong>{error.status === 0 ? error.title : `${error.title} (${error.status})`}</strong>
        {!restated && <p>{withCode(withoutFirstProblem(error))}</p>}
        {error.problems.length > 0 && (
          <ul>
            {error.problems.map((p, i) => (
              <li key={i}>
                {p.field && <code>{p.field}</code>} {p.line != null && `line ${p.line}: `}
                {withCode(p.detail)}
              </li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  if (unreachable(error)) {
    return (
      <div className="error" role="alert">
        <strong>Cannot reach the server</strong>
        <p>It may be restarting, or the network is down.</p>
      </div>
    );
  }
  // A check made here (a file that is not JSON, say): its sentence is the whole story.
  return (
    <div className="error" role="alert">
      <p>{error instanceof Error ? error.message : String(error)}</p>
    </div>
  );
}

/**
 * A cancel or retry that did not happen: which one, why, and a way to put the note away (the
 * page goes on updating under it, so it would otherwise outlive the problem).
 */
export function ActionFailed({
  action,
  error,
  onDismiss,
  onForce,
}: {
  action: "cancel" | "retry" | "rejudge" | undefined;
  error: unknown;
  onDismiss: () => void;
  /** Retry again, forced past a configuration that changed since the run was made. */
  onForce?: () => void;
}) {
  if (error === null || error === undefined) {
    return null;
  }
  if (action === "retry" && onForce && error instanceof ApiError && error.type === CONFIGURATION_CHANGED) {
    // The server names what changed and tells an API client to send `force`: here, a button.
    const changed = error.message.replace(/; send `?\{"force": true\}`? to retry it anyway$/, "");
    return (
      <div className="warning" role="alert">
        <p>
          <strong>The retry did not happen</strong>: {changed}. Its new answers would come from
          another setup than its first ones: Retry anyway sends its failed and canceled items
          with the configuration as it is now.
        </p>
        <p>
          <button type="button" onClick={onForce} ref={focusIfAdrift}>
            Retry anyway
          </button>{" "}
          <button type="button" className="link" onClick={onDismiss}>
            Dismiss
          </button>
        </p>
      </div>
    );
  }
  if (action === "cancel" && error instanceof ApiError && error.status === 409) {
    // The run had ended (canceled elsewhere, or finished) before the cancel came: what the
    // user wanted is so, and nothing failed.
    return (
      <div className="warning" role="status">
        <p>
          Nothing to cancel: {error.message}.{" "}
          <button type="button" className="link" onClick={onDismiss}>
            Dismiss
          </button>
        </p>
      </div>
    );
  }
  const what = action === "cancel" ? "The cancel" : action === "retry" ? "The retry" : "The re-judging";
  const why =
    error instanceof ApiError && error.status === 409
      ? `not possible now: ${error.message}`
      : unreachable(error)
        ? "the server cannot be reached"
        : error instanceof Error
          ? error.message
          : String(error);
  return (
    <div className="error" role="alert">
      <p>
        <strong>{what} did not happen</strong>: {why}.{" "}
        <button type="button" className="link" onClick={onDismiss} ref={focusIfAdrift}>
          Dismiss
        </button>
      </p>
    </div>
  );
}

/**
 * Focuses a refusal's first button as it appears, unless the reader has moved on: the button
 * pressed was disabled while its request ran, so focus fell to nothing (on the board) or to the
 * page's title, where a run's page puts it meanwhile. The next thing to decide is this button's.
 * (A ref callback of stable identity: called when the button mounts, not at every render.)
 */
function focusIfAdrift(button: HTMLButtonElement | null) {
  const focused = document.activeElement;
  if (button && (focused === null || focused === document.body || focused.tagName === "H1")) {
    button.focus();
  }
}

/** The problem type of a retry refused because the run's configuration changed. */
const CONFIGURATION_CHANGED = "urn:evalboard:problem:configuration-changed";

/** Whether `error` is fetch failing to reach the server at all: a `TypeError` worded by the
 *  browser (Chromium "Failed to fetch", Firefox "NetworkError …", Safari "Load failed"), not
 *  one a bug in the page threw. */
function unreachable(error: unknown): boolean {
  return error instanceof TypeError && /failed to fetch|networkerror|load failed/i.test(error.message);
}

/**
 * A page that has what it loaded before a refetch failed keeps showing it, and says so. (Its
 * queries retry by themselves a few times, and a live page keeps polling; nothing is promised.)
 */
export function StaleNote({ error }: { error: unknown }) {
  if (error === null || error === undefined) {
    return null;
  }
  const why = unreachable(error) ? "the server cannot be reached" : error instanceof Error ? error.message : String(error);
  return (
    <p className="warning" role="status">
      Showing what was last loaded: {why}.
    </p>
  );
}

/**
 * "Loading…" for a query still pending, and, once an attempt has failed and it is trying again,
 * why: a server whose database is out of reach answers each request after seconds, and a few
 * retries would otherwise show nothing but "Loading…" for half a minute.
 */
export function Loading({ failure }: { failure: unknown }) {
  if (failure === null || failure === undefined) {
    return <p role="status">Loading…</p>;
  }
  const why = unreachable(failure) ? "the server cannot be reached" : failure instanceof Error ? failure.message : String(failure);
  return (
    <p className="warning" role="status">
      Loading… the last try failed ({why}); trying again.
    </p>
  );
}

/** A query's error: above what it still shows from before ([`StaleNote`]), or in its place. */
export function QueryError({ error, loaded }: { error: unknown; loaded: boolean }) {
  return loaded ? <StaleNote error={error} /> : <ErrorNote error={error} />;
}

/** The browser tab's title (and history entry's) while a page is shown: `what · evalboard`. */
export function useTitle(what: string) {
  useEffect(() => {
    document.title = what ? `${what} · evalboard` : "evalboard";
  }, [what]);
}

type Segment = { key: string; name: string; count: number };

/**
 * The bar's segments, in order. Faulted items are split into failed and canceled when the number
 * of canceled ones is known (a run's detail has it; the board's snapshot, in the contract's
 * shape, does not), and otherwise named for what they may be: a canceled run's never-answered
 * items are not failures.
 */
function segments(progress: Progress, canceled: number | undefined, runCanceled: boolean): Segment[] {
  const faulted: Segment[] =
    canceled === undefined
      ? [{ key: "faulted", name: runCanceled ? "Failed or canceled" : "Faulted", count: progress.faulted }]
      : [
          { key: "faulted", name: "Failed", count: progress.faulted - canceled },
          { key: "canceled", name: "Canceled", count: canceled },
        ];
  return [
    { key: "correct", name: "Correct", count: progress.correct },
    { key: "incorrect", name: "Incorrect", count: progress.incorrect },
    { key: "awaiting", name: "Awaiting judge", count: progress.awaiting },
    ...faulted,
    // Queued or in flight: the progress does not tell them apart, and "pending" read as
    // "not started" while items were being answered.
    { key: "pending", name: "Unanswered", count: progress.pending },
  ];
}

/** A live region present from the first render, so that what appears in it later is read out
 * (screen readers often skip a region that arrives already filled). */
export function Announce({ children }: { children: ReactNode }) {
  return <div role="status">{children}</div>;
}

/**
 * Correct, incorrect, awaiting, faulted and pending items as one bar, with a legend. `canceled`
 * (from a run's detail) splits the faulted items; `status` names them for a canceled run
 * without it.
 */
export function ProgressBar({ progress, canceled, status }: { progress: Progress; canceled?: number; status?: string }) {
  const total = Math.max(progress.total, 1);
  const shown = segments(progress, canceled, status === "canceled");
  const label = shown.map(({ name, count }) => `${name} ${count}`).join(", ");
  return (
    <div className="progress">
      <div className="bar" role="img" aria-label={`${doneLabel(progress, status)}: ${label}`}>
        {/* Every segment, empty ones at 0 %: a count reaching or leaving zero changes a width
            instead of adding or removing an element. */}
        {shown.map(({ key, count }) => (
          <span key={key} className={`seg ${key}`} style={{ width: `${(100 * count) / total}%` }} />
        ))}
      </div>
      <ul className="legend">
        {shown.map(({ key, name, count }) => (
          <li key={key}>
            <span className={`dot ${key}`} aria-hidden="true" />
            {name} <strong>{count}</strong>
          </li>
        ))}
      </ul>
    </div>
  );
}

/**
 * How far a run got, in words: `6 of 10 done`; for a canceled run the items judged, since all
 * its items are "done" once the rest are canceled.
 */
export function doneLabel(progress: Progress, status?: string): string {
  return status === "canceled"
    ? `${progress.correct + progress.incorrect} of ${progress.total} judged`
    : `${progress.completed} of ${progress.total} done`;
}

/** Strict accuracy: correct over judged, or a dash. */
export function accuracy(progress: Progress): string {
  const judged = progress.correct + progress.incorrect;
  return judged === 0 ? "–" : percent(progress.correct / judged);
}

/** A failure as one line, `kind: message`, its kind said once: a provider's message often
 *  starts with it already ("unauthorized: …"; the server's `failure_text` says it so too). */
export function failureText(failure: { kind: string; message: string }): string {
  return failure.message.startsWith(`${failure.kind}: `) ? failure.message : `${failure.kind}: ${failure.message}`;
}

/** A failure's message without its kind in front, for where the kind is shown beside it. */
export function failureMessage(failure: { kind: string; message: string }): string {
  return failureText(failure).slice(failure.kind.length + 2);
}

// Numbers in the reader's locale, as counts are (`toLocaleString`): a page read in German showed
// "12.032" items beside "60.3 %" and "$4.5480".
const USD_FORMAT = new Intl.NumberFormat(undefined, {
  style: "currency",
  currency: "USD",
  minimumFractionDigits: 4,
  maximumFractionDigits: 4,
});
const FIXED_FORMATS = new Map<number, Intl.NumberFormat>();

/** `value` with `digits` decimals in the reader's locale (`toFixed`, localised). */
export function fixed(value: number, digits: number): string {
  let format = FIXED_FORMATS.get(digits);
  if (format === undefined) {
    format = new Intl.NumberFormat(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
    FIXED_FORMATS.set(digits, format);
  }
  return format.format(value);
}

/** US dollars to the hundredth of a cent; a cost too small for that is not shown as nothing. */
export function usd(value: number): string {
  return value > 0 && value < 0.00005 ? `< ${USD_FORMAT.format(0.0001)}` : USD_FORMAT.format(value);
}

export function percent(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined ? "–" : `${fixed(100 * value, digits)} %`;
}

// One formatter for every time shown: `toLocaleString` builds a new one at each call.
const TIME_FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });

/** A server time (RFC 3339) in the reader's locale, with the full value on hover. */
export function Time({ at }: { at: string | null | undefined }) {
  if (!at) {
    return <span>–</span>;
  }
  return (
    <time dateTime={at} title={at}>
      {TIME_FORMAT.format(new Date(at))}
    </time>
  );
}

/** When a run was created, read from its id: run ids are UUIDv7, whose first 48 bits are the
 *  creation time in Unix milliseconds (the board's snapshots, the contract's shape, carry no
 *  time). `null` for an id of another shape. */
export function createdAtOf(runId: string): string | null {
  const hex = /^run-([0-9a-f]{12})[0-9a-f]{20}$/i.exec(runId)?.[1];
  return hex ? new Date(parseInt(hex, 16)).toISOString() : null;
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge ${status}`}>{status}</span>;
}

/** "Category" with "all" and the given categories; one chosen that is not among them (named
 *  in the address by a link from another run) is kept selectable, so that the emptiness it
 *  gives has its reason shown. */
export function CategorySelect({
  value,
  onChange,
  categories,
}: {
  value: string;
  onChange: (value: string) => void;
  categories: string[];
}) {
  return (
    <label>
      Category{" "}
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">all</option>
        {[...categories, ...(value && !categories.includes(value) ? [value] : [])].map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Whether a page's live stream is open; announced politely when it changes. */
export function StreamBadge({ state }: { state: StreamState }) {
  return (
    <span className={`stream ${state}`} role="status" aria-live="polite">
      {state === "open" ? "Live" : state === "connecting" ? "Connecting…" : "Reconnecting…"}
    </span>
  );
}

export function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="field">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** A table wider than the window (a phone, many runs compared) scrolls inside its own box
 *  instead of widening the page. The box is a labelled region a keyboard can focus, so it can
 *  be scrolled without a pointer. */
export function TableScroll({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-scroll" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}

/** The provider runs imported from Browser Harness captures are under: nothing could answer a
 *  retry of them (a new pack does). */
export const BROWSER_HARNESS = "Browser Harness";

/** The retry button's words, as the progress legend names what a retry takes: the faulted
 *  items, which a canceled run's legend calls "failed or canceled". */
export function retryLabel(status: string): string {
  return status === "canceled" ? "Retry failed or canceled" : "Retry faulted";
}

/** Run statuses of runs still going. */
export const ACTIVE = new Set(["pending", "running"]);

/** How a run's judge reads to a user: `choice` (the API's name for the extraction rules, which
 *  read a letter or a number by the dataset's kind) says what it is; an LLM judge its name. */
export function judgeLabel(judge: string): string {
  return judge === "choice" ? "extraction rules" : judge === "numeric" ? "numeric rules" : judge;
}

/** Which extraction rule read the answer, in words (engine.md names them); the API's name of
 *  an unknown one is shown as it is. The weaker fallbacks say so. */
export function tierLabel(tier: string): string {
  const words: Record<string, string> = {
    answer_is: "read from “the answer is …”",
    answer_label: "read from an “Answer:” label",
    last_letter: "the last standalone letter: a fallback",
    final_mark: "read from the #### mark",
    boxed: "read from \\boxed{…}",
    last_number: "the last number: a fallback",
    unparsed: "no answer found",
  };
  return words[tier] ?? tier;
}

/** The letter of a choice index: A, B, ... */
export function letter(index: number): string {
  return String.fromCharCode(65 + index);
}

/** `previous` with `values` set, each `undefined` one dropped. */
export function paramsWith(previous: URLSearchParams, values: Record<string, string | undefined>): URLSearchParams {
  const next = new URLSearchParams(previous);
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) next.delete(name);
    else next.set(name, value);
  }
  return next;
}

/**
 * A page's choice kept in its address (`?name=value`), so that a reload, a shared link and Back
 * keep it; `fallback` when absent or, given `allowed`, not one of them (and the parameter is
 * dropped when set back to it). Changing it
 * replaces the history entry: a choice is not a page of its own.
 */
export function useSearchParam(
  name: string,
  fallback: string,
  allowed?: readonly string[],
): [string, (value: string) => void] {
  const [params, setParams] = useSearchParams();
  const set = (value: string) =>
    setParams((previous) => paramsWith(previous, { [name]: value === fallback ? undefined : value }), {
      replace: true,
    });
  const value = params.get(name) ?? fallback;
  // A value the page has no choice for (an edited or outdated link) reads as the fallback, so
  // that the page's controls say what it shows.
  return [allowed === undefined || allowed.includes(value) ? value : fallback, set];
}

/**
 * A dataset's categories as checkboxes named `name` (none checked: every category), each with
 * its item count, and `children` below them (its problems, what the choice amounts to). With
 * `checked` and `onChange` the caller follows the choice; without, the form reads it.
 */
export function CategoryChecks({
  id,
  name,
  categories,
  checked,
  defaultChecked,
  others,
  onChange,
  children,
}: {
  id: string;
  name: string;
  categories: Schemas["CategoryDto"][] | undefined;
  checked?: string[];
  /** Without `checked`: those checked at first. */
  defaultChecked?: string[];
  /** Categories to offer beyond `categories` (of another version of the dataset), checked at
   * first, without a count. */
  others?: string[];
  onChange?: (checked: string[]) => void;
  children?: ReactNode;
}) {
  return (
    <div className="form-field wide" role="group" aria-labelledby={id}>
      <span id={id}>Categories (none: all)</span>
      <div className="checks">
        {categories?.map((c) => (
          <label key={c.name} className="check">
            <input
              type="checkbox"
              name={name}
              value={c.name}
              checked={checked?.includes(c.name)}
              defaultChecked={checked === undefined ? defaultChecked?.includes(c.name) : undefined}
              onChange={
                onChange &&
                ((e) => onChange(e.target.checked ? [...(checked ?? []), c.name] : (checked ?? []).filter((n) => n !== c.name)))
              }
            />{" "}
            {c.name} <span className="muted">({c.itemCount})</span>
          </label>
        ))}
        {others?.map((other) => (
          <label key={other} className="check">
            <input type="checkbox" name={name} value={other} defaultChecked />{" "}
            {other} <span className="muted">(not in the newest version)</span>
          </label>
        ))}
      </div>
      {children}
    </div>
  );
}

/** A run's setup in a few words, where it differs from every item asked zero-shot: its worked
 *  examples, its categories, its sample (a seeded random one, or the first N items). Empty for a
 *  whole zero-shot run. */
export function setupOf(settings: Schemas["RunSettingsDto"]): string[] {
  const parts: string[] = [];
  if (settings.shots) {
    parts.push(`${settings.shots}-shot${settings.shotsFrom ? ` from ${settings.shotsFrom.datasetName}` : ""}`);
  }
  const categories = settings.selection?.categories ?? [];
  if (categories.length === 1) parts.push(categories[0]!);
  else if (categories.length > 1) parts.push(`${categories.length} categories`);
  // Without a seed a "sample" is the dataset's first items, which in a file sorted by category
  // (MMLU-Pro's test split) are one category: said apart from a random sample.
  const sample = settings.selection?.sampleSize;
  const seed = settings.selection?.seed;
  if (sample != null) {
    parts.push(seed == null ? `first ${sample.toLocaleString()}` : `sample of ${sample.toLocaleString()} (seed ${seed})`);
  }
  // What a sweep varies: runs of one model at several temperatures read alike without it.
  const generation = settings.generation;
  if (generation?.temperature != null) parts.push(`temperature ${generation.temperature}`);
  if (generation?.topP != null) parts.push(`top-p ${generation.topP}`);
  return parts;
}
