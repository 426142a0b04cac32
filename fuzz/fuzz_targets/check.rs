//! `cargo fuzz run check`: see `pipec_fuzz::check` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pipec_fuzz::check(data));
