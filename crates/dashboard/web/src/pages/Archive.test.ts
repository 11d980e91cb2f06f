import { describe, expect, it } from "vitest";

import { orderOf, runsCounted, sortAfterClick, uniqueRuns } from "./Archive";

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

describe("sortAfterClick", () => {
  it("turns the column's order round, else starts it from the newest or the highest", () => {
    expect(sortAfterClick("createdAt", "-createdAt")).toBe("createdAt");
    expect(sortAfterClick("createdAt", "createdAt")).toBe("-createdAt");
    expect(sortAfterClick("createdAt", "-accuracy")).toBe("-createdAt");
    expect(sortAfterClick("accuracy", "-createdAt")).toBe("-accuracy");
    expect(sortAfterClick("accuracy", "-accuracy")).toBe("accuracy");
    expect(sortAfterClick("accuracy", "accuracy")).toBe("-accuracy");
  });
  it("names each order", () => {
    expect(orderOf("accuracy")).toBe("lowest accuracy first");
    expect(orderOf("-createdAt")).toBe("newest first");
  });
});

describe("uniqueRuns", () => {
  it("keeps a run listed on two pages once, where it came first", () => {
    const run = (id: string, n: number) => ({ run: { id }, n });
    expect(uniqueRuns([run("a", 1), run("b", 2), run("a", 3), run("c", 4)])).toEqual([run("a", 1), run("b", 2), run("c", 4)]);
  });
});
