//! Reading OCI manifests and indexes (via oci-spec) into the few facts
//! airlock needs: which digests a document references. The original bytes
//! are never re-serialised, so digests stay the publisher's.

use std::collections::BTreeMap;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::{Digest, PlatformRecord};

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

/// Normalise architecture names the way registries and users spell them.
pub fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "armhf" => "arm",
        other => other,
    }
}
