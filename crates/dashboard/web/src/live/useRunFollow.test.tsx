import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, cleanup, renderHook } from "@testing-library/react";
import type { ReactNode } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { keys } from "../queries";
import { REFETCH_MS, useRunFollow } from "./useRunFollow";

/** The browser's EventSource as far as the hook uses it, driven by the test. */
class FakeEventSource {
  static opened: FakeEventSource[] = [];
  listeners = new Map<string, (message: MessageEvent<string>) => void>();
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeEventSource.opened.push(this);
  }
  addEventListener(name: string, listener: (message: MessageEvent<string>) => void) {
    this.listeners.set(name, listener);
  }
  close() {
    this.closed = true;
  }
  emit(name: string, data: unknown) {
    act(() => this.listeners.get(name)!({ data: JSON.stringify(data) } as MessageEvent<string>));
  }
}

let client: QueryClient;
const wrapper = ({ children }: { children: ReactNode }) => (
  <QueryClientProvider client={client}>{children}</QueryClientProvider>
);

beforeEach(() => {
  FakeEventSource.opened = [];
  vi.stubGlobal("EventSource", FakeEventSource);
  vi.useFakeTimers();
  client = new QueryClient();
});
afterEach(() => {
  cleanup();
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
    act(() => source.onopen!());
    expect(result.current).toBe(true);

    source.emit("run_progress", { runId: "run-1", progress: progress(3), at: "" });
    source.emit("run_item", { runId: "run-1", item: { sequence: 3, state: "correct" }, at: "" });
    source.emit("run_progress", { runId: "run-1", progress: progress(4), at: "" });
    expect(client.getQueryData(keys.run("run-1"))).toMatchObject({ progress: progress(4) });
    expect(invalidated).not.toHaveBeenCalled();
    act(() => vi.advanceTimersByTime(REFETCH_MS));
    expect(invalidated).toHaveBeenCalledTimes(2);
    expect(invalidated).toHaveBeenCalledWith({ queryKey: keys.run("run-1") });
    expect(invalidated).toHaveBeenCalledWith({ queryKey: keys.itemsOf("run-1") });

    // A status change refetches at once.
    source.emit("run_status", { runId: "run-1", status: "completed" });
    expect(invalidated).toHaveBeenCalledTimes(4);
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
    rerender({ follow: false });
    expect(source.closed).toBe(true);
    expect(result.current).toBe(false);
  });
});
