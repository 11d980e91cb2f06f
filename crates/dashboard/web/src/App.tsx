import { useEffect, useRef, useState } from "react";
import { Link, Route, Switch, useLocation, useRoute } from "wouter";

import type { Session } from "./api/client";
import { AccessContext, accessOf } from "./auth/access";
import { SessionGate, SessionMenu } from "./auth/SessionGate";
import { useTitle } from "./components/common";
import { ArchivePage } from "./pages/Archive";
import { ComparePage } from "./pages/Compare";
import { DatasetsPage } from "./pages/Datasets";
import { HarnessPage } from "./pages/Harness";
import { BoardPage } from "./pages/Board";
import { NewRunPage } from "./pages/NewRun";
import { RunPage } from "./pages/Run";

const NAV = [
  { href: "/", label: "Active board" },
  { href: "/runs/new", label: "New run", needs: "operate" },
  { href: "/runs", label: "Archive" },
  { href: "/datasets", label: "Datasets" },
  { href: "/browser-harness", label: "Browser Harness" },
];

export function App() {
  return <SessionGate>{(session) => <Dashboard session={session} />}</SessionGate>;
}

function Dashboard({ session }: { session: Session }) {
  const access = accessOf(session);
  const arrived = useFocusOnArrival();
  return (
    <AccessContext.Provider value={access}>
      {/* The first stop of the Tab key: past the navigation, to the page. */}
      <a
        className="skip-link"
        href="#main"
        onClick={(e) => {
          // Focus moved without a history entry: Back keeps meaning the page's own steps (an
          // opened item closes by going back).
          e.preventDefault();
          document.getElementById("main")?.focus();
        }}
      >
        Skip to the page
      </a>
      <header className="top">
        <Link href="/" className="brand">
          evalboard
        </Link>
        <nav aria-label="Main">
          {NAV.filter((entry) => entry.needs !== "operate" || access.operate).map((entry) => (
            <NavLink key={entry.href} href={entry.href} label={entry.label} />
          ))}
        </nav>
        <SessionMenu session={session} />
      </header>
      <div className="visually-hidden" role="status">
        {arrived}
      </div>
      <main id="main" tabIndex={-1}>
        <Switch>
          <Route path="/" component={BoardPage} />
          <Route path="/runs" component={ArchivePage} />
          <Route path="/runs/new" component={NewRunPage} />
          <Route path="/compare" component={ComparePage} />
          <Route path="/datasets" component={DatasetsPage} />
          <Route path="/browser-harness" component={HarnessPage} />
          <Route path="/runs/:id">{(params) => <RunPage id={params.id} />}</Route>
          <Route component={NotFound} />
        </Switch>
      </main>
    </AccessContext.Provider>
  );
}

/** The navigation's link to a page, saying to a screen reader which page is shown as its look
 * says it to the eye. */
function NavLink({ href, label }: { href: string; label: string }) {
  const [here] = useRoute(href);
  return (
    <Link href={href} className={here ? "nav-link active" : "nav-link"} aria-current={here ? "page" : undefined}>
      {label}
    </Link>
  );
}

/**
 * On arrival at another page (not the first one loaded, nor a change of the address's query — a
 * filter, an opened item), the focus goes to the page and its title is announced. Else the
 * focus stayed on what was activated, gone with the old page (the focus then is on nothing, and
 * the next Tab starts from the top), and a screen reader said nothing of the new page.
 */
function useFocusOnArrival(): string {
  const [path] = useLocation();
  // The path last seen: compared, not a "first render" flag, which a development build's
  // effects run twice would reset.
  const seen = useRef(path);
  const [arrived, setArrived] = useState("");
  useEffect(() => {
    if (seen.current === path) return;
    seen.current = path;
    document.getElementById("main")?.focus({ preventScroll: true });
    // Emptied first, so that the same name (another run of the same model and dataset) is
    // announced again; the page's own effects ran first, so the title is the new page's.
    setArrived("");
    const title = document.title.replace(/ · evalboard$/, "");
    setTimeout(() => setArrived(title), 50);
  }, [path]);
  return arrived;
}

function NotFound() {
  useTitle("Not found");
  return (
    <>
      <h1>Not found</h1>
      <p>
        No page here. <Link href="/">Back to the board</Link>.
      </p>
    </>
  );
}
