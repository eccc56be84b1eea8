//! Other tools read airlock archives unchanged: skopeo inspects them and
//! podman loads them, with the digests airlock recorded.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// The tool, or None to skip; under CI a missing tool fails the test.
fn tool(name: &str) -> Option<&str> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(name);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{name} is required when CI is set (scripts/ensure-deps.sh installs it)"
    );
    eprintln!("SKIPPED: {name} not installed");
    None
}

fn busybox_archive(dir: &Path) -> (std::path::PathBuf, serde_json::Value) {
    let layout = dir.join("layout");
    let o = Command::new(airlock_testkit::bin_path("airlock-mkimage"))
        .args([
            "busybox",
            "--out",
            layout.to_str().unwrap(),
            "--ref",
            "localhost/airlock-interop/busybox:1.36",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.join("busybox.tar");
    pack_to(&layout, &out);
    let m = airlock_json(&entries(&std::fs::read(&out).unwrap()));
    (out, m["images"][0].clone())
}

#[test]
fn skopeo_inspects_the_archive() {
    let Some(skopeo) = tool("skopeo") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (archive, image) = busybox_archive(tmp.path());
    let o = Command::new(skopeo)
        .args(["inspect", "--format", "{{.Digest}} {{.Architecture}}"])
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(
        got,
        format!("{} amd64", image["manifestDigest"].as_str().unwrap())
    );
}

#[test]
fn podman_loads_the_archive() {
    let Some(podman) = tool("podman") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (archive, image) = busybox_archive(tmp.path());
    let root = tmp.path().join("root");
    let runroot = tmp.path().join("runroot");
    let podman_cmd = |args: &[&str]| {
        Command::new(podman)
            .arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot)
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let o = podman_cmd(&["load", "-i", archive.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = podman_cmd(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}} {{.Digest}}",
        "localhost/airlock-interop/busybox:1.36",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let config = image["configDigest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    assert_eq!(
        got,
        format!("{config} {}", image["manifestDigest"].as_str().unwrap())
    );
    // Leave nothing mounted or running behind.
    let _ = podman_cmd(&["system", "reset", "--force"]);
}
