//! Where images come from. A source resolves references into an
//! [`ImageSet`]: image records plus every blob they need, each with the place
//! its bytes can be read from. Blob bytes are checked against their digest
//! when the archive writer copies them, not trusted here.

pub mod docker_archive;
pub mod files;
pub mod inventory;
pub mod layout;
pub mod notary;
pub mod oci_archive;
pub mod registry;
pub mod rekor;
pub mod rekor_cache;
pub mod trust;

pub use crate::model::image_set::{BlobOrigin, ImageSet, PlannedBlob};

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
