import type { QueryClient } from "@tanstack/react-query";
import { act, cleanup, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { FakeEventSource } from "../testing/fakeEventSource";
import { QueryWrapper, freshQueryClient } from "../testing/queryClient";
import { setPageVisibility } from "../testing/visibility";

import { keys } from "../queries";
import { REFETCH_MS, useRunFollow } from "./useRunFollow";

let client: QueryClient;
const wrapper = QueryWrapper;

beforeEach(() => {
  FakeEventSource.opened = [];
  vi.stubGlobal("EventSource", FakeEventSource);
  vi.useFakeTimers();
  client = freshQueryClient();
});
afterEach(() => {
  cleanup();
  setPageVisibility("visible");
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

const progress = (completed: number) => ({
  completed,
  total: 10,
  correct: completed,
  incorrect: 0,
  awaiting: 0,
  faulted: 0,
  pending: 10 - completed,
});

describe("useRunFollow", () => {
  it("replaces the detail's progress at once and refetches what moves at most every 2 s", () => {
    client.setQueryData(keys.run("run-1"), { run: { id: "run-1" }, progress: progress(0) });
    const invalidated = vi.spyOn(client, "invalidateQueries");
    const { result } = renderHook(() => useRunFollow("run-1", true), { wrapper });
    const source = FakeEventSource.opened[0]!;
    expect(source.url).toBe("/runs/events?view=board&runId=run-1");
    expect(result.current).toBe("connecting");
    act(() => source.onopen!());
    expect(result.current).toBe("open");
    // Once open, what changed before it opened is read: a retried run may have ended already
    // (the items and log once the reasons at hand are in).
    expect(invalidated).toHaveBeenCalledWith({ queryKey: keys.run("run-1") });
    act(() => vi.advanceTimersByTime(1));
    expect(invalidated).toHaveBeenCalledTimes(3);
    invalidated.mockClear();

    source.emit("run_progress", { runId: "run-1", progress: progress(3), at: "" });
    source.emit("run_item", { runId: "run-1", item: { sequence: 3, state: "correct" }, at: "" });
    source.emit("run_progress", { runId: "run-1", progress: progress(4), canceled: 2, at: "" });
    expect(client.getQueryData(keys.run("run-1"))).toMatchObject({ progress: progress(4), canceled: 2 });
    expect(invalidated).not.toHaveBeenCalled();
    act(() => vi.advanceTimersByTime(REFETCH_MS));
    act(() => vi.advanceTimersByTime(1));
    expect(invalidated).toHaveBeenCalledTimes(3);
    expect(invalidated).toHaveBeenCalledWith({ queryKey: keys.run("run-1") });
    expect(invalidated).toHaveBeenCalledWith({ queryKey: keys.itemsOf("run-1") });
    // The log too: a failed item, a status change each add lines.
    expect(invalidated).toHaveBeenCalledWith({ queryKey: keys.logsOf("run-1") });

    // A status change refetches at once.
    source.emit("run_status", { runId: "run-1", status: "completed" });
    act(() => vi.advanceTimersByTime(1));
    expect(invalidated).toHaveBeenCalledTimes(6);
  });

  it("opens nothing for a run that is not active, and closes when it stops following", () => {
    const { rerender, result } = renderHook(({ follow }) => useRunFollow("run-1", follow), {
      wrapper,
      initialProps: { follow: false },
    });
    expect(FakeEventSource.opened).toHaveLength(0);
    rerender({ follow: true });
    const source = FakeEventSource.opened[0]!;
    act(() => source.onopen!());
    // A failed connection: the browser tries again by itself, the page says it is not live.
    act(() => source.onerror!());
    expect(result.current).toBe("reconnecting");
    act(() => source.onopen!());
    expect(result.current).toBe("open");
    rerender({ follow: false });
    expect(source.closed).toBe(true);
    expect(result.current).toBe("connecting");
  });

  it("holds no stream while the page is hidden, and reads the run as it opens again once shown", () => {
    const invalidated = vi.spyOn(client, "invalidateQueries");
    renderHook(() => useRunFollow("run-1", true), { wrapper });
    const first = FakeEventSource.opened[0]!;
    act(() => first.onopen!());
    act(() => setPageVisibility("hidden"));
    expect(first.closed).toBe(true);
    expect(FakeEventSource.opened).toHaveLength(1);
    invalidated.mockClear();
    act(() => setPageVisibility("visible"));
    expect(FakeEventSource.opened).toHaveLength(2);
    act(() => FakeEventSource.opened[1]!.onopen!());
    // What changed while hidden is read once the new stream is open.
    expect(invalidated).toHaveBeenCalledWith({ queryKey: keys.run("run-1") });
  });
});
