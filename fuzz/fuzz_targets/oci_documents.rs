#![no_main]

#[path = "../targets/oci_documents.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::check(data));
