// A question before an action, asked in a modal dialog whose buttons say what they do. The
// browser's own `confirm` offers "OK" and "Cancel": on a run's Cancel button, its "Cancel" is
// the answer that keeps the run going.
import { type ReactNode, useEffect, useId, useRef, useState } from "react";

/** What is asked before an action. */
export interface Question {
  /** The question, a sentence or two. */
  text: string;
  /** The button that goes ahead, e.g. "Cancel the run". */
  yes: string;
  /** The button that does nothing, e.g. "Keep it running": it has the focus at first. */
  no: string;
}

interface Asked {
  question: Question;
  then: () => void;
}

/**
 * The dialog to render (nothing while no question is asked) and `ask`, which opens it and calls
 * `then` only when the user goes ahead. Escape, or the button that does nothing, closes it; the
 * browser gives the focus back to what had it before.
 */
export function useConfirm(): [ReactNode, (question: Question, then: () => void) => void] {
  const [asked, setAsked] = useState<Asked | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const keep = useRef<HTMLButtonElement>(null);
  const textId = useId();
  useEffect(() => {
    const element = dialog.current;
    if (asked !== null && element !== null && !element.open) {
      element.showModal();
      // Once shown (a focus given before, as React's autoFocus gives it, is lost).
      keep.current?.focus();
    }
  }, [asked]);
  const answer = (goAhead: boolean) => {
    dialog.current?.close();
    setAsked(null);
    if (goAhead) asked?.then();
  };
  const rendered = asked && (
    <dialog ref={dialog} className="confirm" aria-labelledby={textId} onClose={() => setAsked(null)}>
      <p id={textId}>{asked.question.text}</p>
      <div className="actions">
        <button type="button" ref={keep} onClick={() => answer(false)}>
          {asked.question.no}
        </button>
        <button type="button" className="primary" onClick={() => answer(true)}>
          {asked.question.yes}
        </button>
      </div>
    </dialog>
  );
  return [rendered, (question, then) => setAsked({ question, then })];
}
