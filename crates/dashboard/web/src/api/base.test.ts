import { afterEach, describe, expect, it } from "vitest";

import { apiUrl, basePath } from "./base";

describe("the page's base path", () => {
  afterEach(() => document.head.querySelector('meta[name="evalboard-base"]')?.remove());

  it("is the root when the page names none", () => {
    expect(basePath()).toBe("");
    expect(apiUrl("/runs/events?view=board")).toBe("/runs/events?view=board");
  });

  it("is the one the server wrote into the page", () => {
    const meta = document.createElement("meta");
    meta.name = "evalboard-base";
    meta.content = "/tools/evalboard";
    document.head.append(meta);
    expect(basePath()).toBe("/tools/evalboard");
    expect(apiUrl("/runs/r1/export?format=csv")).toBe("/tools/evalboard/runs/r1/export?format=csv");
    // A worker has no page: it is given the base path.
    expect(apiUrl("/runs/events", "/elsewhere")).toBe("/elsewhere/runs/events");
  });
});
