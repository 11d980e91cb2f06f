import type { QueryClient } from "@tanstack/react-query";
import { act, cleanup, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { FakeEventSource } from "../testing/fakeEventSource";
import { QueryWrapper, freshQueryClient } from "../testing/queryClient";
import { setPageVisibility } from "../testing/visibility";

import { useItemText } from "./useItemText";

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

const text = (attempt: number, replace: boolean, value: string) => ({
  attempt,
  replace,
  text: value,
  receivedChars: 0,
  chunkCount: 0,
});

describe("useItemText", () => {
  it("shows the whole text, then what follows, and refetches the item when it ends", () => {
    const invalidated = vi.spyOn(client, "invalidateQueries");
    const { result } = renderHook(() => useItemText("run-1", 7, true), { wrapper });
    const source = FakeEventSource.opened[0]!;
    expect(source.url).toBe("/runs/run-1/items/7/stream");
    source.emit("item_text", text(1, true, "Let's think"));
    source.emit("item_text", text(1, false, " step by step."));
    expect(result.current).toMatchObject({ text: "Let's think step by step.", attempt: 1, streaming: true });
    // A new attempt replaces what was shown.
    source.emit("item_text", text(2, true, "The answer"));
    expect(result.current.text).toBe("The answer");
    source.emit("item_end", { reason: "ended" });
    expect(result.current).toMatchObject({ text: "The answer", streaming: false, waiting: false });
    expect(source.closed).toBe(true);
    expect(invalidated).toHaveBeenCalledWith({ queryKey: ["runs", "items", "run-1"] });
  });

  it("stops looking once the refetched item is no longer running", () => {
    const { rerender } = renderHook(({ follow }) => useItemText("run-1", 7, follow), {
      wrapper,
      initialProps: { follow: true },
    });
    FakeEventSource.opened[0]!.emit("item_end", { reason: "ended" });
    rerender({ follow: false });
    act(() => vi.advanceTimersByTime(10_000));
    expect(FakeEventSource.opened).toHaveLength(1);
  });

  it("follows the next attempt of an item still running after its stream ended", () => {
    const { result } = renderHook(() => useItemText("run-1", 7, true), { wrapper });
    FakeEventSource.opened[0]!.emit("item_text", text(1, true, "cut o"));
    FakeEventSource.opened[0]!.emit("item_end", { reason: "ended" });
    act(() => vi.advanceTimersByTime(2000));
    expect(FakeEventSource.opened).toHaveLength(2);
    // Waiting to retry: the first attempt's text is not shown as the answer.
    FakeEventSource.opened[1]!.emit("item_end", { reason: "not_streaming_here" });
    expect(result.current).toMatchObject({ text: null, streaming: false, waiting: true });
    act(() => vi.advanceTimersByTime(2000));
    expect(FakeEventSource.opened).toHaveLength(3);
    FakeEventSource.opened[2]!.emit("item_text", text(2, true, "The answer is (B)."));
    expect(result.current).toMatchObject({ text: "The answer is (B).", attempt: 2, streaming: true, waiting: false });
  });

  it("says the stream broke off, and opens it again when the browser gave up on it", () => {
    const { result } = renderHook(() => useItemText("run-1", 7, true), { wrapper });
    const first = FakeEventSource.opened[0]!;
    first.emit("item_text", text(1, true, "Let's th"));
    // A network error: the browser reconnects by itself.
    first.fail(false);
    expect(result.current).toMatchObject({ text: "Let's th", streaming: false, interrupted: true });
    act(() => vi.advanceTimersByTime(10_000));
    expect(FakeEventSource.opened).toHaveLength(1);
    first.emit("item_text", text(1, true, "Let's think"));
    expect(result.current).toMatchObject({ text: "Let's think", streaming: true, interrupted: false });
    // Refused (a 503, say): the browser gives up, and so would the page without a look again.
    first.fail(true);
    expect(result.current).toMatchObject({ streaming: false, interrupted: true });
    act(() => vi.advanceTimersByTime(2000));
    expect(FakeEventSource.opened).toHaveLength(2);
    FakeEventSource.opened[1]!.emit("item_text", text(1, true, "Let's think step"));
    expect(result.current).toMatchObject({ text: "Let's think step", streaming: true, interrupted: false });
  });

  it("looks again while the item streams on another server", () => {
    const { result } = renderHook(() => useItemText("run-1", 7, true), { wrapper });
    FakeEventSource.opened[0]!.emit("item_end", { reason: "not_streaming_here" });
    expect(result.current).toMatchObject({ streaming: false, waiting: true });
    act(() => vi.advanceTimersByTime(2000));
    expect(FakeEventSource.opened).toHaveLength(2);
    FakeEventSource.opened[1]!.emit("item_text", text(1, true, "Here now"));
    expect(result.current).toMatchObject({ text: "Here now", streaming: true, waiting: false });
  });

  it("opens nothing for an item it does not follow", () => {
    const { result } = renderHook(() => useItemText("run-1", 7, false), { wrapper });
    expect(FakeEventSource.opened).toHaveLength(0);
    expect(result.current.text).toBeNull();
  });

  it("holds no stream while the page is hidden, and starts again from the whole text once shown", () => {
    const { result } = renderHook(() => useItemText("run-1", 7, true), { wrapper });
    act(() => FakeEventSource.opened[0]!.emit("item_text", text(1, true, "Let's think")));
    act(() => setPageVisibility("hidden"));
    expect(FakeEventSource.opened[0]!.closed).toBe(true);
    act(() => setPageVisibility("visible"));
    expect(FakeEventSource.opened).toHaveLength(2);
    act(() => FakeEventSource.opened[1]!.emit("item_text", text(1, true, "Let's think step by step.")));
    expect(result.current.text).toBe("Let's think step by step.");
  });
});
