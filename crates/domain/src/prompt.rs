//! The prompts. A multiple-choice item gets the MMLU-Pro style prompt: the subject line,
//! optional worked examples from the same category, then the question with lettered options and
//! the chain-of-thought cue. The layout is the official MMLU-Pro API evaluation's
//! (`evaluate_from_api.py`: the instruction, then `format_example` for each worked example and
//! for the question), to the byte, so extraction (`extraction.rs`) sees the answers it was
//! written for. A numeric item gets the chain-of-thought prompt of the GSM8K evaluations: worked
//! solutions ending "The answer is N." (their calculator annotations removed), then the
//! question. `docs/engine.md` shows rendered prompts.

use std::{fmt::Write, sync::LazyLock};

use regex::Regex;

use crate::dataset::{AnswerKind, DatasetItem, ItemAnswer};

/// Names the template, so that results say how they were asked (Browser Harness packs carry it).
///
/// `v1` ended the question block with `Let's think step by step.`; `v2` adds the official
/// `\n\n` after it. A template changes name whenever a rendered prompt would change by a byte.
pub const PROMPT_TEMPLATE: &str = "mmlu-pro-cot-v2";

/// Names the template of numeric items (GSM8K).
pub const NUMERIC_PROMPT_TEMPLATE: &str = "gsm8k-cot-v1";

/// The kind of items a template renders, told by its name's family (`gsm8k-cot-*` renders
/// numeric items; every other, multiple choice), so that a run's recorded template says which
/// template of today it compares with.
pub fn template_kind(name: &str) -> AnswerKind {
    if name.starts_with("gsm8k-") {
        AnswerKind::Number
    } else {
        AnswerKind::Choice
    }
}

/// The template that renders items of `kind`.
pub fn prompt_template(kind: AnswerKind) -> &'static str {
    match kind {
        AnswerKind::Choice => PROMPT_TEMPLATE,
        AnswerKind::Number => NUMERIC_PROMPT_TEMPLATE,
    }
}

/// Most worked examples a prompt may carry.
pub const MAX_SHOTS: u32 = 5;

/// Renders the prompt for `item`, preceded by `examples` (worked examples, normally other items
/// of the same category) with their answers.
pub fn render_prompt(item: &DatasetItem, examples: &[&DatasetItem]) -> String {
    if let ItemAnswer::Number(_) = item.answer {
        return render_numeric_prompt(item, examples);
    }
    let mut prompt = format!(
        "The following are multiple choice questions (with answers) about {}. Think step by \
         step and then output the answer in the format of \"The answer is (X)\" at the end.\n\n",
        item.category
    );
    for example in examples {
        write_question(&mut prompt, example);
        // As the official `format_example`: the chain of thought without its `A: `, untrimmed.
        // Datasets without one (MMLU-Pro's test split) show the answer instead.
        let reasoning = example
            .explanation
            .as_deref()
            .map(|e| e.strip_prefix("A: ").unwrap_or(e))
            .filter(|e| !e.is_empty());
        match reasoning {
            Some(reasoning) => {
                let _ = write!(prompt, "Answer: {reasoning}\n\n");
            }
            None => {
                let _ = write!(prompt, "Answer: The answer is ({}).\n\n", example.answer);
            }
        }
    }
    write_question(&mut prompt, item);
    prompt.push_str("Answer: Let's think step by step.\n\n");
    prompt
}

/// GSM8K's calculator annotations, `<<48/2=24>>`: tool markup, not reasoning to imitate.
static ANNOTATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<<[^<>]*>>").expect("valid pattern"));

fn render_numeric_prompt(item: &DatasetItem, examples: &[&DatasetItem]) -> String {
    let mut prompt = String::from(
        "The following are questions whose answer is a number, with worked answers. Think step \
         by step and then output the answer in the format of \"The answer is N.\" at the end.\n\n",
    );
    for example in examples {
        let _ = writeln!(prompt, "Question: {}", example.question);
        let solution = example
            .explanation
            .as_deref()
            .map(|e| ANNOTATION.replace_all(e, ""))
            .map(|e| match e.rsplit_once("####") {
                Some((steps, _)) => steps.trim_end().to_owned(),
                None => e.trim_end().to_owned(),
            })
            .filter(|steps| !steps.is_empty());
        match solution {
            Some(steps) => {
                let _ = write!(
                    prompt,
                    "Answer: {steps}\nThe answer is {}.\n\n",
                    example.answer
                );
            }
            None => {
                let _ = write!(prompt, "Answer: The answer is {}.\n\n", example.answer);
            }
        }
    }
    let _ = write!(
        prompt,
        "Question: {}\nAnswer: Let's think step by step.\n\n",
        item.question
    );
    prompt
}

/// Picks up to `shots` worked examples for `item` from `candidates` (the dataset, in order):
/// the first items of the same category other than the item itself. Deterministic, so a retry
/// or a resume asks exactly the same question.
pub fn pick_examples<'a>(
    item: &DatasetItem,
    candidates: &'a [DatasetItem],
    shots: u32,
) -> Vec<&'a DatasetItem> {
    candidates
        .iter()
        .filter(|c| c.category == item.category && c.id != item.id)
        .take(shots as usize)
        .collect()
}

fn write_question(prompt: &mut String, item: &DatasetItem) {
    let _ = write!(prompt, "Question: {}\nOptions: ", item.question);
    for (i, choice) in item.choices.iter().enumerate() {
        let letter = char::from(b'A' + i as u8);
        let _ = writeln!(prompt, "{letter}. {choice}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::AnswerKey;

    fn item(id: &str, category: &str, explanation: Option<&str>) -> DatasetItem {
        DatasetItem {
            id: id.into(),
            category: category.into(),
            question: format!("Question {id}?"),
            choices: vec!["one".into(), "two".into(), "three".into()],
            answer: AnswerKey::from_letter("C").unwrap().into(),
            explanation: explanation.map(Into::into),
            source: None,
        }
    }

    /// The official script's text, as Python builds it in `evaluate_from_api.py`: the
    /// instruction, then `format_example(question, options)` with the default chain-of-thought
    /// cue, each example ending `"\n\n"`.
    #[test]
    fn zero_shot_prompt_is_the_official_bytes() {
        let prompt = render_prompt(&item("1", "math", None), &[]);
        let official = concat!(
            "The following are multiple choice questions (with answers) about math. Think step by",
            " step and then output the answer in the format of \"The answer is (X)\" at the end.\n\n",
            "Question: Question 1?\nOptions: ",
            "A. one\n",
            "B. two\n",
            "C. three\n",
            "Answer: Let's think step by step.\n\n",
        );
        assert_eq!(prompt, official);
        // SHA-256 of the text the official Python code builds for this question (computed with
        // its `format_example` and instruction line, Python 3.11).
        use sha2::Digest;
        assert_eq!(
            hex::encode(sha2::Sha256::digest(prompt.as_bytes())),
            "c5e6f9aa31690866c4137d795d62dcf648bdcc522a5e97a2008f09aed6f185cb",
            "the bytes of a rendered prompt are pinned"
        );
    }

    #[test]
    fn examples_carry_their_reasoning_or_their_answer() {
        let dataset = vec![
            item(
                "1",
                "math",
                Some("A: Let's think step by step. Three. The answer is (C)."),
            ),
            item("2", "law", None),
            item("3", "math", None),
            item("4", "math", None),
        ];
        let target = &dataset[3];
        let examples = pick_examples(target, &dataset, 5);
        let ids: Vec<&str> = examples.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            ["1", "3"],
            "same category, not the item itself, in order"
        );
        let prompt = render_prompt(target, &examples);
        assert!(prompt.contains("Answer: Let's think step by step. Three. The answer is (C).\n\n"));
        assert!(
            render_prompt(target, &[&item("5", "math", Some("A: Trailing space. \n"))])
                .contains("Answer: Trailing space. \n\n\n"),
            "an example's reasoning is kept as written, untrimmed"
        );
        assert!(prompt.contains("Question: Question 3?\nOptions: A. one\nB. two\nC. three\nAnswer: The answer is (C).\n\n"));
        assert!(prompt.ends_with("Question: Question 4?\nOptions: A. one\nB. two\nC. three\nAnswer: Let's think step by step.\n\n"));
        assert_eq!(pick_examples(target, &dataset, 1).len(), 1);
    }

    #[test]
    fn numeric_prompts_show_worked_solutions_without_annotations() {
        let numeric = |id: &str, explanation: Option<&str>| DatasetItem {
            id: id.into(),
            category: "gsm8k".into(),
            question: format!("Question {id}?"),
            choices: Vec::new(),
            answer: ItemAnswer::Number(crate::numeric::Number::parse("3").unwrap()),
            explanation: explanation.map(Into::into),
            source: None,
        };
        // A GSM8K test line's solution.
        let shot = numeric(
            "1",
            Some(
                "It takes 2/2=<<2/2=1>>1 bolt of white fiber\nSo the total amount of fabric is \
                 2+1=<<2+1=3>>3 bolts of fabric\n#### 3",
            ),
        );
        let bare = numeric("2", None);
        let prompt = render_prompt(&numeric("3", None), &[&shot, &bare]);
        assert_eq!(
            prompt,
            concat!(
                "The following are questions whose answer is a number, with worked answers. ",
                "Think step by step and then output the answer in the format of ",
                "\"The answer is N.\" at the end.\n\n",
                "Question: Question 1?\n",
                "Answer: It takes 2/2=1 bolt of white fiber\n",
                "So the total amount of fabric is 2+1=3 bolts of fabric\n",
                "The answer is 3.\n\n",
                "Question: Question 2?\nAnswer: The answer is 3.\n\n",
                "Question: Question 3?\nAnswer: Let's think step by step.\n\n",
            )
        );
        assert_eq!(prompt_template(AnswerKind::Number), "gsm8k-cot-v1");
        assert_eq!(prompt_template(AnswerKind::Choice), PROMPT_TEMPLATE);
    }
}
