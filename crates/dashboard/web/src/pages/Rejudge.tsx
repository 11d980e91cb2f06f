// Judging a finished run's answers again, with another judge (POST /runs/{id}/rejudge): every
// answer goes back to its judge, and each keeps its earlier verdicts in its history.
import { type FormEvent, useState } from "react";

import type { Schemas } from "../api/client";
import { useConfirm } from "../components/confirm";
import { ModelSelect, ProviderSelect } from "../components/providers";
import { useProvidersQuery } from "../queries";

export function RejudgeForm({
  answered,
  busy,
  onRejudge,
  onClose,
}: {
  /** How many of the run's items hold an answer to judge. */
  answered: number;
  busy: boolean;
  onRejudge: (judge: Schemas["JudgeDto"]) => void;
  onClose: () => void;
}) {
  const providers = useProvidersQuery();
  const [confirming, ask] = useConfirm();
  const [kind, setKind] = useState<"choice" | "llm">("choice");
  const [providerName, setProviderName] = useState("");
  const provider =
    providers.data?.find((p) => p.name === providerName) ??
    providers.data?.find((p) => p.credentials !== "missing") ??
    providers.data?.[0];

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const judge: Schemas["JudgeDto"] =
      kind === "choice"
        ? { kind: "choice" }
        : {
            kind: "llm",
            providerName: String(form.get("rejudge.providerName") ?? ""),
            modelName: String(form.get("rejudge.modelName") ?? ""),
          };
    const by = judge.kind === "choice" ? "the extraction rules" : `${judge.providerName}/${judge.modelName}`;
    ask(
      {
        text: `Judge the ${answered} answer(s) of this run again, by ${by}? Earlier verdicts stay in each item's history.`,
        yes: "Judge them again",
        no: "Not now",
      },
      () => onRejudge(judge),
    );
  };

  return (
    <form
      className="form rejudge"
      onSubmit={submit}
      aria-label="Re-judge this run"
      // Escape closes the panel, as it closes its question (which handles its own).
      onKeyDown={(e) => {
        if (e.key === "Escape" && !(e.target as Element).closest("dialog")) onClose();
      }}
    >
      {confirming}
      <fieldset>
        <legend>Judge the answers again</legend>
        <div className="form-field">
          <label htmlFor="rejudge.kind">Judge</label>
          <select id="rejudge.kind" value={kind} onChange={(e) => setKind(e.target.value === "llm" ? "llm" : "choice")}>
            <option value="choice">Extraction rules</option>
            <option value="llm">An LLM judge</option>
          </select>
        </div>
        {kind === "llm" && (
          <>
            <div className="form-field">
              <label htmlFor="rejudge.providerName">Judge provider</label>
              <ProviderSelect name="rejudge.providerName" providers={providers.data} chosen={provider} onChoose={setProviderName} />
            </div>
            <div className="form-field">
              <label htmlFor="rejudge.modelName">Judge model</label>
              <ModelSelect name="rejudge.modelName" provider={provider} />
            </div>
          </>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            Re-judge
          </button>
          <button type="button" onClick={onClose}>
            Close
          </button>
        </div>
      </fieldset>
    </form>
  );
}
