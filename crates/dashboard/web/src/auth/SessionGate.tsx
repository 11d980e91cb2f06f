// The sign-in screen in front of the dashboard when the server needs a token, and who is signed in.
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, type ReactNode, useEffect, useState } from "react";

import { type Session, onForbidden, onUnauthenticated } from "../api/client";
import { ErrorNote, useTitle } from "../components/common";
import {
  onSessionChange,
  sessionKey,
  signedOut,
  signedOutHereKey,
  takeSignedInHere,
  useSessionQuery,
  useSignIn,
  useSignOut,
} from "./session";

/** Why the sign-in screen came back to a page that was signed in. */
type Ended = "expired" | "elsewhere";

/** Renders `children` with the session once there is one; until then, the sign-in screen. */
export function SessionGate({ children }: { children: (session: Session) => ReactNode }) {
  const client = useQueryClient();
  const session = useSessionQuery();
  // Why the sign-in screen is back, when the page was signed in: said on it.
  const [ended, setEnded] = useState<Ended | null>(null);
  // Who the page was showing, to say so when that changes under it.
  const [shown, setShown] = useState<Session | null>(null);
  const [changed, setChanged] = useState<Session | null>(null);
  // Any request refused as unauthenticated means the session is gone (expired, token removed).
  useEffect(
    () =>
      onUnauthenticated(() => {
        if (client.getQueryData(sessionKey)) setEnded((why) => why ?? "expired");
        signedOut(client);
      }),
    [client],
  );
  // A request refused for its role: the token's role may have changed on the server (the page
  // would otherwise keep offering what it may no longer do, until reloaded).
  useEffect(() => onForbidden(() => void client.invalidateQueries({ queryKey: sessionKey })), [client]);
  // Signed in here, the form and its focus are gone: the page it opens onto takes the focus (as
  // a page change gives it, App.tsx), so that a keyboard or a screen reader starts there.
  useEffect(() => {
    if (session.data && takeSignedInHere()) document.getElementById("main")?.focus({ preventScroll: true });
  }, [session.data]);
  // Another tab signed out (the cookie is gone for this one too: its streams would otherwise go
  // on showing a signed-out browser live data) or signed in (maybe as someone else).
  useEffect(
    () =>
      onSessionChange((change) => {
        if (change === "signed-out") {
          if (client.getQueryData(sessionKey)) setEnded("elsewhere");
          signedOut(client);
        } else {
          void client.invalidateQueries({ queryKey: sessionKey });
        }
      }),
    [client],
  );

  if (session.isPending) {
    return (
      <main className="sign-in">
        <p className="muted" role="status">
          Loading…
        </p>
      </main>
    );
  }
  // A background refetch that failed (the server restarting while the tab was hidden) keeps
  // what it had: the pages show their own state of the connection.
  if (session.isError && session.data === undefined) {
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
  if (session.data === null || session.data === undefined) {
    // Gone under a page that showed someone (found when the tab came back into view, say), and
    // not by signing out here: said, as when another request finds it.
    if (shown !== null && ended === null && client.getQueryData(signedOutHereKey) !== true) setEnded("expired");
    if (shown !== null) setShown(null);
    if (changed !== null) setChanged(null);
    return <SignIn ended={ended} />;
  }
  if (ended !== null) setEnded(null);
  const now = session.data;
  if (shown === null || !sameHolder(shown, now)) {
    // A page that was showing someone else: the session changed under it (a sign-in in
    // another tab, the token's role changed on the server). A first sign-in is no change.
    if (shown !== null) setChanged(now);
    setShown(now);
  }
  return (
    <>
      {changed !== null && sameHolder(changed, now) && (
        <p className="warning session-changed" role="status">
          <span>
            This page is now signed in as <strong>{now.name}</strong> ({now.role}): another tab signed in, or the
            token&apos;s role changed. What it offers follows the new role.
          </span>
          <button type="button" onClick={() => setChanged(null)}>
            Dismiss
          </button>
        </p>
      )}
      {children(now)}
    </>
  );
}

/** Whether two sessions are the same holder with the same role. */
function sameHolder(a: Session, b: Session): boolean {
  return a.open === b.open && a.name === b.name && a.role === b.role;
}

function SignIn({ ended }: { ended: Ended | null }) {
  useTitle("Sign in");
  const signIn = useSignIn();
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    // Busy, the button stays focusable (a disabled one dropped the focus to nothing).
    if (signIn.isPending) return;
    signIn.mutate(String(new FormData(event.currentTarget).get("token") ?? "").trim());
  };
  const problem = signIn.error instanceof Error ? signIn.error.message : null;
  return (
    <main className="sign-in">
      <form className="sign-in-card" onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title" className="brand" aria-label="Sign in to evalboard">
          evalboard
        </h1>
        {ended !== null && (
          // Also the field's description: a status shown with the page is not always read out,
          // while the field the page focuses is, with its description.
          <p id="sign-in-ended" className="warning" role="status">
            {ended === "elsewhere"
              ? "You signed out in another tab of this browser. Sign in again."
              : "Your session ended: it expired, or its token was revoked. Sign in again."}
          </p>
        )}
        <p>
          This evalboard server needs a token. Ask an administrator for one (<code>evalboard token create</code>).
        </p>
        <div className={problem === null ? "form-field" : "form-field invalid"}>
          <label htmlFor="sign-in-token">Token</label>
          <input
            // The page's one field: a sign-in page is visited to type in it.
            autoFocus
            id="sign-in-token"
            name="token"
            type="password"
            required
            autoComplete="off"
            spellCheck={false}
            aria-invalid={problem !== null}
            aria-describedby={
              [ended === null ? null : "sign-in-ended", problem === null ? null : "sign-in-problem"]
                .filter((id) => id !== null)
                .join(" ") || undefined
            }
          />
          {problem !== null && (
            <p id="sign-in-problem" className="problem" role="alert">
              {problem}
            </p>
          )}
        </div>
        <button type="submit" className="primary" aria-disabled={signIn.isPending}>
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
