//! Evidence discovery in a layout: cosign `sha256-<hex>.sig|.att|.sbom`
//! tags and OCI 1.1 referrers (manifests whose `subject` is an image).
//!
//! The layout's manifests are read and parsed once into an index by
//! subject digest, so attaching evidence to N images costs O(N), not one
//! pass over every manifest per image.

use std::collections::HashMap;

use super::{source_err, LayoutSource};
use crate::error::Error;
use crate::model::evidence::{cosign_tag, role_for_artifact};
use crate::model::oci::{self, ManifestInfo};
use crate::model::{limits, media, Digest, EvidenceRecord};
use crate::source::ImageSet;

use crate::model::media::REF_NAME;

/// Every image manifest of `index.json` read once, and which entries may
/// be evidence about which subject.
pub(super) struct EvidenceIndex {
    /// Per entry: its bytes and (when it parses) manifest, for image
    /// manifest entries; `None` for other media types.
    manifests: Vec<Option<(Vec<u8>, Option<ManifestInfo>)>>,
    /// Subject digest → entry positions, in `index.json` order.
    by_subject: HashMap<Digest, Vec<usize>>,
}

impl EvidenceIndex {
    /// Reads every image manifest entry (as each image's discovery did
    /// before, so an unreadable or mismatched one still fails the pack).
    pub(super) fn build(src: &LayoutSource) -> Result<Self, Error> {
        let mut manifests = Vec::with_capacity(src.entries.len());
        let mut by_subject: HashMap<Digest, Vec<usize>> = HashMap::new();
        for (pos, e) in src.entries.iter().enumerate() {
            let tagged = e
                .annotations
                .get(REF_NAME)
                .and_then(|t| cosign_tag(t))
                .map(|(d, _)| d);
            let parsed = if media::is_image_manifest(&e.media_type) {
                let bytes = src.read_json_blob(e)?;
                let m = oci::parse_manifest(&bytes).ok();
                Some((bytes, m))
            } else {
                None
            };
            let referred = parsed
                .as_ref()
                .and_then(|(_, m)| m.as_ref())
                .and_then(|m| m.subject);
            if let Some(d) = tagged {
                by_subject.entry(d).or_default().push(pos);
            }
            // A tag and a subject naming the same image count once.
            if let Some(d) = referred.filter(|d| Some(*d) != tagged) {
                by_subject.entry(d).or_default().push(pos);
            }
            manifests.push(parsed);
        }
        Ok(EvidenceIndex {
            manifests,
            by_subject,
        })
    }
}

impl LayoutSource {
    /// Attach cosign tags and referrers about `subject` to the images that
    /// have it as manifest or index digest.
    pub(super) fn add_evidence(&self, set: &mut ImageSet, subject: Digest) -> Result<(), Error> {
        let index = match self.evidence.get() {
            Some(i) => i,
            None => {
                let built = EvidenceIndex::build(self)?;
                self.evidence.get_or_init(|| built)
            }
        };
        let mut found = Vec::new();
        for &pos in index.by_subject.get(&subject).into_iter().flatten() {
            let Some(e) = self.entries.get(pos) else {
                continue;
            };
            let tag = e.annotations.get(REF_NAME);
            let tag_role = tag
                .and_then(|t| cosign_tag(t))
                .filter(|(d, _)| *d == subject)
                .map(|(_, r)| r);
            // A cosign tag on something that is not an image manifest is
            // read only when its subject is packed, as before.
            let (bytes, m) = match index.manifests.get(pos).and_then(Option::as_ref) {
                Some((b, m)) => (b.clone(), m.clone()),
                None => {
                    let b = self.read_json_blob(e)?;
                    let m = oci::parse_manifest(&b).ok();
                    (b, m)
                }
            };
            let Some(m) = m else {
                if tag_role.is_some() {
                    return Err(source_err(
                        &self.root,
                        format!("evidence {} is not an OCI manifest", e.digest),
                    ));
                }
                continue;
            };
            let role = match tag_role {
                Some(r) => r,
                None if m.subject == Some(subject) => {
                    role_for_artifact(m.artifact_type.as_deref().unwrap_or(&m.config.media_type))
                }
                None => continue,
            };
            for blob in std::iter::once(&m.config).chain(m.layers.iter()) {
                if blob.size <= limits::MAX_JSON_BYTES {
                    let b = self.read_json_blob(blob)?;
                    Self::memory_blob(set, blob, b);
                } else {
                    self.file_blob(set, blob)?;
                }
            }
            Self::memory_blob(set, e, bytes);
            found.push(EvidenceRecord {
                role,
                digest: e.digest,
                media_type: e.media_type.clone(),
                subject,
                artifact_type: m.artifact_type.clone(),
                tag: tag.filter(|t| cosign_tag(t).is_some()).cloned(),
            });
        }
        set.attach_evidence(subject, &found);
        Ok(())
    }
}
