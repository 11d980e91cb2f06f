import { describe, expect, it } from "vitest";

import { judgedOf } from "./Archive";

describe("what an archive row's accuracy is over", () => {
  it("says so when it is not every item", () => {
    expect(judgedOf({ correct: 87, incorrect: 26, total: 300 })).toBe("113 of 300");
    expect(judgedOf({ correct: 12, incorrect: 0, total: 504 })).toBe("12 of 504");
  });

  it("says nothing of a whole run, or of one with nothing judged", () => {
    expect(judgedOf({ correct: 30, incorrect: 6, total: 36 })).toBe(null);
    expect(judgedOf({ correct: 0, incorrect: 0, total: 36 })).toBe(null);
  });
});
