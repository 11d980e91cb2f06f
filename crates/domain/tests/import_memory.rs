//! Reading a dataset takes memory for what it keeps, not for every JSON value its lines hold: a
//! record with a field of a million tiny objects (a field the importer ignores) took a hundred
//! times its size while the file's shape was told, from a first line read whole as JSON values
//! (5.5 GB for a 60 MB upload, in a security probe of 2026-12-06).
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

#[test]
fn a_record_of_many_small_values_is_read_in_memory_of_its_own_size() {
    // One MMLU-Pro record whose extra field holds a million `{"a":0}` (8 MB).
    let tiny = vec![r#"{"a":0}"#; 1_000_000].join(",");
    let line = format!(
        r#"{{"question_id": 1, "question": "2 + 2?", "options": ["3", "4"], "answer": "B", "answer_index": 1, "cot_content": "", "category": "math", "src": "probe", "x": [{tiny}]}}"#
    );
    drop(tiny);
    // Writing 5 there starts the peak (`VmHWM`) again from the memory held now.
    let reset = std::fs::write("/proc/self/clear_refs", "5");
    let (Ok(()), Some(before)) = (reset, status_bytes("VmRSS:")) else {
        eprintln!("skipped: this system cannot say a process's peak memory (Linux's /proc can)");
        return;
    };
    let parsed = parse_items(ImportFormat::Jsonl, line.as_bytes()).expect("one good record");
    let peak = status_bytes("VmHWM:").expect("the peak") - before;
    assert_eq!(parsed.items.len(), 1);
    // Read as JSON values, the field alone took about 80 times its size (650 MB).
    assert!(
        peak < line.len() as u64,
        "reading {} bytes took {peak} bytes more at the peak",
        line.len()
    );
}
