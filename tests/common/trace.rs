//! Proving a run opens no socket: the program runs under strace
//! (`-e trace=%network`) and every network system call it makes is listed.
//! A control run (bash opening a TCP socket) first proves the tracing works
//! here; strace is required when `CI` is set (scripts/ensure-deps.sh).

use std::path::Path;
use std::process::Command;

/// Runs `program args` under strace, writing the trace to `out`; returns
/// the exit code and the network system calls seen (None: strace did not
/// run). The run gets the private environment of every test run
/// ([`super::cli::private_env`]: throwaway HOME and XDG directories, no
/// inherited `AIRLOCK_*` or registry credentials).
pub fn traced(program: &str, args: &[&str], out: &Path) -> Option<(i32, Vec<String>)> {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("strace");
    cmd.args([
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
    .args(args);
    super::cli::private_env(&mut cmd, home.path());
    let o = cmd.output().ok()?;
    let calls = std::fs::read_to_string(out)
        .ok()?
        .lines()
        .filter(|l| l.contains('(') && !l.contains("---"))
        .map(str::to_string)
        .collect();
    Some((o.status.code().unwrap_or(-1), calls))
}

/// `airlock ARGS…` under strace, as [`traced`].
pub fn traced_airlock(args: &[&str], out: &Path) -> Option<(i32, Vec<String>)> {
    traced(super::airlock_bin(), args, out)
}

/// Whether strace sees a socket when one is opened (the control run, its
/// trace written in `dir`). False (skip, with a message) when it cannot
/// trace here; panics instead when `CI` is set.
pub fn tracing_works(dir: &Path) -> bool {
    let control = traced(
        "bash",
        &["-c", "exec 3<>/dev/tcp/127.0.0.1/9 || true"],
        &dir.join("control.txt"),
    );
    if control.is_some_and(|(_, calls)| calls.iter().any(|c| c.contains("socket("))) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "strace is required when CI is set (scripts/ensure-deps.sh)"
    );
    eprintln!("SKIPPED: strace is not installed or cannot trace here");
    false
}

/// Runs the airlock binary with `args` under strace and asserts it exits
/// with `expected` and opens no socket (`what` names the case).
pub fn assert_offline(args: &[&str], expected: i32, out: &Path, what: &str) {
    let (code, calls) = traced_airlock(args, out).expect("strace run");
    assert_eq!(code, expected, "{what}: unexpected exit code");
    assert!(calls.is_empty(), "{what}: network system calls: {calls:?}");
}
