// The Browser Harness: the keys packs are signed with; build a signed pack and download it;
// upload a capture bundle, its pack's signature checked here first, and see the run it made
// or every problem with its JSON Pointer.
import { useQuery } from "@tanstack/react-query";
import { type ChangeEvent, type FormEvent, useEffect, useState } from "react";
import { Link } from "wouter";

import { apiUrl } from "../api/base";
import { type Schemas, api, unwrap } from "../api/client";
import { useAccess } from "../auth/access";
import { Announce, CategoryChecks, ErrorNote, QueryError, TableScroll, Time, useTitle } from "../components/common";
import { type Envelope, type Verdict, verifyEnvelope } from "../harness/verify";
import { useDatasetsQuery } from "../queries";

type RunDetail = Schemas["RunDetailDto"];
type Key = Schemas["PublicKeyDto"];

/** The server refuses larger bundles (`MAX_BUNDLE_BYTES` in the API); said before sending, since
 * a browser still uploading may report the refusal as a lost connection. */
const MAX_BUNDLE_BYTES = 32 * 1024 * 1024;

function useKeysQuery() {
  return useQuery({
    queryKey: ["harness", "keys"],
    queryFn: async () => unwrap(await api.GET("/browser-harness/keys")),
  });
}


export function HarnessPage() {
  useTitle("Browser Harness");
  const keys = useKeysQuery();
  // Undefined until they are loaded: no verdict is given against keys not known yet.
  const published = keys.data?.keys;
  const { operate } = useAccess();
  return (
    <section aria-labelledby="harness-title">
      <h1 id="harness-title">Browser Harness</h1>
      <p className="muted">
        Models without an API are evaluated through signed packs of prompts played in a browser; the captured
        answers come back as a bundle and become a judged run. The formats are specified in the project's
        docs/harness-format.md, so that a harness can be written in any language.
      </p>
      <h2>Signing keys</h2>
      <QueryError error={keys.error} loaded={keys.data !== undefined} />
      {keys.isPending && !keys.error && (
        <p className="muted" role="status">
          Loading…
        </p>
      )}
      {keys.data && (
        <TableScroll label="Signing keys">
          <table className="table keys">
            <caption className="visually-hidden">Keys the server signs and accepts packs with</caption>
            <thead>
              <tr>
                <th scope="col">Key id</th>
                <th scope="col">Status</th>
                <th scope="col">Public key (base64)</th>
              </tr>
            </thead>
            <tbody>
              {keys.data.keys.map((key) => (
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
      )}
      {operate ? (
        <>
          <PackForm keys={published} />
          <BundleUpload keys={published} />
        </>
      ) : (
        <p className="muted">Building packs and importing captures needs a token with the operator role.</p>
      )}
    </section>
  );
}

/** What holds a pack's envelope: a bundle, or the answer to building a pack. */
interface Signed {
  envelope?: Envelope;
}

/** The verdict on the signature of `signed`'s pack, checked again when the published keys arrive
 * or change; none while they are not loaded. (`keys` must keep its identity between renders.) */
function useVerdict(signed: Signed | null, keys: Key[] | undefined): Verdict | null {
  const [verdict, setVerdict] = useState<Verdict | null>(null);
  useEffect(() => {
    setVerdict(null);
    if (!signed || keys === undefined) {
      return;
    }
    let current = true;
    const checked: Promise<Verdict> = signed.envelope
      ? verifyEnvelope(signed.envelope, keys)
      : Promise.resolve({ ok: false, reason: "the bundle has no envelope" });
    void checked.then((v) => current && setVerdict(v));
    return () => {
      current = false;
    };
  }, [signed, keys]);
  return verdict;
}

/** Items past which a pack's bundle may come near the import limit (32 MiB): the envelope goes
 *  back with the captures, ~2 KiB of prompt and ~2 KiB of captured answer and chunks an
 *  MMLU-Pro item, so some 8,000 items fill it. (A pack too large even for one-letter answers
 *  is refused by the server when asked for.) */
const LARGE_PACK_ITEMS = 5000;

function PackForm({ keys }: { keys: Key[] | undefined }) {
  const datasets = useDatasetsQuery();
  const [datasetName, setDatasetName] = useState("");
  const dataset = datasets.data?.find((d) => d.name === datasetName) ?? datasets.data?.[0];
  const [categories, setCategories] = useState<string[]>([]);
  const [sampleText, setSampleText] = useState("");
  // How many items the pack will hold, as far as the form can tell.
  const chosen = (dataset?.categories ?? [])
    .filter((c) => categories.length === 0 || categories.includes(c.name))
    .reduce((sum, c) => sum + c.itemCount, 0);
  const sample = Number(sampleText);
  const packItems = sampleText.trim() !== "" && Number.isSafeInteger(sample) && sample > 0 ? Math.min(sample, chosen) : chosen;
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [pack, setPack] = useState<{
    url: string;
    name: string;
    signed: Signed;
    items: number;
    expiresAt: string | null;
  } | null>(null);
  const verdict = useVerdict(pack?.signed ?? null, keys);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const number = (name: string) => {
      const value = String(form.get(name) ?? "").trim();
      return value === "" ? undefined : Number(value);
    };
    const sampleSize = number("sampleSize");
    const seed = number("seed");
    const hours = number("expiresInHours");
    const picked = form.getAll("categories").map(String);
    setError(null);
    setPack(null);
    setBusy(true);
    try {
      const envelope = unwrap(
        await api.POST("/browser-harness/packs", {
          body: {
            datasetName: String(form.get("datasetName") ?? ""),
            target: String(form.get("target") ?? "").trim(),
            // A seed without a sample size is sent too: the server says why it is refused.
            selection:
              sampleSize === undefined && seed === undefined && picked.length === 0
                ? undefined
                : { sampleSize, seed, categories: picked.length === 0 ? undefined : picked },
            expiresInSeconds: hours === undefined ? undefined : hours * 3600,
          },
        }),
      ) as Envelope;
      const payload = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(envelope.payload), (c) => c.charCodeAt(0))));
      const blob = new Blob([JSON.stringify(envelope, null, 2)], { type: "application/json" });
      setPack({
        url: URL.createObjectURL(blob),
        name: `${payload.packId ?? "pack"}.json`,
        signed: { envelope },
        items: payload.items?.length ?? 0,
        expiresAt: typeof payload.expiresAt === "string" ? payload.expiresAt : null,
      });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form" onSubmit={(e) => void submit(e)} aria-labelledby="pack-title">
      {/* A heading, not only a legend: a screen reader's list of headings finds the form. */}
      <h2 id="pack-title">Build a pack</h2>
      <fieldset aria-labelledby="pack-title">
        <QueryError error={datasets.error} loaded={datasets.data !== undefined} />
        <div className="form-field">
          <label htmlFor="pack-dataset">Dataset</label>
          <select
            id="pack-dataset"
            name="datasetName"
            value={dataset?.name ?? ""}
            onChange={(e) => {
              setDatasetName(e.target.value);
              setCategories([]);
            }}
          >
            {datasets.data?.map((d) => (
              <option key={d.name} value={d.name}>
                {d.name} (v{d.version})
              </option>
            ))}
          </select>
        </div>
        <div className="form-field">
          <label htmlFor="pack-target">Target (the model played to)</label>
          <input id="pack-target" name="target" placeholder="e.g. chatgpt-web" required />
        </div>
        <div className="form-field">
          <label htmlFor="pack-size">Sample size (all when empty)</label>
          <input id="pack-size" name="sampleSize" type="number" min={1} value={sampleText} onChange={(e) => setSampleText(e.target.value)} />
        </div>
        <div className="form-field">
          <label htmlFor="pack-seed">Sample seed</label>
          <input id="pack-seed" name="seed" type="number" min={0} />
        </div>
        <CategoryChecks
          id="pack-categories-label"
          name="categories"
          categories={dataset?.categories}
          checked={categories}
          onChange={setCategories}
        >
          {dataset && (
            <small className={packItems > LARGE_PACK_ITEMS ? "problem" : "muted"}>
              {packItems.toLocaleString()} item(s)
              {packItems > LARGE_PACK_ITEMS &&
                ": their captures may not fit one bundle (the server takes 32 MiB at most); sample, or choose categories"}
            </small>
          )}
        </CategoryChecks>
        <div className="form-field">
          <label htmlFor="pack-expiry">Expires in (hours, default 168)</label>
          <input id="pack-expiry" name="expiresInHours" type="number" min={1} max={720} />
        </div>
        <div className="form-field">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Building…" : "Build and sign"}
          </button>
        </div>
      </fieldset>
      <ErrorNote error={error} />
      <Announce>
        {pack && (
          <div className="success">
            Pack of {pack.items} items
            {pack.expiresAt && (
              <>
                , its captures importable until <Time at={pack.expiresAt} />
              </>
            )}
            . {verdict && <SignatureNote verdict={verdict} />}{" "}
            <a href={pack.url} download={pack.name}>
              Download {pack.name}
            </a>
          </div>
        )}
      </Announce>
    </form>
  );
}

function SignatureNote({ verdict }: { verdict: Verdict }) {
  return verdict.ok ? (
    <span className="good">
      Signed by key <code>{verdict.keyId.slice(0, 16)}…</code> ({verdict.status}), verified in this browser.
    </span>
  ) : "keyId" in verdict ? (
    <span className="bad">
      Signed by key <code>{verdict.keyId.slice(0, 16)}…</code> ({verdict.status}), verified in this browser, but {verdict.reason}.
    </span>
  ) : (
    <span className="bad">Not verified here: {verdict.reason}.</span>
  );
}

/** What a bundle holds, for whoever plays a pack (by hand or with a harness of their own): the
 * page is where they meet the format first. */
function BundleHelp() {
  return (
    <details className="help wide">
      <summary>What a bundle holds</summary>
      <p>
        A harness plays each prompt of the pack to the model, exactly as written and in a fresh conversation, and
        sends back the pack's envelope unchanged (the downloaded file) with one capture per answered item. Items
        left out are imported as not captured.
      </p>
      <pre className="code">{`{
  "envelope": { …the downloaded pack, unchanged… },
  "harness": { "name": "my-harness", "version": "1.0", "userAgent": "…the browser's…" },
  "captures": [
    {
      "sequence": 1,
      "promptSha256": "…SHA-256 (hex) of the prompt text as sent…",
      "responseText": "…the whole answer…",
      "startedAt": "2026-12-05T14:00:00Z",
      "finishedAt": "2026-12-05T14:00:09Z"
    }
  ]
}`}</pre>
      <p>
        <code>sequence</code> and the prompt come from the pack's items (its payload, base64 JSON); times are RFC 3339.
        Optional: <code>chunks</code> (the answer as it streamed: checked, only the first chunk's time kept) and{" "}
        <code>page</code> (the page's URL, title: kept with the answer). The whole format, with every limit:{" "}
        <a href={apiUrl("/browser-harness/schemas/capture-bundle.v1.json")} target="_blank" rel="noreferrer">
          the bundle's JSON Schema
        </a>
        .
      </p>
    </details>
  );
}

/** A bundle file read as JSON (to check its pack's signature here), or why it cannot be sent. */
async function readBundle(file: File): Promise<{ json: Signed } | { problem: string }> {
  if (file.size > MAX_BUNDLE_BYTES) {
    return { problem: `${file.name} is larger than 32 MiB, the most the server accepts.` };
  }
  return bundleProblem(file.name, new Uint8Array(await file.arrayBuffer()));
}

/** What a chosen file is, as a bundle: its JSON, or one sentence on why it cannot be one (the
 *  pack itself, a file that is not text, text that is not JSON). */
export function bundleProblem(name: string, bytes: Uint8Array): { json: Signed } | { problem: string } {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    // The parser's message would quote the file's bytes as garbled characters.
    return { problem: `${name} is not a bundle: it is not text (a bundle is a JSON file the harness writes).` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (caught) {
    return { problem: `${name} is not JSON: ${caught instanceof Error ? caught.message : String(caught)}` };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { problem: `${name} is not a bundle: a bundle is one JSON object.` };
  }
  if ("payloadType" in json && !("envelope" in json)) {
    return {
      problem: `${name} is a pack, not a capture bundle: play the pack with a Browser Harness, and import the bundle it makes.`,
    };
  }
  return { json };
}

function BundleUpload({ keys }: { keys: Key[] | undefined }) {
  // The file is read again when it is sent, so that a bundle fixed in an editor and chosen again
  // (which fires no change event for the same file) goes as it is now.
  const [file, setFile] = useState<File | null>(null);
  const [bundle, setBundle] = useState<Signed | null>(null);
  const verdict = useVerdict(bundle, keys);
  const [error, setError] = useState<unknown>(null);
  const [run, setRun] = useState<{ detail: RunDetail; replayed: boolean } | null>(null);
  const [busy, setBusy] = useState(false);

  const choose = async (event: ChangeEvent<HTMLInputElement>) => {
    setError(null);
    setRun(null);
    setBundle(null);
    const chosen = event.target.files?.[0] ?? null;
    setFile(chosen);
    if (!chosen) {
      return;
    }
    const read = await readBundle(chosen);
    if ("problem" in read) {
      setError(new Error(read.problem));
      return;
    }
    setBundle(read.json);
  };
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!file) {
      return;
    }
    setBusy(true);
    setError(null);
    setRun(null);
    try {
      const read = await readBundle(file);
      if ("problem" in read) {
        setError(new Error(read.problem));
        return;
      }
      setBundle(read.json);
      // The file's own bytes, not the parsed object written out again (JSON.parse reads `1.0`
      // as 1 and keeps the last of two equal keys), nor its decoded text (which drops a byte
      // order mark): the server must judge what the file says.
      const result = await api.POST("/browser-harness/imports", {
        body: read.json as Schemas["CaptureBundleDto"],
        bodySerializer: () => file,
      });
      setRun({ detail: unwrap(result), replayed: result.response.status === 200 });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form" onSubmit={(e) => void submit(e)} aria-labelledby="import-title">
      {/* A heading, not only a legend: a screen reader's list of headings finds the form. */}
      <h2 id="import-title">Import a capture bundle</h2>
      <fieldset aria-labelledby="import-title">
        <BundleHelp />
        <div className="form-field wide">
          <label htmlFor="bundle-file">Bundle (JSON)</label>
          <input id="bundle-file" type="file" accept=".json,application/json" onChange={(e) => void choose(e)} />
        </div>
        <div className="wide">
          <Announce>
            {verdict && (
              <p>
                Its pack: <SignatureNote verdict={verdict} />
              </p>
            )}
          </Announce>
        </div>
        <div className="form-field">
          <button type="submit" className="primary" disabled={!file || busy}>
            {busy ? "Importing…" : "Import"}
          </button>
        </div>
      </fieldset>
      <ErrorNote error={error} />
      <Announce>
        {run && (
          <div className="success">
            {run.replayed ? "This bundle was imported before: " : "Imported as "}
            <Link href={`/runs/${run.detail.run.id}`}>run {run.detail.run.id}</Link> — {run.detail.progress.correct} correct of{" "}
            {run.detail.progress.total}
            {/* Items the bundle holds no capture of fail, and count as wrong. */}
            {run.detail.progress.faulted > 0 && `; ${run.detail.progress.faulted} not captured`}.
          </div>
        )}
      </Announce>
    </form>
  );
}
