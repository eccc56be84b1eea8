//! `make demo` must keep working: run scripts/demo.sh with this build's
//! binaries into a temporary directory. The script itself checks each step's
//! exit code (tampered → 3, wrong key → 4, rollback → 5) and fails otherwise.

mod common;

use std::process::Command;

#[test]
fn demo_script_runs_end_to_end() {
    if !common::registry::have_tools(&[
        "docker-registry",
        "podman",
        "skopeo",
        "notary-server",
        "notary",
    ]) {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo.sh"));
    // The airlock runs of the script get the harness's private environment
    // (throwaway HOME and XDG directories, no inherited AIRLOCK_* or
    // registry credentials); the script sets its own state and cache dirs.
    let home = out.path().join("home");
    std::fs::create_dir(&home).unwrap();
    common::cli::private_env(&mut cmd, &home);
    let o = cmd
        .env("AIRLOCK", common::airlock_bin())
        .env("MKIMAGE", airlock_testkit::bin_path("airlock-mkimage"))
        .env("REKOR", airlock_testkit::bin_path("airlock-test-rekor"))
        .env("DEMO_OUT", out.path().join("demo"))
        .output()
        .unwrap();
    let stdout = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "demo failed:\n{stdout}");
    for expect in [
        "stored 2 Rekor inclusion proof(s)",
        "✓ transparency-log",
        "loaded into podman",
        "loaded into registry:",
        "podman pulled from airlock serve:",
        "digest round trip: OK",
        "is the image airlock unpack admitted",
        "equivalent except timestamps",
        "rule: chart publisher",
        "✓ content-trust",
        "chart digest round trip: OK",
        "exit code: 3",
        "exit code: 4",
        "exit code: 5",
        "rebuilt busybox.tar.001 (it is missing)",
        "busybox-resigned.tar, byte for byte",
        "external blobs: 1 (3.8 MiB) found in the base(s) and re-hashed",
        "merge(week 1, delta) = site.tar, byte for byte",
    ] {
        assert!(
            stdout.contains(expect),
            "demo output lacks {expect:?}:\n{stdout}"
        );
    }
}
