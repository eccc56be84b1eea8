#![no_main]

#[path = "../targets/serve_router.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::check(data));
