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

/// Where each external blob of a delta is, in the bases given: the base's
/// index and the blob's offset in its tar. Refuses, naming them, blobs no
/// base holds, and a base blob whose size is not the one the delta lists.
pub fn locate_external(
    delta: &ArchiveManifest,
    bases: &[(PathBuf, &ArchiveManifest, &BTreeMap<Digest, u64>)],
) -> Result<BTreeMap<Digest, (usize, u64)>, Error> {
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for ext in &delta.external {
        let mut hit = None;
        for (i, (path, m, offsets)) in bases.iter().enumerate() {
            let (Some(rec), Some(off)) = (m.blob(&ext.digest), offsets.get(&ext.digest)) else {
                continue;
            };
            if rec.size != ext.size {
                return Err(IntegrityError::Contradiction(format!(
                    "base {} holds {} with {} bytes but the delta lists {} bytes",
                    path.display(),
                    ext.digest,
                    rec.size,
                    ext.size
                ))
                .into());
            }
            hit = Some((i, *off));
            break;
        }
        match hit {
            Some(h) => {
                found.insert(ext.digest, h);
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
        .map(|p| opened(p))
        .collect::<Result<Vec<_>, _>>()?;
    let views: Vec<_> = bases
        .iter()
        .zip(&req.bases)
        .map(|(b, p)| (p.clone(), &b.outcome.manifest, &b.outcome.blob_offsets))
        .collect();
    let located = locate_external(dm, &views)?;

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
    let base_tars = bases
        .iter()
        .map(|b| b.tar.try_clone().map(Arc::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::io("open", e))?;
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
    let result = super::write_plan(&req.output, req.split, &plan, &opts, progress)?;
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
        .map(|p| opened(p))
        .collect::<Result<Vec<_>, _>>()?;
    let views: Vec<_> = opened
        .iter()
        .zip(bases)
        .map(|(b, p)| (p.clone(), &b.outcome.manifest, &b.outcome.blob_offsets))
        .collect();
    let located = locate_external(delta, &views)?;
    Ok(BasesChecked {
        blobs: located.len(),
        bytes: delta.external.iter().map(|e| e.size).sum(),
    })
}
