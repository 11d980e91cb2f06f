import { describe, expect, it } from "vitest";

import { rateOf } from "./Board";

describe("rateOf", () => {
  it("says nothing until the count moved while watched, then measures from there", () => {
    const samples: { at: number; completed: number }[] = [];
    // A run already 64 items along when the card appears: not 64 items in an instant.
    expect(rateOf(samples, 64, 0)).toBeNull();
    expect(rateOf(samples, 64, 3000)).toBeNull();
    expect(rateOf(samples, 66, 4000)).toBe(2 / 4); // 2 items in the 4 s since it was first seen
    expect(rateOf(samples, 66, 5000)).toBe(2 / 5);
  });

  it("starts again when a retry lowers the count, instead of going negative", () => {
    const samples: { at: number; completed: number }[] = [];
    rateOf(samples, 30, 0);
    rateOf(samples, 36, 3000);
    expect(rateOf(samples, 36, 3000)).toBe(2);
    expect(rateOf(samples, 4, 4000)).toBeNull();
    expect(rateOf(samples, 6, 5000)).toBe(2);
  });
});
