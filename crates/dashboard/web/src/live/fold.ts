// The live board: `GET /runs/active` snapshots, kept current by folding the event stream into
// them (docs/events.md, "Folding the stream into the board"). The same rules as the reference
// client of the server's own live tests; at rest the folded board equals `GET /runs/active`.
import type { ActiveRun, ItemSnapshot, Schemas } from "../api/client";

export type RunStatusEvent = Schemas["RunStatusEventDto"];
export type RunProgressEvent = Schemas["RunProgressEventDto"];
export type RunItemEvent = Schemas["RunItemEventDto"];

/** An event of the stream, by its SSE event name. */
export type LiveEvent =
  | { kind: "run_status"; data: RunStatusEvent }
  | { kind: "run_progress"; data: RunProgressEvent }
  | { kind: "run_item"; data: RunItemEvent };

/** The board: snapshots newest first, as `GET /runs/active` lists them. */
export type Board = readonly ActiveRun[];

const TERMINAL_RUN = new Set(["completed", "failed", "canceled"]);
const TERMINAL_ITEM = new Set(["correct", "incorrect", "failed", "canceled"]);
/** How many finished items a snapshot lists. */
export const RECENT_ITEMS = 5;

const EMPTY_PROGRESS = {
  completed: 0,
  total: 0,
  correct: 0,
  incorrect: 0,
  awaiting: 0,
  faulted: 0,
  pending: 0,
};

/**
 * Applies events in order. Snapshots no event touched keep their identity (so that cards that
 * did not change are not drawn again), and so does the board when nothing changed.
 */
export function fold(board: Board, events: readonly LiveEvent[]): Board {
  if (events.length === 0) {
    return board;
  }
  const byId = new Map<string, ActiveRun>();
  const order: string[] = [];
  for (const snapshot of board) {
    byId.set(snapshot.run.id, snapshot);
    order.push(snapshot.run.id);
  }
  let changed = false;
  for (const event of events) {
    const runId = event.data.runId;
    const before = byId.get(runId);
    const after = applyOne(before, event);
    if (after === before || after === undefined) {
      continue;
    }
    if (before === undefined) {
      order.unshift(runId);
    }
    byId.set(runId, after);
    changed = true;
  }
  if (!changed) {
    return board;
  }
  return order.map((id) => byId.get(id)!);
}

function applyOne(snapshot: ActiveRun | undefined, event: LiveEvent): ActiveRun | undefined {
  switch (event.kind) {
    case "run_status": {
      const { run, lifecycle, status } = event.data;
      const base: ActiveRun = snapshot ?? {
        run,
        lifecycle,
        progress: EMPTY_PROGRESS,
        currentItem: null,
        recentItems: [],
      };
      return {
        ...base,
        run,
        lifecycle,
        currentItem: TERMINAL_RUN.has(status) ? null : base.currentItem,
      };
    }
    case "run_progress":
      return snapshot && { ...snapshot, progress: event.data.progress };
    case "run_item":
      return snapshot && applyItem(snapshot, event.data.item);
  }
}

function applyItem(snapshot: ActiveRun, item: ItemSnapshot): ActiveRun {
  if (item.state === "running") {
    return { ...snapshot, currentItem: item };
  }
  const current =
    snapshot.currentItem?.sequence === item.sequence ? null : (snapshot.currentItem ?? null);
  const recentItems = TERMINAL_ITEM.has(item.state)
    ? [item, ...snapshot.recentItems.filter((i) => i.sequence !== item.sequence)].slice(
        0,
        RECENT_ITEMS,
      )
    : snapshot.recentItems;
  return { ...snapshot, currentItem: current, recentItems };
}

/**
 * Whether a run of `before` that had ended is going again in `after` (a retry). A retry
 * reopens items without an event for each (it may reopen thousands), so the snapshot's recent
 * items may list some that are pending again: the board is refetched (docs/events.md).
 */
export function reopened(before: Board, after: Board): boolean {
  if (before === after) {
    return false;
  }
  const ended = new Set(before.filter((s) => TERMINAL_RUN.has(s.run.status)).map((s) => s.run.id));
  return after.some((s) => ended.has(s.run.id) && !TERMINAL_RUN.has(s.run.status));
}
