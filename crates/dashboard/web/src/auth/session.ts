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
    // It changes only by signing in or out, or by a 401 of another request.
    staleTime: Infinity,
  });
}

/** Back to the sign-in screen, with nothing the previous session read kept in the cache. */
export function signedOut(client: QueryClient): void {
  client.setQueryData(sessionKey, null);
  client.removeQueries({ predicate: (query) => query.queryKey[0] !== sessionKey[0] });
}

export function useSignIn() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (token: string) => unwrap(await api.POST("/auth/session", { body: { token } })),
    onSuccess: (session) => client.setQueryData(sessionKey, session),
  });
}

export function useSignOut() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async () => {
      const result = await api.DELETE("/auth/session");
      if (!result.response.ok) {
        unwrap(result); // throws the server's problem
      }
    },
    onSuccess: () => signedOut(client),
  });
}
