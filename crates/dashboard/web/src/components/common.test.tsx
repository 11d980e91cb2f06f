import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { ApiError } from "../api/client";
import { ActionFailed, ErrorNote, Loading, ProgressBar, accuracy, createdAtOf, judgeLabel, tierLabel, usd } from "./common";

afterEach(cleanup);

describe("Loading", () => {
  it("says why it is still loading once a try failed", () => {
    const { rerender } = render(<Loading failure={null} />);
    expect(screen.getByRole("status").textContent).toBe("Loading…");
    rerender(<Loading failure={new ApiError(503, "Service Unavailable", "the database is unavailable")} />);
    const said = screen.getByRole("status").textContent ?? "";
    expect(said).toContain("the last try failed");
    expect(said).toContain("the database is unavailable");
    rerender(<Loading failure={new TypeError("Failed to fetch")} />);
    expect(screen.getByRole("status").textContent).toContain("the server cannot be reached");
  });
});

describe("ActionFailed", () => {
  it("says a cancel of a run already ended is not a failure", () => {
    const ended = new ApiError(409, "Conflict", "run run-1 is already canceled; only a pending or running run can be canceled");
    const { rerender } = render(<ActionFailed action="cancel" error={ended} onDismiss={() => {}} />);
    expect(screen.queryByRole("alert")).toBeNull();
    expect(screen.getByRole("status").textContent).toContain("Nothing to cancel: run run-1 is already canceled");
    // A retry refused is one.
    rerender(<ActionFailed action="retry" error={new ApiError(409, "Conflict", "its budget is spent")} onDismiss={() => {}} />);
    expect(screen.getByRole("alert").textContent).toContain("The retry did not happen: not possible now: its budget is spent.");
  });

  it("offers to force a retry refused because the run's configuration changed", () => {
    const changed = new ApiError(
      409,
      "Conflict",
      'the configuration of run run-1 changed since it was made: providerBaseUrl (was "http://a", now "http://b"); send {"force": true} to retry it anyway',
      [],
      "urn:evalboard:problem:configuration-changed",
    );
    let forced = 0;
    render(<ActionFailed action="retry" error={changed} onDismiss={() => {}} onForce={() => (forced += 1)} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toContain('providerBaseUrl (was "http://a", now "http://b")');
    // The API's remedy is the button here.
    expect(alert.textContent).not.toContain("force");
    fireEvent.click(screen.getByRole("button", { name: "Retry anyway" }));
    expect(forced).toBe(1);
  });

  it("takes the focus that fell to nothing while the refused request ran, and no other", () => {
    const refused = new ApiError(409, "Conflict", "run run-1 is running");
    // The pressed button was disabled meanwhile: focus is on nothing.
    (document.activeElement as HTMLElement | null)?.blur();
    const { unmount } = render(<ActionFailed action="retry" error={refused} onDismiss={() => {}} />);
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Dismiss" }));
    unmount();
    // A reader who moved on keeps their place.
    const search = document.createElement("input");
    document.body.append(search);
    search.focus();
    render(<ActionFailed action="retry" error={refused} onDismiss={() => {}} />);
    expect(document.activeElement).toBe(search);
    search.remove();
  });
});

describe("ErrorNote", () => {
  it("shows a problem's title, detail and every field's problem", () => {
    const error = new ApiError(422, "Unprocessable Content", "2 problems", [
      { field: "settings.concurrency", detail: "must be between 1 and 256, got 0" },
      { field: "/captures/0/promptSha256", detail: "is not the item's prompt hash" },
    ]);
    render(<ErrorNote error={error} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toContain("Unprocessable Content (422)");
    expect(alert.textContent).toContain("2 problems");
    expect(screen.getByText("settings.concurrency").tagName).toBe("CODE");
    expect(screen.getByText("/captures/0/promptSha256")).toBeTruthy();
    expect(alert.textContent).toContain("is not the item's prompt hash");
  });

  it("says a single field's problem once", () => {
    const error = new ApiError(422, "Unprocessable Content", "selection.seed: a seed only makes sense with a sampleSize", [
      { field: "selection.seed", detail: "a seed only makes sense with a sampleSize" },
    ]);
    render(<ErrorNote error={error} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent?.match(/a seed only makes sense/g)).toHaveLength(1);
    expect(screen.getByText("selection.seed").tagName).toBe("CODE");
  });

  it("says which line of an uploaded file each problem is on", () => {
    const error = new ApiError(422, "Unprocessable Content", "the jsonl file has 2 problem(s)", [
      { line: 1, detail: "not a valid MMLU-Pro record: missing field `options`" },
      { line: 7, detail: "a duplicate question_id" },
    ]);
    render(<ErrorNote error={error} />);
    const items = screen.getAllByRole("listitem").map((li) => li.textContent?.trim());
    expect(items).toEqual([
      "line 1: not a valid MMLU-Pro record: missing field options",
      "line 7: a duplicate question_id",
    ]);
    // The server's `quoted` names are shown as code, without their backticks.
    expect(screen.getByText("options").tagName).toBe("CODE");
  });

  it("names a rejected file's first problem once, in the list", () => {
    const error = new ApiError(
      422,
      "Unprocessable Content",
      "the jsonl file has 2 problem(s); first: line 3: option B is empty",
      [
        { line: 3, detail: "option B is empty" },
        { line: 9, detail: "a duplicate question_id" },
      ],
    );
    render(<ErrorNote error={error} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent?.match(/option B is empty/g)).toHaveLength(1);
    expect(alert.textContent).toContain("the jsonl file has 2 problem(s)");
    expect(screen.getAllByRole("listitem")[0]?.textContent?.trim()).toBe("line 3: option B is empty");
  });

  it("names a rejected bundle's first problem once, in the list", () => {
    const error = new ApiError(
      422,
      "Unprocessable Content",
      "the bundle was not imported; `errors` lists every problem, the first: /captures/0/sequence: no such item",
      [{ field: "/captures/0/sequence", detail: "no such item" }],
    );
    render(<ErrorNote error={error} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent?.match(/no such item/g)).toHaveLength(1);
    expect(alert.textContent).toContain("the bundle was not imported");
  });

  it("shows a sentence's quoted names as code", () => {
    const error = new ApiError(422, "Unprocessable Content", "not imported; `errors` lists every problem, the first: x", []);
    render(<ErrorNote error={error} />);
    expect(screen.getByRole("alert").textContent).toContain("not imported; errors lists every problem");
    expect(screen.getByText("errors").tagName).toBe("CODE");
  });

  it("shows a sentence whose backticks do not pair as it is", () => {
    const error = new ApiError(400, "Bad Request", "duplicate field `a`b`", []);
    render(<ErrorNote error={error} />);
    expect(screen.getByRole("alert").textContent).toContain("duplicate field `a`b`");
  });

  it("shows nothing without an error, and any other error's message", () => {
    const { container, rerender } = render(<ErrorNote error={null} />);
    expect(container.textContent).toBe("");
    rerender(<ErrorNote error={new Error("the server could not be reached")} />);
    expect(screen.getByRole("alert").textContent).toContain("the server could not be reached");
  });
});

describe("judgeLabel", () => {
  it("names the extraction rules, and an LLM judge as the API does", () => {
    expect(judgeLabel("choice")).toBe("extraction rules");
    expect(judgeLabel("llm:Stub/judge-1")).toBe("llm:Stub/judge-1");
  });
});

describe("ProgressBar", () => {
  it("draws a segment per count and says every count", () => {
    const progress = { completed: 6, total: 10, correct: 4, incorrect: 1, awaiting: 1, faulted: 1, pending: 3 };
    const { container, rerender } = render(<ProgressBar progress={progress} />);
    const bar = screen.getByRole("img");
    expect(bar.getAttribute("aria-label")).toBe(
      "6 of 10 done: Correct 4, Incorrect 1, Awaiting judge 1, Faulted 1, Unanswered 3",
    );
    const widths = [...container.querySelectorAll<HTMLElement>(".seg")].map((s) => s.style.width);
    expect(widths).toEqual(["40%", "10%", "10%", "10%", "30%"]);
    // An empty count keeps its (zero-width) segment.
    rerender(<ProgressBar progress={{ ...progress, awaiting: 0, pending: 4 }} />);
    const after = [...container.querySelectorAll<HTMLElement>(".seg")].map((s) => s.style.width);
    expect(after).toEqual(["40%", "10%", "0%", "10%", "40%"]);
    expect(accuracy(progress)).toBe("80.0 %");
    expect(accuracy({ ...progress, correct: 0, incorrect: 0 })).toBe("–");
  });

  it("shows a cost too small for the hundredth of a cent as such, not as nothing", () => {
    expect(usd(0.0000085)).toBe("< $0.0001");
    expect(usd(0)).toBe("$0.0000");
    expect(usd(0.31519)).toBe("$0.3152");
    expect(usd(0.00005)).toBe("$0.0001");
  });

  it("tells canceled items from failed ones", () => {
    const progress = { completed: 10, total: 10, correct: 2, incorrect: 1, awaiting: 0, faulted: 7, pending: 0 };
    const { container, rerender } = render(<ProgressBar progress={progress} canceled={5} status="canceled" />);
    expect(screen.getByRole("img").getAttribute("aria-label")).toBe(
      "3 of 10 judged: Correct 2, Incorrect 1, Awaiting judge 0, Failed 2, Canceled 5, Unanswered 0",
    );
    const widths = [...container.querySelectorAll<HTMLElement>(".seg")].map((s) => s.style.width);
    expect(widths).toEqual(["20%", "10%", "0%", "20%", "50%", "0%"]);
    // The board's snapshot does not say how many were canceled: named for what they may be.
    rerender(<ProgressBar progress={progress} status="canceled" />);
    expect(screen.getByRole("img").getAttribute("aria-label")).toBe(
      "3 of 10 judged: Correct 2, Incorrect 1, Awaiting judge 0, Failed or canceled 7, Unanswered 0",
    );
    rerender(<ProgressBar progress={progress} status="completed" />);
    expect(screen.getByRole("img").getAttribute("aria-label")).toContain("10 of 10 done: ");
    expect(screen.getByRole("img").getAttribute("aria-label")).toContain("Faulted 7");
  });
});

describe("createdAtOf", () => {
  it("reads a run's creation time from its UUIDv7 id", () => {
    // 0x01a247477fd4 ms after the epoch.
    expect(createdAtOf("run-01a247477fd472de8000b6f19bb033f3")).toBe(new Date(0x01a247477fd4).toISOString());
    expect(createdAtOf("run-01a247477fd472de8000b6f19bb033f3")?.startsWith("2026-")).toBe(true);
    expect(createdAtOf("not-a-run")).toBe(null);
    expect(createdAtOf("run-0123")).toBe(null);
  });
});

describe("tierLabel", () => {
  it("says in words which rule read the answer, and which are fallbacks", () => {
    expect(tierLabel("answer_is")).toBe("read from “the answer is …”");
    expect(tierLabel("last_letter")).toContain("fallback");
    expect(tierLabel("boxed")).toBe("read from \\boxed{…}");
    expect(tierLabel("something_new")).toBe("something_new");
  });
});
