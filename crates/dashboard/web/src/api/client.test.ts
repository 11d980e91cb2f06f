import { afterEach, describe, expect, it, vi } from "vitest";

import { api, onUnauthenticated } from "./client";

afterEach(() => vi.unstubAllGlobals());

/** Stubs `fetch` with one answer, and returns the requests it was sent. */
function answer(status: number): Request[] {
  const sent: Request[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (request: Request) => {
      sent.push(request);
      return new Response(null, { status });
    }),
  );
  return sent;
}

describe("api", () => {
  it("sends every POST as JSON, even one without a body", async () => {
    const sent = answer(204);
    await api.POST("/runs/{run_id}/cancel", { params: { path: { run_id: "run-1" } } });
    await api.POST("/runs/{run_id}/retry", { params: { path: { run_id: "run-1" } }, body: {} });
    expect(sent.map((request) => request.headers.get("Content-Type"))).toEqual([
      "application/json",
      "application/json",
    ]);
  });

  it("reports a request refused as unauthenticated, but not a sign-in", async () => {
    const listener = vi.fn();
    const stop = onUnauthenticated(listener);
    answer(401);
    await api.POST("/auth/session", { body: { token: "evb_wrong" } });
    await api.GET("/auth/session");
    expect(listener).not.toHaveBeenCalled();
    await api.GET("/providers");
    expect(listener).toHaveBeenCalledTimes(1);
    stop();
    await api.GET("/providers");
    expect(listener).toHaveBeenCalledTimes(1);
  });
});
