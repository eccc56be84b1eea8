//! `airlock diff A B`: are two images the same build? Each side is an image
//! in an archive (verified whole first, so a tampered archive is refused
//! before anything is compared), in an OCI layout, or in a registry. The
//! images are compared file by file over the file systems their layers
//! build, and config field by config field; timestamps (file mtimes, the
//! config's `created`, history dates) are ignored unless `strict`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde_json::Value;

use super::copy::{for_each_blob, for_each_blob_from, CheckedReader};
use super::select::{self, Selection};
use crate::archive::layer_tree::{FileMeta, FileTree, LayerSummary};
use crate::error::Error;
use crate::model::image_set::ImageSet;
use crate::model::progress::NoProgress;
use crate::model::{limits, oci, BlobRecord, Digest};
use crate::source::layout::LayoutSource;
use crate::source::PlatformFilter;

/// Most differences listed one by one (the total is always counted).
const MAX_LISTED: usize = 1000;

/// Where one side's image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// `ARCHIVE[:REF]`: an airlock archive file.
    Archive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// `oci:DIR[:REF]`: an OCI image layout.
    Layout {
        dir: PathBuf,
        reference: Option<String>,
    },
    /// A registry reference (`registry.example/app:1.0`).
    Registry(String),
}

impl Side {
    /// `oci:DIR[:REF]`, an existing file (optionally `:REF`), else a
    /// registry reference.
    pub fn parse(arg: &str) -> Result<Side, Error> {
        if let Some(rest) = arg.strip_prefix("oci:") {
            let (dir, reference) = split_existing(rest, Path::is_dir)
                .ok_or_else(|| Error::Usage(format!("{arg}: no such OCI layout directory")))?;
            return Ok(Side::Layout {
                dir: dir.into(),
                reference,
            });
        }
        if let Some((path, reference)) = split_existing(arg, Path::is_file) {
            return Ok(Side::Archive {
                path: path.into(),
                reference,
            });
        }
        if arg.starts_with('.') || arg.starts_with('/') || arg.contains(".tar") {
            return Err(Error::Usage(format!("{arg}: no such archive file")));
        }
        Ok(Side::Registry(arg.to_string()))
    }
}

/// `PATH` or `PATH:REF` where `PATH` exists (`exists` says so): the first
/// such split, so a reference may hold colons of its own (`host:5000/app:1`).
fn split_existing(arg: &str, exists: fn(&Path) -> bool) -> Option<(&str, Option<String>)> {
    if exists(Path::new(arg)) {
        return Some((arg, None));
    }
    arg.match_indices(':').find_map(|(i, _)| {
        let (path, reference) = (&arg[..i], &arg[i + 1..]);
        (exists(Path::new(path)) && !reference.is_empty())
            .then(|| (path, Some(reference.to_string())))
    })
}

#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Also compare timestamps.
    pub strict: bool,
    /// `os/arch[/variant]` to take from multi-platform images (default: the host's).
    pub platform: Option<String>,
    /// How to reach registries (for registry sides).
    pub registry: crate::source::registry::RegistryOptions,
}

/// One image, read for comparison.
#[derive(Debug)]
pub struct ImageView {
    pub reference: String,
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    config: Value,
    tree: FileTree,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Same manifest digest.
    Identical,
    /// Different digests, same files and config once timestamps are ignored.
    EquivalentExceptTimestamps,
    Different,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    /// `/path/in/image`, or a config field (`config.Env`, `created`).
    pub path: String,
    /// `only in A`, `content`, `mode`, `owner`, `type`, `link target`,
    /// `xattrs`, `mtime`, `value`, `unsafe path (not applied)`.
    pub what: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

#[derive(Debug)]
pub struct DiffReport {
    pub verdict: Verdict,
    pub a: ImageView,
    pub b: ImageView,
    /// At most [`MAX_LISTED`]; `total_differences` counts them all.
    pub differences: Vec<Difference>,
    pub total_differences: usize,
    /// Files whose only difference is their mtime (not counted as different).
    pub timestamps_ignored: usize,
    pub files_compared: usize,
}

/// Compare the images `a` and `b`.
pub fn diff(a: &Side, b: &Side, opts: &DiffOptions) -> Result<DiffReport, Error> {
    let va = load(a, opts, "A")?;
    let vb = load(b, opts, "B")?;
    let mut out = Collector {
        files_compared: va.tree.files.len().max(vb.tree.files.len()),
        ..Collector::default()
    };
    if va.manifest_digest != vb.manifest_digest {
        compare_configs(&va.config, &vb.config, opts.strict, &mut out);
        compare_trees(&va.tree, &vb.tree, opts.strict, &mut out);
    }
    let verdict = if va.manifest_digest == vb.manifest_digest {
        Verdict::Identical
    } else if out.total == 0 {
        Verdict::EquivalentExceptTimestamps
    } else {
        Verdict::Different
    };
    Ok(DiffReport {
        verdict,
        a: va,
        b: vb,
        differences: out.listed,
        total_differences: out.total,
        timestamps_ignored: out.timestamps_ignored,
        files_compared: out.files_compared,
    })
}

#[derive(Default)]
struct Collector {
    listed: Vec<Difference>,
    total: usize,
    timestamps_ignored: usize,
    files_compared: usize,
}

impl Collector {
    fn add(&mut self, path: &str, what: &str, a: Option<String>, b: Option<String>) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push(Difference {
                path: path.to_string(),
                what: what.to_string(),
                a,
                b,
            });
        }
    }
}

/// Read a side's image: its manifest, config and the file tree of its layers.
fn load(side: &Side, opts: &DiffOptions, label: &str) -> Result<ImageView, Error> {
    match side {
        Side::Archive { path, reference } => load_archive(path, reference.as_deref(), opts),
        Side::Layout { dir, reference } => {
            let set = LayoutSource::open(dir)?.resolve(
                &reference.iter().cloned().collect::<Vec<_>>(),
                &platform_filter(opts)?,
            )?;
            load_set(set, label)
        }
        Side::Registry(r) => {
            let set = crate::source::registry::resolve(
                std::slice::from_ref(r),
                &platform_filter(opts)?,
                &opts.registry,
            )?;
            load_set(set, label)
        }
    }
}

fn platform_filter(opts: &DiffOptions) -> Result<PlatformFilter, Error> {
    let p = match &opts.platform {
        Some(p) => select::parse_platform(p)?,
        None => select::host_platform(),
    };
    Ok(PlatformFilter {
        architectures: vec![p.architecture],
        os: Some(p.os),
        variant: p.variant,
    })
}

fn parse_config(bytes: &[u8], d: &Digest) -> Result<Value, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Source(format!("config {d}: {e}")))
}

fn layer_digests(manifest: &[u8], d: &Digest) -> Result<Vec<Digest>, Error> {
    let m =
        oci::parse_manifest(manifest).map_err(|e| Error::Source(format!("manifest {d}: {e}")))?;
    Ok(m.layers.iter().map(|l| l.digest).collect())
}

/// Apply the layers in manifest order (a layer listed twice applies twice).
fn build_tree(
    order: &[Digest],
    summaries: &BTreeMap<Digest, LayerSummary>,
) -> Result<FileTree, Error> {
    let mut tree = FileTree::default();
    for d in order {
        let s = summaries
            .get(d)
            .ok_or_else(|| Error::Source(format!("layer {d} was not read")))?;
        tree.apply(s);
    }
    Ok(tree)
}

fn load_archive(
    path: &Path,
    reference: Option<&str>,
    opts: &DiffOptions,
) -> Result<ImageView, Error> {
    // The whole archive is verified first: a tampered one is refused here.
    let input = super::input::ArchiveInput::open(path)?;
    let outcome = input.read(&crate::archive::ReadOptions::default(), &NoProgress)?;
    if outcome.manifest.is_delta() {
        return Err(Error::Usage(format!(
            "{} is a delta archive (its external layers are in its base); diff the full archive `airlock merge` writes",
            path.display()
        )));
    }
    let sel = Selection {
        images: reference.map(str::to_string).into_iter().collect(),
        platform: opts.platform.clone(),
        tag: None,
        whole_index: false,
    };
    let plan = select::plan(&outcome, &sel)?;
    let img = match plan.images.as_slice() {
        [one] => &one.record,
        many => {
            let names: Vec<&str> = many.iter().map(|i| i.record.reference.as_str()).collect();
            return Err(Error::Usage(format!(
                "{} holds several images ({}): name one as {}:REF",
                path.display(),
                names.join(", "),
                path.display()
            )));
        }
    };
    not_an_image(img)?;
    let doc = |d: &Digest| {
        outcome
            .metadata
            .get(d)
            .ok_or_else(|| Error::Source(format!("{d} is not among the archive's documents")))
    };
    let layers = layer_digests(doc(&img.manifest_digest)?, &img.manifest_digest)?;
    let config = parse_config(doc(&img.config_digest)?, &img.config_digest)?;
    let records: Vec<BlobRecord> = plan
        .blobs
        .iter()
        .filter(|b| layers.contains(&b.digest))
        .cloned()
        .collect();
    let mut summaries = BTreeMap::new();
    let stop = AtomicBool::new(false);
    let mut each = |rec: &BlobRecord, data: &mut dyn Read| {
        let s = LayerSummary::read(data, &format!("layer {}", rec.digest))?;
        summaries.insert(rec.digest, s);
        Ok(())
    };
    // The second pass re-hashes every layer it reads (the file may change).
    match input.volumes() {
        Some(set) => for_each_blob_from(
            crate::archive::volumes::VolumeReader::sizes_only(set),
            &records,
            &stop,
            &NoProgress,
            &mut each,
        )?,
        None => for_each_blob(path, &records, &stop, &NoProgress, &mut each)?,
    }
    Ok(ImageView {
        reference: img.reference.clone(),
        manifest_digest: img.manifest_digest,
        config_digest: img.config_digest,
        config,
        tree: build_tree(&layers, &summaries)?,
    })
}

/// Read the blob `d` of `set` through a reader that checks its digest.
fn with_blob<T>(
    set: &ImageSet,
    d: &Digest,
    f: impl FnOnce(&mut dyn Read) -> Result<T, Error>,
) -> Result<T, Error> {
    let blob = set
        .blobs
        .get(d)
        .ok_or_else(|| Error::Source(format!("blob {d} is not in the source")))?;
    let stop = AtomicBool::new(false);
    let run = |inner: &mut dyn Read| {
        let mut reader = CheckedReader::new(inner, &blob.record, &stop, &NoProgress);
        let mut value = None;
        let result = f(&mut reader).map(|v| value = Some(v));
        reader.verdict(result)?;
        value.ok_or_else(|| Error::Source(format!("blob {d} was not read")))
    };
    let mut reader = blob
        .origin
        .open(blob.record.size)
        .map_err(|e| Error::io(format!("open blob {d}"), e))?;
    run(&mut reader)
}

fn read_small(r: &mut dyn Read, d: &Digest) -> Result<Vec<u8>, Error> {
    limits::read_at_most(r, limits::MAX_JSON_BYTES)
        .map_err(|e| Error::io(format!("reading {d}"), e))?
        .ok_or_else(|| {
            Error::Source(format!(
                "{d} is larger than {} bytes",
                limits::MAX_JSON_BYTES
            ))
        })
}

fn load_set(set: ImageSet, label: &str) -> Result<ImageView, Error> {
    let img = match set.images.as_slice() {
        [one] => one.clone(),
        [] => return Err(Error::Usage(format!("{label}: no image matches"))),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|i| match &i.platform {
                    Some(p) => format!("{} ({p})", i.reference),
                    None => i.reference.clone(),
                })
                .collect();
            return Err(Error::Usage(format!(
                "{label} names several images ({}): name one reference and --platform",
                names.join(", ")
            )));
        }
    };
    not_an_image(&img)?;
    let manifest = with_blob(&set, &img.manifest_digest, |r| {
        read_small(r, &img.manifest_digest)
    })?;
    let layers = layer_digests(&manifest, &img.manifest_digest)?;
    let config_bytes = with_blob(&set, &img.config_digest, |r| {
        read_small(r, &img.config_digest)
    })?;
    let config = parse_config(&config_bytes, &img.config_digest)?;
    let mut summaries = BTreeMap::new();
    for d in &layers {
        if !summaries.contains_key(d) {
            let s = with_blob(&set, d, |r| LayerSummary::read(r, &format!("layer {d}")))?;
            summaries.insert(*d, s);
        }
    }
    Ok(ImageView {
        reference: img.reference.clone(),
        manifest_digest: img.manifest_digest,
        config_digest: img.config_digest,
        config,
        tree: build_tree(&layers, &summaries)?,
    })
}

/// Only runnable images have file systems to compare.
fn not_an_image(img: &crate::model::ImageRecord) -> Result<(), Error> {
    if img.kind.is_image() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{} is a {}, not an image: diff compares images",
        img.reference,
        img.kind.name()
    )))
}

/// The config without what a rebuild changes by itself: `created`, history
/// dates, and the layer diff IDs (whose tar bytes carry the mtimes; the
/// files themselves are compared instead).
fn without_timestamps(config: &Value) -> Value {
    let mut c = config.clone();
    if let Some(o) = c.as_object_mut() {
        o.remove("created");
        if let Some(h) = o.get_mut("history").and_then(Value::as_array_mut) {
            for item in h {
                if let Some(i) = item.as_object_mut() {
                    i.remove("created");
                }
            }
        }
        if let Some(r) = o.get_mut("rootfs").and_then(Value::as_object_mut) {
            r.remove("diff_ids");
        }
    }
    c
}

fn show(v: Option<&Value>) -> Option<String> {
    v.map(|v| {
        let s = v.to_string();
        if s.chars().count() > 200 {
            format!("{}…", s.chars().take(200).collect::<String>())
        } else {
            s
        }
    })
}

fn compare_configs(a: &Value, b: &Value, strict: bool, out: &mut Collector) {
    let (a, b) = if strict {
        (a.clone(), b.clone())
    } else {
        (without_timestamps(a), without_timestamps(b))
    };
    let empty = serde_json::Map::new();
    let (oa, ob) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let keys: std::collections::BTreeSet<&String> = oa.keys().chain(ob.keys()).collect();
    for k in keys {
        let (va, vb) = (oa.get(k), ob.get(k));
        if va == vb {
            continue;
        }
        // The run config field by field: `config.Env`, `config.User`, …
        if let (Some(Value::Object(ca)), Some(Value::Object(cb))) = (va, vb) {
            let inner: std::collections::BTreeSet<&String> = ca.keys().chain(cb.keys()).collect();
            for f in inner {
                if ca.get(f) != cb.get(f) {
                    out.add(
                        &format!("{k}.{f}"),
                        "value",
                        show(ca.get(f)),
                        show(cb.get(f)),
                    );
                }
            }
        } else {
            out.add(k, "value", show(va), show(vb));
        }
    }
}

fn describe(m: &FileMeta) -> String {
    match (&m.content, &m.link) {
        (Some(c), _) => format!("{} {} bytes {c}", m.kind.name(), m.size),
        (None, Some(l)) => format!("{} -> {l}", m.kind.name()),
        (None, None) => m.kind.name().to_string(),
    }
}

fn compare_trees(a: &FileTree, b: &FileTree, strict: bool, out: &mut Collector) {
    let paths: std::collections::BTreeSet<&String> = a.files.keys().chain(b.files.keys()).collect();
    for p in paths {
        let shown = format!("/{p}");
        match (a.files.get(p), b.files.get(p)) {
            (Some(fa), None) => out.add(&shown, "only in A", Some(describe(fa)), None),
            (None, Some(fb)) => out.add(&shown, "only in B", None, Some(describe(fb))),
            (Some(fa), Some(fb)) => compare_files(&shown, fa, fb, strict, out),
            (None, None) => {}
        }
    }
    let unsafe_a: std::collections::BTreeSet<&String> = a.unsafe_paths.iter().collect();
    let unsafe_b: std::collections::BTreeSet<&String> = b.unsafe_paths.iter().collect();
    for p in unsafe_a.union(&unsafe_b) {
        let (ia, ib) = (unsafe_a.contains(p), unsafe_b.contains(p));
        out.add(
            p,
            "unsafe path (not applied)",
            ia.then(|| "present".to_string()),
            ib.then(|| "present".to_string()),
        );
    }
}

fn compare_files(path: &str, a: &FileMeta, b: &FileMeta, strict: bool, out: &mut Collector) {
    let mut differs = false;
    let mut check = |what: &str, va: String, vb: String| {
        if va != vb {
            differs = true;
            out.add(path, what, Some(va), Some(vb));
        }
    };
    check("type", a.kind.name().into(), b.kind.name().into());
    if a.kind == b.kind {
        check(
            "content",
            format!("{} bytes {}", a.size, a.content.as_deref().unwrap_or("-")),
            format!("{} bytes {}", b.size, b.content.as_deref().unwrap_or("-")),
        );
        check(
            "link target",
            a.link.clone().unwrap_or_default(),
            b.link.clone().unwrap_or_default(),
        );
    }
    check("mode", format!("{:04o}", a.mode), format!("{:04o}", b.mode));
    check(
        "owner",
        format!("{}:{}", a.uid, a.gid),
        format!("{}:{}", b.uid, b.gid),
    );
    check(
        "xattrs",
        format!("{:?}", a.xattrs),
        format!("{:?}", b.xattrs),
    );
    if a.mtime != b.mtime {
        if strict {
            out.add(
                path,
                "mtime",
                Some(a.mtime.to_string()),
                Some(b.mtime.to_string()),
            );
        } else if !differs {
            out.timestamps_ignored += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_parse_by_what_exists() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a.tar");
        std::fs::write(&file, b"x").unwrap();
        let f = file.to_str().unwrap();
        assert_eq!(
            Side::parse(f).unwrap(),
            Side::Archive {
                path: file.clone(),
                reference: None
            }
        );
        assert_eq!(
            Side::parse(&format!("{f}:example.com/app:1")).unwrap(),
            Side::Archive {
                path: file.clone(),
                reference: Some("example.com/app:1".into())
            }
        );
        let d = tmp.path().to_str().unwrap();
        assert_eq!(
            Side::parse(&format!("oci:{d}:app")).unwrap(),
            Side::Layout {
                dir: tmp.path().into(),
                reference: Some("app".into())
            }
        );
        assert_eq!(
            Side::parse("registry.example/app:1").unwrap(),
            Side::Registry("registry.example/app:1".into())
        );
        assert!(matches!(Side::parse("./missing.tar"), Err(Error::Usage(_))));
        assert!(matches!(
            Side::parse("oci:/no/such/dir:x"),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn config_timestamps_are_ignored_unless_strict() {
        let a = serde_json::json!({"created": "2020-01-01T00:00:00Z", "config": {"Env": ["A=1"]},
            "history": [{"created": "2020", "created_by": "RUN x"}]});
        let b = serde_json::json!({"created": "2024-01-01T00:00:00Z", "config": {"Env": ["A=1"]},
            "history": [{"created": "2024", "created_by": "RUN x"}]});
        let mut out = Collector::default();
        compare_configs(&a, &b, false, &mut out);
        assert_eq!(out.total, 0);
        compare_configs(&a, &b, true, &mut out);
        let paths: Vec<&str> = out.listed.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["created", "history"]);
    }
}
