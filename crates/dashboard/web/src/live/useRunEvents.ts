// The live stream (`GET /runs/events`) folded into the active board's query cache (client
// notes 3 and 4). A worker follows the stream and passes its events on in batches
// (eventStream.ts); they are folded at most ten times a second. On a transient error, a `reset`
// or a retry the board is fetched again, and the stream followed anew from the position that
// fetch includes.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";

import { type ActiveBoard, keys } from "../queries";
import { basePath } from "../api/base";
import { type StreamMessage, followStream } from "./eventStream";
import { type LiveEvent, fold, reopened } from "./fold";
import { usePageVisible } from "./usePageVisible";

/**
 * The board is drawn again at most this often. A person cannot read faster (the server sends a
 * run's streaming preview at most four times a second), and a board of 24 busy runs changes
 * every card at each flush: drawing them at 60 frames a second would keep the main thread busy.
 */
const MIN_FLUSH_INTERVAL_MS = 100;

/** After a failed connection, how long before the stream is opened again: doubled after each
 * further failure, up to RETRY_MOST_MS. */
const RETRY_FIRST_MS = 1000;
const RETRY_MOST_MS = 30_000;

/** Where the stream stands, for the "reconnecting" indicator. */
export type StreamState = "connecting" | "open" | "reconnecting";

/**
 * Follows the stream from the position `board` was fetched at and folds what comes into the
 * board of `limit` snapshots. Does nothing until the board is fetched.
 *
 * Each fetch of the board opens the stream again from that fetch's position. A fetch replaces
 * the board with a snapshot taken at its position; events the old stream folded meanwhile may
 * lie after that position (a run's last `run_status`, say) and would be lost with the board they
 * were folded into. Followed again from the snapshot's position, the stream brings them again
 * (folding an event twice changes nothing).
 */
export function useRunEvents(limit: number, board: ActiveBoard | undefined): StreamState {
  const client = useQueryClient();
  const [state, setState] = useState<StreamState>("connecting");
  const hydration = board?.hydration;
  // The position of the fetch `hydration` names (read when the stream opens, not a reason to).
  const position = useRef<string | null>(null);
  position.current = board?.lastEventId ?? null;
  // Connections that failed in a row. A failure refetches the board, and each fetch opens the
  // stream again: after a failure it waits first, longer each time, so that a stream refused
  // outright (a 429 once a client holds its share of streams) is not asked for again at once.
  const failures = useRef(0);
  // A hidden page holds no stream (usePageVisible). Shown again, it follows the stream from
  // the board's position once more (the events since come again, or a `reset`) and fetches
  // the board anew, whose stream then replaces this one: were it only fetched, a fetch that
  // failed (a laptop waking before its network) would leave the board with no stream at all.
  const visible = usePageVisible();
  const hiddenDuring = useRef<number | undefined>(undefined);

  useEffect(() => {
    if (hydration === undefined) {
      return;
    }
    if (!visible) {
      hiddenDuring.current = hydration;
      setState("connecting");
      return;
    }
    if (hiddenDuring.current === hydration) {
      hiddenDuring.current = undefined;
      void client.invalidateQueries({ queryKey: keys.activeAll });
    }
    const from = position.current;
    let pending: LiveEvent[] = [];
    let flushing: ReturnType<typeof setTimeout> | null = null;
    let lastFlush = -Infinity;
    let stopHere: (() => void) | null = null;
    let worker: Worker | null = null;
    let failedHere = false;

    // Timers, not animation frames: a hidden tab runs no frame, and its events would pile up.
    const flush = () => {
      flushing = null;
      lastFlush = performance.now();
      const batch = pending;
      pending = [];
      let retried = false;
      client.setQueriesData<ActiveBoard>({ queryKey: keys.activeAll }, (board) => {
        // Only into the board this stream follows: a newer fetch has its own stream, from its
        // own position (an older event folded into it would never be corrected).
        if (!board || board.hydration !== hydration) return board;
        const runs = fold(board.runs, batch) as ActiveBoard["runs"];
        retried ||= reopened(board.runs, runs);
        return { ...board, runs };
      });
      if (retried) {
        void client.invalidateQueries({ queryKey: keys.activeAll });
      }
    };
    const followHere = () => {
      worker?.terminate();
      worker = null;
      stopHere ??= followStream(basePath(), from, receive);
    };
    const receive = (message: StreamMessage) => {
      switch (message.type) {
        case "open":
          failures.current = 0;
          setState("open");
          break;
        case "error":
          // One failure per stream opened: the browser's own reconnections of one stream each
          // report one too, and a server down for a minute would otherwise leave the next
          // stream waiting the longest time after it came back.
          if (!failedHere) failures.current += 1;
          failedHere = true;
          setState("reconnecting");
          // What happened while the stream was down comes again from the resume position; the
          // board is refetched meanwhile so that nothing waits on the stream.
          void client.invalidateQueries({ queryKey: keys.activeAll });
          break;
        case "reset":
          pending = [];
          void client.invalidateQueries({ queryKey: keys.activeAll });
          break;
        case "events": {
          const data = JSON.parse(message.json) as LiveEvent["data"][];
          message.kinds.forEach((kind, i) => pending.push({ kind, data: data[i] } as LiveEvent));
          flushing ??= setTimeout(flush, Math.max(0, MIN_FLUSH_INTERVAL_MS - (performance.now() - lastFlush)));
          break;
        }
        case "unsupported":
          followHere();
          break;
      }
    };
    const open = () => {
      if (typeof Worker === "undefined") {
        followHere();
      } else {
        worker = new Worker(new URL("./stream.worker.ts", import.meta.url), { type: "module" });
        worker.onmessage = (message: MessageEvent<StreamMessage>) => receive(message.data);
        // A worker that cannot start (a policy, a missing script): the page follows the stream.
        worker.onerror = followHere;
        worker.postMessage({ from, base: basePath() });
      }
    };
    const wait = failures.current === 0 ? 0 : Math.min(RETRY_FIRST_MS * 2 ** (failures.current - 1), RETRY_MOST_MS);
    const opening = wait === 0 ? null : setTimeout(open, wait);
    if (opening === null) open();
    return () => {
      if (opening !== null) clearTimeout(opening);
      worker?.terminate();
      stopHere?.();
      if (flushing !== null) clearTimeout(flushing);
    };
  }, [client, hydration, limit, visible]);

  return state;
}
