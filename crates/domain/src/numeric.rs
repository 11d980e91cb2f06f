//! Numeric answers, for free-form tasks such as GSM8K: the reference number, the number a
//! response gives, and the rule that found it.
//!
//! After removing `**` (markdown bold) and reading LaTeX's and Unicode's spellings of a number
//! as the plain one (`70{,}000`, `57\,500`, `\$5`, `−10`, `\frac{3}{4}`), five rules are tried
//! in order, as
//! the standard GSM8K evaluations do (lm-evaluation-harness's strict and flexible filters,
//! OpenAI's `####`), with a boxed answer and an `Answer:` label before the last number:
//! 1. `answer is N` — the first "the answer is 18" (a `$` and a `:` may come between);
//! 2. `#### N` — the last GSM8K final-answer mark;
//! 3. `\boxed{N}` — the last boxed answer, as reasoning models write it (a unit, `%` or
//!    `\text{…}` after the number allowed);
//! 4. `Answer: N` — the last such label;
//! 5. the last number anywhere in the text.
//!
//! None matching leaves the answer unparsed, which the judge counts as incorrect. Numbers are
//! compared after normalisation ([`Number`]): `1,600`, `$1,600.00` and `1600` are one answer.
//! A fraction of whole numbers is one number (`3/4` is 0.75, where the rules would otherwise
//! read 3, or 4): its decimal value when it has a finite one, else none — a rule that finds
//! `2/3` leaves the answer unparsed (a reference answer is a decimal, which 2/3 never equals).

use std::{fmt, sync::LazyLock};

use regex::Regex;

use crate::{ExtractionTier, Verdict};

/// A decimal number in a canonical spelling: no sign for zero or positives, no thousands
/// separators or currency sign, no leading zeros, no trailing fractional zeros (`18.50` is
/// `18.5`, `18.0` is `18`). Two spellings of one value have one canonical spelling, so
/// comparing numbers is comparing text — exactly, with no floating point.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number(String);

/// The longest number accepted, in characters (a reference answer or an extracted one).
pub const MAX_NUMBER_CHARS: usize = 64;

impl Number {
    /// Reads a number as people write one: an optional sign (`−`, U+2212, too), an optional `$`, digits with
    /// optional `,` thousands separators (in groups of three), an optional fraction. Leading
    /// and trailing whitespace and a trailing `.` (the end of a sentence) are ignored.
    /// (`.5` is 0.5.)
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let text = text.strip_suffix('.').unwrap_or(text);
        if text.is_empty() || text.chars().count() > MAX_NUMBER_CHARS {
            return None;
        }
        // The minus sign U+2212 as the hyphen-minus.
        let (negative, rest) = match text.strip_prefix(['-', '\u{2212}']) {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let rest = rest.strip_prefix('$').unwrap_or(rest);
        let (whole, fraction) = match rest.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (rest, None),
        };
        let whole = match (whole, fraction) {
            ("", Some(_)) => "0".to_owned(),
            _ => digits_of_whole(whole)?,
        };
        let fraction = match fraction {
            Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
                f.trim_end_matches('0')
            }
            Some(_) => return None,
            None => "",
        };
        let whole = match whole.trim_start_matches('0') {
            "" => "0",
            trimmed => trimmed,
        };
        let mut canonical = String::with_capacity(whole.len() + fraction.len() + 2);
        if negative && (whole != "0" || !fraction.is_empty()) {
            canonical.push('-');
        }
        canonical.push_str(whole);
        if !fraction.is_empty() {
            canonical.push('.');
            canonical.push_str(fraction);
        }
        Some(Self(canonical))
    }

    /// The canonical spelling.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The final answer of a GSM8K worked solution: what follows its last `####`.
    pub fn of_gsm8k_solution(solution: &str) -> Option<Self> {
        let (_, last) = solution.rsplit_once("####")?;
        Self::parse(last)
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The digits of a whole part written with or without thousands separators, without them;
/// `None` when separators are misplaced (`1,60`) or anything else is there.
fn digits_of_whole(whole: &str) -> Option<String> {
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit() || b == b',') {
        return None;
    }
    if whole.contains(',') {
        let mut groups = whole.split(',');
        let first = groups.next().unwrap_or_default();
        let grouped = (1..=3).contains(&first.len()) && groups.all(|group| group.len() == 3);
        if !grouped {
            return None;
        }
    }
    Some(whole.replace(',', ""))
}

/// What extraction made of a response to a numeric question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumericExtraction {
    /// The number found, `None` when unparsed.
    pub number: Option<Number>,
    /// The rule that found it.
    pub tier: ExtractionTier,
}

/// A number as a response may write it: sign, currency, thousands separators, decimals (`.5`
/// too). A `/` and a denominator after it are read by [`reading`].
const NUMBER: &str = r"[-+]?\$?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)";

static ANSWER_IS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i)answer is[:\s]*\$?\s*({NUMBER})")).expect("valid pattern")
});
static FINAL_MARK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"####\s*\$?\s*({NUMBER})")).expect("valid pattern"));
static BOXED: LazyLock<Regex> = LazyLock::new(|| {
    // After the number: spaces (LaTeX's `\,`, `\ `, `\!` too), `%` (`\%`), and `\text{…}` or
    // `\mathrm{…}` units.
    Regex::new(&format!(
        r"\\boxed\{{\s*\$?\s*({NUMBER})(?:/\d+)?(?:\s|\\[,! ]|\\?%|\\(?:text|mathrm)\{{[^{{}}]*\}})*\}}"
    ))
    .expect("valid pattern")
});
static ANSWER_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    // The number and what follows it: a label over an expression (`Answer: 12 + 8 = 20`,
    // `Answer: 3/4`) gives no number of its own (the regex crate has no look-ahead).
    Regex::new(&format!(
        r"(?i)\banswer:[ \t]*\$?[ \t]*({NUMBER})([ \t]*[-+*/×÷=^])?"
    ))
    .expect("valid pattern")
});
static ANY_NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(NUMBER).expect("valid pattern"));

/// What a number matched in a text reads as, with what follows it.
#[derive(Debug, PartialEq, Eq)]
enum Reading {
    /// A number.
    Number(Number),
    /// A fraction of whole numbers without a finite decimal value (`2/3`).
    NoDecimal,
    /// Nothing to read (`1,60`; `1.5/3`; a date, `1/2/2024`).
    NotANumber,
}

/// Reads the number `spelled` ending at `end` in `text`, as one fraction with the `/` and whole
/// denominator right after it.
fn reading(text: &str, spelled: &str, end: usize) -> Reading {
    let Some(number) = Number::parse(spelled) else {
        return Reading::NotANumber;
    };
    // `3/` or `3/x`: no fraction.
    let Some(denominator) = denominator_after(&text[end..]) else {
        return Reading::Number(number);
    };
    let after = &text[end + 1 + denominator.len()..];
    let continues = |mark: char| {
        after
            .strip_prefix(mark)
            .is_some_and(|more| more.starts_with(|c: char| c.is_ascii_digit()))
    };
    if spelled.contains('.') || after.starts_with('/') || continues('.') || continues(',') {
        return Reading::NotANumber;
    }
    match decimal_of_fraction(number.as_str(), denominator) {
        Some(value) => Reading::Number(value),
        None => Reading::NoDecimal,
    }
}

/// The finite decimal value of `numerator / denominator` (whole numbers, the numerator maybe
/// negative): `None` when it has none (a denominator with a prime factor other than 2 and 5
/// once reduced, or 0), or when the figures are too large to compute.
fn decimal_of_fraction(numerator: &str, denominator: &str) -> Option<Number> {
    let (negative, numerator) = match numerator.strip_prefix('-') {
        Some(magnitude) => (true, magnitude),
        None => (false, numerator),
    };
    let numerator: u128 = numerator.parse().ok()?;
    let denominator: u128 = denominator.parse().ok()?;
    if denominator == 0 {
        return None;
    }
    let common = gcd(numerator, denominator);
    let (numerator, mut rest) = (numerator / common, denominator / common);
    let (mut twos, mut fives) = (0u32, 0u32);
    while rest % 2 == 0 {
        rest /= 2;
        twos += 1;
    }
    while rest % 5 == 0 {
        rest /= 5;
        fives += 1;
    }
    if rest != 1 {
        return None;
    }
    // numerator / (2^twos * 5^fives) is numerator * 10^places / denominator, over 10^places.
    let places = twos.max(fives);
    let scaled = numerator.checked_mul(10u128.checked_pow(places)? / (denominator / common))?;
    let places = places as usize;
    let digits = format!("{scaled:0>width$}", width = places + 1);
    let (whole, fraction) = digits.split_at(digits.len() - places);
    let sign = if negative { "-" } else { "" };
    Number::parse(&if places == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    })
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Extracts the number a response gives as its answer.
pub fn extract_number(response: &str) -> NumericExtraction {
    let text = plain_numbers(response.replace("**", ""));
    // What a rule found: `Some(None)` is a fraction without a decimal value, which ends the
    // search (the response gave its answer; no other number is it).
    let found = |reading: Reading| match reading {
        Reading::Number(number) => Some(Some(number)),
        Reading::NoDecimal => Some(None),
        Reading::NotANumber => None,
    };
    let first = |re: &Regex| {
        re.captures_iter(&text).find_map(|c| {
            c.get(1)
                .and_then(|m| found(reading(&text, m.as_str(), m.end())))
        })
    };
    // A pattern's second group, where it has one (`ANSWER_LABEL`), marks a match that gives no
    // number of its own.
    let last = |re: &Regex| {
        re.captures_iter(&text)
            .filter(|c| c.get(2).is_none())
            .filter_map(|c| {
                c.get(1)
                    .and_then(|m| found(reading(&text, m.as_str(), m.end())))
            })
            .last()
    };
    let found = [
        (ExtractionTier::AnswerIs, first(&ANSWER_IS)),
        (ExtractionTier::FinalMark, last(&FINAL_MARK)),
        (ExtractionTier::Boxed, last(&BOXED)),
        (ExtractionTier::AnswerLabel, last(&ANSWER_LABEL)),
    ]
    .into_iter()
    .find_map(|(tier, number)| Some((tier, number?)))
    .or_else(|| last_number(&text).map(|number| (ExtractionTier::LastNumber, number)));
    match found {
        Some((tier, Some(number))) => NumericExtraction {
            number: Some(number),
            tier,
        },
        _ => NumericExtraction {
            number: None,
            tier: ExtractionTier::Unparsed,
        },
    }
}

/// The text with numbers spelled plainly: LaTeX's thousands separators `{,}` and `\,` (a thin
/// space) between two digits as `,`, its escaped dollar `\$` as `$`, and the minus sign U+2212 as
/// `-`. (Separators still have to group thousands to be read as such: `57\,500` is 57500.)
fn plain_numbers(text: String) -> String {
    // Most answers have none of these: kept as they are, without a walk or a copy.
    if !text.contains(['\\', '{', '\u{2212}']) {
        return text;
    }
    let mut plain = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(c) = rest.chars().next() {
        // Not after a digit: `2\frac{1}{2}` is a mixed number, not 21/2.
        if c == '\\'
            && !plain.ends_with(|p: char| p.is_ascii_digit())
            && let Some((fraction, len)) = latex_fraction(rest)
        {
            plain.push_str(&fraction);
            rest = &rest[len..];
            continue;
        }
        let between_digits = |len: usize| {
            plain.ends_with(|p: char| p.is_ascii_digit())
                && rest[len..].starts_with(|n: char| n.is_ascii_digit())
        };
        let (replacement, skip) = match c {
            '\u{2212}' => ("-", c.len_utf8()),
            '{' if rest.starts_with("{,}") && between_digits(3) => (",", 3),
            '\\' if rest.starts_with("\\,") && between_digits(2) => (",", 2),
            '\\' if rest.starts_with("\\$") => ("$", 2),
            _ => {
                plain.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            }
        };
        plain.push_str(replacement);
        rest = &rest[skip..];
    }
    plain
}

/// A LaTeX fraction of whole numbers at the start of `text` (`\frac{3}{4}`, `\dfrac`,
/// `\tfrac`) as `3/4`, with the length it spans.
fn latex_fraction(text: &str) -> Option<(String, usize)> {
    let rest = ["\\frac{", "\\dfrac{", "\\tfrac{"]
        .iter()
        .find_map(|command| text.strip_prefix(command))?;
    let whole = |part: &str| {
        let part = part.trim();
        (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())).then(|| part.to_owned())
    };
    let (numerator, rest) = rest.split_once("}{")?;
    let (denominator, rest) = rest.split_once('}')?;
    let fraction = format!("{}/{}", whole(numerator)?, whole(denominator)?);
    Some((fraction, text.len() - rest.len()))
}

/// The last number of the text (`Some(None)`: a fraction without a decimal value). A `-` right
/// after a letter or digit is an operator or a hyphen (`10-3`, `COVID-19`), not a sign; digits
/// inside a word (`x2`, `3rd`) are kept, as the flexible GSM8K filter keeps them.
fn last_number(text: &str) -> Option<Option<Number>> {
    let mut last = None;
    // Where the previous number read ended: a fraction's denominator is not a number of its own.
    let mut read_to = 0;
    for m in ANY_NUMBER.find_iter(text) {
        if m.start() < read_to {
            continue;
        }
        let preceded_by_word = text[..m.start()]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric);
        let spelled = match m.as_str().strip_prefix(['-', '+']) {
            Some(unsigned) if preceded_by_word => unsigned,
            _ => m.as_str(),
        };
        read_to = fraction_end(text, m.end());
        // `.5` right after a number is its next part (`3.2.5`, a section), not a half.
        if spelled.starts_with('.') && preceded_by_word {
            continue;
        }
        match reading(text, spelled, m.end()) {
            Reading::Number(number) => last = Some(Some(number)),
            Reading::NoDecimal => last = Some(None),
            Reading::NotANumber => {}
        }
    }
    last
}

/// The whole denominator of a fraction that `rest` (what follows a number) begins: the digits
/// after a `/`.
fn denominator_after(rest: &str) -> Option<&str> {
    let rest = rest.strip_prefix('/')?;
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    (digits > 0).then(|| &rest[..digits])
}

/// Where a number ending at `end` ends with the denominator of a fraction after it, if any.
fn fraction_end(text: &str, end: usize) -> usize {
    denominator_after(&text[end..]).map_or(end, |denominator| end + 1 + denominator.len())
}

/// Correct when the number extracted equals the reference; an unparsed response is incorrect.
pub fn judge_numeric(extraction: &NumericExtraction, expected: &Number) -> Verdict {
    if extraction.number.as_ref() == Some(expected) {
        Verdict::Correct
    } else {
        Verdict::Incorrect
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Option<String> {
        Number::parse(text).map(|n| n.to_string())
    }

    #[test]
    fn numbers_have_one_spelling() {
        for (written, canonical) in [
            ("18", "18"),
            ("1,600", "1600"),
            ("$1,600.00", "1600"),
            ("-3", "-3"),
            ("+3", "3"),
            ("18.0", "18"),
            ("0.50", "0.5"),
            ("007", "7"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("12,345,678", "12345678"),
            (" 70000.", "70000"),
            ("-$5", "-5"),
        ] {
            assert_eq!(number(written).as_deref(), Some(canonical), "{written}");
        }
        assert_eq!(number(".5").as_deref(), Some("0.5"));
        assert_eq!(number("-.25").as_deref(), Some("-0.25"));
        assert_eq!(number("\u{2212}3").as_deref(), Some("-3"));
        for refused in [
            "", "1,60", "12,3456", ",100", "1.2.3", "1..", "abc", "1e3", "$", "-", ".", "-.",
        ] {
            assert_eq!(number(refused), None, "{refused}");
        }
        assert_eq!(number(&"9".repeat(MAX_NUMBER_CHARS + 1)), None);
    }

    #[test]
    fn gsm8k_solutions_give_their_final_answer() {
        // Lines of the GSM8K test split (openai/grade-school-math).
        let solution = "It takes 2/2=<<2/2=1>>1 bolt of white fiber\nSo the total amount of \
                        fabric is 2+1=<<2+1=3>>3 bolts of fabric\n#### 3";
        assert_eq!(Number::of_gsm8k_solution(solution).unwrap().as_str(), "3");
        let profit = "So he made a profit of 200,000-130,000=$<<200000-130000=70000>>70,000\n\
                      #### 70000";
        assert_eq!(Number::of_gsm8k_solution(profit).unwrap().as_str(), "70000");
        assert_eq!(
            Number::of_gsm8k_solution("#### 1,600").unwrap().as_str(),
            "1600"
        );
        assert_eq!(Number::of_gsm8k_solution("#### -3").unwrap().as_str(), "-3");
        assert_eq!(Number::of_gsm8k_solution("no mark: 3"), None);
    }

    fn extracted(response: &str) -> (Option<String>, &'static str) {
        let e = extract_number(response);
        (e.number.map(|n| n.to_string()), e.tier.as_str())
    }

    #[test]
    fn extraction_follows_the_rules_in_order() {
        for (response, expected, tier) in [
            // Chain of thought ending as the few-shot prompt asks.
            (
                "Janet's ducks lay 16 eggs. She eats 3 and bakes with 4, so 16 - 3 - 4 = 9 \
                 eggs remain. 9 * 2 = 18. The answer is 18.",
                "18",
                "answer_is",
            ),
            ("**The answer is $1,600.**", "1600", "answer_is"),
            ("So the answer is: -3", "-3", "answer_is"),
            ("The final answer is 18.0", "18", "answer_is"),
            // The first "answer is" wins over a later number.
            (
                "The answer is 5, not 6 as I said in step 2.",
                "5",
                "answer_is",
            ),
            // GSM8K's own mark, as models fine-tuned on it answer.
            (
                "He sells 2 * 40 = <<2*40=80>>80 cups.\n#### 80\nThat took 3 steps.",
                "80",
                "final_mark",
            ),
            ("#### $1,234.50", "1234.5", "final_mark"),
            // Reasoning models box the result.
            (
                "Therefore, the final answer is $\\boxed{70000}$.",
                "70000",
                "boxed",
            ),
            ("Total: \\boxed{ 460 }", "460", "boxed"),
            // Otherwise the last number, signs read only where they are signs.
            (
                "She earns 400 + 60 = 460 dollars this week.",
                "460",
                "last_number",
            ),
            (
                "The temperature went from 5 to -7 degrees.",
                "-7",
                "last_number",
            ),
            ("10-3 is 7, and 7-2", "2", "last_number"),
            ("It costs $2,500.", "2500", "last_number"),
            ("I cannot tell from the question.", "", "unparsed"),
            // LaTeX's and Unicode's spellings, as models write them.
            ("$\\boxed{70{,}000}$", "70000", "boxed"),
            ("$\\boxed{57\\,500}$", "57500", "boxed"),
            (
                "The answer is \\$5, and she keeps 2 coupons.",
                "5",
                "answer_is",
            ),
            ("The answer is \u{2212}10.", "-10", "answer_is"),
            ("It fell to \u{2212}7 degrees.", "-7", "last_number"),
            // Units and percent signs in the box.
            (
                "$\\boxed{187 \\text{ dollars}}$ (that is 2 more than before)",
                "187",
                "boxed",
            ),
            (
                "$\\boxed{4\\%}$ (rounded to 2 decimal places)",
                "4",
                "boxed",
            ),
            ("\\boxed{12\\,\\mathrm{cm}}", "12", "boxed"),
            // An `Answer:` label before the last number (the last label).
            (
                "Final Answer: 75\n\nNote: this assumes 7 days a week.",
                "75",
                "answer_label",
            ),
            (
                "Answer: 24\nExplanation: each of the 2 friends pays half.",
                "24",
                "answer_label",
            ),
            ("Answer: 3 apples. Corrected answer: 4", "4", "answer_label"),
            // A label over an expression is no label of a number: the last number decides.
            ("Answer: 12 + 8 = 20", "20", "last_number"),
            ("Answer: 3/4 of them, so 6", "6", "last_number"),
            // A comma that groups no thousands is no separator; a word ending in "answer" no label.
            ("Counts: 7{,}5", "5", "last_number"),
            ("Reanswer: 5 then 6", "6", "last_number"),
            // A decimal without its zero.
            ("The answer is .5", "0.5", "answer_is"),
            // A fraction of whole numbers is one number: its decimal value, or none.
            ("The answer is 3/4.", "0.75", "answer_is"),
            ("The answer is 2/3.", "", "unparsed"),
            ("So the answer is -3/8", "-0.375", "answer_is"),
            ("$\\boxed{\\frac{3}{4}}$", "0.75", "boxed"),
            ("\\boxed{\\dfrac{12}{4}}", "3", "boxed"),
            ("\\boxed{3/8}", "0.375", "boxed"),
            ("She ate 1/4 of the cake", "0.25", "last_number"),
            ("2/3 of the 12 cups are used: 8", "8", "last_number"),
            ("Each gets 1/3", "", "unparsed"),
            ("Answer: 12/4", "3", "last_number"),
            // Not fractions: a decimal over a number, a date.
            ("The answer is 1.5/3, or 7", "7", "last_number"),
            ("Paid on 1/2/2024: 5 dollars", "5", "last_number"),
            ("The answer is 3.0/4, or 7", "7", "last_number"),
            // A mixed number is no fraction of its own; a section number no half.
            ("\\boxed{2\\frac{1}{2}} cups", "2", "last_number"),
            ("See section 3.2.5", "3.2", "last_number"),
        ] {
            let (number, found_tier) = extracted(response);
            assert_eq!(
                (number.unwrap_or_default().as_str(), found_tier),
                (expected, tier),
                "{response}"
            );
        }
    }

    #[test]
    fn fractions_have_their_finite_decimal_value() {
        let value = |n: &str, d: &str| decimal_of_fraction(n, d).map(|v| v.to_string());
        assert_eq!(value("3", "4").as_deref(), Some("0.75"));
        assert_eq!(value("-3", "8").as_deref(), Some("-0.375"));
        assert_eq!(value("6", "4").as_deref(), Some("1.5"));
        assert_eq!(value("10", "5").as_deref(), Some("2"));
        assert_eq!(value("7", "1").as_deref(), Some("7"));
        assert_eq!(value("0", "3").as_deref(), Some("0"));
        assert_eq!(value("1", "3"), None);
        assert_eq!(value("5", "0"), None);
        assert_eq!(value(&"9".repeat(40), "1024"), None, "too large to compute");
    }

    #[test]
    fn the_judge_compares_values_not_spellings() {
        let expected = Number::parse("1600").unwrap();
        let verdict = |response: &str| judge_numeric(&extract_number(response), &expected);
        assert_eq!(verdict("The answer is $1,600.00"), Verdict::Correct);
        assert_eq!(verdict("#### 1600"), Verdict::Correct);
        assert_eq!(verdict("The answer is 160"), Verdict::Incorrect);
        assert_eq!(verdict("no idea"), Verdict::Incorrect);
    }
}
