//! Error messages built from hostile input stay one printable line: bytes
//! from tar headers, entry names and references read from an archive are
//! escaped and bounded, on stderr and in the JSON report's `message`.

mod common;

use std::io::Read as _;

use airlock_testkit::Prng;
use common::cli::{self, put};

/// Whether `text` is printable: no control characters and no invisible
/// direction overrides (what could rewrite a terminal line or a log).
fn printable(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'))
}

/// `airlock verify FILE` refuses `bytes` with one printable line on stderr
/// and a printable JSON message no longer than `max` characters.
fn refused_printably(bytes: &[u8], max: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = put(dir.path(), "random.bin", bytes);
    let r = cli::airlock(["verify"]).arg(&file).run();
    assert_ne!(r.code, 0, "{}", r.stderr);
    let line = r.stderr.strip_suffix('\n').unwrap_or(&r.stderr);
    assert!(!line.is_empty() && printable(line), "stderr: {line:?}");
    assert!(line.chars().count() <= max, "{} chars: {line}", line.len());
    let r = cli::airlock(["--output", "json", "verify"])
        .arg(&file)
        .run();
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(printable(&message), "JSON message: {message:?}");
    assert!(message.chars().count() <= max, "{message}");
    line.to_string()
}

#[test]
fn verify_of_random_bytes_says_so_in_one_printable_line() {
    // Several seeds: what the tar reader quotes from a garbage header
    // differs with the bytes (control characters, invalid UTF-8).
    for seed in 0..8 {
        let mut bytes = vec![0u8; 4096];
        Prng::new(seed).read_exact(&mut bytes).unwrap();
        refused_printably(&bytes, 400);
    }
}

/// A tar whose single entry is named `name` (GNU long name when needed).
fn tar_with_entry(name: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, std::str::from_utf8(name).unwrap(), &[][..])
        .unwrap();
    b.into_inner().unwrap()
}

#[test]
fn entry_names_are_escaped_and_bounded() {
    // Escape sequences and a newline in the name: escaped, not obeyed.
    let line = refused_printably(&tar_with_entry(b"x\x1b[2J\nfake: OK\rname"), 400);
    assert!(line.contains("x\\u{1b}[2J\\nfake: OK\\rname"), "{line}");
    // A 5,000-character name is cut to 200 and marked.
    let long = "a".repeat(5000);
    let line = refused_printably(&tar_with_entry(long.as_bytes()), 400);
    assert!(
        line.contains(&format!("\"{}…\"", "a".repeat(200))),
        "{line}"
    );
}
