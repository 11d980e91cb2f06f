import { afterEach, describe, expect, it, vi } from "vitest";

import { ApiError, onUnauthenticated } from "./api/client";
import { upload } from "./upload";

/** An XMLHttpRequest answering every request with `status` and its problem. */
function answering(status: number, problem: object) {
  return class {
    status = status;
    statusText = "";
    responseText = JSON.stringify(problem);
    upload = {};
    onload: (() => void) | null = null;
    open() {}
    setRequestHeader() {}
    send() {
      queueMicrotask(() => this.onload?.());
    }
  };
}

afterEach(() => vi.unstubAllGlobals());

describe("upload", () => {
  it("rejects with the server's problem, and reports a 401 as the session gone", async () => {
    const listener = vi.fn();
    const stop = onUnauthenticated(listener);
    vi.stubGlobal("XMLHttpRequest", answering(401, { title: "Unauthorized", detail: "the session expired" }));
    const sent = upload("/datasets?name=x&format=csv", new Blob(["a"]), "text/csv", () => {});
    await expect(sent).rejects.toMatchObject({ status: 401, message: "the session expired" });
    expect(listener).toHaveBeenCalledTimes(1);

    vi.stubGlobal("XMLHttpRequest", answering(403, { title: "Forbidden", detail: "admins only" }));
    await expect(upload("/datasets", new Blob(["a"]), "text/csv", () => {})).rejects.toBeInstanceOf(ApiError);
    expect(listener).toHaveBeenCalledTimes(1);
    stop();
  });
});
