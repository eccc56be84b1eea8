//! The evidence a sink hands on with the images, and where a consumer
//! looks for each piece: shared by the `dir:` layout (index entries and
//! cosign annotations) and the registry (tags and referrers), so both
//! targets agree on what is evidence and how it is found.

use std::collections::BTreeSet;

use crate::gate::{SelectedImage, VerifiedArchive};
use crate::model::evidence::cosign_tag;
use crate::model::{media, Digest, EvidenceRecord};

/// How a consumer finds a piece of evidence next to its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// A cosign manifest under `sha256-<subject hex>.sig|.att|.sbom`.
    CosignTag(String),
    /// An OCI 1.1 referrer: a manifest found through its `subject`.
    Referrer,
    /// A document only airlock reads (a Rekor proof, a trust root): it has no
    /// place in a registry or in cosign's layout conventions.
    Document,
}

/// One piece of evidence, with its size from airlock.json.
#[derive(Debug, Clone)]
pub struct Evidence<'a> {
    pub record: &'a EvidenceRecord,
    pub size: u64,
    pub placement: Placement,
}

fn placement(ev: &EvidenceRecord) -> Placement {
    if let Some(t) = &ev.tag {
        // Only a tag naming this evidence's own subject is a cosign tag; the
        // archive cannot make a sink write any other tag name.
        if cosign_tag(t).is_some_and(|(d, _)| d == ev.subject) {
            return Placement::CosignTag(t.clone());
        }
    }
    if media::is_image_manifest(&ev.media_type) {
        Placement::Referrer
    } else {
        Placement::Document
    }
}

/// Each selected image with its evidence; a piece shared by several images
/// (evidence on their index) is listed once, with the first.
pub fn per_image<'a>(
    verified: &VerifiedArchive<'a>,
) -> Vec<(&'a SelectedImage, Vec<Evidence<'a>>)> {
    let m = &verified.outcome().manifest;
    let mut seen: BTreeSet<(Digest, Option<String>)> = BTreeSet::new();
    verified
        .plan()
        .images
        .iter()
        .map(|img| {
            let evidence = img
                .record
                .evidence
                .iter()
                .filter_map(|ev| {
                    let size = m.blob(&ev.digest)?.size;
                    seen.insert((ev.digest, ev.tag.clone())).then(|| Evidence {
                        record: ev,
                        size,
                        placement: placement(ev),
                    })
                })
                .collect();
            (img, evidence)
        })
        .collect()
}
