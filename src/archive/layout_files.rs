//! `index.json` and the docker-compatible `manifest.json`: derived from the
//! image records when writing, and checked against them when reading, so the
//! two can never disagree with `airlock.json`. `index.json` lists every
//! entry (artifacts too); `manifest.json` only the runnable images.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::IntegrityError;
use crate::model::{media, Digest, ImageRecord, PlatformRecord};

pub use crate::model::media::REF_NAME;
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
pub const AIRLOCK_REFERENCE: &str = "io.airlock.image.reference";

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct LayoutIndex {
    schema_version: u32,
    media_type: String,
    manifests: Vec<LayoutDescriptor>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct LayoutDescriptor {
    media_type: String,
    digest: Digest,
    size: u64,
    /// Absent for an artifact without a platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    platform: Option<LayoutPlatform>,
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct LayoutPlatform {
    architecture: String,
    os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
}

impl From<&PlatformRecord> for LayoutPlatform {
    fn from(p: &PlatformRecord) -> Self {
        LayoutPlatform {
            architecture: p.architecture.clone(),
            os: p.os.clone(),
            variant: p.variant.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// Whether `r` may stand in `org.opencontainers.image.ref.name` (OCI grammar).
fn valid_ref_name(r: &str) -> bool {
    !r.is_empty()
        && r.split('/').all(|c| {
            !c.is_empty()
                && c.chars()
                    .next()
                    .is_some_and(|ch| ch.is_ascii_alphanumeric())
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-._:@+".contains(ch))
        })
}

/// `name:tag` for docker's RepoTags, when the reference has a tag.
pub fn docker_repo_tag(r: &str) -> Option<String> {
    let without_digest = r.split('@').next()?;
    let last = without_digest.rsplit('/').next()?;
    if !last.contains(':')
        || !valid_ref_name(without_digest)
        || without_digest.chars().any(|c| c.is_ascii_uppercase())
    {
        return None;
    }
    Some(without_digest.to_string())
}

fn annotations(img: &ImageRecord) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert(AIRLOCK_REFERENCE.to_string(), img.reference.clone());
    if valid_ref_name(&img.reference) {
        a.insert(REF_NAME.to_string(), img.reference.clone());
        a.insert(CONTAINERD_NAME.to_string(), img.reference.clone());
    }
    a
}

fn index_doc(images: &[ImageRecord]) -> LayoutIndex {
    LayoutIndex {
        schema_version: 2,
        media_type: media::OCI_INDEX.to_string(),
        manifests: images
            .iter()
            .map(|img| LayoutDescriptor {
                media_type: img.manifest_media_type.clone(),
                digest: img.manifest_digest,
                size: img.manifest_size,
                platform: img.platform.as_ref().map(Into::into),
                annotations: annotations(img),
            })
            .collect(),
    }
}

fn docker_doc(
    images: &[ImageRecord],
    layers_of: &dyn Fn(&Digest) -> Option<Vec<Digest>>,
) -> Option<Vec<DockerEntry>> {
    // docker load knows only images; artifacts travel in the OCI layout.
    images
        .iter()
        .filter(|img| img.kind.is_image())
        .map(|img| {
            Some(DockerEntry {
                config: img.config_digest.blob_path(),
                repo_tags: docker_repo_tag(&img.reference).into_iter().collect(),
                layers: layers_of(&img.manifest_digest)?
                    .iter()
                    .map(|d| d.blob_path())
                    .collect(),
            })
        })
        .collect()
}

/// Serialise `index.json` for these images.
pub fn build_index(images: &[ImageRecord]) -> Vec<u8> {
    serde_json::to_vec(&index_doc(images)).unwrap_or_default()
}

/// Serialise `manifest.json`; `layers_of` gives each manifest's layer digests.
pub fn build_docker_manifest(
    images: &[ImageRecord],
    layers_of: &dyn Fn(&Digest) -> Option<Vec<Digest>>,
) -> Option<Vec<u8>> {
    serde_json::to_vec(&docker_doc(images, layers_of)?).ok()
}

fn contradiction(msg: String) -> IntegrityError {
    IntegrityError::Contradiction(msg)
}

/// `index.json` must list exactly the images of the archive manifest.
pub fn check_index(bytes: &[u8], images: &[ImageRecord]) -> Result<(), IntegrityError> {
    let got: LayoutIndex =
        serde_json::from_slice(bytes).map_err(|e| IntegrityError::MalformedJson {
            name: "index.json".into(),
            reason: e.to_string(),
        })?;
    let want = index_doc(images);
    if got.manifests.len() != want.manifests.len() {
        return Err(contradiction(format!(
            "index.json lists {} images but airlock.json lists {}",
            got.manifests.len(),
            want.manifests.len()
        )));
    }
    for (g, w) in got.manifests.iter().zip(&want.manifests) {
        if g != w {
            return Err(contradiction(format!(
                "index.json entry {} does not match airlock.json image {} ({})",
                g.digest,
                w.digest,
                crate::error::quoted(
                    w.annotations
                        .get(AIRLOCK_REFERENCE)
                        .map(String::as_str)
                        .unwrap_or("")
                )
            )));
        }
    }
    if got != want {
        return Err(contradiction(
            "index.json header differs from the one airlock writes".into(),
        ));
    }
    Ok(())
}

/// `manifest.json` must agree with the images and their manifests' layers.
pub fn check_docker_manifest(
    bytes: &[u8],
    images: &[ImageRecord],
    layers_of: &dyn Fn(&Digest) -> Option<Vec<Digest>>,
) -> Result<(), IntegrityError> {
    let got: Vec<DockerEntry> =
        serde_json::from_slice(bytes).map_err(|e| IntegrityError::MalformedJson {
            name: "manifest.json".into(),
            reason: e.to_string(),
        })?;
    let want = docker_doc(images, layers_of).ok_or_else(|| {
        contradiction("an image manifest could not be read to check manifest.json".into())
    })?;
    if got != want {
        return Err(contradiction(
            "manifest.json does not match the images in airlock.json".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_tags_only_for_tagged_names() {
        assert_eq!(
            docker_repo_tag("localhost/a/b:1.0").as_deref(),
            Some("localhost/a/b:1.0")
        );
        assert_eq!(
            docker_repo_tag("reg:5000/a/b:1.0@sha256:00").as_deref(),
            Some("reg:5000/a/b:1.0")
        );
        assert_eq!(docker_repo_tag("reg:5000/a/b"), None);
        assert_eq!(docker_repo_tag("/tmp/x@sha256:00"), None);
        assert!(!valid_ref_name("/abs"));
        assert!(valid_ref_name("localhost/app:1"));
    }
}
