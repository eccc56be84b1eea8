//! Plain data: digests, size limits, and airlock's own archive manifest.

pub mod digest;
pub mod evidence;
pub mod image_set;
pub mod inventory;
pub mod limits;
pub mod manifest;
pub mod media;
pub mod notary;
pub mod oci;
pub mod progress;
pub mod region;
pub mod timings;
pub mod warning;

pub use digest::Digest;
pub use manifest::{
    ArchiveEvidenceRecord, ArchiveManifest, BlobRecord, EntryKind, EvidenceRecord, ImageRecord,
    PlatformRecord,
};
pub use progress::{NoProgress, Progress, ProgressGroup};
