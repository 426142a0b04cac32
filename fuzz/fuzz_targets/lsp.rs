//! `cargo fuzz run lsp`: see `pipec_fuzz::lsp` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pipec_fuzz::lsp(data));
