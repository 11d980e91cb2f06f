// The configured providers and their models as selects: the new run's provider and judge, and a
// re-judging's judge.
import type { SelectHTMLAttributes } from "react";

import type { useProvidersQuery } from "../queries";

/** What a form may add to a select (a refused field's `aria-invalid` and `aria-describedby`). */
type Marks = Pick<SelectHTMLAttributes<HTMLSelectElement>, "aria-invalid" | "aria-describedby">;

export type Provider = NonNullable<ReturnType<typeof useProvidersQuery>["data"]>[number];

/** A select of the configured providers, named `name` (also its id, for its label); a provider
 * without its API key says so. */
export function ProviderSelect({
  name,
  providers,
  chosen,
  onChoose,
  ...marks
}: {
  name: string;
  providers: Provider[] | undefined;
  chosen: Provider | undefined;
  onChoose: (name: string) => void;
} & Marks) {
  return (
    <select id={name} name={name} value={chosen?.name ?? ""} onChange={(e) => onChoose(e.target.value)} {...marks}>
      {providers?.map((p) => (
        <option key={p.name} value={p.name}>
          {p.name}
          {p.credentials === "missing" ? " (no API key)" : ""}
        </option>
      ))}
    </select>
  );
}

/** A select of the models `provider` lists, named `name`; made anew for another provider, so
 * that its first model is chosen. */
export function ModelSelect({ name, provider, ...marks }: { name: string; provider: Provider | undefined } & Marks) {
  return (
    <select id={name} name={name} key={provider?.name} {...marks}>
      {provider?.models.map((m) => (
        <option key={m} value={m}>
          {m}
        </option>
      ))}
    </select>
  );
}
