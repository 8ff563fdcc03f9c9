//! See `xvswitch_fuzz::check_geneve_decap`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xvswitch_fuzz::check_geneve_decap(data));
