//! Reading a dataset takes memory for what it keeps, not for every JSON value its lines hold: a
//! record with a field of a million tiny objects (a field the importer ignores) took a hundred
//! times its size while the file's shape was told, from a first line read whole as JSON values
//! (5.5 GB for a 60 MB upload, in a security probe of 2026-12-06).
//!
//! Likewise a file of bad lines, or of more rows than a dataset holds: it kept every problem,
//! line or item before refusing (6 GB for 64 MiB).
//!
//! Its own test binary: the process's peak memory is what is measured, so no other test may
//! run beside this one.

use evalboard_domain::import::{ImportFormat, parse_items};

/// A figure of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`), on Linux.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The most memory reading `bytes` as `format` took above what the process held before, and
/// whether the file was accepted; `None` where the system cannot tell (not Linux).
fn peak_of_reading(format: ImportFormat, bytes: &[u8]) -> Option<(u64, bool)> {
    // Writing 5 there starts the peak (`VmHWM`) again from the memory held now.
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let before = status_bytes("VmRSS:")?;
    let accepted = parse_items(format, bytes).is_ok();
    Some((status_bytes("VmHWM:")? - before, accepted))
}

#[test]
fn reading_a_dataset_takes_memory_for_what_it_keeps() {
    const VALID: &str = r#"{"question_id": 1, "question": "2 + 2?", "options": ["3", "4"], "answer": "B", "answer_index": 1, "cot_content": "", "category": "math", "src": "probe"}"#;
    const SIZE: usize = 8 << 20;
    let filled = |head: &str, each: &str| {
        let mut text = String::with_capacity(SIZE + head.len());
        text.push_str(head);
        while text.len() < SIZE {
            text.push_str(each);
        }
        text.into_bytes()
    };
    // One MMLU-Pro record whose extra field holds a million `{"a":0}` (8 MB): read as JSON
    // values to tell the file's shape, the field alone took 650 MB.
    let tiny = vec![r#"{"a":0}"#; 1_000_000].join(",");
    let one_big_record = format!("{}, \"x\": [{tiny}]}}", VALID.trim_end_matches('}'));
    drop(tiny);
    // A first record of a million keys, each told apart (once kept as a map of them).
    let mut keys = String::from(VALID.trim_end_matches('}'));
    for key in 0..1_000_000 {
        keys.push_str(&format!(", \"k{key}\": 0"));
    }
    keys.push('}');
    let files: [(&str, ImportFormat, Vec<u8>, bool); 9] = [
        (
            "a record of a million keys",
            ImportFormat::Jsonl,
            keys.into_bytes(),
            true,
        ),
        (
            "a record with a field of small objects",
            ImportFormat::Jsonl,
            one_big_record.into_bytes(),
            true,
        ),
        // Each of the rest is refused; each took 30 to 100 times its size, keeping every
        // problem, every line or every item past the most a dataset holds.
        ("empty lines", ImportFormat::Jsonl, filled("", "\n"), false),
        (
            "a record, then broken lines",
            ImportFormat::Jsonl,
            filled(&format!("{VALID}\n"), "{\n"),
            false,
        ),
        (
            "a header naming one column again and again",
            ImportFormat::Csv,
            filled("question,answer", ",a"),
            false,
        ),
        // The same after an empty line, which the CSV reader skips, or a quoted line break.
        (
            "that header after an empty line",
            ImportFormat::Csv,
            filled("\nquestion,answer", ",a"),
            false,
        ),
        (
            "that header after a quoted line break",
            ImportFormat::Csv,
            filled("\"x\nquestion\",answer", ",a"),
            false,
        ),
        (
            "rows without an answer",
            ImportFormat::Csv,
            filled("question,answer\n", "x,\n"),
            false,
        ),
        (
            "more rows than a dataset holds",
            ImportFormat::Csv,
            filled("question,answer\n", "q,1\n"),
            false,
        ),
    ];
    for (what, format, bytes, acceptable) in files {
        let Some((peak, accepted)) = peak_of_reading(format, &bytes) else {
            eprintln!(
                "skipped: this system cannot say a process's peak memory (Linux's /proc can)"
            );
            return;
        };
        assert_eq!(accepted, acceptable, "{what}");
        // What is kept is bounded (the first problems, the items of the first rows), not the
        // file's every line: under its size, plus what 200,001 small items take.
        assert!(
            peak < bytes.len() as u64 + (64 << 20),
            "{what}: reading {} bytes took {peak} bytes more at the peak",
            bytes.len()
        );
    }
}
