// The Browser Harness: the keys packs are signed with; build a signed pack and download it;
// upload a capture bundle, its pack's signature checked here first, and see the run it made
// or every problem with its JSON Pointer.
import { useQuery } from "@tanstack/react-query";
import { type ChangeEvent, type FormEvent, useState } from "react";
import { Link } from "wouter";

import { type Schemas, api, unwrap } from "../api/client";
import { useAccess } from "../auth/access";
import { ErrorNote, TableScroll, useTitle } from "../components/common";
import { type Envelope, type Verdict, verifyEnvelope } from "../harness/verify";
import { useDatasetsQuery } from "../queries";

type RunDetail = Schemas["RunDetailDto"];

function useKeysQuery() {
  return useQuery({
    queryKey: ["harness", "keys"],
    queryFn: async () => unwrap(await api.GET("/browser-harness/keys")),
  });
}

export function HarnessPage() {
  useTitle("Browser Harness");
  const keys = useKeysQuery();
  const { operate } = useAccess();
  return (
    <section aria-labelledby="harness-title">
      <h1 id="harness-title">Browser Harness</h1>
      <p className="muted">
        Models without an API are evaluated through signed packs of prompts played in a browser; the captured
        answers come back as a bundle and become a judged run (docs/harness-format.md).
      </p>
      <h2>Signing keys</h2>
      <ErrorNote error={keys.error} />
      <TableScroll label="Signing keys">
        <table className="table">
          <caption className="visually-hidden">Keys the server signs and accepts packs with</caption>
          <thead>
            <tr>
              <th scope="col">Key id</th>
              <th scope="col">Status</th>
              <th scope="col">Public key (base64)</th>
            </tr>
          </thead>
          <tbody>
            {keys.data?.keys.map((key) => (
              <tr key={key.keyId}>
                <td>
                  <code>{key.keyId}</code>
                </td>
                <td>{key.status}</td>
                <td>
                  <code>{key.publicKey}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
      {operate ? (
        <>
          <PackForm keys={keys.data?.keys ?? []} />
          <BundleUpload keys={keys.data?.keys ?? []} />
        </>
      ) : (
        <p className="muted">Building packs and importing captures needs a token with the operator role.</p>
      )}
    </section>
  );
}

function PackForm({ keys }: { keys: Schemas["PublicKeyDto"][] }) {
  const datasets = useDatasetsQuery();
  const [error, setError] = useState<unknown>(null);
  const [pack, setPack] = useState<{ url: string; name: string; verdict: Verdict; items: number } | null>(null);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const number = (name: string) => {
      const value = String(form.get(name) ?? "").trim();
      return value === "" ? undefined : Number(value);
    };
    setError(null);
    setPack(null);
    try {
      const envelope = unwrap(
        await api.POST("/browser-harness/packs", {
          body: {
            datasetName: String(form.get("datasetName") ?? ""),
            target: String(form.get("target") ?? "").trim(),
            selection:
              number("sampleSize") === undefined ? undefined : { sampleSize: number("sampleSize"), seed: number("seed") },
            expiresInSeconds: number("expiresInHours") === undefined ? undefined : number("expiresInHours")! * 3600,
          },
        }),
      );
      const payload = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(envelope.payload), (c) => c.charCodeAt(0))));
      const verdict = await verifyEnvelope(envelope as Envelope, keys);
      const blob = new Blob([JSON.stringify(envelope, null, 2)], { type: "application/json" });
      setPack({ url: URL.createObjectURL(blob), name: `${payload.packId ?? "pack"}.json`, verdict, items: payload.items?.length ?? 0 });
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <form className="form" onSubmit={(e) => void submit(e)}>
      <fieldset>
        <legend>Build a pack</legend>
        <div className="form-field">
          <label htmlFor="pack-dataset">Dataset</label>
          <select id="pack-dataset" name="datasetName">
            {datasets.data?.map((d) => (
              <option key={d.name} value={d.name}>
                {d.name} (v{d.version})
              </option>
            ))}
          </select>
        </div>
        <div className="form-field">
          <label htmlFor="pack-target">Target (the model played to)</label>
          <input id="pack-target" name="target" placeholder="chatgpt-web" required />
        </div>
        <div className="form-field">
          <label htmlFor="pack-size">Sample size (all when empty)</label>
          <input id="pack-size" name="sampleSize" type="number" min={1} />
        </div>
        <div className="form-field">
          <label htmlFor="pack-seed">Sample seed</label>
          <input id="pack-seed" name="seed" type="number" min={0} />
        </div>
        <div className="form-field">
          <label htmlFor="pack-expiry">Expires in (hours, default 168)</label>
          <input id="pack-expiry" name="expiresInHours" type="number" min={1} max={720} />
        </div>
        <div className="form-field">
          <button type="submit" className="primary">
            Build and sign
          </button>
        </div>
      </fieldset>
      <ErrorNote error={error} />
      {pack && (
        <div className="success" role="status">
          Pack of {pack.items} items. <SignatureNote verdict={pack.verdict} />{" "}
          <a href={pack.url} download={pack.name}>
            Download {pack.name}
          </a>
        </div>
      )}
    </form>
  );
}

function SignatureNote({ verdict }: { verdict: Verdict }) {
  return verdict.ok ? (
    <span className="good">
      Signed by key <code>{verdict.keyId.slice(0, 16)}…</code> ({verdict.status}), verified in this browser.
    </span>
  ) : (
    <span className="bad">Does not verify: {verdict.reason}.</span>
  );
}

function BundleUpload({ keys }: { keys: Schemas["PublicKeyDto"][] }) {
  const [bundle, setBundle] = useState<{ json: unknown; verdict: Verdict | null } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [run, setRun] = useState<{ detail: RunDetail; replayed: boolean } | null>(null);
  const [busy, setBusy] = useState(false);

  const choose = async (event: ChangeEvent<HTMLInputElement>) => {
    setError(null);
    setRun(null);
    setBundle(null);
    const file = event.target.files?.[0];
    if (!file) {
      return;
    }
    try {
      const json = JSON.parse(await file.text()) as { envelope?: Envelope };
      const verdict = json.envelope ? await verifyEnvelope(json.envelope, keys) : { ok: false as const, reason: "the bundle has no envelope" };
      setBundle({ json, verdict });
    } catch (caught) {
      setError(new Error(`${file.name} is not a JSON bundle: ${caught instanceof Error ? caught.message : String(caught)}`));
    }
  };
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!bundle) {
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const result = await api.POST("/browser-harness/imports", { body: bundle.json as Schemas["CaptureBundleDto"] });
      setRun({ detail: unwrap(result), replayed: result.response.status === 200 });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form" onSubmit={(e) => void submit(e)}>
      <fieldset>
        <legend>Import a capture bundle</legend>
        <div className="form-field wide">
          <label htmlFor="bundle-file">Bundle (JSON)</label>
          <input id="bundle-file" type="file" accept=".json,application/json" onChange={(e) => void choose(e)} />
        </div>
        {bundle?.verdict && (
          <p className="wide" role="status">
            Its pack: <SignatureNote verdict={bundle.verdict} />
          </p>
        )}
        <div className="form-field">
          <button type="submit" className="primary" disabled={!bundle || busy}>
            {busy ? "Importing…" : "Import"}
          </button>
        </div>
      </fieldset>
      <ErrorNote error={error} />
      {run && (
        <div className="success" role="status">
          {run.replayed ? "This bundle was imported before: " : "Imported as "}
          <Link href={`/runs/${run.detail.run.id}`}>run {run.detail.run.id}</Link> — {run.detail.progress.correct} correct of{" "}
          {run.detail.progress.total}.
        </div>
      )}
    </form>
  );
}
