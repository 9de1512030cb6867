#![no_main]

use std::fs::File;
use std::sync::OnceLock;

/// One scratch file per process, rewritten for every input.
static SCRATCH: OnceLock<File> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let scratch = SCRATCH.get_or_init(cairn_fuzz::ledger::scratch_file);
    cairn_fuzz::ledger::ledger_files(data, scratch);
});
