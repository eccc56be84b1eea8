#![no_main]

#[path = "../targets/set_file.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::check(data));
