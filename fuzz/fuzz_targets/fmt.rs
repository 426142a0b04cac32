//! `cargo fuzz run fmt`: see `pipec_fuzz::fmt` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pipec_fuzz::fmt(data));
