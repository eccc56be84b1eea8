//! What `unpack` admitted, kept in the state directory so `verify-local`
//! can re-check an installed image offline, long after the archive is gone.
//!
//! Per target and name, one record (`admitted/<target>/<name>.json`, both
//! hashed into file names) names the image record, the archive-level trust
//! material and every document the gate read for it (manifest, config,
//! signatures, attestations, bundles, Rekor proofs, the trusted root, the
//! archive manifest itself), each kept once, content-addressed, under
//! `admitted/blobs/sha256/`. Reading them back re-hashes every document, so
//! an edited file is refused, never believed. The policy is not stored: a
//! policy file may name key files beside it, so `verify-local` takes the
//! policy the host has now (the same sources as `unpack`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::verified::SelectedImage;
use crate::archive::compress::Compression;
use crate::archive::ReadOutcome;
use crate::error::{Error, IntegrityError, IoContext};
use crate::model::{limits, ArchiveManifest, Digest, ImageRecord};

const RECORD_VERSION: u32 = 1;

/// One admission, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Record {
    version: u32,
    /// `podman`, `docker`, `dir:/abs/path`, `registry:host/ns`.
    target: String,
    /// The name the image got in the target.
    name: String,
    image: ImageRecord,
    /// The archive manifest (re-serialised), a document like the others.
    archive_manifest: Digest,
    /// The digest of the archive manifest as packed (for reports).
    archive_manifest_digest: Digest,
    /// Every document the gate reads for this image.
    documents: Vec<Digest>,
    recorded_at: String,
}

/// An admission read back: a [`ReadOutcome`] holding just the admitted
/// image and its documents (every one re-hashed), ready for the gate.
#[derive(Debug)]
pub struct Admission {
    pub target: String,
    pub name: String,
    pub outcome: ReadOutcome,
    pub recorded_at: String,
}

impl Admission {
    pub fn image(&self) -> Option<&ImageRecord> {
        self.outcome.manifest.images.first()
    }
}

/// The target as recorded: what the image store is, not how it was asked
/// for (`auto` became docker or podman; a `dir:` path made absolute).
pub fn target_id(described: &str) -> String {
    if described.starts_with("docker") {
        return "docker".into();
    }
    if let Some(p) = described.strip_prefix("dir:") {
        let abs = std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p));
        return format!("dir:{}", abs.display());
    }
    described.to_string()
}

fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..12])
}

fn root(state: &Path) -> PathBuf {
    state.join("admitted")
}

fn record_path(state: &Path, target: &str, name: &str) -> PathBuf {
    root(state)
        .join(short_hash(target))
        .join(format!("{}.json", short_hash(name)))
}

fn blob_path(state: &Path, d: &Digest) -> PathBuf {
    root(state).join("blobs").join("sha256").join(d.hex())
}

/// Write `bytes` to `path` whole, then rename into place.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).at("create", dir)?;
    crate::scratch::sweep(dir, "admitted");
    let mut tmp = tempfile::Builder::new()
        .prefix(&crate::scratch::prefix("admitted"))
        .tempfile_in(dir)
        .at("create a file in", dir)?;
    std::io::Write::write_all(&mut tmp, bytes).at("write", tmp.path())?;
    tmp.persist(path)
        .map_err(|e| Error::io_path("rename into", path, e.error))?;
    Ok(())
}

fn put_blob(state: &Path, bytes: &[u8]) -> Result<Digest, Error> {
    let d = Digest::of(bytes);
    let path = blob_path(state, &d);
    if !path.exists() {
        write_atomic(&path, bytes)?;
    }
    Ok(d)
}

/// Keep what admitted `img` (loaded into `target` as `name`).
pub fn record(
    state: &Path,
    target: &str,
    name: &str,
    img: &SelectedImage,
    outcome: &ReadOutcome,
    now: jiff::Timestamp,
) -> Result<PathBuf, Error> {
    let wanted = img
        .image_blobs
        .iter()
        .chain(&img.evidence_blobs)
        .chain(outcome.manifest.evidence.iter().map(|e| &e.digest));
    let mut documents = Vec::new();
    for d in wanted {
        if let Some(bytes) = outcome.metadata.get(d) {
            if !documents.contains(d) {
                documents.push(put_blob(state, bytes)?);
            }
        }
    }
    let manifest = serde_json::to_vec(&outcome.manifest)
        .map_err(|e| Error::io("serialise the archive manifest", std::io::Error::other(e)))?;
    let rec = Record {
        version: RECORD_VERSION,
        target: target.to_string(),
        name: name.to_string(),
        image: img.record.clone(),
        archive_manifest: put_blob(state, &manifest)?,
        archive_manifest_digest: outcome.manifest_digest,
        documents,
        recorded_at: now.to_string(),
    };
    let bytes = serde_json::to_vec_pretty(&rec)
        .map_err(|e| Error::io("serialise an admission record", std::io::Error::other(e)))?;
    let path = record_path(state, target, name);
    write_atomic(&path, &bytes)?;
    Ok(path)
}

/// A stored document, re-hashed; an edited or missing one is refused.
fn read_blob(state: &Path, d: &Digest, limit: u64) -> Result<Vec<u8>, Error> {
    let path = blob_path(state, d);
    let f = std::fs::File::open(&path).map_err(|e| {
        Error::Source(format!(
            "stored evidence {d} is missing ({}: {e})",
            path.display()
        ))
    })?;
    let bytes = limits::read_at_most(f, limit)
        .at("read", &path)?
        .ok_or_else(|| {
            IntegrityError::Corrupt(format!("stored evidence {d} is larger than {limit} bytes"))
        })?;
    let actual = Digest::of(&bytes);
    if actual != *d {
        return Err(IntegrityError::DigestMismatch {
            expected: d.to_string(),
            actual: actual.to_string(),
        }
        .into());
    }
    Ok(bytes)
}

/// Every image admitted under `state`, whatever the target: its record and
/// its manifest's bytes (re-hashed), sorted by manifest digest. For
/// `airlock inventory`: what this site already holds.
pub fn admitted_manifests(state: &Path) -> Result<Vec<(ImageRecord, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    let top = root(state);
    if !top.is_dir() {
        return Err(Error::Source(format!(
            "{} holds no admission records (not an airlock state directory)",
            state.display()
        )));
    }
    for target in std::fs::read_dir(&top).at("read", &top)? {
        let target = target.at("read", &top)?.path();
        if !target.is_dir() || target.file_name().is_some_and(|n| n == "blobs") {
            continue;
        }
        for file in std::fs::read_dir(&target).at("read", &target)? {
            let path = file.at("read", &target)?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let f = std::fs::File::open(&path).at("open", &path)?;
            let bytes = limits::read_at_most(f, limits::MAX_JSON_BYTES)
                .at("read", &path)?
                .ok_or_else(|| {
                    IntegrityError::Corrupt(format!("{} is too large", path.display()))
                })?;
            let rec: Record = serde_json::from_slice(&bytes).map_err(|e| {
                IntegrityError::Corrupt(format!("admission record {}: {e}", path.display()))
            })?;
            let manifest = read_blob(state, &rec.image.manifest_digest, limits::MAX_JSON_BYTES)?;
            out.push((rec.image, manifest));
        }
    }
    out.sort_by_key(|(i, _)| i.manifest_digest);
    out.dedup_by_key(|(i, _)| i.manifest_digest);
    Ok(out)
}

/// The admission of `name` in `target`, every document re-hashed.
pub fn load(state: &Path, target: &str, name: &str) -> Result<Admission, Error> {
    if !state.is_dir() {
        return Err(Error::Source(format!(
            "state directory {} does not exist: nothing was recorded by airlock unpack here (--state-dir, AIRLOCK_STATE_DIR)",
            state.display()
        )));
    }
    let path = record_path(state, target, name);
    let f = std::fs::File::open(&path).map_err(|_| {
        Error::Source(format!(
            "no record of {name} in {target} under {}: it was not loaded by airlock unpack with this state directory",
            state.display()
        ))
    })?;
    let bytes = limits::read_at_most(f, limits::MAX_JSON_BYTES)
        .at("read", &path)?
        .ok_or_else(|| IntegrityError::Corrupt(format!("{} is too large", path.display())))?;
    let rec: Record = serde_json::from_slice(&bytes).map_err(|e| {
        IntegrityError::Corrupt(format!("admission record {}: {e}", path.display()))
    })?;
    if rec.version != RECORD_VERSION || rec.target != target || rec.name != name {
        return Err(IntegrityError::Corrupt(format!(
            "admission record {} is not the one for {name} in {target}",
            path.display()
        ))
        .into());
    }
    let manifest_bytes = read_blob(
        state,
        &rec.archive_manifest,
        limits::MAX_ARCHIVE_MANIFEST_BYTES,
    )?;
    let mut manifest: ArchiveManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| IntegrityError::Corrupt(format!("stored archive manifest: {e}")))?;
    // Only the admitted image is re-checked.
    manifest.images.retain(|i| *i == rec.image);
    if manifest.images.is_empty() {
        return Err(IntegrityError::Corrupt(
            "the stored archive manifest does not hold the admitted image".into(),
        )
        .into());
    }
    let mut metadata = BTreeMap::new();
    let mut total = 0u64;
    for d in &rec.documents {
        let doc = read_blob(state, d, limits::SMALL_BLOB_BYTES)?;
        total += doc.len() as u64;
        if total > limits::MAX_METADATA_TOTAL {
            return Err(IntegrityError::Corrupt("stored evidence is too large".into()).into());
        }
        metadata.insert(*d, doc);
    }
    Ok(Admission {
        target: rec.target,
        name: rec.name,
        outcome: ReadOutcome {
            manifest_digest: rec.archive_manifest_digest,
            manifest,
            compression: Compression::None,
            metadata,
            tar_bytes: 0,
            blob_bytes: 0,
            blob_offsets: BTreeMap::new(),
        },
        recorded_at: rec.recorded_at,
    })
}
