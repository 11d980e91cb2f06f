// The New run form's logic, apart from its markup: the request its fields make, and where each
// problem of a refusal is shown.
import { ApiError, type FieldProblem, type Schemas } from "../api/client";

type Settings = Schemas["RunSettingsDto"];

/** Inputs whose settings are whole numbers (counts, seeds, milliseconds), with the least each
 *  takes (the server says the most). */
const WHOLE_NUMBERS: [string, number][] = [
  ["datasetVersion", 1],
  ["settings.selection.sampleSize", 1],
  ["settings.selection.seed", 0],
  ["settings.concurrency", 1],
  ["settings.maxAttempts", 1],
  ["settings.shots", 0],
  ["settings.generation.maxTokens", 1],
  ["settings.budget.maxTokens", 1],
  ["settings.simulated.latencyMs", 0],
  ["settings.simulated.seed", 0],
];

/** A problem for each filled whole-number input holding anything else (2.5, -1; 1e3 is 1000). */
export function wholeNumberProblems(form: FormData): FieldProblem[] {
  return WHOLE_NUMBERS.flatMap(([field, least]) => {
    const value = String(form.get(field) ?? "").trim();
    const number = Number(value);
    return value === "" || (Number.isSafeInteger(number) && number >= least)
      ? []
      : [{ field, detail: `must be a whole number, ${least} or more, not ${value}` }];
  });
}

/**
 * Number inputs holding text the browser could not read as a number (`8x`, `1e`): the form
 * data has them as blank, which would send the server's default instead of what was typed.
 */
export function unreadableNumbers(
  inputs: Iterable<{ name: string; type: string; validity: { badInput: boolean } }>,
): FieldProblem[] {
  return Array.from(inputs)
    .filter((input) => input.type === "number" && input.validity.badInput)
    .map((input) => ({ field: input.name, detail: "is not a number" }));
}

/** The inputs the form always shows, by the API path of what they set. */
const ALWAYS = [
  "providerName",
  "modelName",
  "datasetName",
  "datasetVersion",
  "settings.selection.categories",
  "settings.selection.sampleSize",
  "settings.selection.seed",
  "settings.concurrency",
  "settings.maxAttempts",
  "settings.shots",
  "settings.shotsFrom",
  "settings.cache",
  "settings.generation.temperature",
  "settings.generation.topP",
  "settings.generation.maxTokens",
  "settings.budget.maxTokens",
  "settings.budget.maxCostUsd",
  "settings.judge",
];
const LLM_JUDGE = ["settings.judge.providerName", "settings.judge.modelName"];
const SIMULATED = [
  "settings.simulated.accuracy",
  "settings.simulated.latencyMs",
  "settings.simulated.faultRate",
  "settings.simulated.unparsedRate",
  "settings.simulated.seed",
];

/** The inputs shown for a judge kind and a provider that is simulated or not. */
export function shownFields(judge: string, simulated: boolean): string[] {
  return [...ALWAYS, ...(judge === "llm" ? LLM_JUDGE : []), ...(simulated ? SIMULATED : [])];
}

/** Where a refusal's problems go: beside an input, or in the form's summary. */
export interface PlacedProblems {
  /** Problems by the input they are shown beside. */
  beside: Map<string, string[]>;
  /** Problems no shown input is about (or without a field), with their field. */
  summary: [string, string[]][];
}

/**
 * Places each problem of `error` beside the most specific shown input it is about (its field,
 * or the input whose path its field is under: `settings.judge.kind` beside `settings.judge`);
 * the others go to the summary, so that no problem is left unshown.
 */
export function placeProblems(error: unknown, shown: readonly string[]): PlacedProblems {
  const beside = new Map<string, string[]>();
  const summary = new Map<string, string[]>();
  if (error instanceof ApiError) {
    for (const problem of error.problems) {
      const field = problem.field ?? "";
      const input = shown
        .filter((name) => field === name || field.startsWith(`${name}.`) || field.startsWith(`${name}[`))
        .sort((a, b) => b.length - a.length)[0];
      const into = input === undefined ? summary : beside;
      const key = input ?? field;
      into.set(key, [...(into.get(key) ?? []), problem.detail]);
    }
  }
  return { beside, summary: [...summary] };
}

/** The run's settings from the form's fields; blank fields are left out (the server's defaults apply). */
export function settingsFrom(form: FormData, judge: string, simulated: boolean): Settings {
  const text = (name: string) => {
    const value = String(form.get(name) ?? "").trim();
    return value === "" ? undefined : value;
  };
  const number = (name: string) => {
    const value = text(name);
    return value === undefined ? undefined : Number(value);
  };
  const categories = form.getAll("settings.selection.categories").map(String);
  const settings: Settings = {
    concurrency: number("settings.concurrency"),
    maxAttempts: number("settings.maxAttempts"),
    shots: number("settings.shots"),
    shotsFrom: text("settings.shotsFrom") === undefined ? undefined : { datasetName: text("settings.shotsFrom") ?? "" },
    cache: form.get("settings.cache") === "on" ? true : undefined,
    selection: {
      categories: categories.length > 0 ? categories : undefined,
      sampleSize: number("settings.selection.sampleSize"),
      seed: number("settings.selection.seed"),
    },
    generation: {
      temperature: number("settings.generation.temperature"),
      topP: number("settings.generation.topP"),
      maxTokens: number("settings.generation.maxTokens"),
    },
    judge:
      judge === "choice"
        ? { kind: "choice" }
        : {
            kind: "llm",
            providerName: text("settings.judge.providerName") ?? "",
            modelName: text("settings.judge.modelName") ?? "",
          },
    budget: {
      maxTokens: number("settings.budget.maxTokens"),
      maxCostUsd: number("settings.budget.maxCostUsd"),
    },
    simulated: simulated
      ? {
          accuracy: number("settings.simulated.accuracy"),
          latencyMs: number("settings.simulated.latencyMs"),
          faultRate: number("settings.simulated.faultRate"),
          unparsedRate: number("settings.simulated.unparsedRate"),
          seed: number("settings.simulated.seed"),
        }
      : undefined,
  };
  return (prune(settings) ?? {}) as Settings;
}

/** Drops empty values, so that the server's defaults apply to what the form leaves blank. */
function prune(value: unknown): unknown {
  if (Array.isArray(value) || value === null || typeof value !== "object") {
    return value;
  }
  const entries = Object.entries(value)
    .map(([k, v]) => [k, prune(v)] as const)
    .filter(([, v]) => v !== undefined);
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}

/** What the form starts from for a new run like an earlier one: its provider, model, dataset
 * and version, its judge, and each input's value by the input's name (as the request names
 * it), every setting the earlier run had in force. */
export interface FormStart {
  providerName: string;
  modelName: string;
  datasetName: string;
  judge: "choice" | "llm";
  judgeProviderName: string;
  categories: string[];
  /** Each other input's value, by its name; a checkbox's is `on`. */
  values: Record<string, string>;
}

/** The form's start for a run like `detail`: the same items (its dataset's version, its
 * selection) asked the same way (its settings in force). */
export function formStartOf(detail: {
  run: { providerName: string; modelName: string };
  dataset: { name: string; version: number };
  settings: Settings;
}): FormStart {
  const s = detail.settings;
  const values: Record<string, string> = {};
  const put = (name: string, value: number | string | boolean | null | undefined) => {
    if (value === undefined || value === null || value === false) return;
    values[name] = value === true ? "on" : String(value);
  };
  put("modelName", detail.run.modelName);
  put("datasetVersion", detail.dataset.version);
  put("settings.selection.sampleSize", s.selection?.sampleSize);
  put("settings.selection.seed", s.selection?.seed);
  put("settings.concurrency", s.concurrency);
  put("settings.maxAttempts", s.maxAttempts);
  put("settings.shots", s.shots);
  put("settings.shotsFrom", s.shotsFrom?.datasetName);
  put("settings.cache", s.cache);
  put("settings.generation.temperature", s.generation?.temperature);
  put("settings.generation.topP", s.generation?.topP);
  put("settings.generation.maxTokens", s.generation?.maxTokens);
  put("settings.budget.maxTokens", s.budget?.maxTokens);
  put("settings.budget.maxCostUsd", s.budget?.maxCostUsd);
  put("settings.judge.modelName", s.judge?.kind === "llm" ? s.judge.modelName : undefined);
  put("settings.simulated.accuracy", s.simulated?.accuracy);
  put("settings.simulated.latencyMs", s.simulated?.latencyMs);
  put("settings.simulated.faultRate", s.simulated?.faultRate);
  put("settings.simulated.unparsedRate", s.simulated?.unparsedRate);
  put("settings.simulated.seed", s.simulated?.seed);
  return {
    providerName: detail.run.providerName,
    modelName: detail.run.modelName,
    datasetName: detail.dataset.name,
    judge: s.judge?.kind === "llm" ? "llm" : "choice",
    judgeProviderName: s.judge?.kind === "llm" ? (s.judge.providerName ?? "") : "",
    categories: s.selection?.categories ?? [],
    values,
  };
}

/** What of a run like an earlier one this server cannot start as it was: the form shows
 * something else in its place (its first provider, model or dataset). */
export function likeDifferences(
  start: FormStart,
  providers: { name: string; models: string[] }[],
  datasets: { name: string; version: number }[],
): string[] {
  const differences: string[] = [];
  const provider = providers.find((p) => p.name === start.providerName);
  if (provider === undefined) {
    differences.push(`its provider, ${start.providerName}, is not configured here: choose another`);
  } else if (!provider.models.includes(start.modelName)) {
    differences.push(`its model, ${start.modelName}, is not one of ${start.providerName}'s here: choose another`);
  }
  if (!datasets.some((d) => d.name === start.datasetName)) {
    differences.push(`its dataset, ${start.datasetName}, is not stored here: choose another`);
  }
  if (start.judge === "llm" && !providers.some((p) => p.name === start.judgeProviderName)) {
    differences.push(`its judge's provider, ${start.judgeProviderName}, is not configured here: choose another`);
  }
  return differences;
}
