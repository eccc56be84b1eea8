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

/// A docker-archive in the format `docker save` (before 25) and `podman
/// save` write: manifest.json, a config file, layer tars; `dup/layer.tar`
/// is a symlink to the first layer, as docker writes repeated layers.
fn legacy_docker_archive(path: &Path, tags: &[&str]) -> String {
    let layer = common::filler(7, 10_000);
    let layer_digest = format!("sha256:{}", airlock::model::Digest::of(&layer).hex());
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest, layer_digest]},
    }))
    .unwrap();
    let config_hex = airlock::model::Digest::of(&config).hex();
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": tags,
        "Layers": ["one/layer.tar", "dup/layer.tar"],
    }]))
    .unwrap();
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add(&format!("{config_hex}.json"), &config);
    add("one/layer.tar", &layer);
    add("manifest.json", &manifest);
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "dup/layer.tar", "../one/layer.tar")
        .unwrap();
    b.finish().unwrap();
    format!("sha256:{config_hex}")
}

fn pack_docker(archive: &Path, out: &Path) -> cli::Run {
    cli::airlock(["pack", "--output", "json", "--from-docker-archive"])
        .arg(archive)
        .arg("-o")
        .arg(out)
        .run()
}

#[test]
fn a_legacy_docker_archive_packs_with_its_image_id_as_config_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let da = tmp.path().join("saved.tar");
    let config = legacy_docker_archive(
        &da,
        &["example.com/team/app:1", "example.com/team/app:latest"],
    );
    let out = tmp.path().join("out.tar");
    let r = pack_docker(&da, &out);
    cli::ok(&r);
    let v = r.json();
    let imgs = v["images"].as_array().unwrap();
    let refs: Vec<&str> = imgs
        .iter()
        .map(|i| i["reference"].as_str().unwrap())
        .collect();
    assert_eq!(
        refs,
        ["example.com/team/app:1", "example.com/team/app:latest"]
    );
    for i in imgs {
        assert_eq!(i["configDigest"], config.as_str(), "{v:#}");
    }
    cli::ok(&cli::run(&["verify", s(&out)]));
}

#[test]
fn a_docker_archive_link_leaving_the_archive_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let da = tmp.path().join("bad.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&da).unwrap());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "one/layer.tar", "../../etc/passwd")
        .unwrap();
    b.finish().unwrap();
    drop(b);
    let out = tmp.path().join("out.tar");
    let r = pack_docker(&da, &out);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("links outside the archive"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}

#[test]
fn a_podman_docker_archive_packs() {
    if !common::registry::have_tools(&["podman"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("podman");
    let podman = |args: &[&str]| {
        let o = std::process::Command::new("podman")
            .arg(format!("--root={}", root.join("root").display()))
            .arg(format!("--runroot={}", root.join("run").display()))
            .arg("--storage-driver=vfs")
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    // A real layer tar: podman unpacks it.
    let mut l = airlock_testkit::Layout::create(tmp.path().join("layout")).unwrap();
    let layer = l
        .add_layer(&[airlock_testkit::FileEntry::bytes(
            "hello.txt",
            b"hi".to_vec(),
            0o644,
        )])
        .unwrap();
    let spec = airlock_testkit::ImageSpec::new(airlock_testkit::Platform::linux("amd64"));
    let m = l.add_image(&spec, &[layer]).unwrap();
    l.tag(common::REF, &m);
    let layout = l.finish().unwrap();
    let oa = tmp.path().join("a.tar");
    cli::ok(&cli::pack(&layout, &oa, &["--output", "json"]).run());
    podman(&["load", "-i", s(&oa)]);
    let da = tmp.path().join("saved.tar");
    podman(&[
        "save",
        "--format",
        "docker-archive",
        "-o",
        s(&da),
        common::REF,
    ]);
    let out = tmp.path().join("out.tar");
    let r = pack_docker(&da, &out);
    cli::ok(&r);
    let v = r.json();
    let original = cli::run(&["--output", "json", "inspect", s(&oa)]).json();
    assert_eq!(
        v["images"][0]["configDigest"], original["images"][0]["configDigest"],
        "the image ID survives docker-archive"
    );
    cli::ok(&cli::run(&["verify", s(&out)]));
}
