import { describe, expect, it } from "vitest";

import type { ActiveRun, ItemSnapshot, Schemas } from "../api/client";
import { type LiveEvent, fold, reopened } from "./fold";

type RunStatus = Schemas["RunDto"]["status"];
type ItemState = ItemSnapshot["state"];

const run = (id: string, status: RunStatus) => ({
  id,
  providerName: "Simulated",
  datasetName: "Demo",
  modelName: "sim-1",
  status,
});
const lifecycle = { resumedCount: 0, lastResumedAt: null, cancelRequestedAt: null };
const progress = (done: number, total: number) => ({
  completed: done,
  total,
  correct: done,
  incorrect: 0,
  awaiting: 0,
  faulted: 0,
  pending: total - done,
});
const item = (sequence: number, state: ItemState): ItemSnapshot => ({
  sequence,
  state,
  promptText: `Question ${sequence}?`,
  choices: ["a", "b"],
});
const at = "2026-12-02T20:00:00.000Z";

const status = (id: string, to: RunStatus, previous: RunStatus | null): LiveEvent => ({
  kind: "run_status",
  data: { runId: id, run: run(id, to), status: to, previousStatus: previous, lifecycle, at },
});
const moved = (id: string, done: number, total: number): LiveEvent => ({
  kind: "run_progress",
  data: { runId: id, progress: progress(done, total), canceled: 0, at },
});
const itemEvent = (id: string, sequence: number, state: ItemState): LiveEvent => ({
  kind: "run_item",
  data: { runId: id, item: item(sequence, state), at },
});

describe("fold", () => {
  it("builds a new run's snapshot from its events", () => {
    const board = fold(
      [],
      [
        status("run-1", "pending", null),
        moved("run-1", 0, 3),
        status("run-1", "running", "pending"),
        itemEvent("run-1", 1, "running"),
        itemEvent("run-1", 1, "correct"),
        moved("run-1", 1, 3),
        itemEvent("run-1", 2, "running"),
      ],
    );
    expect(board).toEqual<ActiveRun[]>([
      {
        run: run("run-1", "running"),
        lifecycle,
        progress: progress(1, 3),
        currentItem: item(2, "running"),
        recentItems: [item(1, "correct")],
      },
    ]);
  });

  it("keeps five recent items, newest first, once each", () => {
    const events: LiveEvent[] = [status("run-1", "running", "pending")];
    for (const sequence of [1, 2, 3, 4, 5, 6]) {
      events.push(itemEvent("run-1", sequence, "running"), itemEvent("run-1", sequence, "incorrect"));
    }
    // A retry finishing item 6 again replaces its entry.
    events.push(itemEvent("run-1", 6, "correct"));
    const [snapshot] = fold([], events);
    expect(snapshot!.recentItems.map((i) => [i.sequence, i.state])).toEqual([
      [6, "correct"],
      [5, "incorrect"],
      [4, "incorrect"],
      [3, "incorrect"],
      [2, "incorrect"],
    ]);
    expect(snapshot!.currentItem).toBeNull();
  });

  it("clears the current item when the run ends, and keeps what did not change", () => {
    const start = fold(
      [],
      [status("run-2", "running", "pending"), status("run-1", "running", "pending"), itemEvent("run-1", 4, "running")],
    );
    expect(start.map((s) => s.run.id)).toEqual(["run-1", "run-2"]);
    const after = fold(start, [status("run-1", "canceled", "running")]);
    expect(after[0]!.currentItem).toBeNull();
    expect(after[0]!.run.status).toBe("canceled");
    expect(after[1]).toBe(start[1]);
    expect(fold(after, [])).toBe(after);
  });

  it("an awaiting item is no longer current but not yet recent", () => {
    const [snapshot] = fold(
      [],
      [status("run-1", "running", "pending"), itemEvent("run-1", 7, "running"), itemEvent("run-1", 7, "awaiting")],
    );
    expect(snapshot!.currentItem).toBeNull();
    expect(snapshot!.recentItems).toEqual([]);
  });

  it("ignores progress and items of runs it has no snapshot of", () => {
    const board = fold([], [moved("run-9", 1, 2), itemEvent("run-9", 1, "correct")]);
    expect(board).toEqual([]);
  });

  it("applying an event again changes nothing (replayed after a resume)", () => {
    const events = [status("run-1", "running", "pending"), moved("run-1", 2, 5), itemEvent("run-1", 2, "correct")];
    const once = fold([], events);
    expect(fold(once, events)).toEqual(once);
  });

  it("tells when an ended run goes again (a retry), whose recent items may be pending again", () => {
    const ended = fold([], [status("run-1", "running", "pending"), itemEvent("run-1", 1, "canceled"), status("run-1", "canceled", "running")]);
    const retried = fold(ended, [status("run-1", "running", "canceled")]);
    expect(reopened(ended, retried)).toBe(true);
    // Not when a run merely goes on, ends, or is new.
    const going = fold([], [status("run-2", "pending", null)]);
    expect(reopened(going, fold(going, [status("run-2", "running", "pending")]))).toBe(false);
    expect(reopened(retried, fold(retried, [status("run-1", "completed", "running")]))).toBe(false);
    expect(reopened([], going)).toBe(false);
    expect(reopened(ended, ended)).toBe(false);
  });
});
