//! What pack is about to write: image records plus every blob they need,
//! each with the place its bytes can be read from, and the archive-level
//! trust material. Sources build it; the archive writer and the pack-time
//! gate read it. Blob bytes are checked against their digest when the
//! writer copies them, not trusted here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::manifest::{ArchiveEvidenceRecord, EvidenceRecord, EvidenceRole, TransparencyRecord};
use super::{media, BlobRecord, Digest, ImageRecord};

/// Where a blob's bytes are read from when the archive is written.
#[derive(Debug, Clone)]
pub enum BlobOrigin {
    File(PathBuf),
    Memory(Arc<[u8]>),
    /// Bytes at `offset` in an open file (a blob inside another archive's
    /// tar, for merge); as long as the blob's record says.
    Region {
        file: Arc<std::fs::File>,
        offset: u64,
    },
    /// Fetched only while the archive is written (a registry layer streamed
    /// into the archive, so it is written once, not cached then copied).
    Remote(Arc<dyn RemoteBlob>),
}

/// A blob whose bytes arrive from elsewhere as they are read. The reader
/// checks size and digest as for any origin; this only delivers bytes.
pub trait RemoteBlob: Send + Sync + std::fmt::Debug {
    /// Start fetching into a bounded buffer, so the bytes are on their way
    /// before they are read. Idempotent.
    fn prefetch(&self);
    /// The bytes in order. A failure is an `io::Error` whose inner error
    /// is a `crate::error::Error` naming the blob and what went wrong.
    fn open(&self) -> std::io::Result<Box<dyn std::io::Read + Send>>;
    /// How many blobs after the one being read may be fetched meanwhile.
    fn lookahead(&self) -> usize;
    /// "blob D of REPO", for messages.
    fn describe(&self) -> String;
}

impl BlobOrigin {
    /// The blob's bytes (`size` of them for a region), from the start.
    pub fn open(&self, size: u64) -> std::io::Result<Box<dyn std::io::Read + Send>> {
        Ok(match self {
            BlobOrigin::Memory(bytes) => Box::new(std::io::Cursor::new(bytes.clone())),
            BlobOrigin::File(path) => Box::new(std::fs::File::open(path)?),
            BlobOrigin::Region { file, offset } => {
                Box::new(super::region::Region::new(file.clone(), *offset, size))
            }
            BlobOrigin::Remote(r) => r.open()?,
        })
    }
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
    /// Set by the Rekor step of pack (see `source::rekor::attach_rekor_proofs`).
    pub transparency: Option<TransparencyRecord>,
    /// Archive-level trust material (see `source::trust::load`); kept apart from
    /// `blobs` so it can be replaced as a whole. The writer adds its blobs.
    pub trust: Option<TrustMaterial>,
    /// Private copies some blobs are read from (an unpacked oci-archive),
    /// kept until the set is dropped, i.e. until the writer is done.
    pub spools: Vec<Arc<tempfile::TempDir>>,
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
                    if o.get().record.class() != super::manifest::BlobClass::Metadata {
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
        self.spools.extend(other.spools);
        for (d, b) in other.blobs {
            self.blobs.entry(d).or_insert(b);
        }
    }
}

/// One archive-level document.
#[derive(Debug, Clone)]
pub struct TrustItem {
    pub role: EvidenceRole,
    /// File name it was published under (recorded in airlock.json).
    pub name: String,
    pub bytes: Arc<[u8]>,
}

impl TrustItem {
    pub fn new(role: EvidenceRole, name: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> Self {
        TrustItem {
            role,
            name: name.into(),
            bytes: bytes.into(),
        }
    }

    fn media_type(&self) -> &'static str {
        if self.role == EvidenceRole::TrustRoot {
            media::TRUSTED_ROOT
        } else {
            media::TUF_METADATA
        }
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.bytes)
    }
}

/// The archive-level evidence of one archive, in the order it is recorded:
/// the trusted root, then root versions (ascending), timestamp, snapshot,
/// targets.
#[derive(Debug, Clone, Default)]
pub struct TrustMaterial {
    pub items: Vec<TrustItem>,
}

impl TrustMaterial {
    /// The records for airlock.json's top-level `evidence`.
    pub fn records(&self) -> Vec<ArchiveEvidenceRecord> {
        self.items
            .iter()
            .map(|i| ArchiveEvidenceRecord {
                role: i.role,
                digest: i.digest(),
                media_type: i.media_type().to_string(),
                name: i.name.clone(),
            })
            .collect()
    }

    /// The blobs to store.
    pub fn blobs(&self) -> impl Iterator<Item = PlannedBlob> + '_ {
        self.items.iter().map(|i| PlannedBlob {
            record: BlobRecord {
                digest: i.digest(),
                size: i.bytes.len() as u64,
                media_type: i.media_type().to_string(),
            },
            origin: BlobOrigin::Memory(i.bytes.clone()),
        })
    }
}
