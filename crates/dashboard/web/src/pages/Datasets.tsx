// Datasets: every name with its newest version, item counts and categories; upload a file
// (JSON Lines, CSV or Parquet) and see every problem the server lists.
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useEffect, useRef, useState } from "react";

import type { Schemas } from "../api/client";
import { useAccess } from "../auth/access";
import { Announce, ErrorNote, Loading, QueryError, TableScroll, Time, useTitle } from "../components/common";
import { useConfirm } from "../components/confirm";
import { useDatasetsQuery } from "../queries";
import { upload } from "../upload";

type Imported = Schemas["DatasetImportResponse"];

/** The server refuses larger files (`MAX_DATASET_BYTES`); said before sending, since a browser
 * still uploading may report the refusal as a lost connection. */
const MAX_DATASET_BYTES = 64 * 1024 * 1024;

export function DatasetsPage() {
  useTitle("Datasets");
  const datasets = useDatasetsQuery();
  const { administer } = useAccess();
  const client = useQueryClient();
  const [progress, setProgress] = useState<number | null>(null);
  const [result, setResult] = useState<Imported | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [confirmation, ask] = useConfirm();
  // A refusal is drawn below the form, off a phone's screen: it is brought into view (the focus
  // stays on Upload, below).
  const refusal = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (error !== null) refusal.current?.scrollIntoView?.({ block: "nearest" });
  }, [error]);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    // Busy, the button stays focusable (a disabled one dropped the focus to nothing).
    if (progress !== null) return;
    const element = event.currentTarget;
    const form = new FormData(element);
    const file = form.get("file");
    // What the previous upload said is not about this one.
    setResult(null);
    const name = String(form.get("name") ?? "").trim();
    if (!(file instanceof File) || file.name === "") {
      setError(new Error("Choose a file to upload."));
      return;
    }
    if (file.size === 0) {
      setError(new Error(`${file.name} is empty: there is nothing to upload.`));
      return;
    }
    if (file.size > MAX_DATASET_BYTES) {
      setError(new Error(`${file.name} is larger than 64 MiB, the most a dataset file may hold (\`evalboard dataset import\` has the same limit).`));
      return;
    }
    // A compressed file is refused by the server line by line ("not valid UTF-8"): said here.
    if (/\.(gz|zip|bz2|xz|zst)$/i.test(file.name)) {
      setError(new Error(`${file.name} is compressed: uploads are read as they are, so decompress it first (or use \`evalboard dataset import\`, which reads .gz).`));
      return;
    }
    // The format is told by the extension: another one would be guessed, and a guess read as
    // JSON Lines reports every line of a CSV as broken JSON.
    if (!/\.(jsonl|ndjson|csv|parquet)$/i.test(file.name)) {
      setError(new Error(`${file.name} is not a .jsonl, .ndjson, .csv or .parquet file: name it after its format (docs/datasets.md).`));
      return;
    }
    // Uploads are read as sent (the server refuses compressed bodies): no .gz here, unlike
    // `evalboard dataset import`.
    const plain = file.name;
    const format = /\.csv$/i.test(plain) ? "csv" : /\.parquet$/i.test(plain) ? "parquet" : "jsonl";
    const datasetName = name || plain.replace(/\.(jsonl|ndjson|csv|parquet)$/i, "");
    if (!name && [...datasetName].length > 100) {
      setError(new Error(`${plain}'s name is longer than the 100 characters a dataset's name may have: enter a name for it.`));
      return;
    }
    setError(null);
    const send = async () => {
      setProgress(0);
      try {
        const answer = await upload<Imported>(
          `/datasets?${new URLSearchParams({ name: datasetName, format })}`,
          file,
          "application/octet-stream",
          setProgress,
        );
        setResult(answer.data);
        // The next file is another dataset unless a name is given again: a name kept from this
        // one would quietly make it a new version of this one.
        element.reset();
        void client.invalidateQueries({ queryKey: ["datasets"] });
      } catch (caught) {
        setError(caught);
      } finally {
        setProgress(null);
      }
    };
    // A file under a name in use becomes that dataset's new version, which every new run of the
    // name takes (a 300-item sample uploaded as "mmlu-pro" replaced its 12,032 items for them),
    // and no version is ever removed: asked first.
    const existing = datasets.data?.find((d) => d.name === datasetName);
    if (existing === undefined) {
      await send();
      return;
    }
    ask(
      {
        text: `${existing.name} exists (version ${existing.version}, ${existing.itemCount.toLocaleString()} items). Unless it holds exactly the same items, this file becomes its version ${existing.version + 1}, which new runs of ${existing.name} take in place of version ${existing.version}; runs made before keep theirs, and a version cannot be removed. To keep both, upload it under another name.`,
        yes: `Upload as version ${existing.version + 1}`,
        no: "Not now",
      },
      () => void send(),
    );
  };

  return (
    <section aria-labelledby="datasets-title">
      <h1 id="datasets-title">Datasets</h1>
      <QueryError error={datasets.error} loaded={datasets.data !== undefined} />
      {datasets.isPending && <Loading failure={datasets.failureReason} />}
      <TableScroll label="Datasets stored">
        <table className="table">
          <caption className="visually-hidden">Datasets, newest version of each</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col" className="num">Version</th>
              <th scope="col" className="num">Items</th>
              <th scope="col">Categories</th>
              <th scope="col">Digest</th>
              <th scope="col">Imported</th>
            </tr>
          </thead>
          <tbody>
            {datasets.data?.map((d) => (
              <tr key={d.name}>
                <th scope="row" className="name">
                  {d.name}
                </th>
                <td className="num">{d.version}</td>
                <td className="num">{d.itemCount}</td>
                <td className="small name">{d.categories.map((c) => `${c.name} (${c.itemCount})`).join(", ")}</td>
                <td>
                  <code title={d.digest}>{d.digest.slice(0, 19)}…</code>
                </td>
                <td>
                  <Time at={d.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
      {administer ? (
        <form className="form" onSubmit={(e) => void submit(e)}>
          <fieldset>
            <legend>Upload a dataset</legend>
            <div className="form-field">
              <label htmlFor="dataset-file">File (JSON Lines, CSV or Parquet)</label>
              <input id="dataset-file" name="file" type="file" accept=".jsonl,.ndjson,.csv,.parquet" />
            </div>
            <div className="form-field">
              <label htmlFor="dataset-name">Name (default: the file's)</label>
              <input id="dataset-name" name="name" />
            </div>
            <div className="form-field">
              <button type="submit" className="primary" aria-disabled={progress !== null}>
                {progress === null ? "Upload" : "Uploading…"}
              </button>
            </div>
          </fieldset>
          {progress !== null && (
            <progress max={1} value={progress} aria-label="Upload progress">
              {Math.round(progress * 100)} %
            </progress>
          )}
        </form>
      ) : (
        <p className="muted">Uploading a dataset needs a token with the admin role.</p>
      )}
      {/* A refusal is said once, as an alert; the focus stays on Upload (busy, it is
          aria-disabled, not disabled, which dropped the focus to nothing). */}
      <div ref={refusal}>
        <ErrorNote error={error} />
      </div>
      <Announce>
      {result && (
        <div className="success">
          {result.created
            ? `Stored ${result.dataset.name} version ${result.dataset.version} (${result.dataset.itemCount.toLocaleString()} items).`
            : `${result.dataset.name} version ${result.dataset.version} already has exactly these items: nothing stored.`}
          {/* A sample uploaded under the whole set's name would otherwise go unseen until the
              next run of the name took 504 items instead of 12,032. */}
          {result.replaced && (
            <p>
              New runs of {result.dataset.name} take it in place of version {result.replaced.version} (
              {result.replaced.itemCount.toLocaleString()} items); runs made before keep theirs. To keep both, upload
              it under another name.
            </p>
          )}
          {result.warnings.length > 0 && (
            <ul>
              {result.warnings.map((w, i) => (
                <li key={i}>
                  line {w.line}: {w.detail}
                </li>
              ))}
            </ul>
          )}
          {result.warningCount > result.warnings.length && <p>… and {result.warningCount - result.warnings.length} more warnings.</p>}
        </div>
      )}
      </Announce>
      {confirmation}
    </section>
  );
}
