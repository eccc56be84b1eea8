//! Reading OCI manifests and indexes (via oci-spec) into the few facts
//! airlock needs: which digests a document references. The original bytes
//! are never re-serialised, so digests stay the publisher's.

use std::collections::BTreeMap;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::{media, Digest, EntryKind, PlatformRecord};

/// A descriptor reduced to what airlock uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptorInfo {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub platform: Option<PlatformRecord>,
    pub annotations: BTreeMap<String, String>,
}

/// The references an image (or artifact) manifest makes.
#[derive(Debug, Clone)]
pub struct ManifestInfo {
    pub media_type: Option<String>,
    pub artifact_type: Option<String>,
    pub config: DescriptorInfo,
    pub layers: Vec<DescriptorInfo>,
    pub subject: Option<Digest>,
}

/// The references an image index (or Docker manifest list) makes.
#[derive(Debug, Clone)]
pub struct IndexInfo {
    pub media_type: Option<String>,
    pub manifests: Vec<DescriptorInfo>,
    pub subject: Option<Digest>,
}

fn descriptor(d: &Descriptor) -> Result<DescriptorInfo, String> {
    let digest: Digest = d.digest().to_string().parse().map_err(|e| format!("{e}"))?;
    let platform = d.platform().as_ref().map(|p| PlatformRecord {
        os: p.os().to_string(),
        architecture: p.architecture().to_string(),
        variant: p.variant().clone(),
    });
    Ok(DescriptorInfo {
        digest,
        size: d.size(),
        media_type: d.media_type().to_string(),
        platform,
        annotations: d
            .annotations()
            .as_ref()
            .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    })
}

pub fn parse_manifest(bytes: &[u8]) -> Result<ManifestInfo, String> {
    let m: ImageManifest = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if m.schema_version() != 2 {
        return Err(format!("schemaVersion {} is not 2", m.schema_version()));
    }
    Ok(ManifestInfo {
        media_type: m.media_type().as_ref().map(|t| t.to_string()),
        artifact_type: m.artifact_type().as_ref().map(|t| t.to_string()),
        config: descriptor(m.config())?,
        layers: m
            .layers()
            .iter()
            .map(descriptor)
            .collect::<Result<_, _>>()?,
        subject: m
            .subject()
            .as_ref()
            .map(|s| descriptor(s).map(|d| d.digest))
            .transpose()?,
    })
}

pub fn parse_index(bytes: &[u8]) -> Result<IndexInfo, String> {
    let i: ImageIndex = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if i.schema_version() != 2 {
        return Err(format!("schemaVersion {} is not 2", i.schema_version()));
    }
    Ok(IndexInfo {
        media_type: i.media_type().as_ref().map(|t| t.to_string()),
        manifests: i
            .manifests()
            .iter()
            .map(descriptor)
            .collect::<Result<_, _>>()?,
        subject: i
            .subject()
            .as_ref()
            .map(|s| descriptor(s).map(|d| d.digest))
            .transpose()?,
    })
}

/// Platform from an image config (`os`, `architecture`, `variant`).
pub fn config_platform(bytes: &[u8]) -> Result<PlatformRecord, String> {
    #[derive(serde::Deserialize)]
    struct Cfg {
        os: String,
        architecture: String,
        #[serde(default)]
        variant: Option<String>,
    }
    let c: Cfg = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Ok(PlatformRecord {
        os: c.os,
        architecture: c.architecture,
        variant: c.variant.filter(|v| !v.is_empty()),
    })
}

/// What a manifest is. A runnable image has an image config; a Helm chart
/// says so by its config or artifact type; files follow the ORAS convention
/// (every layer titled); anything else is an artifact of its own type.
pub fn entry_kind(m: &ManifestInfo) -> EntryKind {
    if media::is_image_config(&m.config.media_type) {
        return EntryKind::Image;
    }
    if m.config.media_type == media::HELM_CONFIG
        || m.artifact_type.as_deref() == Some(media::HELM_CONFIG)
    {
        return EntryKind::HelmChart;
    }
    let titled = |l: &DescriptorInfo| {
        l.annotations
            .get(media::IMAGE_TITLE)
            .is_some_and(|t| !t.is_empty())
    };
    if !m.layers.is_empty() && m.layers.iter().all(titled) {
        return EntryKind::Files;
    }
    EntryKind::Artifact
}

/// The type airlock.json records for an artifact: its `artifactType`, else
/// its config media type (how OCI 1.0 artifacts say what they are).
pub fn artifact_type(m: &ManifestInfo) -> Option<String> {
    if entry_kind(m) == EntryKind::Image {
        return None;
    }
    Some(
        m.artifact_type
            .clone()
            .unwrap_or_else(|| m.config.media_type.clone()),
    )
}

/// Whether a file artifact's title (`org.opencontainers.image.title`) is a
/// plain file name a site may write into a directory: not empty, not `.` or
/// `..`, no `/` or `\\` (so neither absolute nor a path), no control
/// characters, at most 255 bytes.
pub fn check_title(title: &str) -> Result<(), String> {
    if title.is_empty() {
        return Err("the file title is empty".into());
    }
    if title == "." || title == ".." {
        return Err(format!("the file title {title:?} is not a file name"));
    }
    if title.contains('/') || title.contains('\\') {
        return Err(format!(
            "the file title {title:?} is a path, not a plain file name"
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(format!("the file title {title:?} holds control characters"));
    }
    if title.len() > 255 {
        return Err("the file title is longer than 255 bytes".into());
    }
    Ok(())
}

/// Normalise architecture names the way registries and users spell them.
pub fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "armhf" => "arm",
        other => other,
    }
}
