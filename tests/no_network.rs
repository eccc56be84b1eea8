//! `verify-bundle` opens no socket: every run is traced with strace
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

#[test]
fn verify_bundle_opens_no_socket() {
    let fx = fixtures_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    // Control: the tracer must see a socket when one is opened.
    let control = traced(
        "bash",
        &["-c", "exec 3<>/dev/tcp/127.0.0.1/9 || true"],
        &dir.path().join("control.txt"),
    );
    match control {
        Some((_, calls)) if calls.iter().any(|c| c.contains("socket(")) => {}
        _ => {
            eprintln!("SKIPPED: strace is not installed or cannot trace here");
            return;
        }
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
