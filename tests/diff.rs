//! `airlock diff`: reproducibility checks between two builds of an image, on
//! archives (verified first) and OCI layouts, with plain, gzip and zstd layers.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use airlock_testkit::Layout;
use common::cli::{self, Run};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

const REF: &str = "example.com/app:1";

#[derive(Clone)]
enum Kind {
    File(&'static [u8]),
    Dir,
    Symlink(&'static str),
    /// A raw name the tar builder would refuse (`../x`).
    Raw(&'static [u8]),
}

#[derive(Clone)]
struct Entry {
    path: &'static str,
    kind: Kind,
    mode: u32,
    mtime: u64,
}

fn file(path: &'static str, data: &'static [u8]) -> Entry {
    Entry {
        path,
        kind: Kind::File(data),
        mode: 0o644,
        mtime: 1_000,
    }
}

fn dir(path: &'static str) -> Entry {
    Entry {
        path,
        kind: Kind::Dir,
        mode: 0o755,
        mtime: 1_000,
    }
}

#[derive(Clone, Copy)]
enum Comp {
    Plain,
    Gzip,
    Zstd,
}

/// A layer tar of `entries` (in order), compressed as asked; returns the
/// blob and its diff ID.
fn layer(entries: &[Entry], comp: Comp) -> (Vec<u8>, String) {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mode(e.mode);
        h.set_mtime(e.mtime);
        h.set_uid(0);
        h.set_gid(0);
        let data: &[u8] = match e.kind {
            Kind::File(d) | Kind::Raw(d) => d,
            _ => b"",
        };
        h.set_size(data.len() as u64);
        match e.kind {
            Kind::File(_) | Kind::Raw(_) => h.set_entry_type(tar::EntryType::Regular),
            Kind::Dir => h.set_entry_type(tar::EntryType::Directory),
            Kind::Symlink(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_link_name(t).unwrap();
            }
        }
        match e.kind {
            Kind::Raw(_) => {
                let name = &mut h.as_old_mut().name;
                name[..e.path.len()].copy_from_slice(e.path.as_bytes());
            }
            _ => h.set_path(e.path).unwrap(),
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&tar)));
    let blob = match comp {
        Comp::Plain => tar,
        Comp::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&tar).unwrap();
            enc.finish().unwrap()
        }
        Comp::Zstd => zstd::encode_all(&tar[..], 3).unwrap(),
    };
    (blob, diff_id)
}

fn media_type(c: Comp) -> &'static str {
    match c {
        Comp::Plain => "application/vnd.oci.image.layer.v1.tar",
        Comp::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Comp::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

/// An OCI layout holding one image `REF` built from `layers`, with `env` and
/// `created` in its config.
fn image(dir: &Path, layers: &[Vec<Entry>], comp: Comp, env: &[&str], created: &str) -> PathBuf {
    let mut l = Layout::create(dir).unwrap();
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for entries in layers {
        let (blob, diff_id) = layer(entries, comp);
        descs.push(l.add_blob(media_type(comp), &blob).unwrap());
        diff_ids.push(diff_id);
    }
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Env": env, "Cmd": ["/bin/app"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "created_by": "build"}],
    });
    let config = l
        .add_blob(
            "application/vnd.oci.image.config.v1+json",
            &serde_json::to_vec(&config).unwrap(),
        )
        .unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": descs,
    });
    let m = l
        .add_blob(
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
    l.tag(REF, &m);
    l.finish().unwrap()
}

fn base() -> Vec<Entry> {
    vec![
        dir("etc/"),
        file("etc/app.conf", b"MARKER-CONTENT listen=8080\n"),
        dir("usr/"),
        dir("usr/bin/"),
        Entry {
            mode: 0o755,
            ..file("usr/bin/app", b"#!/bin/sh\necho app\n")
        },
        Entry {
            kind: Kind::Symlink("usr/bin/app"),
            ..file("app", b"")
        },
    ]
}

/// The same files, every mtime moved.
fn rebuilt(entries: &[Entry]) -> Vec<Entry> {
    entries
        .iter()
        .cloned()
        .map(|e| Entry {
            mtime: e.mtime + 86_400,
            ..e
        })
        .collect()
}

const ENV: &[&str] = &["PATH=/usr/bin"];

fn pack(layout: &Path, out: &Path) -> PathBuf {
    let r = cli::pack(layout, out, &["--quiet"]).run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    out.to_path_buf()
}

fn diff(a: &str, b: &str, extra: &[&str]) -> Run {
    cli::airlock(["diff", a, b, "--platform", "linux/amd64"])
        .args(extra)
        .run()
}

fn oci(dir: &Path) -> String {
    format!("oci:{}:{REF}", dir.display())
}

fn differences(r: &Run) -> Vec<(String, String)> {
    let v: Value = r.json();
    v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_string(),
                d["what"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A rebuild that differs only in mtimes and dates is equivalent, across an
/// archive and a layout and across gzip and zstd layers; `--strict` sees
/// the timestamps.
#[test]
fn images_differing_only_by_timestamps_are_equivalent() {
    let tmp = tempfile::tempdir().unwrap();
    let a = image(
        &tmp.path().join("a"),
        &[base()],
        Comp::Gzip,
        ENV,
        "2020-01-01T00:00:00Z",
    );
    let b = image(
        &tmp.path().join("b"),
        &[rebuilt(&base())],
        Comp::Zstd,
        ENV,
        "2024-06-01T00:00:00Z",
    );
    let archive = pack(&a, &tmp.path().join("a.tar"));
    let r = diff(archive.to_str().unwrap(), &oci(&b), &["--output", "json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["result"], "equivalent-except-timestamps", "{v:#}");
    assert_eq!(v["totalDifferences"], 0);
    assert_eq!(v["timestampsIgnored"], 6, "{v:#}");
    assert_ne!(v["a"]["manifestDigest"], v["b"]["manifestDigest"]);

    let text = diff(archive.to_str().unwrap(), &oci(&b), &[]);
    assert!(
        text.stdout.contains("equivalent except timestamps"),
        "{}",
        text.stdout
    );

    let strict = diff(
        archive.to_str().unwrap(),
        &oci(&b),
        &["--strict", "--output", "json"],
    );
    assert_eq!(strict.code, 1, "{}", strict.stderr);
    let found = differences(&strict);
    assert!(
        found.contains(&("/etc/app.conf".into(), "mtime".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&("created".into(), "value".into())),
        "{found:?}"
    );
}

#[test]
fn the_same_image_is_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let a = image(
        &tmp.path().join("a"),
        &[base()],
        Comp::Plain,
        ENV,
        "2020-01-01T00:00:00Z",
    );
    let archive = pack(&a, &tmp.path().join("a.tar.zst"));
    let r = diff(archive.to_str().unwrap(), &oci(&a), &["--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["result"], "identical");
}

/// Build B from `change(base())` and compare it with A = base().
fn differs(
    change: impl FnOnce(&mut Vec<Entry>),
    extra_layer: Option<Vec<Entry>>,
) -> Vec<(String, String)> {
    let tmp = tempfile::tempdir().unwrap();
    let a = image(
        &tmp.path().join("a"),
        &[base()],
        Comp::Gzip,
        ENV,
        "2020-01-01T00:00:00Z",
    );
    let mut entries = base();
    change(&mut entries);
    let mut layers = vec![entries];
    layers.extend(extra_layer);
    let b = image(
        &tmp.path().join("b"),
        &layers,
        Comp::Gzip,
        ENV,
        "2020-01-01T00:00:00Z",
    );
    let r = diff(&oci(&a), &oci(&b), &["--output", "json"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["result"], "different");
    differences(&r)
}

#[test]
fn one_byte_of_one_file_is_a_content_difference() {
    let found = differs(
        |e| e[1] = file("etc/app.conf", b"MARKER-CONTENT listen=8081\n"),
        None,
    );
    assert_eq!(
        found,
        [("/etc/app.conf".to_string(), "content".to_string())]
    );
}

#[test]
fn a_mode_bit_is_a_mode_difference() {
    let found = differs(|e| e[4].mode = 0o4755, None);
    assert_eq!(found, [("/usr/bin/app".to_string(), "mode".to_string())]);
}

#[test]
fn a_whiteout_in_an_upper_layer_removes_the_file() {
    let found = differs(|_| {}, Some(vec![file("etc/.wh.app.conf", b"")]));
    assert_eq!(
        found,
        [("/etc/app.conf".to_string(), "only in A".to_string())]
    );
}

#[test]
fn config_env_is_a_config_difference() {
    let tmp = tempfile::tempdir().unwrap();
    let a = image(
        &tmp.path().join("a"),
        &[base()],
        Comp::Gzip,
        ENV,
        "2020-01-01T00:00:00Z",
    );
    let b = image(
        &tmp.path().join("b"),
        &[base()],
        Comp::Gzip,
        &["PATH=/usr/bin", "DEBUG=1"],
        "2020-01-01T00:00:00Z",
    );
    let r = diff(&oci(&a), &oci(&b), &["--output", "json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        differences(&r),
        [("config.Env".to_string(), "value".to_string())]
    );
    let text = diff(&oci(&a), &oci(&b), &[]);
    assert!(text.stdout.contains("config.Env value"), "{}", text.stdout);
}

/// A tampered archive is refused (integrity, exit 3) before any comparison.
#[test]
fn a_tampered_archive_is_refused_before_comparing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = image(
        &tmp.path().join("a"),
        &[base()],
        Comp::Plain,
        ENV,
        "2020-01-01T00:00:00Z",
    );
    let archive = pack(&a, &tmp.path().join("a.tar"));
    let mut bytes = std::fs::read(&archive).unwrap();
    let at = bytes
        .windows(14)
        .position(|w| w == b"MARKER-CONTENT")
        .unwrap();
    bytes[at] ^= 1;
    std::fs::write(&archive, bytes).unwrap();
    let r = diff(archive.to_str().unwrap(), &oci(&a), &["--output", "json"]);
    assert_eq!(r.code, 3, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert!(v.get("differences").is_none(), "{v:#}");
}

/// A layer entry that climbs out of the root is reported, never applied or
/// written anywhere.
#[test]
fn a_climbing_path_in_a_layer_is_reported_not_extracted() {
    let found = differs(
        |e| {
            e.push(Entry {
                kind: Kind::Raw(b"escaped"),
                ..file("../../airlock-diff-escape", b"")
            })
        },
        None,
    );
    assert_eq!(
        found,
        [(
            "../../airlock-diff-escape".to_string(),
            "unsafe path (not applied)".to_string()
        )]
    );
    assert!(!Path::new("/airlock-diff-escape").exists());
    assert!(!std::env::temp_dir().join("airlock-diff-escape").exists());
}

#[test]
fn a_missing_side_is_a_usage_error_and_io_errors_are_not_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let a = image(
        &tmp.path().join("a"),
        &[base()],
        Comp::Plain,
        ENV,
        "2020-01-01T00:00:00Z",
    );
    let r = diff(&oci(&a), "./no-such.tar", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // A layout whose blob vanished: a source error, exit 8 (1 means "different").
    let blobs = a.join("blobs/sha256");
    let any_layer = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::metadata(p).unwrap().len() > 600)
        .unwrap();
    std::fs::remove_file(any_layer).unwrap();
    let r = diff(&oci(&a), &oci(&a), &[]);
    assert_eq!(r.code, 8, "{}", r.stderr);
}

/// A side may be a volume set (by its index): verified across the volumes
/// first, then its layers read from them.
#[test]
fn a_volume_set_side_is_read_across_its_volumes() {
    let tmp = tempfile::tempdir().unwrap();
    let a = image(
        &tmp.path().join("a"),
        &[base()],
        Comp::Gzip,
        ENV,
        "2020-01-01T00:00:00Z",
    );
    let b = image(
        &tmp.path().join("b"),
        &[rebuilt(&base())],
        Comp::Gzip,
        ENV,
        "2024-01-01T00:00:00Z",
    );
    let out = tmp.path().join("a.tar");
    let r = cli::pack(
        &a,
        &out,
        &["--quiet", "--volume-size", "1MiB", "--parity", "1"],
    )
    .run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let index = tmp.path().join("a.tar.volumes.json");
    assert!(index.is_file());
    let r = diff(index.to_str().unwrap(), &oci(&b), &["--output", "json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["result"], "equivalent-except-timestamps");
}
