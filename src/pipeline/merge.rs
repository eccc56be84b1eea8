//! `airlock merge BASE… DELTA -o FULL`: the full archive a delta and its
//! bases stand for. Every input is verified in full first; the full
//! manifest is the delta's with its external blobs listed as carried, and
//! it is written by the same writer as pack, re-hashing every blob as it is
//! copied. So the output is byte for byte what a full pack of the same
//! source writes (the tests and `bench/delta.sh` check that).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::archive::writer::Plan;
use crate::archive::{layout_files, WriteOptions};
use crate::error::{Error, IntegrityError};
use crate::model::image_set::{BlobOrigin, PlannedBlob};
use crate::model::progress::{NoProgress, Progress};
use crate::model::{oci, ArchiveManifest, BlobRecord, Digest};

use super::serve::{open_archive, OpenedArchive};
use super::{output, split, PackResult};

#[derive(Debug, Clone)]
pub struct MergeRequest {
    pub bases: Vec<PathBuf>,
    pub delta: PathBuf,
    pub output: PathBuf,
    pub zstd: bool,
    pub force: bool,
    pub split: Option<split::Split>,
}

#[derive(Debug)]
pub struct Merged {
    pub result: PackResult,
    /// The delta's archive manifest digest.
    pub delta_digest: Digest,
    /// Blobs (and bytes) taken from the bases.
    pub from_bases: usize,
    pub from_bases_bytes: u64,
}

/// The blobs one base offers: digest → (size, offset in `tar`). Nothing in
/// a base is trusted but its bytes, and those are re-hashed against the
/// delta's digest as they are copied.
pub struct BaseBlobs {
    pub path: PathBuf,
    pub blobs: BTreeMap<Digest, (u64, u64)>,
    pub tar: Arc<std::fs::File>,
    /// A verified base keeps its spool (a compressed archive, a volume set).
    _opened: Option<OpenedArchive>,
}

impl BaseBlobs {
    /// A base verified in full (`verify --base`; a compressed base or a
    /// volume set, which merge reads through a spool of its tar).
    pub fn verified(path: &Path) -> Result<BaseBlobs, Error> {
        let o = opened(path)?;
        let m = &o.outcome.manifest;
        let blobs = o
            .outcome
            .blob_offsets
            .iter()
            .filter_map(|(d, off)| m.blob(d).map(|b| (*d, (b.size, *off))))
            .collect();
        let tar = Arc::new(o.tar.try_clone().map_err(|e| Error::io("open", e))?);
        Ok(BaseBlobs {
            path: path.to_path_buf(),
            blobs,
            tar,
            _opened: Some(o),
        })
    }

    /// An uncompressed archive file: its `blobs/sha256/` entries found by
    /// walking the tar headers, without hashing the base (merge re-hashes
    /// every blob it takes, so only those are read). Anything else: verified.
    pub fn for_merge(path: &Path) -> Result<BaseBlobs, Error> {
        let input = super::input::ArchiveInput::open(path)?;
        let plain = match &input {
            super::input::ArchiveInput::File(p) => is_plain_tar(p)?,
            _ => false,
        };
        if !plain {
            return BaseBlobs::verified(path);
        }
        let file = std::fs::File::open(path).map_err(|e| Error::io_path("open", path, e))?;
        let tar = Arc::new(
            file.try_clone()
                .map_err(|e| Error::io_path("open", path, e))?,
        );
        let bad =
            |e: std::io::Error| IntegrityError::Corrupt(format!("base {}: {e}", path.display()));
        let mut archive = tar::Archive::new(file);
        let mut blobs = BTreeMap::new();
        for entry in archive.entries_with_seek().map_err(bad)? {
            let entry = entry.map_err(bad)?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let name = entry.path_bytes();
            let Some(digest) = name
                .strip_prefix(b"blobs/sha256/")
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| Digest::from_hex(h).ok())
            else {
                continue;
            };
            if blobs.len() >= crate::model::limits::MAX_BLOBS {
                return Err(bad(std::io::Error::other("too many blobs")).into());
            }
            blobs.insert(digest, (entry.size(), entry.raw_file_position()));
        }
        Ok(BaseBlobs {
            path: path.to_path_buf(),
            blobs,
            tar,
            _opened: None,
        })
    }
}

fn is_plain_tar(path: &Path) -> Result<bool, Error> {
    use std::io::Read as _;
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path).map_err(|e| Error::io_path("open", path, e))?;
    let n = f
        .read(&mut head)
        .map_err(|e| Error::io_path("read", path, e))?;
    let (kind, _) =
        crate::archive::compress::sniff(&head[..n]).map_err(|e| Error::io_path("read", path, e))?;
    Ok(kind == crate::archive::compress::Compression::None)
}

/// Where each external blob of a delta is: the index of the first base
/// holding it and its offset there. Refuses, naming them, blobs no base
/// holds, and a base blob whose size is not the one the delta lists.
pub fn locate_external(
    delta: &ArchiveManifest,
    bases: &[BaseBlobs],
) -> Result<BTreeMap<Digest, (usize, u64)>, Error> {
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for ext in &delta.external {
        let hit = bases
            .iter()
            .enumerate()
            .find_map(|(i, b)| b.blobs.get(&ext.digest).map(|&(size, off)| (i, size, off)));
        match hit {
            Some((i, size, _)) if size != ext.size => {
                return Err(IntegrityError::Contradiction(format!(
                    "base {} holds {} with {size} bytes but the delta lists {} bytes",
                    bases[i].path.display(),
                    ext.digest,
                    ext.size
                ))
                .into());
            }
            Some((i, _, off)) => {
                found.insert(ext.digest, (i, off));
            }
            None => missing.push(ext.digest.to_string()),
        }
    }
    if !missing.is_empty() {
        let named: Vec<String> = delta.bases.iter().map(|b| b.digest.to_string()).collect();
        return Err(Error::Usage(format!(
            "the base(s) given lack {} external blob(s) of the delta: {} (the delta was packed against {})",
            missing.len(),
            missing.join(", "),
            named.join(", ")
        )));
    }
    Ok(found)
}

/// The full archive's manifest: the delta's, its external blobs carried.
pub fn full_manifest(delta: &ArchiveManifest) -> ArchiveManifest {
    let mut m = delta.clone();
    m.blobs
        .extend(delta.external.iter().map(|e| e.blob_record()));
    m.blobs.sort_by_key(|b| b.digest);
    m.bases.clear();
    m.external.clear();
    m
}

/// The tar mtime pack used: the archive's `created` time.
fn mtime_of(m: &ArchiveManifest) -> Result<u64, Error> {
    let t: jiff::Timestamp = m.created.parse().map_err(|e| {
        IntegrityError::Contradiction(format!("airlock.json created {:?}: {e}", m.created))
    })?;
    u64::try_from(t.as_second()).map_err(|_| {
        IntegrityError::Contradiction(format!(
            "airlock.json created {:?} is before 1970",
            m.created
        ))
        .into()
    })
}

/// Verify the whole archive (or volume set, by any name `ArchiveInput`
/// accepts) and keep a tar to copy blobs out of.
fn opened(path: &Path) -> Result<OpenedArchive, Error> {
    match super::input::ArchiveInput::open(path)?.volumes() {
        Some(set) => open_archive(&set.index_path, &NoProgress),
        None => open_archive(path, &NoProgress),
    }
}

pub fn run(req: &MergeRequest, progress: &dyn Progress) -> Result<Merged, Error> {
    let zstd = output::compression(&req.output, req.zstd)?;
    output::check(&req.output, &[], req.force, req.split.is_some())?;
    if req.bases.is_empty() {
        return Err(Error::Usage(
            "merge needs at least one base and a delta".into(),
        ));
    }
    let delta = opened(&req.delta)?;
    let dm = &delta.outcome.manifest;
    if !dm.is_delta() {
        return Err(Error::Usage(format!(
            "{} is a full archive, not a delta (the last archive given must be the delta)",
            req.delta.display()
        )));
    }
    let bases = req
        .bases
        .iter()
        .map(|p| BaseBlobs::for_merge(p))
        .collect::<Result<Vec<_>, _>>()?;
    let located = locate_external(dm, &bases)?;

    let manifest = full_manifest(dm);
    let index = layout_files::build_index(&manifest.images);
    let metadata = &delta.outcome.metadata;
    let layers_of = |d: &Digest| -> Option<Vec<Digest>> {
        let m = oci::parse_manifest(metadata.get(d)?).ok()?;
        Some(m.layers.iter().map(|l| l.digest).collect())
    };
    let docker =
        layout_files::build_docker_manifest(&manifest.images, &layers_of).ok_or_else(|| {
            IntegrityError::Corrupt("an image manifest of the delta is unreadable".into())
        })?;
    if Digest::of(&index) != manifest.layout.index.digest
        || Digest::of(&docker) != manifest.layout.docker_manifest.digest
    {
        return Err(IntegrityError::Contradiction(
            "the delta's index.json or manifest.json is not the one its images give".into(),
        )
        .into());
    }

    let delta_tar = Arc::new(delta.tar.try_clone().map_err(|e| Error::io("open", e))?);
    let base_tars: Vec<_> = bases.iter().map(|b| b.tar.clone()).collect();
    let mut blobs = BTreeMap::new();
    let mut from_bases_bytes = 0;
    for rec in &manifest.blobs {
        let origin = match located.get(&rec.digest) {
            Some((i, offset)) => {
                from_bases_bytes += rec.size;
                region(&base_tars, *i, *offset)?
            }
            None => {
                let offset = delta.outcome.blob_offsets.get(&rec.digest).ok_or_else(|| {
                    IntegrityError::MissingBlob {
                        digest: rec.digest.to_string(),
                    }
                })?;
                BlobOrigin::Region {
                    file: delta_tar.clone(),
                    offset: *offset,
                }
            }
        };
        blobs.insert(rec.digest, planned(rec, origin));
    }
    let plan = Plan {
        manifest,
        index,
        docker,
        blobs,
    };
    let opts = WriteOptions {
        zstd,
        mtime: mtime_of(dm)?,
    };
    progress.set_total(plan.manifest.blobs.iter().map(|b| b.size).sum());
    // The writer re-hashes every blob it copies: a mismatch here is a
    // damaged (or changed) base or delta, so an integrity failure.
    let result =
        super::write_plan(&req.output, req.split, &plan, &opts, progress).map_err(|e| match e {
            Error::Source(m) => IntegrityError::Corrupt(m).into(),
            e => e,
        })?;
    Ok(Merged {
        result,
        delta_digest: delta.outcome.manifest_digest,
        from_bases: located.len(),
        from_bases_bytes,
    })
}

fn region(tars: &[Arc<std::fs::File>], i: usize, offset: u64) -> Result<BlobOrigin, Error> {
    let file = tars
        .get(i)
        .ok_or_else(|| Error::Usage("base index out of range".into()))?;
    Ok(BlobOrigin::Region {
        file: file.clone(),
        offset,
    })
}

fn planned(rec: &BlobRecord, origin: BlobOrigin) -> PlannedBlob {
    PlannedBlob {
        record: rec.clone(),
        origin,
    }
}

/// `verify --base`: every external blob of `delta` found in a base with
/// its size, each base verified in full (so each blob is re-hashed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasesChecked {
    pub blobs: usize,
    pub bytes: u64,
}

pub fn check_bases(delta: &ArchiveManifest, bases: &[PathBuf]) -> Result<BasesChecked, Error> {
    let opened = bases
        .iter()
        .map(|p| BaseBlobs::verified(p))
        .collect::<Result<Vec<_>, _>>()?;
    let located = locate_external(delta, &opened)?;
    Ok(BasesChecked {
        blobs: located.len(),
        bytes: delta.external.iter().map(|e| e.size).sum(),
    })
}
