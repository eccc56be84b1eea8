//! `files:DIR`: the files of file artifacts (ORAS convention: one layer per
//! file, titled `org.opencontainers.image.title`) written as plain files,
//! after verification, for the install scripts, CRDs and databases a site
//! needs on disk rather than in a registry.
//!
//! A title must be a plain file name ([`crate::model::oci::check_title`]):
//! no `/`, so neither absolute nor a path, never `..`; two files may not
//! share one. Every title of the plan is checked before anything is
//! written. The files are written with `create_new` (never through an
//! existing file or link) into a fresh directory beside DIR, which is
//! renamed into place at the end, so DIR either holds every file or does
//! not exist. DIR must not exist or be empty, as for `dir:`.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::staging::{Staged, Staging};
use super::{Loaded, LoadedImage, Sink};
use crate::error::{Error, IoContext};
use crate::gate::{Plan, VerifiedArchive};
use crate::model::{media, oci, BlobRecord, Digest};

pub struct FilesSink {
    path: PathBuf,
    staging: Staged,
}

/// What to write: each file's title and blob, with the entry it came from.
struct Planned {
    title: String,
    blob: Digest,
    reference: String,
}

impl FilesSink {
    pub fn new(path: PathBuf) -> Result<Self, Error> {
        super::dir::check_free(&path)?;
        Ok(FilesSink {
            path,
            staging: Staged::default(),
        })
    }
}

/// Every file of the verified plan's file artifacts, titles checked.
fn planned(verified: &VerifiedArchive<'_>) -> Result<Vec<Planned>, Error> {
    let mut out: Vec<Planned> = Vec::new();
    for img in &verified.plan().images {
        let d = img.record.manifest_digest;
        let bytes = verified.outcome().metadata.get(&d).ok_or_else(|| {
            Error::Sink(format!("{}: manifest {d} is not in the archive", img.tag))
        })?;
        let m = oci::parse_manifest(bytes)
            .map_err(|e| Error::Sink(format!("{}: manifest {d}: {e}", img.tag)))?;
        for layer in &m.layers {
            let title = layer
                .annotations
                .get(media::IMAGE_TITLE)
                .cloned()
                .unwrap_or_default();
            oci::check_title(&title).map_err(|e| {
                Error::Sink(format!(
                    "{}: refusing to write its files: {e}",
                    img.record.reference
                ))
            })?;
            if let Some(first) = out.iter().find(|p| p.title == title) {
                return Err(Error::Sink(format!(
                    "{}: refusing to write its files: {title:?} is also a file of {}",
                    img.record.reference, first.reference
                )));
            }
            out.push(Planned {
                title,
                blob: layer.digest,
                reference: img.record.reference.clone(),
            });
        }
    }
    Ok(out)
}

impl Sink for FilesSink {
    fn begin(&mut self, _plan: &Plan) -> Result<(), Error> {
        self.staging.begin(|| Staging::beside(&self.path))
    }

    fn put_blob(&mut self, rec: &BlobRecord, data: &mut dyn Read) -> Result<(), Error> {
        self.staging.put(rec, data)
    }

    fn finish(mut self: Box<Self>, verified: &VerifiedArchive<'_>) -> Result<Loaded, Error> {
        let files = planned(verified)?;
        let staging = self.staging.take()?;
        let out = staging.path().join("files");
        std::fs::create_dir(&out).at("create", &out)?;
        for f in &files {
            let dst = out.join(&f.title);
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&dst)
                .at("create", &dst)?;
            let mut r = staging.open(&f.blob)?;
            std::io::copy(&mut r, &mut w).at("write", &dst)?;
            w.sync_all().at("sync", &dst)?;
        }
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755))
                .at("set permissions on", &out)?;
        }
        super::dir::check_free(&self.path)?;
        // rename(2) replaces an empty directory atomically and refuses a
        // non-empty one.
        std::fs::rename(&out, &self.path).at("rename into", &self.path)?;
        let images = verified
            .plan()
            .images
            .iter()
            .map(|img| LoadedImage {
                reference: img.tag.clone(),
                packed_reference: img.record.reference.clone(),
                manifest_digest: img.record.manifest_digest,
                config_digest: img.record.config_digest,
                image_id: None,
                target_digest: None,
                platform: img.record.platform_label(),
                record_file: None,
                evidence: 0,
                already_present: false,
            })
            .collect();
        let notes = files
            .iter()
            .map(|f| format!("wrote {} (from {})", f.title, f.reference))
            .collect();
        Ok(Loaded {
            target: format!("files:{}", self.path.display()),
            images,
            notes,
        })
    }

    fn abort(self: Box<Self>) {
        // Dropping the staging directory removes it.
    }
}
