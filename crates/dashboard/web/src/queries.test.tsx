import { act, cleanup, renderHook, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { keys, refetchRunContents, useRunAction } from "./queries";
import { QueryWrapper, freshQueryClient } from "./testing/queryClient";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

/** Stubs `fetch` with one problem+json answer. */
function refuse(status: number, detail: string) {
  vi.stubGlobal(
    "fetch",
    vi.fn(
      async () =>
        new Response(JSON.stringify({ type: "about:blank", title: "Conflict", status, detail }), {
          status,
          headers: { "content-type": "application/problem+json" },
        }),
    ),
  );
}

describe("refetchRunContents", () => {
  it("gives reasons that come together one fetch of the items and the log, begun after the last", () => {
    vi.useFakeTimers();
    const client = freshQueryClient();
    const invalidated = vi.spyOn(client, "invalidateQueries");
    // An action's answer, the status and the retry count it moved, the stream opening.
    for (let i = 0; i < 4; i += 1) refetchRunContents(client, "run-1");
    refetchRunContents(client, "run-2");
    expect(invalidated).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(invalidated.mock.calls.map(([filters]) => filters)).toEqual([
      { queryKey: keys.itemsOf("run-1") },
      { queryKey: keys.logsOf("run-1") },
      { queryKey: keys.itemsOf("run-2") },
      { queryKey: keys.logsOf("run-2") },
    ]);
    // A reason after that fetch began gets a fetch of its own.
    refetchRunContents(client, "run-1");
    vi.advanceTimersByTime(1);
    expect(invalidated).toHaveBeenCalledTimes(6);
    vi.useRealTimers();
  });
});

describe("useRunAction", () => {
  it("reads a run again at once when an action on it is refused as a conflict", async () => {
    const client = freshQueryClient();
    const invalidated = vi.spyOn(client, "invalidateQueries");
    refuse(409, "run run-1 is running: only a finished run can be retried");
    const { result } = renderHook(() => useRunAction(), {
      wrapper: QueryWrapper,
    });
    act(() => result.current.mutate({ id: "run-1", action: "retry" }));
    await waitFor(() => expect(result.current.isError).toBe(true));
    expect(invalidated).toHaveBeenCalledWith({ queryKey: keys.run("run-1") });
    expect(invalidated).toHaveBeenCalledWith({ queryKey: keys.itemsOf("run-1") });
    expect(invalidated).toHaveBeenCalledWith({ queryKey: keys.activeAll });
  });

  it("reads nothing again when the server could not say (a 503)", async () => {
    const client = freshQueryClient();
    const invalidated = vi.spyOn(client, "invalidateQueries");
    refuse(503, "the database cannot be reached");
    const { result } = renderHook(() => useRunAction(), {
      wrapper: QueryWrapper,
    });
    act(() => result.current.mutate({ id: "run-1", action: "cancel" }));
    await waitFor(() => expect(result.current.isError).toBe(true));
    expect(invalidated).not.toHaveBeenCalled();
  });
});
