import { describe, expect, it } from "vitest";

import { outcomeText } from "./Compare";

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
