import { renderHook } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import { ApiError } from "../api/client";
import { categoryRefused, distinctItems, findTarget, outsideOptions, tokenFigures, useWhenChanged } from "./Run";

describe("categoryRefused", () => {
  const words = "no item of this run is in category `Law` (its categories: law, math)";
  it("reads the server's words when it refused the category filter", () => {
    const refused = new ApiError(422, "Unprocessable Content", `category: ${words}`, [
      { field: "category", detail: words },
    ]);
    expect(categoryRefused(refused)).toBe(words);
  });
  it("leaves every other error to be shown as one", () => {
    expect(categoryRefused(new ApiError(422, "Unprocessable Content", "cursor", [{ field: "cursor", detail: "x" }]))).toBe(
      undefined,
    );
    expect(categoryRefused(new ApiError(400, "Bad Request", "category", [{ field: "category", detail: "x" }]))).toBe(
      undefined,
    );
    expect(categoryRefused(new Error(words))).toBe(undefined);
    expect(categoryRefused(null)).toBe(undefined);
  });
});

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

describe("tokenFigures", () => {
  const run = (usage: Partial<Parameters<typeof tokenFigures>[0]["usage"]>, answered = 10) => ({
    progress: { correct: answered, incorrect: 0, awaiting: 0 },
    usage: {
      promptTokens: 0,
      completionTokens: 0,
      reasoningTokens: 0,
      totalTokens: 0,
      cachedAnswers: 0,
      answersWithoutUsage: 0,
      ...usage,
    },
  });

  it("says answers without counts are not zero tokens", () => {
    expect(tokenFigures(run({ answersWithoutUsage: 10 }))).toEqual({ text: "not reported", note: null });
    // Even where the cache answered as many before (a retry of everything keeps both counts).
    expect(tokenFigures(run({ cachedAnswers: 10, answersWithoutUsage: 10 })).text).toBe("not reported");
  });

  it("says a wholly cached run spent nothing", () => {
    expect(tokenFigures(run({ cachedAnswers: 10 })).text).toBe("0 in · 0 out");
  });

  it("says what partial figures leave out", () => {
    const figures = tokenFigures(
      run({ promptTokens: 400, completionTokens: 90, totalTokens: 490, reasoningTokens: 30, answersWithoutUsage: 3 }),
    );
    expect(figures).toEqual({ text: "400 in · 90 out (30 reasoning)", note: "not counting 3 answers reported without token counts" });
    expect(tokenFigures(run({ promptTokens: 40, completionTokens: 9, totalTokens: 49, answersWithoutUsage: 1 })).note).toBe(
      "not counting 1 answer reported without token counts",
    );
  });
});

describe("useWhenChanged", () => {
  it("calls back when a known value changes, not when it first becomes known", () => {
    let calls = 0;
    const { rerender } = renderHook(({ value }: { value: string | undefined }) => useWhenChanged(value, () => (calls += 1)), {
      initialProps: { value: undefined as string | undefined },
    });
    rerender({ value: "0/0" });
    expect(calls).toBe(0);
    rerender({ value: "0/0" });
    expect(calls).toBe(0);
    // A retry begun and ended between two reads: the status is the same, the count moved.
    rerender({ value: "1/0" });
    expect(calls).toBe(1);
    // Unknown for a while (a refetch failed) and back: no change.
    rerender({ value: undefined });
    rerender({ value: "1/0" });
    expect(calls).toBe(1);
  });
});

describe("findTarget", () => {
  it("reads #N as the run's Nth item and anything else as a dataset item's id", () => {
    expect(findTarget("#12")).toEqual({ sequence: 12 });
    expect(findTarget(" # 7 ")).toEqual({ sequence: 7 });
    // MMLU-Pro's ids are numbers: without the #, a number is a dataset id.
    expect(findTarget("11286")).toEqual({ datasetItemId: "11286" });
    expect(findTarget(" q-17 ")).toEqual({ datasetItemId: "q-17" });
    expect(findTarget("   ")).toBe(null);
  });
});
