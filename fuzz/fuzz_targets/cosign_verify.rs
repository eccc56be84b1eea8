#![no_main]

#[path = "../targets/cosign_verify.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::check(data));
