//! `dir:PATH`: an OCI image layout with the images *and* their evidence, so
//! `skopeo copy oci:PATH:REF …` and `cosign verify --local-image PATH` work.
//!
//! Everything is written into a temporary directory beside PATH and renamed
//! into place at the end (one `rename(2)`), so PATH either does not exist /
//! stays empty, or holds the complete layout. PATH must not exist or be an
//! empty directory: merging into an existing layout could not be undone
//! atomically, so it is refused. One exception: a delta archive may update
//! the OCI layout at PATH (its external layers are taken from there, as
//! from a `--base`); the new layout is built beside it and exchanged with
//! the old one in one `renameat2(RENAME_EXCHANGE)`, so PATH holds the old
//! layout or the new one, never a mix.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::evidence::Placement;
use super::staging::{Staged, Staging};
use super::{Loaded, LoadedImage, Sink};
use crate::archive::layout_files::{CONTAINERD_NAME, REF_NAME};
use crate::error::{Error, IoContext};
use crate::gate::{Plan, VerifiedArchive};
use crate::model::manifest::EvidenceRole;
use crate::model::{media, BlobRecord};

/// cosign's layout annotations (`cosign save` / `verify --local-image`).
const KIND: &str = "kind";
const KIND_IMAGE: &str = "dev.cosignproject.cosign/image";
const KIND_SIGS: &str = "dev.cosignproject.cosign/sigs";
const KIND_ATTS: &str = "dev.cosignproject.cosign/atts";

pub struct DirSink {
    path: PathBuf,
    staging: Staged,
    /// PATH holds an OCI layout that a delta archive replaces.
    replaces_layout: bool,
}

/// Whether `path` is a non-empty directory holding an OCI layout.
pub fn holds_layout(path: &Path) -> bool {
    path.join("oci-layout").is_file()
}

pub(super) fn check_free(path: &Path) -> Result<(), Error> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Sink(format!(
                    "{} exists and is not empty; unpack into a new directory",
                    path.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Sink(format!("{}: {e}", path.display()))),
    }
}

impl DirSink {
    /// Refuses a non-empty PATH, except an OCI layout: whether the archive
    /// may replace it (only a delta may) is decided once it is read
    /// (`pipeline::delta_unpack`).
    pub fn new(path: PathBuf) -> Result<Self, Error> {
        let replaces_layout = holds_layout(&path);
        if !replaces_layout {
            check_free(&path)?;
        }
        Ok(DirSink {
            path,
            staging: Staged::default(),
            replaces_layout,
        })
    }

    fn index(&self, verified: &VerifiedArchive<'_>) -> Vec<u8> {
        let mut entries: Vec<Value> = Vec::new();
        for (img, evidence) in super::evidence::per_image(verified) {
            let r = &img.record;
            let mut entry = json!({
                "mediaType": r.manifest_media_type,
                "digest": r.manifest_digest.to_string(),
                "size": r.manifest_size,
                "annotations": {REF_NAME: img.tag, CONTAINERD_NAME: img.tag, KIND: KIND_IMAGE},
            });
            // An artifact without a platform gets none (OCI makes it optional).
            if let Some(p) = &r.platform {
                let mut platform = json!({"architecture": p.architecture, "os": p.os});
                if let Some(v) = &p.variant {
                    platform["variant"] = json!(v);
                }
                entry["platform"] = platform;
            }
            entries.push(entry);
            for ev in evidence {
                let mut ann = Map::new();
                if let Placement::CosignTag(t) = &ev.placement {
                    ann.insert(REF_NAME.into(), json!(t));
                }
                match ev.record.role {
                    EvidenceRole::Signature => {
                        ann.insert(KIND.into(), json!(KIND_SIGS));
                    }
                    EvidenceRole::Attestation => {
                        ann.insert(KIND.into(), json!(KIND_ATTS));
                    }
                    _ => {}
                }
                let mut e = json!({
                    "mediaType": ev.record.media_type,
                    "digest": ev.record.digest.to_string(),
                    "size": ev.size,
                });
                if let Some(at) = &ev.record.artifact_type {
                    e["artifactType"] = json!(at);
                }
                if !ann.is_empty() {
                    e["annotations"] = Value::Object(ann);
                }
                entries.push(e);
            }
        }
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": entries,
        }))
        .unwrap_or_default()
    }
}

impl Sink for DirSink {
    fn begin(&mut self, _plan: &Plan) -> Result<(), Error> {
        self.staging.begin(|| Staging::beside(&self.path))
    }

    fn put_blob(&mut self, rec: &BlobRecord, data: &mut dyn Read) -> Result<(), Error> {
        self.staging.put(rec, data)
    }

    fn finish(mut self: Box<Self>, verified: &VerifiedArchive<'_>) -> Result<Loaded, Error> {
        let index = self.index(verified);
        let staging = self.staging.take()?;
        staging.write_file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        // index.json last: the layout is only a layout once every blob is in.
        staging.write_file("index.json", &index)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
                .at("set permissions on", staging.path())?;
        }
        if self.replaces_layout && holds_layout(&self.path) {
            // Both exist; after the exchange the staging name holds the old
            // layout, which dropping the staging removes.
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                staging.path(),
                rustix::fs::CWD,
                &self.path,
                rustix::fs::RenameFlags::EXCHANGE,
            )
            .map_err(std::io::Error::from)
            .at("exchange the new layout with", &self.path)?;
        } else {
            check_free(&self.path)?;
            // rename(2) replaces an empty directory atomically and refuses a
            // non-empty one, so a racing writer cannot be overwritten.
            std::fs::rename(staging.path(), &self.path).at("rename into", &self.path)?;
            staging.keep();
        }
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
                target_digest: Some(img.record.manifest_digest.to_string()),
                platform: img.record.platform_label(),
                record_file: None,
                evidence: img.record.evidence.len(),
                already_present: false,
            })
            .collect();
        Ok(Loaded {
            target: format!("dir:{}", self.path.display()),
            images,
            notes: Vec::new(),
        })
    }

    fn abort(self: Box<Self>) {
        // Dropping the staging directory removes it.
    }
}
