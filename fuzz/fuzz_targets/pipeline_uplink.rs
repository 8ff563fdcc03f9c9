//! See `xvswitch_fuzz::pipeline`.
#![no_main]

use xvswitch_fuzz::pipeline::{check_pipeline, Path};

libfuzzer_sys::fuzz_target!(|data: &[u8]| check_pipeline(Path::Uplink, data));
