import { describe, expect, it } from "vitest";

import { setupOf } from "../components/common";

describe("setupOf", () => {
  it("says what sets a run apart from a whole zero-shot one", () => {
    expect(setupOf({ concurrency: 8 } as never)).toEqual([]);
    expect(setupOf({ shots: 0 } as never)).toEqual([]);
    expect(
      setupOf({
        shots: 5,
        shotsFrom: { datasetName: "MMLU-Pro-val" },
        selection: { categories: ["law"], sampleSize: 500, seed: 3 },
      } as never),
    ).toEqual(["5-shot from MMLU-Pro-val", "law", "sample of 500 (seed 3)"]);
    // Without a seed the "sample" is the first items, not a random sample of them.
    expect(setupOf({ selection: { sampleSize: 1200 } } as never)).toEqual(["first 1,200"]);
    expect(setupOf({ shots: 3, selection: { categories: ["law", "math"] } } as never)).toEqual([
      "3-shot",
      "2 categories",
    ]);
    // What a sweep varies; the token limit, which sets no run apart in a list, is not said.
    expect(setupOf({ generation: { temperature: 0.7, topP: 0.9, maxTokens: 512 } } as never)).toEqual([
      "temperature 0.7",
      "top-p 0.9",
    ]);
    expect(setupOf({ generation: { temperature: 0 } } as never)).toEqual(["temperature 0"]);
  });
});
