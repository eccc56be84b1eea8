//! `verify-bundle`, `verify` and `unpack` open no socket (also not while
//! chaining an archive's trust root via TUF): every run is traced with strace
//! (`-e trace=%network`) and the trace must hold no network system call.
//! A control run (bash opening a TCP socket) proves the tracing works.
//! Skips with a message when strace is not installed or cannot trace.

mod common;

use std::path::Path;
use std::process::Command;

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Run `program args` under strace; return (exit code, network syscalls seen).
fn traced(program: &str, args: &[&str], out: &Path) -> Option<(i32, Vec<String>)> {
    let status = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=%network",
            "-e",
            "signal=none",
            "-o",
        ])
        .arg(out)
        .arg("--")
        .arg(program)
        .args(args)
        .output()
        .ok()?;
    let trace = std::fs::read_to_string(out).ok()?;
    let calls = trace
        .lines()
        .filter(|l| l.contains('(') && !l.contains("---"))
        .map(str::to_string)
        .collect();
    Some((status.status.code().unwrap_or(-1), calls))
}

/// Control: the tracer must see a socket when one is opened.
fn tracing_works(dir: &Path) -> bool {
    let control = traced(
        "bash",
        &["-c", "exec 3<>/dev/tcp/127.0.0.1/9 || true"],
        &dir.join("control.txt"),
    );
    match control {
        Some((_, calls)) if calls.iter().any(|c| c.contains("socket(")) => true,
        _ => {
            eprintln!("SKIPPED: strace is not installed or cannot trace here");
            false
        }
    }
}

#[test]
fn verify_bundle_opens_no_socket() {
    let fx = fixtures_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    if !tracing_works(dir.path()) {
        return;
    }
    let conf = fx.join("conformance");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, i32)> = vec![
        (
            vec![
                "--bundle".into(),
                s(&conf.join("happy-path-v0.3/bundle.sigstore.json")),
                "--certificate-identity".into(),
                IDENTITY.into(),
                "--certificate-oidc-issuer".into(),
                ISSUER.into(),
                s(&conf.join("a.txt")),
            ],
            0,
        ),
        (
            vec![
                "--bundle".into(),
                s(&conf.join("managed-key-happy-path/bundle.sigstore.json")),
                "--key".into(),
                s(&conf.join("managed-key-happy-path/key.pub")),
                s(&conf.join("a.txt")),
            ],
            0,
        ),
        (
            vec![
                "--bundle".into(),
                s(&conf.join("set-invalid-signature_fail/bundle.sigstore.json")),
                "--certificate-identity".into(),
                IDENTITY.into(),
                "--certificate-oidc-issuer".into(),
                ISSUER.into(),
                s(&conf.join("a.txt")),
            ],
            4,
        ),
    ];
    for (i, (args, expected)) in cases.iter().enumerate() {
        let mut full = vec!["verify-bundle"];
        full.extend(args.iter().map(String::as_str));
        let (code, calls) = traced(
            env!("CARGO_BIN_EXE_airlock"),
            &full,
            &dir.path().join(format!("run{i}.txt")),
        )
        .expect("strace run");
        assert_eq!(code, *expected, "case {i}: unexpected exit code");
        assert!(
            calls.is_empty(),
            "case {i}: network system calls: {calls:?}"
        );
    }
}

/// verify and unpack of an archive whose trusted root chains via TUF (and
/// of one whose chain is refused) stay offline: the TUF client code of
/// sigstore-tuf is not even compiled in (`default-features = false`).
#[test]
fn verify_and_unpack_with_tuf_chain_open_no_socket() {
    use common::tuf::{signed_layout, TufRepo};
    let dir = tempfile::tempdir().unwrap();
    if !tracing_works(dir.path()) {
        return;
    }
    let d = dir.path();
    let signer = common::forge::key();
    let rekor = common::forge::key();
    let layout = signed_layout(&d.join("layout"), &signer, &rekor);
    let key = d.join("cosign.pub");
    std::fs::write(&key, common::forge::pem(&signer)).unwrap();
    let repo = TufRepo::new();
    let anchor = d.join("v1.json");
    std::fs::write(&anchor, repo.v1()).unwrap();
    let root = common::forge::trust_root_json(&rekor).into_bytes();
    let tuf_dir = repo.good(&root).write(&d.join("tuf"));
    let archive = d.join("a.tar");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["pack", "--no-rekor", "--from-oci-layout", &s(&layout), "-o"])
        .arg(&archive)
        .args(["--tuf-metadata", &s(&tuf_dir), "--tuf-root", &s(&anchor)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let other = d.join("other-v1.json");
    std::fs::write(&other, TufRepo::new().v1()).unwrap();
    let state = s(&d.join("state"));
    let cases: Vec<(Vec<String>, i32)> = vec![
        // Chains: accepted.
        (
            vec![
                "verify".into(),
                s(&archive),
                "--key".into(),
                s(&key),
                "--tuf-root".into(),
                s(&anchor),
                "--state-dir".into(),
                state.clone(),
            ],
            0,
        ),
        // Another anchor: ignored, refused.
        (
            vec![
                "verify".into(),
                s(&archive),
                "--key".into(),
                s(&key),
                "--tuf-root".into(),
                s(&other),
                "--state-dir".into(),
                state.clone(),
            ],
            4,
        ),
        (
            vec![
                "unpack".into(),
                s(&archive),
                "--into".into(),
                format!("dir:{}", s(&d.join("out"))),
                "--platform".into(),
                "linux/amd64".into(),
                "--key".into(),
                s(&key),
                "--tuf-root".into(),
                s(&anchor),
                "--state-dir".into(),
                state.clone(),
            ],
            0,
        ),
    ];
    for (i, (args, expected)) in cases.iter().enumerate() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, calls) = traced(
            env!("CARGO_BIN_EXE_airlock"),
            &args,
            &d.join(format!("tuf{i}.txt")),
        )
        .expect("strace run");
        assert_eq!(code, *expected, "case {i}: unexpected exit code");
        assert!(
            calls.is_empty(),
            "case {i}: network system calls: {calls:?}"
        );
    }
}
