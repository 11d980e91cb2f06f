// Following `GET /runs/events?view=board` with the browser's EventSource, its events passed on in batches.
// Runs in a worker (stream.worker.ts), so that the page's main thread does not take thousands
// of events a second one at a time; on the page itself where a worker cannot.

import { apiUrl } from "../api/base";

/** The stream's event kinds the board folds. */
export const KINDS = ["run_status", "run_progress", "run_item"] as const;
export type EventKind = (typeof KINDS)[number];

/** What a follower reports, in the order it happened. */
export type StreamMessage =
  | { type: "open" }
  /** The stream broke; the browser (or the follower) connects again from the last event seen. */
  | { type: "error" }
  /** The server could not resume from the position: the board must be fetched again. */
  | { type: "reset" }
  /** Events in order: `kinds[i]` is the kind of the i-th element of the JSON array `json`. */
  | { type: "events"; kinds: EventKind[]; json: string }
  /** A worker without EventSource: the page follows the stream itself. */
  | { type: "unsupported" };

/** How long events gather before they are passed on: less than a frame. */
const BATCH_MS = 10;
/** When the browser gives up on the stream (an error answer), how long before trying again. */
const RETRY_MS = 2000;

/**
 * Follows the stream of the server below `base` (its base path) from `from` (the board's
 * hydration position, or its start), reporting what happens; returns the function that stops
 * following.
 */
export function followStream(
  base: string,
  from: string | null,
  report: (message: StreamMessage) => void,
): () => void {
  let source: EventSource | null = null;
  let kinds: EventKind[] = [];
  // The events' JSON as received: joined into one array, parsed once by whoever folds them.
  let data: string[] = [];
  let batch: ReturnType<typeof setTimeout> | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;
  let lastSeen = from;

  const flush = () => {
    if (batch !== null) clearTimeout(batch);
    batch = null;
    if (kinds.length > 0) {
      const message: StreamMessage = { type: "events", kinds, json: `[${data.join(",")}]` };
      kinds = [];
      data = [];
      report(message);
    }
  };
  const connect = () => {
    // The board view: what the board shows, in batches (docs/events.md); resuming from any
    // event's id, the last seen, folds into the same board.
    source = new EventSource(
      apiUrl(
        lastSeen === null
          ? "/runs/events?view=board"
          : `/runs/events?view=board&lastEventId=${encodeURIComponent(lastSeen)}`,
        base,
      ),
    );
    source.onopen = () => report({ type: "open" });
    source.onerror = () => {
      flush();
      report({ type: "error" });
      if (source?.readyState === EventSource.CLOSED) {
        // The browser gave up (an error answer): try again ourselves, from where we were.
        source.close();
        retry = setTimeout(connect, RETRY_MS);
      }
    };
    for (const kind of KINDS) {
      source.addEventListener(kind, (message) => {
        const event = message as MessageEvent<string>;
        if (event.lastEventId) {
          lastSeen = event.lastEventId;
        }
        kinds.push(kind);
        data.push(event.data);
        batch ??= setTimeout(flush, BATCH_MS);
      });
    }
    source.addEventListener("reset", () => {
      // What came before the reset is in the board the reset makes the page fetch again.
      kinds = [];
      data = [];
      report({ type: "reset" });
    });
  };
  connect();
  return () => {
    source?.close();
    if (batch !== null) clearTimeout(batch);
    if (retry !== null) clearTimeout(retry);
  };
}
