import { describe, expect, it } from "vitest";

import { distinctItems } from "./Run";

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
