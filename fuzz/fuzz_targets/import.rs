//! `cargo fuzz run import`: see `pipec_fuzz::import` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pipec_fuzz::import(data));
