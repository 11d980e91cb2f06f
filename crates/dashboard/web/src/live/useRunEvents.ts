// The live stream (`GET /runs/events`) folded into the active board's query cache (client
// notes 3 and 4): events are applied in batches, once per animation frame; on a transient
// error the active caches are invalidated while the browser reconnects with `Last-Event-ID`;
// on `reset` the board is refetched.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";

import { type ActiveBoard, keys } from "../queries";
import { type LiveEvent, fold } from "./fold";

/** Where the stream stands, for the "reconnecting" indicator. */
export type StreamState = "connecting" | "open" | "reconnecting";

const KINDS = ["run_status", "run_progress", "run_item"] as const;

/**
 * Follows the stream from `lastEventId` (the board's hydration position) and folds what comes
 * into the board of `limit` snapshots. Does nothing until the board is hydrated.
 */
export function useRunEvents(limit: number, lastEventId: string | null | undefined): StreamState {
  const client = useQueryClient();
  const [state, setState] = useState<StreamState>("connecting");
  // The stream opens once, at the first hydration's position; a refetched board (after a reset
  // or an error) does not reopen it: the browser resumes from the last event it saw.
  const hydrated = lastEventId !== undefined;
  const start = useRef<string | null>(null);
  if (!hydrated) {
    start.current = null;
  } else if (start.current === null) {
    start.current = lastEventId;
  }

  useEffect(() => {
    if (!hydrated) {
      return;
    }
    const from = start.current;
    const url = from === null ? "/runs/events" : `/runs/events?lastEventId=${from}`;
    let source: EventSource | null = null;
    let pending: LiveEvent[] = [];
    let frame: number | null = null;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let lastSeen = from;

    const flush = () => {
      frame = null;
      const batch = pending;
      pending = [];
      client.setQueriesData<ActiveBoard>({ queryKey: keys.activeAll }, (board) =>
        board ? { ...board, runs: fold(board.runs, batch) as ActiveBoard["runs"] } : board,
      );
    };
    const schedule = () => {
      if (frame === null) {
        frame = requestAnimationFrame(flush);
      }
    };
    const connect = (from: string | null) => {
      source = new EventSource(from === null ? url : `/runs/events?lastEventId=${from}`);
      source.onopen = () => setState("open");
      source.onerror = () => {
        setState("reconnecting");
        // What happened while the stream was down comes again from the resume position; the
        // board is refetched meanwhile so that nothing waits on the stream.
        void client.invalidateQueries({ queryKey: keys.activeAll });
        if (source?.readyState === EventSource.CLOSED) {
          // The browser gave up (an error answer): try again ourselves, from where we were.
          source.close();
          retry = setTimeout(() => connect(lastSeen), 2000);
        }
      };
      for (const kind of KINDS) {
        source.addEventListener(kind, (message) => {
          const event = message as MessageEvent<string>;
          if (event.lastEventId) {
            lastSeen = event.lastEventId;
          }
          pending.push({ kind, data: JSON.parse(event.data) } as LiveEvent);
          schedule();
        });
      }
      source.addEventListener("reset", () => {
        pending = [];
        void client.invalidateQueries({ queryKey: keys.activeAll });
      });
    };
    connect(null);
    return () => {
      source?.close();
      if (frame !== null) cancelAnimationFrame(frame);
      if (retry !== null) clearTimeout(retry);
    };
  }, [client, hydrated, limit]);

  return state;
}
