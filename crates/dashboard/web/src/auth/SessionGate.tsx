// The sign-in screen in front of the dashboard when the server needs a token, and who is signed in.
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, type ReactNode, useEffect, useState } from "react";

import { type Session, onForbidden, onUnauthenticated } from "../api/client";
import { ErrorNote } from "../components/common";
import { sessionKey, signedOut, useSessionQuery, useSignIn, useSignOut } from "./session";

/** Renders `children` with the session once there is one; until then, the sign-in screen. */
export function SessionGate({ children }: { children: (session: Session) => ReactNode }) {
  const client = useQueryClient();
  const session = useSessionQuery();
  // Why the sign-in screen is back, when the page was signed in: said on it.
  const [ended, setEnded] = useState(false);
  // Any request refused as unauthenticated means the session is gone (expired, token removed).
  useEffect(
    () =>
      onUnauthenticated(() => {
        if (client.getQueryData(sessionKey)) setEnded(true);
        signedOut(client);
      }),
    [client],
  );
  // A request refused for its role: the token's role may have changed on the server (the page
  // would otherwise keep offering what it may no longer do, until reloaded).
  useEffect(() => onForbidden(() => void client.invalidateQueries({ queryKey: sessionKey })), [client]);

  if (session.isPending) {
    return (
      <main className="sign-in">
        <p className="muted" role="status">
          Loading…
        </p>
      </main>
    );
  }
  if (session.isError) {
    return (
      <main className="sign-in">
        <div className="sign-in-card">
          <ErrorNote error={session.error} />
          <button type="button" onClick={() => void session.refetch()}>
            Try again
          </button>
        </div>
      </main>
    );
  }
  if (session.data === null) {
    return <SignIn ended={ended} />;
  }
  if (ended) setEnded(false);
  return children(session.data);
}

function SignIn({ ended }: { ended: boolean }) {
  const signIn = useSignIn();
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    signIn.mutate(String(new FormData(event.currentTarget).get("token") ?? "").trim());
  };
  const problem = signIn.error instanceof Error ? signIn.error.message : null;
  return (
    <main className="sign-in">
      <form className="sign-in-card" onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title" className="brand">
          evalboard
        </h1>
        {ended && (
          <p className="warning" role="status">
            Your session ended: it expired, or its token was revoked. Sign in again.
          </p>
        )}
        <p>
          This evalboard server needs a token. Ask an administrator for one (<code>evalboard token create</code>).
        </p>
        <div className={problem === null ? "form-field" : "form-field invalid"}>
          <label htmlFor="sign-in-token">Token</label>
          <input
            id="sign-in-token"
            name="token"
            type="password"
            required
            autoComplete="off"
            spellCheck={false}
            aria-invalid={problem !== null}
            aria-describedby={problem === null ? undefined : "sign-in-problem"}
          />
          {problem !== null && (
            <p id="sign-in-problem" className="problem" role="alert">
              {problem}
            </p>
          )}
        </div>
        <button type="submit" className="primary" disabled={signIn.isPending}>
          Sign in
        </button>
      </form>
    </main>
  );
}

/** The signed-in token's name and role, and signing out; nothing on a server without tokens. */
export function SessionMenu({ session }: { session: Session }) {
  const signOut = useSignOut();
  if (session.open) {
    return null;
  }
  return (
    <div className="session">
      <span>
        {session.name} · {session.role}
      </span>
      <button type="button" onClick={() => signOut.mutate()} disabled={signOut.isPending}>
        Sign out
      </button>
      {signOut.isError && (
        <span className="error-inline" role="alert">
          {signOut.error.message}
        </span>
      )}
    </div>
  );
}
