import { describe, expect, it } from "vitest";

import { distinctItems, outsideOptions } from "./Run";

describe("distinctItems", () => {
  it("keeps each item once, where it first appears, in order", () => {
    const pages = [
      [
        { sequence: 3, state: "running" },
        { sequence: 7, state: "running" },
      ],
      // The next page, read after item 7 moved on: it is listed again in its new group.
      [
        { sequence: 7, state: "correct" },
        { sequence: 9, state: "correct" },
      ],
    ];
    expect(distinctItems(pages.flat()).map((item) => item.sequence)).toEqual([3, 7, 9]);
  });
});

describe("outsideOptions", () => {
  it("says when an extracted letter names none of the item's options", () => {
    const choices = ["1", "2", "3", "4"];
    expect(outsideOptions({ choices, extractedAnswer: "I" })).toBe(true);
    expect(outsideOptions({ choices, extractedAnswer: "E" })).toBe(true);
    expect(outsideOptions({ choices, extractedAnswer: "D" })).toBe(false);
    expect(outsideOptions({ choices, extractedAnswer: null })).toBe(false);
    // A numeric item's answer is no letter.
    expect(outsideOptions({ choices: [], extractedAnswer: "42" })).toBe(false);
  });
});
