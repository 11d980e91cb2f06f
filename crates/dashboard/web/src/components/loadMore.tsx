// "Load more" under a list that grows by pages, keeping a keyboard user's place.
import { type ReactNode, type RefObject, useEffect, useRef } from "react";

/** What can take the focus inside an entry, first found first. */
const FOCUSABLE = "a[href], button, summary, input, select, [tabindex]";

/**
 * A button that loads the list's next page and then puts the focus on the first entry it
 * brought (its first focusable element, or the entry itself): a disabled button dropped the
 * focus to nothing, and the next Tab started again from the page's top, dozens of stops above
 * the new entries. While the page loads the button stays focusable (`aria-disabled`) and does
 * nothing. `entries` selects the list's entries inside `list`; an entry is new if it was not
 * there when the button was pressed (pages may add entries anywhere in a grouped list).
 */
export function LoadMore({
  list,
  entries: selector,
  hasMore,
  fetching,
  onMore,
  children,
}: {
  list: RefObject<HTMLElement | null>;
  entries: string;
  hasMore: boolean;
  fetching: boolean;
  onMore: () => void;
  children: ReactNode;
}) {
  const button = useRef<HTMLButtonElement>(null);
  // The entries there when the button was pressed, and whether the page was then seen
  // loading (a render between the press and the fetch's start must not end the wait); null
  // when no page is awaited.
  const awaited = useRef<{ before: Set<Element>; loading: boolean } | null>(null);
  useEffect(() => {
    const wait = awaited.current;
    if (wait === null || list.current === null) return;
    if (fetching) {
      wait.loading = true;
      return;
    }
    if (!wait.loading) return;
    awaited.current = null;
    // Only a focus still where the press left it (the button, or nothing once the last page
    // removed it) is moved: one the reader took elsewhere meanwhile is theirs.
    const focused = document.activeElement;
    if (focused !== null && focused !== document.body && focused !== button.current) return;
    const entries = [...list.current.querySelectorAll<HTMLElement>(selector)];
    // What the page brought comes after the last entry there before (an entry a refetch put
    // at the top, or a row opened meanwhile, is not it); in a list grouped otherwise, the
    // first new entry wherever it is.
    const lastBefore = entries.reduce((last, entry, index) => (wait.before.has(entry) ? index : last), -1);
    const fresh =
      entries.slice(lastBefore + 1).find((entry) => !wait.before.has(entry)) ??
      entries.find((entry) => !wait.before.has(entry));
    if (fresh === undefined) return;
    const inside = fresh.matches(FOCUSABLE) ? fresh : fresh.querySelector<HTMLElement>(FOCUSABLE);
    if (inside !== null) {
      inside.focus();
    } else {
      fresh.tabIndex = -1;
      fresh.focus();
    }
  });
  if (!hasMore) return null;
  return (
    <button
      ref={button}
      type="button"
      aria-disabled={fetching}
      onClick={() => {
        if (fetching || list.current === null) return;
        awaited.current = { before: new Set(list.current.querySelectorAll(selector)), loading: false };
        onMore();
      }}
    >
      {fetching ? "Loading…" : children}
    </button>
  );
}
