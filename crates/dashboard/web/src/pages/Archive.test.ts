import { describe, expect, it } from "vitest";

import { runsCounted } from "./Archive";

describe("runsCounted", () => {
  it("says how many runs there are, or how many the filters select", () => {
    expect(runsCounted({ runs: [1, 2], total: 302 }, false)).toBe("302 runs");
    expect(runsCounted({ runs: [1], total: 1 }, true)).toBe("1 run matches");
    expect(runsCounted({ runs: [1, 2], total: 1204 }, true)).toBe("1,204 runs match");
  });
  it("counts the page when the server gave no total", () => {
    expect(runsCounted({ runs: [1, 2, 3], total: null }, false)).toBe("3 runs");
  });
});
