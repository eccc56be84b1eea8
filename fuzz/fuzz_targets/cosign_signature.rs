#![no_main]

#[path = "../targets/cosign_signature.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::check(data));
