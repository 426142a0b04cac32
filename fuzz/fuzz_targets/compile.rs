//! `cargo fuzz run compile`: see `pipec_fuzz::compile` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pipec_fuzz::compile(data));
