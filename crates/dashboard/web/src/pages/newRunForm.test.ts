import { describe, expect, it } from "vitest";

import { ApiError } from "../api/client";
import { formStartOf, likeDifferences, placeProblems, settingsFrom, shownFields, unreadableNumbers, wholeNumberProblems } from "./newRunForm";

function form(fields: [string, string][]): FormData {
  const data = new FormData();
  for (const [name, value] of fields) data.append(name, value);
  return data;
}

describe("settingsFrom", () => {
  it("sends what was filled in and leaves the rest to the server's defaults", () => {
    const settings = settingsFrom(
      form([
        ["settings.concurrency", " 8 "],
        ["settings.maxAttempts", ""],
        ["settings.selection.categories", "law"],
        ["settings.selection.categories", "math"],
        ["settings.budget.maxCostUsd", "2.5"],
        ["settings.simulated.latencyMs", "1500"],
        ["settings.shots", "5"],
        ["settings.shotsFrom", "MMLU-Pro-validation"],
        ["settings.cache", "on"],
      ]),
      "choice",
      true,
    );
    expect(settings).toEqual({
      concurrency: 8,
      shots: 5,
      shotsFrom: { datasetName: "MMLU-Pro-validation" },
      cache: true,
      selection: { categories: ["law", "math"] },
      judge: { kind: "choice" },
      budget: { maxCostUsd: 2.5 },
      simulated: { latencyMs: 1500 },
    });
  });

  it("sends an LLM judge's provider and model, and no simulated settings to a real provider", () => {
    const settings = settingsFrom(
      form([
        ["settings.judge.providerName", "OpenAI"],
        ["settings.judge.modelName", "gpt-4o-mini"],
        ["settings.simulated.latencyMs", "1500"],
      ]),
      "llm",
      false,
    );
    expect(settings).toEqual({ judge: { kind: "llm", providerName: "OpenAI", modelName: "gpt-4o-mini" } });
  });
});

describe("placeProblems", () => {
  const refusal = (...fields: (string | undefined)[]) =>
    new ApiError(
      422,
      "Unprocessable Content",
      `${fields.length} problems`,
      fields.map((field, i) => ({ field, detail: `problem ${i}` })),
    );

  it("puts a problem beside the most specific input it is about", () => {
    const shown = shownFields("llm", true);
    const placed = placeProblems(
      refusal("settings.concurrency", "settings.concurrency", "settings.judge.modelName", "settings.judge.kind", "settings.selection.categories[1]"),
      shown,
    );
    expect(placed.beside).toEqual(
      new Map([
        ["settings.concurrency", ["problem 0", "problem 1"]],
        ["settings.judge.modelName", ["problem 2"]],
        ["settings.judge", ["problem 3"]],
        ["settings.selection.categories", ["problem 4"]],
      ]),
    );
    expect(placed.summary).toEqual([]);
  });

  it("lists in the summary what no shown input is about, so that nothing goes unshown", () => {
    // A budget without a cap, a setting the form has no input for, the simulated
    // settings of a provider that is not simulated (their inputs are hidden), no field at all.
    const placed = placeProblems(
      refusal("settings.budget", "settings.generation.stop", "settings.simulated.seed", undefined, "settings.concurrencyX"),
      shownFields("choice", false),
    );
    expect(placed.beside.size).toBe(0);
    expect(placed.summary).toEqual([
      ["settings.budget", ["problem 0"]],
      ["settings.generation.stop", ["problem 1"]],
      ["settings.simulated.seed", ["problem 2"]],
      ["", ["problem 3"]],
      ["settings.concurrencyX", ["problem 4"]],
    ]);
  });

  it("places nothing for an error that is not a refusal", () => {
    expect(placeProblems(new Error("offline"), shownFields("choice", true))).toEqual({ beside: new Map(), summary: [] });
  });
});

describe("wholeNumberProblems", () => {
  it("names each whole-number field holding something else, and lets blanks and decimals elsewhere be", () => {
    const problems = wholeNumberProblems(
      form([
        ["settings.concurrency", "2.5"],
        ["settings.maxAttempts", "0"],
        ["settings.selection.sampleSize", "100"],
        ["settings.simulated.latencyMs", "-1"],
        ["settings.simulated.seed", "1e3"],
        ["settings.shots", ""],
        ["settings.generation.temperature", "0.7"],
        ["datasetVersion", "0"],
      ]),
    );
    expect(problems).toEqual([
      { field: "datasetVersion", detail: "must be a whole number, 1 or more, not 0" },
      { field: "settings.concurrency", detail: "must be a whole number, 1 or more, not 2.5" },
      { field: "settings.maxAttempts", detail: "must be a whole number, 1 or more, not 0" },
      { field: "settings.simulated.latencyMs", detail: "must be a whole number, 0 or more, not -1" },
    ]);
    // Placed beside their inputs like the server's problems.
    const placed = placeProblems(new ApiError(0, "Not sent", "", problems), shownFields("choice", true));
    expect(placed.beside.get("settings.concurrency")).toEqual(["must be a whole number, 1 or more, not 2.5"]);
    // The dataset's version too, beside its own field.
    expect(placed.beside.get("datasetVersion")).toEqual(["must be a whole number, 1 or more, not 0"]);
    expect(placed.summary).toEqual([]);
  });

  it("names each number field whose text the browser could not read", () => {
    const input = (name: string, type: string, badInput: boolean) => ({ name, type, validity: { badInput } });
    expect(
      unreadableNumbers([
        input("settings.concurrency", "number", true),
        input("settings.shots", "number", false),
        input("modelName", "text", true),
      ]),
    ).toEqual([{ field: "settings.concurrency", detail: "is not a number" }]);
  });
});

describe("formStartOf", () => {
  it("starts a run like an earlier one: its names, version, judge and every setting in force", () => {
    const start = formStartOf({
      run: { providerName: "OpenAI", modelName: "gpt-4.1" },
      dataset: { name: "MMLU-Pro", version: 3 },
      settings: {
        concurrency: 8,
        maxAttempts: 4,
        cache: true,
        shots: 5,
        shotsFrom: { datasetName: "MMLU-Pro-validation" },
        selection: { categories: ["law", "math"], sampleSize: 100, seed: 7 },
        generation: { temperature: 0, maxTokens: 4000 },
        judge: { kind: "llm", providerName: "Anthropic", modelName: "claude-judge" },
        budget: { maxCostUsd: 2.5 },
      },
    });
    expect(start).toEqual({
      providerName: "OpenAI",
      modelName: "gpt-4.1",
      datasetName: "MMLU-Pro",
      judge: "llm",
      judgeProviderName: "Anthropic",
      categories: ["law", "math"],
      values: {
        modelName: "gpt-4.1",
        datasetVersion: "3",
        "settings.selection.sampleSize": "100",
        "settings.selection.seed": "7",
        "settings.concurrency": "8",
        "settings.maxAttempts": "4",
        "settings.shots": "5",
        "settings.shotsFrom": "MMLU-Pro-validation",
        "settings.cache": "on",
        // A temperature of 0 is a value, not a blank.
        "settings.generation.temperature": "0",
        "settings.generation.maxTokens": "4000",
        "settings.budget.maxCostUsd": "2.5",
        "settings.judge.modelName": "claude-judge",
      },
    });
  });
  it("leaves blank what the earlier run did not set, and the rules judge as they are", () => {
    const start = formStartOf({
      run: { providerName: "Simulated", modelName: "sim-1" },
      dataset: { name: "evalboard-demo", version: 1 },
      settings: { cache: false, judge: { kind: "choice" }, simulated: { accuracy: 0.5, latencyMs: 0 } },
    });
    expect(start.judge).toBe("choice");
    expect(start.categories).toEqual([]);
    expect(start.values).toEqual({
      modelName: "sim-1",
      datasetVersion: "1",
      "settings.simulated.accuracy": "0.5",
      "settings.simulated.latencyMs": "0",
    });
  });
});

describe("likeDifferences", () => {
  const start = formStartOf({
    run: { providerName: "Sim B", modelName: "sim-2" },
    dataset: { name: "probe-ds", version: 1 },
    settings: { judge: { kind: "llm", providerName: "Judges", modelName: "j-1" } },
  });
  it("says each part of the earlier run this server does not have", () => {
    expect(likeDifferences(start, [{ name: "Simulated", models: ["sim-1"] }], [{ name: "evalboard-demo", version: 1 }])).toEqual([
      "its provider, Sim B, is not configured here: choose another",
      "its dataset, probe-ds, is not stored here: choose another",
      "its judge's provider, Judges, is not configured here: choose another",
    ]);
    expect(likeDifferences(start, [{ name: "Sim B", models: ["sim-1"] }, { name: "Judges", models: ["j-1"] }], [{ name: "probe-ds", version: 2 }])).toEqual([
      "its model, sim-2, is not one of Sim B's here: choose another",
    ]);
  });
  it("says nothing when all is here", () => {
    expect(likeDifferences(start, [{ name: "Sim B", models: ["sim-2"] }, { name: "Judges", models: ["j-1"] }], [{ name: "probe-ds", version: 1 }])).toEqual([]);
  });
});
