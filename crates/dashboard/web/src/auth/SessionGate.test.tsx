import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Router } from "wouter";
import { memoryLocation } from "wouter/memory-location";

import { App } from "../App";
import { type Session, api } from "../api/client";
import { cookieNotKept, sessionKey } from "./session";

const TOKEN = "evb_right";
const CI: Session = { open: false, name: "ci", role: "operator", expiresAt: "2030-01-01T00:00:00Z" };

/** The server as far as these tests need it: who is signed in, and the requests it was sent. */
let signedIn: Session | null;
/** Whether the browser keeps the cookie a sign-in sets (it does not for a `Secure` one on HTTP). */
let cookieKept: boolean;
let datasetsRefused: boolean;
/** Whether `GET /auth/session` answers 503 (a server restarting). */
let sessionDown: boolean;
let sent: string[];
let client: QueryClient;

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": status < 300 ? "application/json" : "application/problem+json" },
  });
const unauthorized = (detail: string) => json(401, { title: "Unauthorized", status: 401, detail });

async function serve(request: Request): Promise<Response> {
  const route = `${request.method} ${new URL(request.url).pathname}`;
  sent.push(route);
  switch (route) {
    case "GET /auth/session":
      if (sessionDown) return json(503, { title: "Service Unavailable", status: 503, detail: "restarting" });
      return signedIn && cookieKept ? json(200, signedIn) : unauthorized("sign in with a token");
    case "POST /auth/session": {
      const { token } = (await request.json()) as { token: string };
      if (token !== TOKEN) return unauthorized("the token is not valid");
      signedIn = CI;
      return json(200, CI);
    }
    case "DELETE /auth/session":
      signedIn = null;
      return new Response(null, { status: 204 });
    case "GET /datasets":
      return signedIn && !datasetsRefused ? json(200, []) : unauthorized("the session expired");
    case "GET /providers":
      return json(403, { title: "Forbidden", status: 403, detail: "token `ci` is a viewer" });
    default:
      return json(404, { title: "Not Found", status: 404, detail: route });
  }
}

beforeEach(() => {
  signedIn = null;
  cookieKept = true;
  datasetsRefused = false;
  sessionDown = false;
  sent = [];
  vi.stubGlobal("fetch", vi.fn(serve));
  client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function renderApp(path: string) {
  return render(
    <QueryClientProvider client={client}>
      <Router hook={memoryLocation({ path }).hook}>
        <App />
      </Router>
    </QueryClientProvider>,
  );
}

async function signIn(token: string) {
  fireEvent.change(await screen.findByLabelText("Token"), { target: { value: token } });
  fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
}

/** What the page says in its live regions (the dashboard's arrival announcer is one, empty
 *  until the reader moves to another page). */
function notices(): HTMLElement[] {
  return screen.queryAllByRole("status").filter((region) => region.textContent !== "");
}

describe("SessionGate", () => {
  it("shows the dashboard without any sign-in on a server without tokens", async () => {
    signedIn = { open: true, name: null, role: "admin", expiresAt: null };
    renderApp("/nowhere");
    await screen.findByRole("heading", { name: "Not found" });
    expect(screen.queryByLabelText("Token")).toBeNull();
    expect(screen.queryByRole("button", { name: "Sign out" })).toBeNull();
  });

  it("asks for a token when the server needs one, and shows a refusal beside the field", async () => {
    renderApp("/nowhere");
    const field = await screen.findByLabelText("Token");
    expect(field.getAttribute("type")).toBe("password");
    expect(screen.getByRole("heading", { name: "Sign in to evalboard" })).toBeTruthy();
    expect(document.title).toBe("Sign in · evalboard");
    // The page's one field has the focus.
    expect(document.activeElement).toBe(field);
    expect(screen.queryByRole("heading", { name: "Not found" })).toBeNull();

    // The refusal leaves the focus on the button pressed (busy, it is aria-disabled: a disabled
    // one dropped the focus to nothing in a browser), and is one alert, the field's description.
    const button = screen.getByRole("button", { name: "Sign in" });
    button.focus();
    await signIn("evb_wrong");
    expect((await screen.findByRole("alert")).textContent).toBe("the token is not valid");
    expect(field.getAttribute("aria-invalid")).toBe("true");
    expect(field.getAttribute("aria-describedby")).toBe(screen.getByRole("alert").id);
    expect(document.activeElement).toBe(button);
  });

  it("signs in with a right token, says who is signed in, and signs out", async () => {
    renderApp("/nowhere");
    await signIn(TOKEN);
    await screen.findByRole("heading", { name: "Not found" });
    // The form and its focus are gone: the page takes it, as after a page change.
    await vi.waitFor(() => expect(document.activeElement?.id).toBe("main"));
    const header = screen.getByRole("banner");
    expect(header.textContent).toContain("ci · operator");

    fireEvent.click(within(header).getByRole("button", { name: "Sign out" }));
    await screen.findByLabelText("Token");
    expect(sent).toContain("DELETE /auth/session");
    expect(screen.queryByRole("banner")).toBeNull();
    // Signed out here: no session "ended".
    expect(notices()).toEqual([]);
  });

  it("returns to the sign-in screen when another request is refused, keeping nothing it read", async () => {
    signedIn = CI;
    renderApp("/datasets");
    await screen.findByRole("heading", { name: "Datasets" });
    await vi.waitFor(() => expect(client.getQueryData(["datasets"])).toEqual([]));

    // The token is removed on the server: the next request is refused.
    datasetsRefused = true;
    await client.refetchQueries({ queryKey: ["datasets"] });
    await screen.findByLabelText("Token");
    expect(screen.queryByRole("heading", { name: "Datasets" })).toBeNull();
    expect(client.getQueryCache().getAll().map((query) => query.queryKey)).toEqual([sessionKey]);
    // Said, so that the screen coming back is not a mystery — also as the focused field's
    // description, which a screen reader reads with it.
    expect(screen.getByRole("status").textContent).toContain("Your session ended");
    const described = (screen.getByLabelText("Token").getAttribute("aria-describedby") ?? "").split(" ");
    expect(described.map((id) => document.getElementById(id)?.textContent).join(" ")).toContain("Your session ended");
  });

  it("asks again who it is when a request is refused for its role", async () => {
    signedIn = CI;
    renderApp("/nowhere");
    await screen.findByRole("heading", { name: "Not found" });
    expect(screen.getByRole("banner").textContent).toContain("ci · operator");

    // The token was demoted on the server: the page learns it from the next refusal.
    signedIn = { ...CI, role: "viewer" };
    await client.fetchQuery({ queryKey: ["providers"], queryFn: () => api.GET("/providers") });
    await vi.waitFor(() => expect(screen.getByRole("banner").textContent).toContain("ci · viewer"));
  });

  it("signs out with another tab of the browser, and says so", async () => {
    signedIn = CI;
    renderApp("/datasets");
    await screen.findByRole("heading", { name: "Datasets" });

    // Another tab signs out: the browser's cookie is gone for this one too.
    signedIn = null;
    const otherTab = new BroadcastChannel("evalboard-session");
    otherTab.postMessage("signed-out");
    otherTab.close();
    await screen.findByLabelText("Token");
    expect(screen.queryByRole("heading", { name: "Datasets" })).toBeNull();
    expect(client.getQueryCache().getAll().map((query) => query.queryKey)).toEqual([sessionKey]);
    expect(screen.getByRole("status").textContent).toContain("signed out in another tab");
  });

  it("says who the page is signed in as when another tab signs in as someone else", async () => {
    signedIn = CI;
    renderApp("/nowhere");
    await screen.findByRole("heading", { name: "Not found" });
    expect(notices()).toEqual([]);

    signedIn = { ...CI, name: "vw1", role: "viewer" };
    const otherTab = new BroadcastChannel("evalboard-session");
    otherTab.postMessage("signed-in");
    otherTab.close();
    await vi.waitFor(() => expect(screen.getByRole("banner").textContent).toContain("vw1 · viewer"));
    const [notice] = notices();
    expect(notice?.textContent).toContain("now signed in as vw1 (viewer)");
    fireEvent.click(within(notice!).getByRole("button", { name: "Dismiss" }));
    expect(notices()).toEqual([]);
  });

  it("asks who it is again when the tab comes back into view", async () => {
    signedIn = CI;
    renderApp("/nowhere");
    await screen.findByRole("heading", { name: "Not found" });
    const asked = sent.filter((route) => route === "GET /auth/session").length;

    signedIn = { ...CI, role: "viewer" };
    window.dispatchEvent(new Event("visibilitychange"));
    await vi.waitFor(() => expect(screen.getByRole("banner").textContent).toContain("ci · viewer"));
    expect(sent.filter((route) => route === "GET /auth/session").length).toBe(asked + 1);
  });

  it("says the session ended when the tab comes back to find it gone", async () => {
    signedIn = CI;
    renderApp("/nowhere");
    await screen.findByRole("heading", { name: "Not found" });
    signedIn = null;
    window.dispatchEvent(new Event("visibilitychange"));
    await screen.findByLabelText("Token");
    expect(screen.getByRole("status").textContent).toContain("Your session ended");
  });

  it("keeps the page when asking who it is fails in the background", async () => {
    signedIn = CI;
    renderApp("/nowhere");
    await screen.findByRole("heading", { name: "Not found" });
    const asked = sent.filter((route) => route === "GET /auth/session").length;

    sessionDown = true;
    window.dispatchEvent(new Event("visibilitychange"));
    await vi.waitFor(() => expect(sent.filter((route) => route === "GET /auth/session").length).toBe(asked + 1));
    await vi.waitFor(() => expect(client.getQueryState(sessionKey)?.status).toBe("error"));
    expect(screen.getByRole("heading", { name: "Not found" })).toBeTruthy();
    expect(screen.getByRole("banner").textContent).toContain("ci · operator");
  });

  it("says so when the browser did not keep the session cookie, instead of asking again", async () => {
    cookieKept = false;
    renderApp("/nowhere");
    await signIn(TOKEN);
    expect((await screen.findByRole("alert")).textContent).toContain("did not keep the session cookie");
    expect(screen.queryByRole("heading", { name: "Not found" })).toBeNull();
  });
});

describe("cookieNotKept", () => {
  it("names secure cookies on a plain HTTP page away from loopback, and only there", () => {
    expect(cookieNotKept({ protocol: "http:", hostname: "10.0.0.5" })).toContain("auth.secure_cookies");
    expect(cookieNotKept({ protocol: "http:", hostname: "localhost" })).not.toContain("secure_cookies");
    expect(cookieNotKept({ protocol: "https:", hostname: "evals.example.com" })).not.toContain("secure_cookies");
  });
});
