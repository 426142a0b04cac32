//! `cargo fuzz run graph`: see `pipec_fuzz::graph` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pipec_fuzz::graph(data));
