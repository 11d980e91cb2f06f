// A file the server makes (an export) fetched by the page, not followed as a plain link: a
// refusal (429 past the exports at once, 401, 503) is then said beside the link instead of
// ending as a failed download with no reason in the browser's download list.
import { type MouseEvent, type ReactNode, useState } from "react";

import { apiUrl } from "../api/base";
import { type ApiError, problemError, reportUnauthenticated } from "../api/client";
import { ErrorNote } from "./common";

/** The file name a `Content-Disposition: attachment; filename="…"` header gives, if any. */
export function attachmentName(disposition: string | null): string | null {
  const quoted = disposition?.match(/filename="([^"]+)"/);
  return quoted?.[1] ?? null;
}

/** What a refused download says: the problem+json the server answered, or its status. */
async function refusal(response: Response): Promise<ApiError> {
  // Not JSON (a proxy's page): the status says it.
  const body: unknown = await response.json().catch(() => null);
  return problemError(response.status, response.statusText, body);
}

/** A link to the API's `href` that downloads it as `fallbackName` (or the name the server gives). */
export function Download({ href: path, fallbackName, children }: { href: string; fallbackName: string; children: ReactNode }) {
  const href = apiUrl(path);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const download = async (event: MouseEvent<HTMLAnchorElement>) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const response = await fetch(href, { credentials: "same-origin" });
      if (!response.ok) {
        if (response.status === 401) reportUnauthenticated();
        throw await refusal(response);
      }
      const file = URL.createObjectURL(await response.blob());
      const save = document.createElement("a");
      save.href = file;
      save.download = attachmentName(response.headers.get("content-disposition")) ?? fallbackName;
      save.click();
      // After the click has handed the file to the browser.
      setTimeout(() => URL.revokeObjectURL(file), 0);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <a href={href} download={fallbackName} onClick={(event) => void download(event)} aria-busy={busy}>
        {busy ? "Preparing…" : children}
      </a>
      {error !== null && (
        <div className="download-error">
          <ErrorNote error={error} />
        </div>
      )}
    </>
  );
}
