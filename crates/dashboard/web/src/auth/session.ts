// Who the dashboard is signed in as: `GET /auth/session` in the query cache, and signing in and out.
import { type QueryClient, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { type Session, api, unwrap } from "../api/client";

export const sessionKey = ["auth", "session"] as const;

/** The session, or `null` when this server needs a token and the page has none. */
export function useSessionQuery() {
  return useQuery({
    queryKey: sessionKey,
    queryFn: async (): Promise<Session | null> => {
      const result = await api.GET("/auth/session");
      return result.response.status === 401 ? null : unwrap(result);
    },
    // It changes by signing in or out (here or in another tab: see `onSessionChange`), by a 401
    // of another request, or on the server (a token's role changed): asked again whenever the
    // tab comes back into view, so that a page left open does not offer what its role lost.
    staleTime: Infinity,
    refetchOnWindowFocus: "always",
  });
}

/** What one tab tells the others: they share the browser's session cookie. */
export type SessionChange = "signed-in" | "signed-out";

const CHANNEL = "evalboard-session";
let channel: BroadcastChannel | null | undefined;

/** This tab's end of the channel: one object posts and listens, since a channel object does not
 * hear its own messages (this tab acted already) but does hear another object's in the same tab. */
function sessionChannel(): BroadcastChannel | null {
  if (channel === undefined) {
    channel = typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel(CHANNEL);
  }
  return channel;
}

/** Tells the dashboard's other tabs in this browser that this one signed in or out. */
export function announceSessionChange(change: SessionChange): void {
  sessionChannel()?.postMessage(change);
}

/** Calls `handler` when another tab of this browser signs in or out; returns the unsubscribe. */
export function onSessionChange(handler: (change: SessionChange) => void): () => void {
  const listening = sessionChannel();
  if (listening === null) return () => {};
  const listener = (event: MessageEvent) => {
    if (event.data === "signed-in" || event.data === "signed-out") handler(event.data);
  };
  listening.addEventListener("message", listener);
  return () => listening.removeEventListener("message", listener);
}

/** Back to the sign-in screen, with nothing the previous session read kept in the cache. */
export function signedOut(client: QueryClient): void {
  client.setQueryData(sessionKey, null);
  client.removeQueries({ predicate: (query) => query.queryKey[0] !== sessionKey[0] });
}

/** Set by a sign-in on this page until the page it opens onto takes it (`takeSignedInHere`). */
let signedInHere = false;

/** Whether this page just signed in (once): the page shown then takes the focus, which the
 *  sign-in form took with it. */
export function takeSignedInHere(): boolean {
  const was = signedInHere;
  signedInHere = false;
  return was;
}

export function useSignIn() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (token: string) => {
      const session = unwrap(await api.POST("/auth/session", { body: { token } }));
      // The cookie is the session: a browser that did not keep it (a `Secure` cookie on a plain
      // HTTP page, cookies blocked) would otherwise come straight back here, with nothing said.
      const kept = await api.GET("/auth/session");
      if (kept.response.status === 401) {
        throw new Error(cookieNotKept(window.location));
      }
      return session;
    },
    onSuccess: (session) => {
      client.removeQueries({ queryKey: signedOutHereKey });
      signedInHere = true;
      client.setQueryData(sessionKey, session);
      announceSessionChange("signed-in");
    },
  });
}

/** Why a session the server granted did not reach the next request, as far as the page can tell. */
export function cookieNotKept(location: Pick<Location, "protocol" | "hostname">): string {
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(location.hostname);
  return location.protocol === "http:" && !loopback
    ? "The token is right, but this browser did not keep the session cookie: this page is plain HTTP, and a server " +
        "with auth.secure_cookies set marks its cookie for HTTPS only. Open the dashboard over HTTPS, or turn " +
        "auth.secure_cookies off."
    : "The token is right, but this browser did not keep the session cookie: allow cookies for this site.";
}

/** Set when this tab signed out, until it signs in: the gate tells that from a session that ended. */
export const signedOutHereKey = ["auth", "signed-out-here"] as const;

export function useSignOut() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async () => {
      const result = await api.DELETE("/auth/session");
      if (!result.response.ok) {
        unwrap(result); // throws the server's problem
      }
    },
    onSuccess: () => {
      client.setQueryData(signedOutHereKey, true);
      signedOut(client);
      announceSessionChange("signed-out");
    },
  });
}
