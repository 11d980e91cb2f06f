// The configured providers and their models as options of a select: the new run's provider
// and judge, and a re-judging's judge.
import type { useProvidersQuery } from "../queries";

export type Provider = NonNullable<ReturnType<typeof useProvidersQuery>["data"]>[number];

/** The configured providers, one option each; a provider without its API key says so. */
export function ProviderOptions({ providers }: { providers: Provider[] | undefined }) {
  return providers?.map((p) => (
    <option key={p.name} value={p.name}>
      {p.name}
      {p.credentials === "missing" ? " (no API key)" : ""}
    </option>
  ));
}

/** The models `provider` lists. */
export function ModelOptions({ provider }: { provider: Provider | undefined }) {
  return provider?.models.map((m) => (
    <option key={m} value={m}>
      {m}
    </option>
  ));
}
