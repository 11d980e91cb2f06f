//! `evalboard dataset import FILE.gz` on any bytes: decompressed as the command reads a `.gz`
//! file (`crates/server/src/import.rs`, `read`: every gzip member, stopping one byte past
//! `MAX_DATASET_BYTES`), then parsed as both formats. The command lives in the server binary,
//! which no other crate can depend on, so its few lines of reading are repeated here.

#![no_main]

use std::io::Read;

use evalboard_domain::import::{ImportFormat, MAX_DATASET_BYTES};
use evalboard_fuzz::check_import;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limit = MAX_DATASET_BYTES as u64;
    let mut source = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(data));
    let mut bytes = Vec::new();
    if source
        .by_ref()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .is_err()
    {
        return; // "not a valid gzip file"
    }
    assert!(bytes.len() as u64 <= limit + 1, "read past the limit");
    if bytes.len() as u64 > limit {
        return; // "larger than 64 MiB once decompressed"
    }
    check_import(ImportFormat::Jsonl, &bytes);
    check_import(ImportFormat::Csv, &bytes);
});
