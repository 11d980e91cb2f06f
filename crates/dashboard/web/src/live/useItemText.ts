// One item's answer as it arrives (`GET /runs/{id}/items/{sequence}/stream`), for the item view
// of a run's drill-down: the whole text so far, then what follows, until the item stops
// streaming; then its stored detail is fetched again.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { apiUrl } from "../api/base";
import type { Schemas } from "../api/client";
import { keys } from "../queries";
import { usePageVisible } from "./usePageVisible";

type ItemTextEvent = Schemas["ItemTextEventDto"];
type ItemEndEvent = Schemas["ItemEndEventDto"];

/** What arrived of the answer so far. */
export interface ItemText {
  /** The text, or null before any arrived. */
  text: string | null;
  /** The attempt it belongs to. */
  attempt: number | null;
  /** Whether the stream is open and the item streaming on the server it reached. */
  streaming: boolean;
  /** At the last look the item was not streaming on the server this page reached: it is waiting
   * to retry, or in flight on another replica. */
  waiting: boolean;
  /** The stream broke off (the server refused it or cannot be reached): what is shown may be
   * behind, and it is being opened again. */
  interrupted: boolean;
}

const NOTHING: ItemText = { text: null, attempt: null, streaming: false, waiting: false, interrupted: false };
/** How soon to look again once the item stopped streaming (or was not) while still followed. */
const LOOK_AGAIN_MS = 2000;

/** Follows the item's answer while `follow` (the item is running and shown) and the page is
 * shown (a hidden page holds no stream: usePageVisible; shown again, the stream starts with the
 * whole text so far). */
export function useItemText(runId: string, sequence: number, follow: boolean): ItemText {
  const client = useQueryClient();
  const [live, setLive] = useState<ItemText>(NOTHING);
  // Bumped to look again after the stream ended while the item is still followed (running).
  const [round, setRound] = useState(0);
  const visible = usePageVisible();
  const streamed = follow && visible;

  useEffect(() => {
    if (!streamed) {
      return;
    }
    let again: ReturnType<typeof setTimeout> | null = null;
    const source = new EventSource(apiUrl(`/runs/${runId}/items/${sequence}/stream`));
    source.addEventListener("item_text", (message) => {
      const event = JSON.parse((message as MessageEvent<string>).data) as ItemTextEvent;
      setLive((before) => ({
        text: event.replace ? event.text : (before.text ?? "") + event.text,
        attempt: event.attempt,
        streaming: true,
        waiting: false,
        interrupted: false,
      }));
    });
    source.addEventListener("item_end", (message) => {
      source.close();
      const event = JSON.parse((message as MessageEvent<string>).data) as ItemEndEvent;
      // Ended: the text stays until the stored answer replaces it. Not streaming here: nothing
      // of an earlier attempt is shown as if it were the answer.
      setLive((before) =>
        event.reason === "not_streaming_here" ? { ...NOTHING, waiting: true } : { ...before, streaming: false, interrupted: false },
      );
      // The stored detail has the whole answer (or the item's new state).
      void client.invalidateQueries({ queryKey: keys.itemsOf(runId) });
      // An item still running after its stream ended is between attempts (or was never here):
      // look again. Once the refetch shows it finished, `follow` turns false and this timer goes.
      again = setTimeout(() => setRound((n) => n + 1), LOOK_AGAIN_MS);
    });
    // After a network error the browser reconnects by itself (and the server starts again from
    // the whole text); after an answer that is not the stream (429 past the streams a client may
    // hold, 503, a proxy's 502 during a restart) it gives up, and no `item_end` will come: look
    // again as after one. Either way the text shown may be behind meanwhile.
    source.onerror = () => {
      setLive((before) => ({ ...before, streaming: false, interrupted: true }));
      if (source.readyState === EventSource.CLOSED && again === null) {
        again = setTimeout(() => setRound((n) => n + 1), LOOK_AGAIN_MS);
      }
    };
    return () => {
      source.close();
      if (again !== null) clearTimeout(again);
    };
  }, [client, runId, sequence, streamed, round]);

  return follow ? live : NOTHING;
}
