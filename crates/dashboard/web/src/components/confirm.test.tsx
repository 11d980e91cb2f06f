import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { useConfirm } from "./confirm";

// jsdom has no modal dialogs: opening one is showing it.
beforeAll(() => {
  HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
    this.open = true;
  };
  HTMLDialogElement.prototype.close ??= function (this: HTMLDialogElement) {
    this.open = false;
  };
});
afterEach(cleanup);

function CancelButton({ onCancel }: { onCancel: () => void }) {
  const [confirming, ask] = useConfirm();
  return (
    <>
      {confirming}
      <button type="button" onClick={() => ask({ text: "Cancel this run?", yes: "Cancel the run", no: "Keep it running" }, onCancel)}>
        Cancel
      </button>
    </>
  );
}

describe("useConfirm", () => {
  it("asks with buttons that say what they do, and acts only on the one that goes ahead", () => {
    const onCancel = vi.fn();
    render(<CancelButton onCancel={onCancel} />);
    expect(screen.queryByRole("dialog")).toBeNull();

    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    const dialog = screen.getByRole("dialog", { name: "Cancel this run?" });
    expect([...dialog.querySelectorAll("button")].map((b) => b.textContent)).toEqual(["Keep it running", "Cancel the run"]);
    fireEvent.click(screen.getByRole("button", { name: "Keep it running" }));
    expect(onCancel).not.toHaveBeenCalled();
    expect(screen.queryByRole("dialog")).toBeNull();

    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    fireEvent.click(screen.getByRole("button", { name: "Cancel the run" }));
    expect(onCancel).toHaveBeenCalledTimes(1);
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("does nothing when closed otherwise (Escape)", () => {
    const onCancel = vi.fn();
    render(<CancelButton onCancel={onCancel} />);
    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    const dialog = screen.getByRole("dialog");
    // What the browser does on Escape: the dialog closes itself.
    (dialog as HTMLDialogElement).close();
    fireEvent(dialog, new Event("close"));
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(onCancel).not.toHaveBeenCalled();
  });
});
