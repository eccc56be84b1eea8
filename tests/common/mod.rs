//! Shared helpers: a small OCI layout, packing it, and editing the tar
//! entries of an archive to build bad inputs.
#![allow(dead_code)]

pub mod cli;
pub mod forge;
pub mod fulcio;
pub mod notary;
pub mod registry;
pub mod rekor;
pub mod site;
pub mod trace;
pub mod tuf;

use std::io::Read;
use std::path::{Path, PathBuf};

use airlock::archive::{read_archive, read_archive_file, ReadOptions, ReadOutcome};
use airlock::model::Digest;
use airlock::pipeline::{self, PackRequest};
use airlock::source::PlatformFilter;
use airlock::Error;
use indicatif::ProgressBar;
use serde_json::{json, Value};

pub const REF: &str = "localhost/airlock-test/app:1.0";

fn put_blob(dir: &Path, bytes: &[u8]) -> (Digest, u64) {
    let d = Digest::of(bytes);
    std::fs::write(dir.join("blobs/sha256").join(d.hex()), bytes).unwrap();
    (d, bytes.len() as u64)
}

/// Deterministic filler bytes (not a tar; verify does not look inside layers).
pub fn filler(seed: u8, len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// One image, amd64, with layers of the given sizes (seeded content).
pub fn layout_with_layers(root: &Path, reference: &str, layers: &[(u8, usize)]) -> PathBuf {
    let dir = root.join("layout");
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let layer_descs: Vec<Value> = layers
        .iter()
        .map(|(seed, len)| {
            let (d, n) = put_blob(&dir, &filler(*seed, *len));
            json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d.to_string(), "size": n})
        })
        .collect();
    let diff_ids: Vec<Value> = layer_descs.iter().map(|l| l["digest"].clone()).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}
    }))
    .unwrap();
    let (cd, cn) = put_blob(&dir, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": cn},
        "layers": layer_descs,
    }))
    .unwrap();
    let (md, mn) = put_blob(&dir, &manifest);
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(), "size": mn,
        "annotations": {"org.opencontainers.image.ref.name": reference}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    dir
}

/// `airlock-mkimage multiarch`: an index of linux/amd64 and linux/arm64/v8
/// tagged `localhost/x/multi:1`, in `dir`.
pub fn multiarch_layout(dir: &Path) -> PathBuf {
    let o = std::process::Command::new(airlock_testkit::bin_path("airlock-mkimage"))
        .arg("multiarch")
        .arg("--out")
        .arg(dir)
        .args(["--ref", "localhost/x/multi:1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir.to_path_buf()
}

pub fn small_layout(root: &Path) -> PathBuf {
    layout_with_layers(root, REF, &[(1, 70_000), (2, 3_000_000)])
}

/// A library pack request: the one OCI layout `layout` into `out`, all
/// platforms, uncompressed, no trust options.
pub fn pack_request(layout: &Path, out: &Path) -> PackRequest {
    PackRequest {
        files: vec![],
        layouts: vec![layout.to_path_buf()],
        oci_archives: vec![],
        docker_archives: vec![],
        refs: vec![],
        images: vec![],
        image_groups: vec![],
        registry: Default::default(),
        platforms: PlatformFilter::default(),
        output: out.to_path_buf(),
        zstd: false,
        force: false,
        split: None,
        trust: Default::default(),
        bases: vec![],
    }
}

pub fn pack_to(layout: &Path, out: &Path) -> pipeline::PackResult {
    let req = pack_request(layout, out);
    let set = pipeline::resolve(&req).unwrap();
    pipeline::pack(&req, &set, &ProgressBar::hidden()).unwrap()
}

/// A freshly packed small archive, as bytes.
pub fn sample_archive() -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let layout = small_layout(tmp.path());
    let out = tmp.path().join("a.tar");
    pack_to(&layout, &out);
    std::fs::read(out).unwrap()
}

pub fn verify_bytes(bytes: &[u8]) -> Result<ReadOutcome, Error> {
    read_archive(
        std::io::Cursor::new(bytes.to_vec()),
        &ReadOptions::default(),
        &ProgressBar::hidden(),
    )
}

pub fn verify_file_bytes(bytes: &[u8]) -> Result<ReadOutcome, Error> {
    let mut f = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut f, bytes).unwrap();
    std::io::Seek::rewind(&mut f).unwrap();
    read_archive_file(f, &ReadOptions::default(), &ProgressBar::hidden())
}

/// The kind of the error verify reports, or "ok". Both readers (streamed,
/// and positional reads on a file) must agree.
pub fn verdict(bytes: &[u8]) -> String {
    let kind = |r: Result<ReadOutcome, Error>| match r {
        Ok(_) => "ok".to_string(),
        Err(e) => e.kind().to_string(),
    };
    let streamed = kind(verify_bytes(bytes));
    let from_file = kind(verify_file_bytes(bytes));
    assert_eq!(streamed, from_file, "stream and file readers disagree");
    streamed
}

/// One tar entry, editable.
#[derive(Clone)]
pub struct Entry {
    pub name: String,
    pub kind: tar::EntryType,
    pub data: Vec<u8>,
    pub link: Option<String>,
    /// Header size when it should differ from `data.len()`.
    pub declared_size: Option<u64>,
}

pub fn entries(archive: &[u8]) -> Vec<Entry> {
    let mut a = tar::Archive::new(archive);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let kind = e.header().entry_type();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            Entry {
                name,
                kind,
                data,
                link: None,
                declared_size: None,
            }
        })
        .collect()
}

/// Write entries back with raw names (no path normalisation, so hostile
/// names survive).
pub fn build(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_ustar();
        let name = e.name.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(e.declared_size.unwrap_or(e.data.len() as u64));
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(e.kind);
        if let Some(l) = &e.link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

pub fn position(es: &[Entry], name: &str) -> usize {
    es.iter().position(|e| e.name == name).unwrap()
}

pub fn airlock_json(es: &[Entry]) -> Value {
    serde_json::from_slice(&es[position(es, "airlock.json")].data).unwrap()
}

/// `airlock.json` of an archive file, as it stands in the tar.
pub fn archive_json(archive: &Path) -> Value {
    airlock_json(&entries(&std::fs::read(archive).unwrap()))
}

pub fn set_airlock_json(es: &mut [Entry], v: &Value) {
    let i = position(es, "airlock.json");
    es[i].data = serde_json::to_vec_pretty(v).unwrap();
}

/// Replace a layout file and record its new digest in airlock.json, so the
/// edit reaches the deeper checks instead of the digest check.
pub fn replace_layout_file(es: &mut [Entry], name: &str, data: Vec<u8>) {
    let field = if name == "index.json" {
        "index"
    } else {
        "dockerManifest"
    };
    let mut m = airlock_json(es);
    m["layout"][field] = json!({"digest": Digest::of(&data).to_string(), "size": data.len()});
    set_airlock_json(es, &m);
    let i = position(es, name);
    es[i].data = data;
}

/// The largest blob (a layer) entry index.
pub fn largest_blob(es: &[Entry]) -> usize {
    (0..es.len())
        .filter(|&i| es[i].name.starts_with("blobs/sha256/") && !es[i].name.ends_with('/'))
        .max_by_key(|&i| es[i].data.len())
        .unwrap()
}

pub fn airlock_bin() -> &'static str {
    env!("CARGO_BIN_EXE_airlock")
}

/// The shared fixtures, read in place at `../shared/fixtures` from the
/// repository root. Missing fixtures fail the test when `CI` is set and skip
/// it (with a message) otherwise.
pub fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if dir.join("README.md").is_file() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "fixtures not found at {} (required when CI is set)",
            dir.display()
        );
    }
    eprintln!("SKIPPED: fixtures not found at {}", dir.display());
    None
}

/// `let fx = fixtures_or_skip!();` returns from the test when skipping.
#[macro_export]
macro_rules! fixtures_or_skip {
    () => {
        match common::fixtures() {
            Some(dir) => dir,
            None => return,
        }
    };
}

/// `assert_err!(err, Pattern | Other)`: asserts that the error `err`
/// matches one of the patterns, and shows it when it does not.
#[macro_export]
macro_rules! assert_err {
    ($err:expr, $pattern:pat) => {
        assert!(matches!($err, $pattern), "{}", $err)
    };
}

/// Runs `script` as root in a private mount namespace (so a tmpfs can be
/// mounted: the script prints `unshare failed` to stderr when its mount
/// fails); None (skip) when that is not possible here, a failure under CI.
pub fn in_mount_namespace(script: &str) -> Option<std::process::Output> {
    let o = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", script])
        .output();
    match o {
        Ok(o) if !String::from_utf8_lossy(&o.stderr).contains("unshare failed") => Some(o),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "unshare -m (root) is required when CI is set"
            );
            eprintln!("SKIPPED: cannot create a mount namespace here");
            None
        }
    }
}

/// `airlock.json` of an archive or volume set, via `airlock inspect`'s
/// reader (works for zstd and split archives too).
pub fn archive_json_any(archive: &Path) -> Value {
    let out = pipeline::inspect(archive).unwrap();
    serde_json::to_value(&out.manifest).unwrap()
}
