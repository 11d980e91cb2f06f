import type { QueryClient } from "@tanstack/react-query";
import { act, cleanup, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { type ActiveBoard, keys } from "../queries";
import { FakeEventSource } from "../testing/fakeEventSource";
import { QueryWrapper, freshQueryClient } from "../testing/queryClient";
import { setPageVisibility } from "../testing/visibility";

import { useRunEvents } from "./useRunEvents";

const wrapper = QueryWrapper;

let client: QueryClient;

beforeEach(() => {
  vi.useFakeTimers();
  FakeEventSource.opened = [];
  vi.stubGlobal("EventSource", FakeEventSource);
  // No worker here: the page follows the stream itself, as where a worker cannot start.
  vi.stubGlobal("Worker", undefined);
  client = freshQueryClient();
});
afterEach(() => {
  cleanup();
  setPageVisibility("visible");
  vi.useRealTimers();
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

  it("after a failed connection waits before opening the stream again, longer each time", () => {
    const { rerender } = renderHook(({ data }) => useRunEvents(12, data), {
      wrapper,
      initialProps: { data: board("5", 1) },
    });
    const fail = (source: FakeEventSource) => act(() => source.onerror!());
    fail(FakeEventSource.opened[0]!);
    // The failure refetched the board: its new position waits a second.
    rerender({ data: board("5", 2) });
    expect(FakeEventSource.opened).toHaveLength(1);
    act(() => vi.advanceTimersByTime(1000));
    expect(FakeEventSource.opened).toHaveLength(2);
    fail(FakeEventSource.opened[1]!);
    rerender({ data: board("5", 3) });
    act(() => vi.advanceTimersByTime(1000));
    expect(FakeEventSource.opened).toHaveLength(2);
    act(() => vi.advanceTimersByTime(1000));
    expect(FakeEventSource.opened).toHaveLength(3);
    // Open again: the next fetch follows at once.
    act(() => FakeEventSource.opened[2]!.onopen!());
    rerender({ data: board("7", 4) });
    expect(FakeEventSource.opened).toHaveLength(4);
  });

  it("counts a stream the browser kept reconnecting through an outage as one failure", () => {
    const { rerender } = renderHook(({ data }) => useRunEvents(12, data), {
      wrapper,
      initialProps: { data: board("5", 1) },
    });
    // The server is down for a minute: the browser tries the same stream again and again.
    const down = FakeEventSource.opened[0]!;
    for (let i = 0; i < 20; i++) act(() => down.onerror!());
    // It is back: the board's fetch succeeds first, and the stream follows after one failure's wait.
    rerender({ data: board("8", 2) });
    act(() => vi.advanceTimersByTime(1000));
    expect(FakeEventSource.opened).toHaveLength(2);
  });

  it("folds its events only into the board fetched at its position", () => {
    const runStatus = {
      runId: "run-1",
      run: { id: "run-1", status: "running" },
      status: "running",
      previousStatus: "pending",
      lifecycle: { cancelRequestedAt: null, resumedCount: 0, lastResumedAt: null },
      at: "2026-12-02T20:00:00.000Z",
    };
    client.setQueryData(keys.active(12), board("5", 1));
    const { rerender } = renderHook(({ data }) => useRunEvents(12, data), {
      wrapper,
      initialProps: { data: board("5", 1) },
    });
    const old = FakeEventSource.opened[0]!;
    old.emit("run_status", runStatus);
    act(() => vi.advanceTimersByTime(100));
    expect(client.getQueryData<ActiveBoard>(keys.active(12))!.runs).toHaveLength(1);
    // A new fetch lands before the page draws it: what the old stream still passes on stays
    // out of the new board (its own stream brings what follows its position).
    client.setQueryData(keys.active(12), board("9", 2));
    old.emit("run_status", runStatus);
    act(() => vi.advanceTimersByTime(100));
    expect(client.getQueryData<ActiveBoard>(keys.active(12))!.runs).toHaveLength(0);
    rerender({ data: board("9", 2) });
    expect(old.closed).toBe(true);
  });

  it("holds no stream while the page is hidden; shown again, it follows on and fetches the board anew", () => {
    const invalidated = vi.spyOn(client, "invalidateQueries");
    const { rerender } = renderHook(({ data }) => useRunEvents(12, data), {
      wrapper,
      initialProps: { data: board("5", 1) },
    });
    act(() => setPageVisibility("hidden"));
    expect(FakeEventSource.opened[0]!.closed).toBe(true);
    expect(FakeEventSource.opened).toHaveLength(1);
    act(() => setPageVisibility("visible"));
    // Followed again from where it was (so that a fetch that fails leaves it live), and the
    // board fetched anew, whose stream replaces it.
    expect(invalidated).toHaveBeenCalledWith({ queryKey: keys.activeAll });
    rerender({ data: board("40", 2) });
    expect(FakeEventSource.opened.map((s) => s.url)).toEqual([
      "/runs/events?view=board&lastEventId=5",
      "/runs/events?view=board&lastEventId=5",
      "/runs/events?view=board&lastEventId=40",
    ]);
    expect(FakeEventSource.opened[1]!.closed).toBe(true);
    expect(FakeEventSource.opened[2]!.closed).toBe(false);
  });
});
