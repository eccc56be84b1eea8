//! Where images come from. A source resolves references into an
//! [`ImageSet`]: image records plus every blob they need, each with the place
//! its bytes can be read from. Blob bytes are checked against their digest
//! when the archive writer copies them, not trusted here.

pub mod layout;
pub mod registry;
pub mod rekor;
pub mod trust;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::model::manifest::{EvidenceRecord, TransparencyRecord};
use crate::model::{BlobRecord, Digest, ImageRecord};

/// Where a blob's bytes are read from when the archive is written.
#[derive(Debug, Clone)]
pub enum BlobOrigin {
    File(PathBuf),
    Memory(Arc<[u8]>),
}

#[derive(Debug, Clone)]
pub struct PlannedBlob {
    pub record: BlobRecord,
    pub origin: BlobOrigin,
}

/// Images to pack and the blobs they reference, identical blobs once.
#[derive(Debug, Default, Clone)]
pub struct ImageSet {
    pub images: Vec<ImageRecord>,
    pub blobs: BTreeMap<Digest, PlannedBlob>,
    /// Set by the Rekor step of pack (see [`rekor::attach_rekor_proofs`]).
    pub transparency: Option<TransparencyRecord>,
    /// Archive-level trust material (see [`trust::load`]); kept apart from
    /// `blobs` so it can be replaced as a whole. The writer adds its blobs.
    pub trust: Option<trust::TrustMaterial>,
}

impl ImageSet {
    /// Adds a blob held in memory (a manifest, config or evidence document).
    pub fn add_memory(&mut self, digest: Digest, media_type: &str, bytes: Vec<u8>) {
        self.add_blob(
            BlobRecord {
                digest,
                size: bytes.len() as u64,
                media_type: media_type.to_string(),
            },
            BlobOrigin::Memory(bytes.into()),
        );
    }

    /// Records `found` (evidence about `subject`) on every image whose
    /// manifest or index is `subject`, once each, in a stable order.
    pub fn attach_evidence(&mut self, subject: Digest, found: &[EvidenceRecord]) {
        for img in self
            .images
            .iter_mut()
            .filter(|i| i.manifest_digest == subject || i.index_digest == Some(subject))
        {
            for ev in found {
                if !img.evidence.contains(ev) {
                    img.evidence.push(ev.clone());
                }
            }
            img.evidence.sort_by_key(|e| (e.role, e.digest));
        }
    }

    pub fn add_blob(&mut self, record: BlobRecord, origin: BlobOrigin) {
        self.blobs
            .entry(record.digest)
            .or_insert(PlannedBlob { record, origin });
    }

    /// Every blob the archive will hold: the images' and their evidence,
    /// plus the trust material's, each digest once.
    pub fn all_blobs(&self) -> BTreeMap<Digest, PlannedBlob> {
        let mut all = self.blobs.clone();
        for b in self.trust.iter().flat_map(|t| t.blobs()) {
            // Should an image carry the same bytes as an opaque layer, the
            // JSON record wins so readers keep the document in hand.
            match all.entry(b.record.digest) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(b);
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    if o.get().record.class() != crate::model::manifest::BlobClass::Metadata {
                        o.insert(b);
                    }
                }
            }
        }
        all
    }

    /// Merge another set; blobs shared between images are stored once.
    pub fn extend(&mut self, other: ImageSet) {
        self.images.extend(other.images);
        for (d, b) in other.blobs {
            self.blobs.entry(d).or_insert(b);
        }
    }
}

/// Which platforms to take from a multi-platform image.
#[derive(Debug, Clone, Default)]
pub struct PlatformFilter {
    /// Empty means every platform.
    pub architectures: Vec<String>,
    pub os: Option<String>,
    pub variant: Option<String>,
}

impl PlatformFilter {
    pub fn matches(&self, p: &crate::model::PlatformRecord) -> bool {
        use crate::model::oci::normalize_arch;
        if p.os == "unknown" || p.architecture == "unknown" {
            return false; // buildkit attestation manifests, not images
        }
        let os_ok = self.os.as_deref().is_none_or(|os| os == p.os);
        let arch_ok = self.architectures.is_empty()
            || self
                .architectures
                .iter()
                .any(|a| normalize_arch(a) == normalize_arch(&p.architecture));
        let variant_ok = match (&self.variant, &p.variant) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            // arm64 images often omit the implied v8 variant.
            (Some(want), None) => want == "v8" && p.architecture == "arm64",
        };
        os_ok && arch_ok && variant_ok
    }
}
