import { describe, expect, it } from "vitest";

import type { Schemas } from "../api/client";
import { ARCHIVE_POLL_MS, COMPARE_POLL_MS, archivePoll, comparisonPoll } from "../queries";
import { delta, outcomeText, pValue, signed } from "./Compare";

describe("outcomeText", () => {
  it("says what was answered, or why nothing was", () => {
    expect(outcomeText({ state: "correct", extractedAnswer: "B" })).toBe("answered B");
    expect(outcomeText({ state: "incorrect", extractedAnswer: "42" })).toBe("answered 42");
    expect(outcomeText({ state: "incorrect", extractedAnswer: null })).toBe("no answer found in the response");
    expect(outcomeText({ state: "canceled", extractedAnswer: null })).toBe("canceled (no answer)");
    expect(outcomeText({ state: "failed", extractedAnswer: null })).toBe("failed (no answer)");
    expect(outcomeText({ state: "awaiting", extractedAnswer: null })).toBe("answered, awaiting its judge");
    expect(outcomeText({ state: "pending", extractedAnswer: null })).toBe("pending (no answer yet)");
  });
});

describe("figures as shown", () => {
  it("keeps the side of zero of a small difference, and says a p-value too small to show", () => {
    expect(signed(0.0004)).toBe("+0.04 pt");
    expect(signed(-0.0004)).toBe("-0.04 pt");
    expect(signed(0.123)).toBe("+12.3 pt");
    expect(signed(-0.05)).toBe("-5.0 pt");
    expect(signed(0)).toBe("0.0 pt");
    expect(pValue(4e-46, 4)).toBe("< 0.0001");
    expect(pValue(0.30181, 4)).toBe("0.3018");
    expect(pValue(0.0004, 3)).toBe("< 0.001");
    expect(pValue(1, 3)).toBe("1.000");
  });
});

describe("archivePoll", () => {
  const page = (...statuses: string[]) =>
    ({ runs: statuses.map((status) => ({ run: { status } })) }) as unknown as Schemas["RunPageDto"];

  it("reads the archive again while a listed run is still going, on any loaded page", () => {
    expect(archivePoll([page("completed"), page("failed", "running")])).toBe(ARCHIVE_POLL_MS);
    expect(archivePoll([page("pending")])).toBe(ARCHIVE_POLL_MS);
    expect(archivePoll([page("completed", "canceled"), page()])).toBe(false);
    expect(archivePoll(undefined)).toBe(false);
  });
});

describe("comparisonPoll", () => {
  const comparison = (...statuses: string[]) =>
    ({ runs: statuses.map((status) => ({ run: { status } })) }) as unknown as Schemas["ComparisonDto"];

  it("reads a comparison again while one of its runs is still going, and only then", () => {
    expect(comparisonPoll(comparison("completed", "running"))).toBe(COMPARE_POLL_MS);
    expect(comparisonPoll(comparison("pending", "completed"))).toBe(COMPARE_POLL_MS);
    expect(comparisonPoll(comparison("completed", "canceled", "failed"))).toBe(false);
    expect(comparisonPoll(undefined)).toBe(false);
  });
});

describe("the colour of a difference", () => {
  it("is green or red only where the difference is significant", () => {
    const interval = (low: number, high: number) => ({ low, high });
    expect(delta({ accuracyDifference: 0.139, mcnemarPValue: 0.12, differenceInterval: interval(-0.036, 0.301) })).toBe("");
    expect(delta({ accuracyDifference: 0.167, mcnemarPValue: 1 })).toBe("");
    expect(delta({ accuracyDifference: 0.05, mcnemarPValue: 0.001 })).toBe("good");
    expect(delta({ accuracyDifference: -0.05, mcnemarPValue: 0.01 })).toBe("bad");
    // Without a p-value, the interval decides.
    expect(delta({ accuracyDifference: 0.05, mcnemarPValue: null, differenceInterval: interval(0.01, 0.09) })).toBe("good");
    expect(delta({ accuracyDifference: 0.05, mcnemarPValue: null, differenceInterval: interval(-0.01, 0.09) })).toBe("");
    expect(delta({ accuracyDifference: null, mcnemarPValue: null })).toBe("");
  });
});
