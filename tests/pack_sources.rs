//! Pack from the files other tools write: an oci-archive (skopeo,
//! `podman save --format oci-archive`, or an airlock archive itself).

mod common;

use std::path::Path;

use common::cli::{self, s};

fn images(r: &cli::Run) -> Vec<(String, String)> {
    cli::ok(r);
    r.json()["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["reference"].as_str().unwrap().to_string(),
                i["manifestDigest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pack_archive(archive: &Path, out: &Path) -> cli::Run {
    cli::airlock(["pack", "--output", "json", "--from-oci-archive"])
        .arg(archive)
        .arg("-o")
        .arg(out)
        .env("SOURCE_DATE_EPOCH", "0")
        .run()
}

#[test]
fn an_airlock_archive_repacks_from_oci_archive_with_the_same_images() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = common::small_layout(tmp.path());
    let first = tmp.path().join("first.tar");
    let direct = images(&cli::pack(&layout, &first, &["--output", "json"]).run());
    let again = tmp.path().join("again.tar");
    let repacked = images(&pack_archive(&first, &again));
    assert_eq!(direct, repacked);
    cli::ok(&cli::run(&["verify", s(&again)]));
    // A .tar.zst archive is read too.
    let zst = tmp.path().join("first.tar.zst");
    cli::ok(&cli::pack(&layout, &zst, &[]).run());
    let from_zst = images(&pack_archive(&zst, &tmp.path().join("z.tar")));
    assert_eq!(direct, from_zst);
    // Same input file, same bytes.
    let third = tmp.path().join("third.tar");
    cli::ok(&pack_archive(&first, &third));
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&third).unwrap()
    );
}

#[test]
fn a_skopeo_oci_archive_packs() {
    if !common::registry::have_tools(&["skopeo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layout = common::small_layout(tmp.path());
    let oa = tmp.path().join("skopeo.tar");
    let o = std::process::Command::new("skopeo")
        .args(["copy", &format!("oci:{}:{}", s(&layout), common::REF)])
        .arg(format!("oci-archive:{}:{}", s(&oa), common::REF))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = tmp.path().join("out.tar");
    let got = images(&pack_archive(&oa, &out));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, common::REF);
    cli::ok(&cli::run(&["verify", s(&out)]));
}

/// A tar entry outside the layout's own files is refused, not skipped,
/// and nothing is written.
#[test]
fn a_hostile_oci_archive_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "../escape",
        "/etc/x",
        "blobs/sha256/../../x",
        "blobs/extra.txt",
    ] {
        let path = tmp.path().join("hostile.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let data = br#"{"imageLayoutVersion":"1.0.0"}"#;
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "oci-layout", &data[..]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(1);
        h.set_mode(0o644);
        // Bypass the builder's own path checks: write the raw name.
        h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        b.finish().unwrap();
        drop(b);
        let out = tmp.path().join("out.tar");
        let r = pack_archive(&path, &out);
        assert_ne!(r.code, 0, "{name} accepted");
        assert!(
            r.stderr.contains("not part of an OCI layout"),
            "{name}: {}",
            r.stderr
        );
        assert!(!out.exists());
        assert!(!tmp.path().join("escape").exists());
    }
}
