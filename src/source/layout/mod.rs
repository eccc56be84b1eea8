//! Source: a local OCI image layout directory (as written by skopeo, umoci,
//! `cosign save`, oras or buildkit).
//!
//! Images are the `index.json` entries that carry a ref name; entries named
//! `sha256-<hex>.sig|.att|.sbom` are cosign evidence, and manifests whose
//! `subject` is an image are OCI 1.1 referrers.

mod evidence;

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{BlobOrigin, ImageSet, PlatformFilter};
use crate::error::{Error, IoContext};
use crate::model::evidence::cosign_tag;
use crate::model::oci::{self, DescriptorInfo};
use crate::model::{limits, media, BlobRecord, Digest, ImageRecord};

use crate::model::media::REF_NAME;

pub struct LayoutSource {
    root: PathBuf,
    /// What the archive records for this layout: the directory's own name,
    /// never the path as typed (`l`, `./l` and `/abs/l` must give the same
    /// bytes, and local paths must not travel to the site).
    name: String,
    entries: Vec<DescriptorInfo>,
    /// Built on the first evidence lookup, then shared by every image.
    evidence: OnceCell<evidence::EvidenceIndex>,
}

/// Resolve the images of an archive file (`kind`: "oci-archive",
/// "docker-archive") that `unpack` turns into a layout inside a private
/// spool directory; the spool lives as long as the returned set, and the
/// layout is recorded by the archive's file name.
pub fn resolve_unpacked(
    archive: &Path,
    kind: &str,
    refs: &[String],
    filter: &PlatformFilter,
    unpack: impl FnOnce(&Path) -> Result<PathBuf, Error>,
) -> Result<ImageSet, Error> {
    let spool = tempfile::Builder::new()
        .prefix(&format!("airlock-{kind}-"))
        .tempdir()
        .map_err(|e| Error::io("create a private directory", e))?;
    let layout = unpack(spool.path())?;
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| kind.to_string());
    let mut set = LayoutSource::open_as(&layout, name)?.resolve(refs, filter)?;
    set.spools.push(std::sync::Arc::new(spool));
    Ok(set)
}

/// The layout directory's own name, however it was spelt.
fn layout_name(root: &Path) -> String {
    let real = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    real.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "layout".into())
}

fn source_err(root: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Source(format!("OCI layout {}: {msg}", root.display()))
}

impl LayoutSource {
    pub fn open(root: &Path) -> Result<Self, Error> {
        Self::open_as(root, layout_name(root))
    }

    /// A layout recorded under `name` (an unpacked archive's file name,
    /// not the private directory it was unpacked into).
    pub fn open_as(root: &Path, name: String) -> Result<Self, Error> {
        let marker = read_bounded(&root.join("oci-layout"), limits::MAX_OCI_LAYOUT_BYTES)?;
        let v: serde_json::Value = serde_json::from_slice(&marker)
            .map_err(|e| source_err(root, format!("oci-layout: {e}")))?;
        if v.get("imageLayoutVersion").and_then(|v| v.as_str()) != Some("1.0.0") {
            return Err(source_err(
                root,
                "oci-layout: imageLayoutVersion is not 1.0.0",
            ));
        }
        let index = read_bounded(&root.join("index.json"), limits::MAX_JSON_BYTES)?;
        let index =
            oci::parse_index(&index).map_err(|e| source_err(root, format!("index.json: {e}")))?;
        Ok(LayoutSource {
            root: root.to_path_buf(),
            name,
            entries: index.manifests,
            evidence: OnceCell::new(),
        })
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(d.hex())
    }

    /// Read a JSON blob and check it against its descriptor.
    fn read_json_blob(&self, d: &DescriptorInfo) -> Result<Vec<u8>, Error> {
        if d.size > limits::MAX_JSON_BYTES {
            return Err(source_err(
                &self.root,
                format!(
                    "{} is larger than {} bytes",
                    d.digest,
                    limits::MAX_JSON_BYTES
                ),
            ));
        }
        let bytes = read_bounded(&self.blob_path(&d.digest), limits::MAX_JSON_BYTES)?;
        if bytes.len() as u64 != d.size || Digest::of(&bytes) != d.digest {
            return Err(source_err(
                &self.root,
                format!("blob {} does not match its descriptor", d.digest),
            ));
        }
        Ok(bytes)
    }

    fn file_blob(&self, set: &mut ImageSet, d: &DescriptorInfo) -> Result<(), Error> {
        let path = self.blob_path(&d.digest);
        let meta = std::fs::metadata(&path).at("read", &path)?;
        if meta.len() != d.size {
            return Err(source_err(
                &self.root,
                format!(
                    "blob {} is {} bytes, descriptor says {}",
                    d.digest,
                    meta.len(),
                    d.size
                ),
            ));
        }
        set.add_blob(
            BlobRecord {
                digest: d.digest,
                size: d.size,
                media_type: d.media_type.clone(),
            },
            BlobOrigin::File(path),
        );
        Ok(())
    }

    fn memory_blob(set: &mut ImageSet, d: &DescriptorInfo, bytes: Vec<u8>) {
        set.add_blob(
            BlobRecord {
                digest: d.digest,
                size: d.size,
                media_type: d.media_type.clone(),
            },
            BlobOrigin::Memory(bytes.into()),
        );
    }

    /// Names of the images in this layout (evidence tags excluded).
    pub fn image_refs(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|e| e.annotations.get(REF_NAME))
            .filter(|r| cosign_tag(r).is_none())
            .cloned()
            .collect()
    }

    /// Resolve `refs` (all images when empty) for the platforms in `filter`.
    pub fn resolve(&self, refs: &[String], filter: &PlatformFilter) -> Result<ImageSet, Error> {
        let wanted: Vec<(&DescriptorInfo, String)> = if refs.is_empty() {
            self.entries
                .iter()
                .filter(|e| {
                    media::is_image_manifest(&e.media_type) || media::is_index(&e.media_type)
                })
                .filter_map(|e| {
                    let name = e.annotations.get(REF_NAME).cloned();
                    match name {
                        Some(n) if cosign_tag(&n).is_some() => None,
                        Some(n) => Some((e, n)),
                        None if self.is_referrer(e) => None,
                        None => Some((e, format!("{}@{}", self.name, e.digest))),
                    }
                })
                .collect()
        } else {
            // Name → first entry carrying it, so N refs cost O(N), not O(N²).
            let mut named: HashMap<&String, &DescriptorInfo> = HashMap::new();
            for e in &self.entries {
                if let Some(n) = e.annotations.get(REF_NAME) {
                    named.entry(n).or_insert(e);
                }
            }
            let mut out = Vec::new();
            for r in refs {
                let hit = named.get(r).copied().ok_or_else(|| {
                    source_err(
                        &self.root,
                        format!("no image named {r:?}; it has {:?}", self.image_refs()),
                    )
                })?;
                out.push((hit, r.clone()));
            }
            out
        };
        if wanted.is_empty() {
            return Err(source_err(&self.root, "contains no images"));
        }
        let mut set = ImageSet::default();
        for (entry, reference) in wanted {
            self.resolve_one(&mut set, entry, &reference, filter)?;
        }
        Ok(set)
    }

    fn resolve_one(
        &self,
        set: &mut ImageSet,
        entry: &DescriptorInfo,
        reference: &str,
        filter: &PlatformFilter,
    ) -> Result<(), Error> {
        let source = format!("oci-layout:{}", self.name);
        if media::is_index(&entry.media_type) {
            let bytes = self.read_json_blob(entry)?;
            let index = oci::parse_index(&bytes)
                .map_err(|e| source_err(&self.root, format!("{}: {e}", entry.digest)))?;
            let available: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|m| m.platform.as_ref().map(|p| p.to_string()))
                .collect();
            // A child without a platform is an artifact (or an image whose
            // config alone says its platform; add_entry checks that).
            let chosen: Vec<&DescriptorInfo> = index
                .manifests
                .iter()
                .filter(|m| media::is_image_manifest(&m.media_type))
                .filter(|m| m.platform.as_ref().is_none_or(|p| filter.matches(p)))
                .collect();
            let mut added = 0;
            Self::memory_blob(set, entry, bytes);
            for m in chosen {
                if self.add_entry(set, m, reference, &source, Some(entry.digest), filter)? {
                    added += 1;
                }
            }
            if added == 0 {
                return Err(source_err(
                    &self.root,
                    format!(
                        "{reference}: no manifest for the requested platform; available: {}",
                        available.join(", ")
                    ),
                ));
            }
            self.add_evidence(set, entry.digest)?;
        } else if media::is_image_manifest(&entry.media_type) {
            self.add_entry(set, entry, reference, &source, None, filter)?;
        } else {
            return Err(source_err(
                &self.root,
                format!("{reference}: unsupported media type {}", entry.media_type),
            ));
        }
        Ok(())
    }

    /// Add one manifest: an image (platform from its config) or an
    /// artifact of any other kind. False when an index child turned out to
    /// be an image for another platform.
    fn add_entry(
        &self,
        set: &mut ImageSet,
        desc: &DescriptorInfo,
        reference: &str,
        source: &str,
        index_digest: Option<Digest>,
        filter: &PlatformFilter,
    ) -> Result<bool, Error> {
        let bytes = self.read_json_blob(desc)?;
        let manifest = oci::parse_manifest(&bytes)
            .map_err(|e| source_err(&self.root, format!("{}: {e}", desc.digest)))?;
        let kind = oci::entry_kind(&manifest);
        let platform = if kind.is_image() {
            let config_bytes = self.read_json_blob(&manifest.config)?;
            let platform = oci::config_platform(&config_bytes).map_err(|e| {
                source_err(
                    &self.root,
                    format!("config {}: {e}", manifest.config.digest),
                )
            })?;
            // An index child's descriptor platform was already filtered.
            let filtered = index_digest.is_some() && desc.platform.is_some();
            if !filtered && !filter.matches(&platform) {
                if index_digest.is_some() {
                    return Ok(false);
                }
                return Err(source_err(&self.root, format!("{reference} is a single-platform image for {platform}, not the requested platform")));
            }
            Self::memory_blob(set, &manifest.config, config_bytes);
            Some(platform)
        } else {
            // An artifact's config is opaque (a Helm chart's metadata,
            // `{}`, anything): carried as it is, never parsed.
            self.file_blob(set, &manifest.config)?;
            desc.platform.clone()
        };
        let size =
            desc.size + manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>();
        Self::memory_blob(set, desc, bytes);
        for layer in &manifest.layers {
            self.file_blob(set, layer)?;
        }
        set.images.push(ImageRecord {
            reference: reference.to_string(),
            source: source.to_string(),
            index_digest,
            manifest_digest: desc.digest,
            manifest_media_type: desc.media_type.clone(),
            manifest_size: desc.size,
            config_digest: manifest.config.digest,
            kind,
            artifact_type: oci::artifact_type(&manifest),
            platform,
            size,
            evidence: Vec::new(),
        });
        self.add_evidence(set, desc.digest)?;
        Ok(true)
    }

    /// Whether an untagged `index.json` entry is evidence about another
    /// manifest (an OCI 1.1 referrer) rather than something to pack.
    fn is_referrer(&self, e: &DescriptorInfo) -> bool {
        media::is_image_manifest(&e.media_type)
            && self
                .read_json_blob(e)
                .ok()
                .and_then(|b| oci::parse_manifest(&b).ok())
                .is_some_and(|m| m.subject.is_some())
    }
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let f = std::fs::File::open(path).at("open", path)?;
    limits::read_at_most(f, limit)
        .at("read", path)?
        .ok_or_else(|| Error::Source(format!("{} is larger than {limit} bytes", path.display())))
}
