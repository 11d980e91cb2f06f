// Whether the page is shown, for the event streams: a hidden page holds none.
import { useSyncExternalStore } from "react";

const subscribe = (changed: () => void) => {
  document.addEventListener("visibilitychange", changed);
  return () => document.removeEventListener("visibilitychange", changed);
};

/**
 * Whether the page is shown (its tab in front, its window not minimised). Each event stream holds
 * a connection for as long as it is open, and over HTTP/1.1 a browser opens at most six to one
 * server: six tabs following streams left a seventh blank and every tab's requests (a Cancel, a
 * page change) waiting. Streams close while their page is hidden and open again, catching up,
 * when it is shown (docs/dashboard.md).
 */
export function usePageVisible(): boolean {
  return useSyncExternalStore(
    subscribe,
    () => document.visibilityState !== "hidden",
    () => true,
  );
}
