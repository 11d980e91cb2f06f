import { Link, Route, Switch } from "wouter";

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
            <Link
              key={entry.href}
              href={entry.href}
              className={(active) => (active ? "nav-link active" : "nav-link")}
            >
              {entry.label}
            </Link>
          ))}
        </nav>
        <SessionMenu session={session} />
      </header>
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
