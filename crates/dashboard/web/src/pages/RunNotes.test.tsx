// What the run page says beside its figures: answers cut off, verdicts its LLM judge did not
// give, and what a retry of a re-judged run does.
import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { CutOffCount, CutOffNote, JudgeFallbacks, NothingAnswered, cancelQuestion, matchingCount, retryQuestion } from "./Run";

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

describe("verdicts the run's LLM judge did not give", () => {
  it("says how many of the verdicts are the rules'", () => {
    render(<JudgeFallbacks count={9} judged={36} judge="llm:J/m" />);
    expect(screen.getByRole("note").textContent).toBe(
      "9 of the 36 verdicts are not the judge's (llm:J/m): it failed or answered without a verdict, and the extraction rules judged those instead, so the accuracy is partly theirs. Each such item's judge's reasons say why.",
    );
  });

  it("says when none of them is the judge's", () => {
    render(<JudgeFallbacks count={36} judged={36} judge="llm:J/m" />);
    expect(screen.getByRole("note").textContent).toContain(
      "None of the 36 verdicts is the judge's (llm:J/m): it failed or answered without a verdict, and the extraction rules judged them all instead, so the accuracy is theirs.",
    );
  });

  it("says nothing when every verdict is the judge's", () => {
    const { container } = render(<JudgeFallbacks count={0} judged={36} judge="llm:J/m" />);
    expect(container.textContent).toBe("");
  });
});

describe("the retry's question", () => {
  it("is plain for a run judged by the rules and never judged again", () => {
    expect(retryQuestion({ rejudgeCount: 0, judge: "choice" })).toBe("Send this run's failed and canceled items again?");
  });

  it("says that kept answers are asked anew, and what judges them instead", () => {
    for (const run of [
      { rejudgeCount: 2, judge: "choice" },
      { rejudgeCount: 0, judge: "llm:Judge/m" },
    ]) {
      const asked = retryQuestion(run);
      expect(asked).toContain("an answer one holds (its judging was canceled, or its judge failed) is replaced, and paid for again");
      expect(asked).toContain("use Re-judge… instead");
    }
  });
});

describe("the cancel's question", () => {
  it("is plain for a run never judged again", () => {
    expect(cancelQuestion({ rejudgeCount: 0 })).toBe("Cancel this run? Items in flight are stopped.");
  });

  it("says that a re-judging canceled is undone", () => {
    expect(cancelQuestion({ rejudgeCount: 1 })).toContain(
      "A re-judging in progress is undone: the run goes back to the verdicts it had",
    );
  });
});

describe("a finished run that judged nothing", () => {
  it("says that nothing was evaluated, and where to read why", () => {
    render(<NothingAnswered progress={{ correct: 0, incorrect: 0, faulted: 200, total: 200 }} status="completed" />);
    const note = screen.getByRole("note").textContent ?? "";
    expect(note).toContain("Nothing was evaluated: every one of the 200 items failed.");
    expect(note).toContain("Each item's attempts say why");
  });

  it("says nothing of a run with a verdict, or one still going", () => {
    const some = render(<NothingAnswered progress={{ correct: 0, incorrect: 1, faulted: 199, total: 200 }} status="completed" />);
    expect(some.container.textContent).toBe("");
    const going = render(<NothingAnswered progress={{ correct: 0, incorrect: 0, faulted: 3, total: 200 }} status="running" />);
    expect(going.container.textContent).toBe("");
  });
});

describe("a filtered listing's count", () => {
  it("is every group's items", () => {
    expect(matchingCount([{ progress: { total: 815 } }, { progress: { total: 12 } }])).toBe(827);
    expect(matchingCount([])).toBe(0);
  });
});
