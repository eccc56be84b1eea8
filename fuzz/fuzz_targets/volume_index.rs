#![no_main]

#[path = "../targets/volume_index.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::check(data));
