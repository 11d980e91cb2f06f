import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { CutOffNote } from "./Run";

afterEach(cleanup);

describe("an answer the provider cut off", () => {
  it("says why, and that it was judged as written", () => {
    render(<CutOffNote cutOff="max_tokens" />);
    const note = screen.getByRole("note");
    expect(note.textContent).toContain("Cut off at the token limit");
    expect(note.textContent).toContain("judged as written");
  });

  it("names the content filter", () => {
    render(<CutOffNote cutOff="content_filter" />);
    expect(screen.getByRole("note").textContent).toContain("content filter");
  });

  it("says nothing of an answer the model ended", () => {
    const { container } = render(<CutOffNote cutOff={null} />);
    expect(container.textContent).toBe("");
  });
});
