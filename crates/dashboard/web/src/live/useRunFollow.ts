// One run's events (`GET /runs/events?view=board&runId=…`) keeping its drill-down current
// instead of polling it: progress replaces the detail's at once; a status change refetches the
// detail, the items and the log at once; items moving refetch them at most every REFETCH_MS. While the
// stream is open the page's queries only poll slowly, as a safety net.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { apiUrl } from "../api/base";
import type { Schemas } from "../api/client";
import { keys, refetchRunContents } from "../queries";
import { usePageVisible } from "./usePageVisible";
import type { StreamState } from "./useRunEvents";

type RunDetail = Schemas["RunDetailDto"];
type RunProgressEvent = Schemas["RunProgressEventDto"];

/** How often moving items refetch the run's detail, items and log at most. */
export const REFETCH_MS = 2000;

/** Follows the run's events while `follow` (the run is active) and the page is shown (a hidden
 * page holds no stream: usePageVisible), saying where the stream stands. Shown again, the stream
 * opens anew and the run is read as it opens. */
export function useRunFollow(runId: string, follow: boolean): StreamState {
  const client = useQueryClient();
  const [state, setState] = useState<StreamState>("connecting");
  const visible = usePageVisible();
  const live = follow && visible;

  useEffect(() => {
    if (!live) {
      return;
    }
    let soon: ReturnType<typeof setTimeout> | null = null;
    const refetch = () => {
      void client.invalidateQueries({ queryKey: keys.run(runId) });
      refetchRunContents(client, runId);
    };
    const refetchSoon = () => {
      soon ??= setTimeout(() => {
        soon = null;
        refetch();
      }, REFETCH_MS);
    };
    const source = new EventSource(apiUrl(`/runs/events?view=board&runId=${encodeURIComponent(runId)}`));
    // What changed before the stream opened (a retry's run can end within a millisecond of the
    // POST that started it, before this subscribes) is not in it: read once it is open, so that
    // nothing falls between the detail last fetched and the first event. Likewise after a
    // reconnection.
    source.onopen = () => {
      setState("open");
      refetch();
    };
    // EventSource reconnects by itself (with `Last-Event-ID`); meanwhile the page is not live.
    source.onerror = () => setState("reconnecting");
    source.addEventListener("run_progress", (message) => {
      const event = JSON.parse((message as MessageEvent<string>).data) as RunProgressEvent;
      client.setQueryData<RunDetail>(keys.run(runId), (detail) =>
        detail && { ...detail, progress: event.progress, canceled: event.canceled },
      );
      // Accuracy, spending and latency move with the progress: fetched, not computed here.
      refetchSoon();
    });
    source.addEventListener("run_item", refetchSoon);
    source.addEventListener("run_status", refetch);
    return () => {
      source.close();
      if (soon !== null) clearTimeout(soon);
      setState("connecting");
    };
  }, [runId, live, client]);
  return state;
}
