//! The MMLU-Pro JSON Lines importer (`POST /datasets`, `evalboard dataset import`) on any bytes.

#![no_main]

use evalboard_domain::import::ImportFormat;
use evalboard_fuzz::check_import;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| check_import(ImportFormat::Jsonl, data));
