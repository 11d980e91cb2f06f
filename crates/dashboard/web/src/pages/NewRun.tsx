// A new run: provider, model and dataset from the server's lists, the item selection and the
// settings; a 422 shows each problem next to its field. One Idempotency-Key per form, so that a
// double click (or a retried request) makes one run.
import {
  type FormEvent,
  type ReactElement,
  type ReactNode,
  cloneElement,
  isValidElement,
  useEffect,
  useMemo,
  useRef,
  useState,
} from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useLocation, useSearchParams } from "wouter";

import { ApiError, api, unwrap } from "../api/client";
import { useAccess } from "../auth/access";
import { CategoryChecks, ErrorNote, Loading, QueryError, useTitle } from "../components/common";
import { ModelSelect, ProviderSelect } from "../components/providers";
import { runQuery, useDatasetsQuery, useProvidersQuery } from "../queries";
import {
  type FormStart,
  formStartOf,
  likeDifferences,
  placeProblems,
  settingsFrom,
  shownFields,
  unreadableNumbers,
  wholeNumberProblems,
} from "./newRunForm";


function newKey(): string {
  return crypto.randomUUID();
}

export function NewRunPage() {
  useTitle("New run");
  const { operate } = useAccess();
  if (!operate) {
    return (
      <section aria-labelledby="new-title">
        <h1 id="new-title">New run</h1>
        <p className="muted">Starting a run needs a token with the operator role.</p>
      </section>
    );
  }
  return <NewRunStart />;
}

/** The form, empty or — with `?like=<run id>` (a run page's "New run like this") — filled in
 * with that run's provider, model, dataset version and settings. */
function NewRunStart() {
  const [params] = useSearchParams();
  const like = params.get("like");
  const earlier = useQuery({ ...runQuery(like ?? ""), enabled: like !== null, staleTime: 60_000 });
  const providers = useProvidersQuery();
  const datasets = useDatasetsQuery();
  if (like === null) return <NewRunForm />;
  // The lists too: a select whose options come after it was drawn does not take its start.
  if (earlier.data === undefined || providers.data === undefined || datasets.data === undefined) {
    const failed = earlier.error ?? providers.error ?? datasets.error;
    return (
      <section aria-labelledby="new-title">
        <h1 id="new-title">New run</h1>
        <QueryError error={failed} loaded={false} />
        {failed === null ? (
          <Loading failure={earlier.failureReason} />
        ) : (
          <p>
            <Link href="/runs/new">Start from an empty form</Link>
          </p>
        )}
      </section>
    );
  }
  const start = formStartOf(earlier.data);
  const differences = likeDifferences(start, providers.data, datasets.data);
  return (
    <NewRunForm key={like} start={start}>
      <p className="meta">
        Like run{" "}
        <Link href={`/runs/${like}`}>
          {start.modelName} on {start.datasetName} <code>…{like.slice(-8)}</code>
        </Link>
        : its dataset version and settings in force. Change what differs.
      </p>
      {differences.length > 0 && (
        <div className="warning" role="status">
          <p>This server cannot start it as it was:</p>
          <ul>
            {differences.map((difference) => (
              <li key={difference}>{difference}</li>
            ))}
          </ul>
        </div>
      )}
    </NewRunForm>
  );
}

function NewRunForm({ start, children }: { start?: FormStart; children?: ReactNode }) {
  const providers = useProvidersQuery();
  const datasets = useDatasetsQuery();
  const [, navigate] = useLocation();
  const [providerName, setProviderName] = useState(start?.providerName ?? "");
  const [datasetName, setDatasetName] = useState(start?.datasetName ?? "");
  const [judge, setJudge] = useState<string>(start?.judge ?? "choice");
  const [judgeProviderName, setJudgeProviderName] = useState(start?.judgeProviderName ?? "");
  const [key, setKey] = useState(newKey);
  const [error, setError] = useState<unknown>(null);
  // The fields changed since the last refusal: what was said of them may no longer hold.
  const [edited, setEdited] = useState<ReadonlySet<string>>(new Set());
  const refuse = (refusal: unknown) => {
    setEdited(new Set());
    setError(refusal);
  };
  const [busy, setBusy] = useState(false);

  // Until one is picked: the first provider that can be used (its key is there).
  const provider =
    providers.data?.find((p) => p.name === providerName) ??
    providers.data?.find((p) => p.credentials !== "missing") ??
    providers.data?.[0];
  // Until one is picked: the provider that answers (a model may judge its own kind's answers).
  const judgeProvider = providers.data?.find((p) => p.name === judgeProviderName) ?? provider;
  const dataset = datasets.data?.find((d) => d.name === datasetName) ?? datasets.data?.[0];
  const placed = useMemo(
    () => placeProblems(error, shownFields(judge, provider?.simulated ?? false)),
    [error, judge, provider?.simulated],
  );
  const beside = useMemo(
    () => new Map([...placed.beside].filter(([name]) => !edited.has(name))),
    [placed.beside, edited],
  );
  const { summary } = placed;

  // A refused form takes the reader to its first field marked, as a browser's own check would.
  const form = useRef<HTMLFormElement>(null);
  // (Once per refusal: choosing another judge or provider afterwards must not move the focus.)
  useEffect(() => {
    if (error !== null) form.current?.querySelector<HTMLElement>("[aria-invalid='true']")?.focus();
  }, [error]);

  // A request in flight: a second press (a double click) sends nothing. A ref, not the busy
  // state, which the second click's handler would still read as before the first.
  const sending = useRef(false);
  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    if (sending.current) return;
    const form = new FormData(event.currentTarget);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    const settings = settingsFrom(form, judge, provider?.simulated ?? false);
    const whole = [
      ...unreadableNumbers(event.currentTarget.querySelectorAll("input")),
      ...wholeNumberProblems(form),
    ];
    if (whole.length > 0) {
      // Said beside the fields, in words, rather than sent for the server's parser to refuse.
      refuse(new ApiError(0, "Not sent", "Check the number fields marked above.", whole));
      return;
    }
    sending.current = true;
    setBusy(true);
    refuse(null);
    try {
      const created = unwrap(
        await api.POST("/runs", {
          body: {
            providerName: text("providerName"),
            modelName: text("modelName"),
            datasetName: text("datasetName"),
            // Its newest unless one is named.
            datasetVersion: text("datasetVersion") === "" ? undefined : Number(text("datasetVersion")),
            settings,
          },
          params: { header: { "Idempotency-Key": key } },
        }),
      );
      setKey(newKey());
      navigate(`/runs/${created.run.id}`);
    } catch (caught) {
      refuse(caught);
    } finally {
      sending.current = false;
      setBusy(false);
    }
  };

  // A run like an earlier one: each input starts from that run's value (the dataset's version
  // only while its dataset is chosen: another dataset's versions are others).
  const startOf = (name: string, input: ReactNode) => {
    const value = start?.values[name];
    const elsewhere = name === "datasetVersion" && dataset?.name !== start?.datasetName;
    if (value === undefined || elsewhere || !isValidElement(input)) return input;
    const checkbox = (input.props as { type?: string }).type === "checkbox";
    return cloneElement(input as ReactElement<Record<string, unknown>>, checkbox ? { defaultChecked: true } : { defaultValue: value });
  };
  const field = (name: string, label: string, input: ReactNode, hint?: string) => (
    <Labelled name={name} label={label} problems={beside.get(name)} hint={hint}>
      {startOf(name, input)}
    </Labelled>
  );

  return (
    <section aria-labelledby="new-title">
      <h1 id="new-title">New run</h1>
      {children}
      <ErrorNote error={providers.error ?? datasets.error} />
      <form
        ref={form}
        className="form"
        onSubmit={(e) => void submit(e)}
        onChange={(e) => {
          const name = (e.target as Partial<HTMLInputElement>).name;
          if (name && error !== null && !edited.has(name)) setEdited(new Set(edited).add(name));
        }}
        noValidate
      >
        <fieldset>
          <legend>What to evaluate</legend>
          {field(
            "providerName",
            "Provider",
            <ProviderSelect name="providerName" providers={providers.data} chosen={provider} onChoose={setProviderName} />,
          )}
          {field(
            "modelName",
            "Model",
            <ModelSelect name="modelName" provider={provider} />,
          )}
          {field(
            "datasetName",
            "Dataset",
            <select id="datasetName" name="datasetName" value={dataset?.name ?? ""} onChange={(e) => setDatasetName(e.target.value)}>
              {datasets.data?.map((d) => (
                <option key={d.name} value={d.name}>
                  {d.name} (v{d.version}, {d.itemCount} items)
                </option>
              ))}
            </select>,
          )}
          {field(
            "datasetVersion",
            "Dataset version",
            <input
              // Drawn anew for another dataset: what was typed was a version of the other one.
              key={dataset?.name}
              id="datasetVersion"
              name="datasetVersion"
              type="number"
              min={1}
              max={dataset?.version}
              placeholder={dataset ? `newest (v${dataset.version})` : "newest"}
            />,
            "an earlier one evaluates again what an earlier run did (its page names its version); the categories below are the newest version's",
          )}
        </fieldset>
        <fieldset>
          <legend>Items</legend>
          <CategoryChecks
            // Drawn anew for another dataset, whose categories are others.
            key={dataset?.name}
            id="categories-label"
            name="settings.selection.categories"
            categories={dataset?.categories}
            defaultChecked={dataset?.name === start?.datasetName ? start?.categories : undefined}
            // An earlier version's categories the newest lacks: still offered, and checked.
            others={
              dataset?.name === start?.datasetName
                ? start?.categories.filter((name) => !dataset?.categories.some((c) => c.name === name))
                : undefined
            }
          >
            {beside.get("settings.selection.categories")?.map((detail) => (
              <small key={detail} className="problem">
                {detail}
              </small>
            ))}
          </CategoryChecks>
          {field("settings.selection.sampleSize", "Sample size", <input id="settings.selection.sampleSize" name="settings.selection.sampleSize" type="number" min={1} />, "at most N items (every item when fewer are chosen): with a seed a random sample; without one the first N in the dataset's order — in a file sorted by category, such as MMLU-Pro's, one or two categories")}
          {field("settings.selection.seed", "Sample seed", <input id="settings.selection.seed" name="settings.selection.seed" type="number" min={0} placeholder="none: the first N" />)}
        </fieldset>
        <fieldset>
          <legend>Settings</legend>
          {field("settings.concurrency", "Concurrency", <input id="settings.concurrency" name="settings.concurrency" type="number" min={1} max={256} placeholder="server default" />)}
          {field("settings.maxAttempts", "Max attempts", <input id="settings.maxAttempts" name="settings.maxAttempts" type="number" min={1} max={10} placeholder="provider default" />)}
          {field("settings.shots", "Worked examples", <input id="settings.shots" name="settings.shots" type="number" min={0} max={5} placeholder="0" />)}
          {field(
            "settings.shotsFrom",
            "Worked examples from",
            <select id="settings.shotsFrom" name="settings.shotsFrom" defaultValue="">
              <option value="">the run's dataset</option>
              {datasets.data?.map((d) => (
                <option key={d.name} value={d.name}>
                  {d.name}
                </option>
              ))}
            </select>,
            "e.g. a validation split",
          )}
          {field(
            "settings.cache",
            "Response cache",
            <input id="settings.cache" name="settings.cache" type="checkbox" />,
            "requests made before are answered from the database: not sent, not paid",
          )}
          {field(
            "settings.generation.temperature",
            "Temperature",
            <input id="settings.generation.temperature" name="settings.generation.temperature" type="number" step="0.1" min={0} max={2} placeholder="provider default" />,
            "blank sends none: the model samples at its server's default (often 1); MMLU-Pro's official evaluation uses 0",
          )}
          {field("settings.generation.topP", "Top P", <input id="settings.generation.topP" name="settings.generation.topP" type="number" step="0.05" min={0} max={1} placeholder="provider default" />)}
          {field(
            "settings.generation.maxTokens",
            "Max tokens",
            <input id="settings.generation.maxTokens" name="settings.generation.maxTokens" type="number" min={1} placeholder="provider default" />,
            "blank sends none, but to Anthropic 4096 (MMLU-Pro's official evaluation: 4000); an answer cut off at the limit is marked",
          )}
          {field("settings.budget.maxTokens", "Budget: tokens", <input id="settings.budget.maxTokens" name="settings.budget.maxTokens" type="number" min={1} />)}
          {field("settings.budget.maxCostUsd", "Budget: US dollars", <input id="settings.budget.maxCostUsd" name="settings.budget.maxCostUsd" type="number" step="0.01" min={0} />)}
        </fieldset>
        <fieldset>
          <legend>Judge</legend>
          {field(
            "settings.judge",
            "Judge",
            <select id="settings.judge" value={judge} onChange={(e) => setJudge(e.target.value)}>
              <option value="choice">Extraction rules</option>
              <option value="llm">An LLM judge</option>
            </select>,
            judge === "choice" ? "the answer's letter, or its number, read by fixed rules" : "another model reads the answer",
          )}
          {judge === "llm" && (
            <>
              {field(
                "settings.judge.providerName",
                "Judge provider",
                <ProviderSelect
                  name="settings.judge.providerName"
                  providers={providers.data}
                  chosen={judgeProvider}
                  onChoose={setJudgeProviderName}
                />,
              )}
              {field(
                "settings.judge.modelName",
                "Judge model",
                <ModelSelect name="settings.judge.modelName" provider={judgeProvider} />,
              )}
            </>
          )}
        </fieldset>
        {provider?.simulated && (
          <fieldset>
            <legend>Simulated provider</legend>
            {field("settings.simulated.accuracy", "Accuracy", <input id="settings.simulated.accuracy" name="settings.simulated.accuracy" type="number" step="0.05" min={0} max={1} placeholder="0.7" />)}
            {field("settings.simulated.latencyMs", "Latency (ms)", <input id="settings.simulated.latencyMs" name="settings.simulated.latencyMs" type="number" min={0} placeholder="0" />)}
            {field("settings.simulated.faultRate", "Fault rate", <input id="settings.simulated.faultRate" name="settings.simulated.faultRate" type="number" step="0.05" min={0} max={1} placeholder="0" />)}
            {field("settings.simulated.unparsedRate", "Unparsed rate", <input id="settings.simulated.unparsedRate" name="settings.simulated.unparsedRate" type="number" step="0.05" min={0} max={1} placeholder="0" />)}
            {field("settings.simulated.seed", "Seed", <input id="settings.simulated.seed" name="settings.simulated.seed" type="number" min={0} placeholder="0" />)}
          </fieldset>
        )}
        {error !== null && (
          <div className="error" role="alert">
            <strong>
              {error instanceof ApiError
                ? error.status === 0
                  ? error.title
                  : error.status === 422
                    ? "Run not created"
                    : `Run not created: ${error.title} (${error.status})`
                : error instanceof TypeError
                  ? "Cannot reach the server"
                  : "Not created"}
            </strong>
            <p>
              {/* Every problem is said beside its field: the server's wording of them all (with
                  the API's field paths) would only say it again. */}
              {error instanceof ApiError && error.status !== 0 && error.problems.length > 0 && summary.length === 0
                ? "Check the fields marked above."
                : error instanceof Error
                  ? error.message
                  : String(error)}
            </p>
            {summary.length > 0 && (
              <ul>
                {summary.map(([field, details]) => (
                  <li key={field}>
                    {field && <code>{field}</code>} {details.join("; ")}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
        {/* Busy, it stays focusable (a disabled button dropped the focus to nothing). */}
        <button type="submit" className="primary" aria-disabled={busy}>
          {busy ? "Creating…" : "Create run"}
        </button>
      </form>
    </section>
  );
}

function Labelled({
  name,
  label,
  problems,
  hint,
  children,
}: {
  name: string;
  label: string;
  problems: string[] | undefined;
  hint?: string;
  children: ReactNode;
}) {
  // The field says it is refused, and why, to a screen reader as the mark says it to the eye;
  // its hint is read with it too. The problem is no alert of its own: a refusal focuses the
  // first field marked (which reads its description) under one alert for the whole form, and
  // an alert per field read each problem two or three times.
  const problemId = `${name}.problem`;
  const hintId = `${name}.hint`;
  const describedBy = [problems && problemId, hint && hintId].filter(Boolean).join(" ");
  const input =
    describedBy && isValidElement(children)
      ? cloneElement(children as ReactElement<Record<string, unknown>>, {
          "aria-invalid": problems ? true : undefined,
          "aria-describedby": describedBy,
        })
      : children;
  return (
    <div className={problems ? "form-field invalid" : "form-field"}>
      <label htmlFor={name}>{label}</label>
      {input}
      {hint && (
        <small id={hintId} className="muted">
          {hint}
        </small>
      )}
      {problems && (
        <small id={problemId} className="problem">
          {problems.join("; ")}
        </small>
      )}
    </div>
  );
}
