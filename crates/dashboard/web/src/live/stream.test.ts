import { describe, expect, it } from "vitest";

import type { ActiveRun } from "../api/client";
import { type Board, type LiveEvent, fold } from "./fold";
import recording from "./fixtures/stream.json";

// Recorded from the real server by the API's live test (`record_for_the_dashboard` in
// crates/api/tests/api/live.rs; docs/dashboard.md says how to record anew): a client joins two
// runs mid-way (one with faults, one slow), disconnects, resumes with Last-Event-ID while the
// slow run is canceled, and follows both through retries to the end.
describe("the fold of a recorded stream", () => {
  it("ends equal to GET /runs/active", () => {
    const events = (recording.events as { event: string; data: unknown }[]).map(
      (e) => ({ kind: e.event, data: e.data }) as LiveEvent,
    );
    expect(events.length).toBeGreaterThan(100);
    const kinds = new Set(events.map((e) => e.kind));
    expect(kinds).toEqual(new Set(["run_status", "run_progress", "run_item"]));
    const board = fold(recording.initial as ActiveRun[], events);
    const byId = (runs: readonly ActiveRun[]) => Object.fromEntries(runs.map((r) => [r.run.id, r]));
    expect(byId(board)).toEqual(byId(recording.final as ActiveRun[]));
    // Folding them one at a time, as frames of one event each, ends the same.
    const stepwise = events.reduce<Board>((state, event) => fold(state, [event]), recording.initial as ActiveRun[]);
    expect(byId(stepwise)).toEqual(byId(board));
  });
});
