#![no_main]

#[path = "../targets/policy_file.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::check(data));
