//! `airlock verify-local`: an installed image re-verified offline against
//! the evidence `unpack` kept for it, under the policy given now.

mod common;

use std::path::{Path, PathBuf};

use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, Run};
use common::forge;
use common::site::Site;
use serde_json::Value;

const REF: &str = "registry.example.org/dangerzone/dangerzone:1.0";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A signed archive of one image, unpacked into `dir:` with the publisher's
/// key; returns the site, the target directory and the manifest digest.
fn installed() -> (Site, PathBuf, String) {
    let site = Site::new();
    let mut l = Layout::create(site.path("layout")).unwrap();
    let layer = l.add_random_layer(20_000, 7).unwrap();
    let m = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
        .unwrap();
    l.tag(REF, &m);
    site.sign(&mut l, &m.digest, REF, 10);
    let layout = l.finish().unwrap();
    let archive = site.path("a.tar");
    let o = cli::airlock([
        "pack",
        "--no-rekor",
        "--from-oci-layout",
        s(&layout),
        "-o",
        s(&archive),
    ])
    .run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    let out = site.path("images");
    let o = cli::airlock([
        "unpack",
        s(&archive),
        "--into",
        &format!("dir:{}", out.display()),
        "--key",
        s(&site.key),
        "--trusted-root",
        s(&site.root),
        "--state-dir",
        s(&site.state),
    ])
    .run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    (site, out, m.digest)
}

fn verify_local(site: &Site, out: &Path, key: &Path, extra: &[&str]) -> Run {
    verify_local_as(site, REF, out, key, &site.state, extra)
}

/// `verify-local NAME --in dir:OUT` with the key and state directory given.
fn verify_local_as(
    site: &Site,
    name: &str,
    out: &Path,
    key: &Path,
    state: &Path,
    extra: &[&str],
) -> Run {
    cli::airlock([
        "verify-local",
        name,
        "--in",
        &format!("dir:{}", out.display()),
        "--key",
        s(key),
        "--trusted-root",
        s(&site.root),
        "--state-dir",
        s(state),
    ])
    .args(extra)
    .run()
}

#[test]
fn an_installed_image_verifies_against_its_stored_evidence() {
    let (site, out, manifest) = installed();
    let o = verify_local(&site, &out, &site.key, &["--output", "json"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let v: Value = o.json();
    assert_eq!(v["command"], "verify-local");
    assert_eq!(v["ok"], true);
    assert_eq!(v["installed"]["imageDigest"], manifest.as_str());
    assert_eq!(v["installed"]["name"], REF);
    let text = verify_local(&site, &out, &site.key, &[]);
    assert!(text.stdout.starts_with("OK "), "{}", text.stdout);
}

/// The policy given now decides: another publisher's key refuses (exit 4).
#[test]
fn a_policy_that_no_longer_admits_the_image_refuses() {
    let (site, out, _) = installed();
    let other = site.path("other.pub");
    std::fs::write(&other, forge::pem(&forge::key())).unwrap();
    let o = verify_local(&site, &out, &other, &[]);
    assert_eq!(o.code, 4, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.starts_with("REFUSED"), "{}", o.stdout);
}

/// The name now points at another image: refused before any signature check.
#[test]
fn a_retagged_image_is_refused() {
    let (site, out, manifest) = installed();
    let index_path = out.join("index.json");
    let index = std::fs::read_to_string(&index_path).unwrap();
    let other = format!("sha256:{}", "ab".repeat(32));
    std::fs::write(&index_path, index.replace(&manifest, &other)).unwrap();
    let o = verify_local(&site, &out, &site.key, &[]);
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(o.stderr.contains("retagged or replaced"), "{}", o.stderr);
    assert!(o.stderr.contains(&other), "{}", o.stderr);
}

/// A stored evidence document edited on disk is refused (integrity, exit 3),
/// never believed.
#[test]
fn altered_stored_evidence_is_refused() {
    let (site, out, _) = installed();
    let blobs = site.state.join("admitted/blobs/sha256");
    let mut altered = 0;
    for e in std::fs::read_dir(&blobs).unwrap() {
        let p = e.unwrap().path();
        let mut bytes = std::fs::read(&p).unwrap();
        if bytes.windows(8).any(|w| w == b"critical") {
            let at = bytes.windows(8).position(|w| w == b"critical").unwrap();
            bytes[at] = b'C';
            std::fs::write(&p, bytes).unwrap();
            altered += 1;
        }
    }
    assert_eq!(altered, 1, "exactly one stored signature payload");
    let o = verify_local(&site, &out, &site.key, &["--output", "json"]);
    assert_eq!(o.code, 3, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(o.json()["error"]["kind"], "digest-mismatch");
}

#[test]
fn a_missing_state_directory_is_a_clear_error() {
    let (site, out, _) = installed();
    let o = verify_local_as(
        &site,
        REF,
        &out,
        &site.key,
        &site.path("no-such-state"),
        &[],
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("does not exist"), "{}", o.stderr);
}

#[test]
fn a_name_never_loaded_is_a_clear_error() {
    let (site, out, _) = installed();
    let index_path = out.join("index.json");
    let index = std::fs::read_to_string(&index_path).unwrap();
    std::fs::write(
        &index_path,
        index.replace(REF, "registry.example.org/other:2"),
    )
    .unwrap();
    let o = verify_local_as(
        &site,
        "registry.example.org/other:2",
        &out,
        &site.key,
        &site.state,
        &[],
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("was not loaded by airlock unpack"),
        "{}",
        o.stderr
    );
}
