#![no_main]

#[path = "../targets/notary_metadata.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::check(data));
