import { cleanup, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { ActiveBoard } from "../queries";
import { FakeEventSource } from "../testing/fakeEventSource";
import { QueryWrapper, freshQueryClient } from "../testing/queryClient";

import { useRunEvents } from "./useRunEvents";

const wrapper = QueryWrapper;

beforeEach(() => {
  FakeEventSource.opened = [];
  vi.stubGlobal("EventSource", FakeEventSource);
  // No worker here: the page follows the stream itself, as where a worker cannot start.
  vi.stubGlobal("Worker", undefined);
  freshQueryClient();
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const board = (lastEventId: string, hydration: number): ActiveBoard => ({ runs: [], lastEventId, hydration });

describe("useRunEvents", () => {
  it("waits for the board, then follows the stream from the board's position", () => {
    const { rerender } = renderHook(({ data }) => useRunEvents(12, data), {
      wrapper,
      initialProps: { data: undefined as ActiveBoard | undefined },
    });
    expect(FakeEventSource.opened).toHaveLength(0);
    rerender({ data: board("5", 1) });
    expect(FakeEventSource.opened.map((s) => s.url)).toEqual(["/runs/events?view=board&lastEventId=5"]);
  });

  it("follows the stream again from the position of each new fetch of the board", () => {
    const { rerender } = renderHook(({ data }) => useRunEvents(12, data), {
      wrapper,
      initialProps: { data: board("5", 1) },
    });
    // Events folded into the board keep its fetch: the stream goes on.
    rerender({ data: { ...board("5", 1), runs: [] } });
    expect(FakeEventSource.opened).toHaveLength(1);
    // A new fetch (after an error, a reset, a retry), even at the same position: events the old
    // stream folded into the replaced board come again from the snapshot's position.
    rerender({ data: board("9", 2) });
    rerender({ data: board("9", 3) });
    expect(FakeEventSource.opened.map((s) => s.url)).toEqual([
      "/runs/events?view=board&lastEventId=5",
      "/runs/events?view=board&lastEventId=9",
      "/runs/events?view=board&lastEventId=9",
    ]);
    expect(FakeEventSource.opened.slice(0, 2).every((s) => s.closed)).toBe(true);
    expect(FakeEventSource.opened[2]!.closed).toBe(false);
  });
});
