//! Unpacking a delta archive: its external layers are not in it. A
//! registry target must already hold them (the registry sink checks that
//! before pushing anything); every other target takes them from `--base`
//! (an archive, a volume set or an OCI layout directory), each re-hashed
//! against the size and digest the delta lists, so a wrong or damaged base
//! is refused, never loaded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::copy::{self, CheckedReader};
use super::input::ArchiveInput;
use crate::archive::volumes::VolumeReader;
use crate::archive::ReadOptions;
use crate::error::{Error, IntegrityError, IoContext};
use crate::model::progress::{NoProgress, Progress};
use crate::model::{ArchiveManifest, BlobRecord, Digest};
use crate::sink::{Sink, Target};

/// The planned blobs the archive carries, and those it leaves to a base.
pub fn split(m: &ArchiveManifest, blobs: &[BlobRecord]) -> (Vec<BlobRecord>, Vec<BlobRecord>) {
    blobs
        .iter()
        .cloned()
        .partition(|b| m.external_blob(&b.digest).is_none())
}

/// The bases to take external layers from: `--base`, and for `dir:PATH`
/// holding an OCI layout, that layout (a delta updates it in place; the
/// dir sink exchanges old and new atomically). A complete archive may not
/// replace a layout.
pub fn bases_for(
    target: &Target,
    external: &[BlobRecord],
    given: &[PathBuf],
) -> Result<Vec<PathBuf>, Error> {
    let mut bases = given.to_vec();
    if let Target::Dir(p) = target {
        if crate::sink::dir::holds_layout(p) {
            if external.is_empty() {
                return Err(Error::Sink(format!(
                    "{} exists and is not empty; unpack into a new directory (only a delta archive updates the layout there)",
                    p.display()
                )));
            }
            bases.push(p.clone());
        }
    }
    Ok(bases)
}

/// Before anything is loaded: a target that needs the external layers as
/// bytes needs a base to take them from.
pub fn check_target(
    target: &Target,
    external: &[BlobRecord],
    bases: &[PathBuf],
) -> Result<(), Error> {
    if external.is_empty() || !bases.is_empty() || matches!(target, Target::Registry(_)) {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "this is a delta archive: {} layer(s) are not in it; give --base ARCHIVE|DIR holding them (or unpack into the registry:… that already has them, or `airlock merge` first)",
        external.len()
    )))
}

/// Copy `external` from the bases into `sink`, the first base holding a
/// blob giving it; refuses, naming them, blobs no base holds.
pub fn copy_external(
    external: &[BlobRecord],
    bases: &[PathBuf],
    sink: &mut dyn Sink,
    stop: &AtomicBool,
    progress: &dyn Progress,
) -> Result<(), Error> {
    let mut left: BTreeMap<Digest, BlobRecord> =
        external.iter().map(|b| (b.digest, b.clone())).collect();
    for base in bases {
        if left.is_empty() {
            break;
        }
        if base.join("oci-layout").is_file() {
            from_layout(base, &mut left, sink, stop, progress)?;
        } else {
            from_archive(base, &mut left, sink, stop, progress)?;
        }
    }
    if left.is_empty() {
        return Ok(());
    }
    let missing: Vec<String> = left.keys().map(ToString::to_string).collect();
    Err(Error::Usage(format!(
        "the base(s) given lack {} external blob(s) of this delta archive, nothing was loaded: {}",
        missing.len(),
        missing.join(", ")
    )))
}

/// An OCI layout directory: `blobs/sha256/<hex>`, re-hashed as read.
fn from_layout(
    dir: &Path,
    left: &mut BTreeMap<Digest, BlobRecord>,
    sink: &mut dyn Sink,
    stop: &AtomicBool,
    progress: &dyn Progress,
) -> Result<(), Error> {
    let found: Vec<BlobRecord> = left
        .values()
        .filter(|b| dir.join(b.digest.blob_path()).is_file())
        .cloned()
        .collect();
    for rec in found {
        let path = dir.join(rec.digest.blob_path());
        let file = std::fs::File::open(&path).at("open", &path)?;
        let len = file.metadata().at("stat", &path)?.len();
        if len != rec.size {
            return Err(size_differs(dir, &rec, len));
        }
        let mut reader = CheckedReader::new(file, &rec, stop, progress);
        let result = sink.put_blob(&rec, &mut reader);
        reader.verdict(result)?;
        left.remove(&rec.digest);
    }
    Ok(())
}

/// An archive or volume set: the blobs its manifest lists, streamed out
/// of it and re-hashed.
fn from_archive(
    path: &Path,
    left: &mut BTreeMap<Digest, BlobRecord>,
    sink: &mut dyn Sink,
    stop: &AtomicBool,
    progress: &dyn Progress,
) -> Result<(), Error> {
    let input = ArchiveInput::open(path)?;
    let opts = ReadOptions {
        manifest_only: true,
        ..ReadOptions::default()
    };
    let base = input.read(&opts, &NoProgress)?.manifest;
    let mut found = Vec::new();
    for rec in left.values() {
        if let Some(b) = base.blob(&rec.digest) {
            if b.size != rec.size {
                return Err(size_differs(path, rec, b.size));
            }
            found.push(rec.clone());
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    let mut put = |rec: &BlobRecord, data: &mut dyn std::io::Read| sink.put_blob(rec, data);
    match &input {
        ArchiveInput::Volumes { set, .. } => copy::for_each_blob_from(
            VolumeReader::sizes_only(set),
            &found,
            stop,
            progress,
            &mut put,
        )?,
        ArchiveInput::File(p) => copy::for_each_blob(p, &found, stop, progress, &mut put)?,
        ArchiveInput::Stdin => return Err(Error::Usage("--base cannot be stdin".into())),
    }
    for rec in found {
        left.remove(&rec.digest);
    }
    Ok(())
}

fn size_differs(base: &Path, rec: &BlobRecord, size: u64) -> Error {
    IntegrityError::Contradiction(format!(
        "base {} holds {} with {size} bytes but the delta lists {} bytes",
        base.display(),
        rec.digest,
        rec.size
    ))
    .into()
}
