import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useRef } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { LoadMore } from "./loadMore";

afterEach(cleanup);

/** A list whose pages its parent adds, as an infinite query's pages come. */
function Pages({ rows, hasMore, fetching, onMore }: { rows: string[]; hasMore: boolean; fetching: boolean; onMore: () => void }) {
  const list = useRef<HTMLUListElement>(null);
  return (
    <>
      <ul ref={list}>
        {rows.map((row) => (
          <li key={row}>
            {row.startsWith("plain") ? row : <a href={`/runs/${row}`}>{row}</a>}
          </li>
        ))}
      </ul>
      <LoadMore list={list} entries="li" hasMore={hasMore} fetching={fetching} onMore={onMore}>
        Load more
      </LoadMore>
    </>
  );
}

describe("LoadMore", () => {
  it("keeps the focus while the page loads, then gives it to the first entry the page brought", () => {
    const onMore = vi.fn();
    const { rerender } = render(<Pages rows={["a", "b"]} hasMore fetching={false} onMore={onMore} />);
    const button = screen.getByRole("button", { name: "Load more" });
    button.focus();
    fireEvent.click(button);
    expect(onMore).toHaveBeenCalledTimes(1);

    // Loading: still focusable and focused, said busy, a second press does nothing.
    rerender(<Pages rows={["a", "b"]} hasMore fetching onMore={onMore} />);
    const busy = screen.getByRole("button", { name: "Loading…" });
    expect(busy.getAttribute("aria-disabled")).toBe("true");
    expect(document.activeElement).toBe(busy);
    fireEvent.click(busy);
    expect(onMore).toHaveBeenCalledTimes(1);

    // The last page: the button goes, the focus is on the first new entry's link.
    rerender(<Pages rows={["a", "b", "c", "d"]} hasMore={false} fetching={false} onMore={onMore} />);
    expect(screen.queryByRole("button")).toBeNull();
    expect(document.activeElement).toBe(screen.getByRole("link", { name: "c" }));

    // A later change of the list (a refetch) takes the focus nowhere.
    screen.getByRole("link", { name: "a" }).focus();
    rerender(<Pages rows={["z", "a", "b", "c", "d"]} hasMore={false} fetching={false} onMore={onMore} />);
    expect(document.activeElement).toBe(screen.getByRole("link", { name: "a" }));
  });

  it("leaves a focus the reader moved elsewhere while the page loaded, and skips entries added above", () => {
    const onMore = vi.fn();
    const { rerender } = render(<Pages rows={["b", "c"]} hasMore fetching={false} onMore={onMore} />);
    const button = screen.getByRole("button", { name: "Load more" });
    button.focus();
    fireEvent.click(button);
    rerender(<Pages rows={["b", "c"]} hasMore fetching onMore={onMore} />);
    // A refetch added a run at the top meanwhile; the page brings d and e.
    rerender(<Pages rows={["a", "b", "c", "d", "e"]} hasMore fetching={false} onMore={onMore} />);
    expect(document.activeElement).toBe(screen.getByRole("link", { name: "d" }));

    // Pressed again, then the reader goes elsewhere before the page comes.
    fireEvent.click(screen.getByRole("button", { name: "Load more" }));
    rerender(<Pages rows={["a", "b", "c", "d", "e"]} hasMore fetching onMore={onMore} />);
    screen.getByRole("link", { name: "b" }).focus();
    rerender(<Pages rows={["a", "b", "c", "d", "e", "f"]} hasMore={false} fetching={false} onMore={onMore} />);
    expect(document.activeElement).toBe(screen.getByRole("link", { name: "b" }));
  });

  it("focuses a new entry with nothing focusable in it, and waits for the load to start", () => {
    const onMore = vi.fn();
    const { rerender } = render(<Pages rows={["plain 1"]} hasMore fetching={false} onMore={onMore} />);
    fireEvent.click(screen.getByRole("button", { name: "Load more" }));
    // A render before the fetch is seen starting (the list polled meanwhile) ends no wait.
    rerender(<Pages rows={["plain 1"]} hasMore fetching={false} onMore={onMore} />);
    rerender(<Pages rows={["plain 1"]} hasMore fetching onMore={onMore} />);
    rerender(<Pages rows={["plain 1", "plain 2"]} hasMore fetching={false} onMore={onMore} />);
    const fresh = screen.getByText("plain 2");
    expect(document.activeElement).toBe(fresh);
    expect(fresh.tabIndex).toBe(-1);
  });
});
