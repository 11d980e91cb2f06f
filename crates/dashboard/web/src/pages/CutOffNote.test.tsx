import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { CutOffCount, CutOffNote } from "./Run";

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

describe("a run's count of answers cut off", () => {
  it("names the run's token limit when it set one", () => {
    const { container } = render(<CutOffCount count={12} maxTokens={256} />);
    expect(container.textContent).toBe(
      "12 — stopped before the model finished (maxTokens 256, or a content filter: each item says which)",
    );
  });

  it("names the provider's limit when the run set none", () => {
    const { container } = render(<CutOffCount count={1} maxTokens={null} />);
    expect(container.textContent).toContain("(the provider's token limit, or a content filter");
  });

  it("is a plain 0 when none was", () => {
    const { container } = render(<CutOffCount count={0} maxTokens={256} />);
    expect(container.textContent).toBe("0");
  });
});
