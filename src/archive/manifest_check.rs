//! `airlock.json` as the reader meets it: parsed with its media type and
//! format version checked first, validated on its own before any blob is
//! read, and compared with `index.json` / `manifest.json` and with the
//! documents it lists.

use super::input::bounded;
use super::layout_files;
use super::names;
use crate::error::{Error, IntegrityError};
use crate::model::manifest::{BlobClass, FileRecord, FORMAT_VERSION};
use crate::model::{limits, media, ArchiveManifest, Digest};

pub(super) fn malformed(name: impl Into<String>, reason: impl std::fmt::Display) -> IntegrityError {
    IntegrityError::MalformedJson {
        name: name.into(),
        reason: reason.to_string(),
    }
}

/// The bytes of `airlock.json`: parsed, validated, and their digest.
pub(in crate::archive) fn read_manifest(bytes: &[u8]) -> Result<(ArchiveManifest, Digest), Error> {
    let digest = Digest::of(bytes);
    let manifest = parse_archive_manifest(bytes)?;
    validate_archive_manifest(&manifest)?;
    Ok((manifest, digest))
}

/// `index.json`: the file `airlock.json` records, naming its images.
pub(super) fn check_index_file(
    name: &str,
    bytes: &[u8],
    m: &ArchiveManifest,
) -> Result<(), IntegrityError> {
    check_layout_file(name, bytes, &m.layout.index)?;
    layout_files::check_index(bytes, &m.images)
}

/// A layout file (`index.json`, `manifest.json`) must be byte for byte the
/// one `airlock.json` records.
pub(super) fn check_layout_file(
    name: &str,
    bytes: &[u8],
    rec: &FileRecord,
) -> Result<(), IntegrityError> {
    let actual = Digest::of(bytes);
    if actual != rec.digest || bytes.len() as u64 != rec.size {
        return Err(IntegrityError::Contradiction(format!(
            "{name} ({actual}, {} bytes) is not the file airlock.json records ({}, {} bytes)",
            bytes.len(),
            rec.digest,
            rec.size
        )));
    }
    Ok(())
}

/// A manifest or index that names its own media type must name the one
/// `airlock.json` lists it under.
pub(super) fn check_own_media_type(
    digest: &Digest,
    own: Option<&str>,
    listed: &str,
) -> Result<(), IntegrityError> {
    match own {
        Some(own) if own != listed => Err(IntegrityError::Contradiction(format!(
            "{digest} says it is {own} but airlock.json lists it as {listed}"
        ))),
        _ => Ok(()),
    }
}

/// Media type and format version are checked before the full parse, so a
/// newer archive is reported as unsupported rather than malformed.
fn parse_archive_manifest(bytes: &[u8]) -> Result<ArchiveManifest, Error> {
    let name = names::ARCHIVE_MANIFEST;
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| malformed(name, e))?;
    if value.get("mediaType").and_then(|v| v.as_str()) != Some(media::ARCHIVE_MANIFEST) {
        return Err(IntegrityError::NotAnArchive(format!(
            "{name} has no mediaType {}",
            media::ARCHIVE_MANIFEST
        ))
        .into());
    }
    match value.get("formatVersion").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(Error::Unsupported(format!(
                "format version {v}; this airlock reads version {FORMAT_VERSION}"
            )))
        }
        None => return Err(malformed(name, "formatVersion missing or not a number").into()),
    }
    serde_json::from_value(value).map_err(|e| malformed(name, e).into())
}

/// Internal consistency of `airlock.json` itself, before any blob is read.
fn validate_archive_manifest(m: &ArchiveManifest) -> Result<(), IntegrityError> {
    if m.blobs.len() > limits::MAX_BLOBS {
        return Err(IntegrityError::TooLarge {
            name: "airlock.json blob list".into(),
            size: m.blobs.len() as u64,
            limit: limits::MAX_BLOBS as u64,
        });
    }
    for pair in m.blobs.windows(2) {
        if pair[0].digest >= pair[1].digest {
            return Err(IntegrityError::Contradiction(format!(
                "airlock.json blob list is not sorted or lists {} twice",
                pair[1].digest
            )));
        }
    }
    validate_external(m)?;
    let listed = |d: &Digest, what: &str| -> Result<(), IntegrityError> {
        if m.blob(d).is_none() {
            return Err(IntegrityError::Contradiction(format!(
                "airlock.json names {what} {d} but does not list that blob"
            )));
        }
        Ok(())
    };
    for img in &m.images {
        listed(&img.manifest_digest, "manifest")?;
        listed(&img.config_digest, "config")?;
        if let Some(ix) = &img.index_digest {
            listed(ix, "index")?;
        }
        for ev in &img.evidence {
            listed(&ev.digest, "evidence")?;
            if ev.role.is_archive_level() {
                return Err(IntegrityError::Contradiction(format!(
                    "image {} lists {} evidence, which belongs to the whole archive",
                    crate::error::quoted(&img.reference),
                    ev.role.name()
                )));
            }
        }
    }
    super::trust_material::validate(m)?;
    let metadata_bytes: u64 = m
        .blobs
        .iter()
        .filter(|b| b.class() == BlobClass::Metadata)
        .map(|b| b.size)
        .sum();
    bounded(
        "JSON documents in total",
        metadata_bytes,
        limits::MAX_METADATA_TOTAL,
    )
}

/// A delta's external list: sorted, bounded, each blob named by a listed
/// base, and never also carried (a blob is either in the archive or not).
fn validate_external(m: &ArchiveManifest) -> Result<(), IntegrityError> {
    if m.blobs.len() + m.external.len() > limits::MAX_BLOBS {
        return Err(IntegrityError::TooLarge {
            name: "airlock.json blob and external lists".into(),
            size: (m.blobs.len() + m.external.len()) as u64,
            limit: limits::MAX_BLOBS as u64,
        });
    }
    if m.external.is_empty() != m.bases.is_empty() {
        return Err(IntegrityError::Contradiction(
            "airlock.json lists external blobs without bases, or bases without external blobs"
                .into(),
        ));
    }
    for pair in m.external.windows(2) {
        if pair[0].digest >= pair[1].digest {
            return Err(IntegrityError::Contradiction(format!(
                "airlock.json external list is not sorted or lists {} twice",
                pair[1].digest
            )));
        }
    }
    for e in &m.external {
        if m.blob(&e.digest).is_some() {
            return Err(IntegrityError::Contradiction(format!(
                "airlock.json lists {} as both carried and external",
                e.digest
            )));
        }
        if e.base >= m.bases.len() {
            return Err(IntegrityError::Contradiction(format!(
                "external blob {} names base {}, which airlock.json does not list",
                e.digest, e.base
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::manifest::{LayoutRecord, ToolRecord};
    use crate::model::{BlobRecord, ImageRecord, PlatformRecord};
    use serde_json::json;

    pub(in crate::archive) fn blob(fill: u8, size: u64, media_type: &str) -> BlobRecord {
        BlobRecord {
            digest: Digest::of(&[fill]),
            size,
            media_type: media_type.into(),
        }
    }

    /// A manifest listing `blobs` (sorted here), no images, empty layout files.
    pub(in crate::archive) fn manifest_with(mut blobs: Vec<BlobRecord>) -> ArchiveManifest {
        blobs.sort_by_key(|b| b.digest);
        let empty = FileRecord {
            digest: Digest::of(b""),
            size: 0,
        };
        ArchiveManifest {
            media_type: media::ARCHIVE_MANIFEST.into(),
            format_version: FORMAT_VERSION,
            created: "2024-01-01T00:00:00Z".into(),
            tool: ToolRecord {
                name: "airlock".into(),
                version: "test".into(),
            },
            layout: LayoutRecord {
                index: empty,
                docker_manifest: empty,
            },
            images: Vec::new(),
            blobs,
            transparency: None,
            evidence: Vec::new(),
            bases: Vec::new(),
            external: Vec::new(),
        }
    }

    fn image(manifest: Digest, config: Digest) -> ImageRecord {
        ImageRecord {
            reference: "example.org/app:1".into(),
            source: "layout".into(),
            index_digest: None,
            manifest_digest: manifest,
            manifest_media_type: media::OCI_MANIFEST.into(),
            manifest_size: 1,
            config_digest: config,
            kind: Default::default(),
            artifact_type: None,
            platform: Some(PlatformRecord {
                os: "linux".into(),
                architecture: "amd64".into(),
                variant: None,
            }),
            size: 1,
            evidence: Vec::new(),
        }
    }

    fn bytes_of(m: &ArchiveManifest) -> Vec<u8> {
        serde_json::to_vec(m).unwrap()
    }

    #[test]
    fn a_valid_manifest_reads_with_its_digest() {
        let m = manifest_with(vec![blob(1, 10, media::OCI_MANIFEST)]);
        let bytes = bytes_of(&m);
        let (read, digest) = read_manifest(&bytes).unwrap();
        assert_eq!(read, m);
        assert_eq!(digest, Digest::of(&bytes));
    }

    #[test]
    fn an_unknown_format_version_is_unsupported() {
        let mut v = serde_json::to_value(manifest_with(Vec::new())).unwrap();
        v["formatVersion"] = json!(FORMAT_VERSION + 1);
        let e = read_manifest(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
        v["formatVersion"] = json!("1");
        let e = read_manifest(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(
            matches!(e, Error::Integrity(IntegrityError::MalformedJson { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn another_media_type_is_not_an_archive() {
        let mut v = serde_json::to_value(manifest_with(Vec::new())).unwrap();
        v["mediaType"] = json!(media::OCI_MANIFEST);
        let e = read_manifest(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(
            matches!(e, Error::Integrity(IntegrityError::NotAnArchive(_))),
            "{e:?}"
        );
        let e = read_manifest(b"not json").unwrap_err();
        assert!(
            matches!(e, Error::Integrity(IntegrityError::MalformedJson { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn an_unsorted_or_repeated_blob_list_is_refused() {
        let mut m = manifest_with(vec![
            blob(1, 10, media::OCI_MANIFEST),
            blob(2, 10, media::OCI_MANIFEST),
        ]);
        m.blobs.reverse();
        assert!(matches!(
            validate_archive_manifest(&m),
            Err(IntegrityError::Contradiction(_))
        ));
        let twice = manifest_with(vec![
            blob(1, 10, media::OCI_MANIFEST),
            blob(1, 10, media::OCI_MANIFEST),
        ]);
        assert!(matches!(
            validate_archive_manifest(&twice),
            Err(IntegrityError::Contradiction(_))
        ));
    }

    #[test]
    fn an_image_must_name_listed_blobs() {
        let manifest = blob(1, 10, media::OCI_MANIFEST);
        let config = blob(2, 10, media::OCI_CONFIG);
        let mut m = manifest_with(vec![manifest.clone(), config.clone()]);
        m.images.push(image(manifest.digest, config.digest));
        assert!(validate_archive_manifest(&m).is_ok());
        m.images[0].config_digest = Digest::of(b"unlisted");
        assert!(matches!(
            validate_archive_manifest(&m),
            Err(IntegrityError::Contradiction(msg)) if msg.contains("config")
        ));
    }

    #[test]
    fn too_many_json_bytes_in_total_are_refused() {
        // Each at the largest size that still counts as a JSON document.
        let each = limits::SMALL_BLOB_BYTES;
        let n = (limits::MAX_METADATA_TOTAL / each + 1) as u8;
        let m = manifest_with((0..n).map(|i| blob(i, each, media::OCI_MANIFEST)).collect());
        assert!(matches!(
            validate_archive_manifest(&m),
            Err(IntegrityError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_layout_file_must_match_its_record() {
        let rec = FileRecord {
            digest: Digest::of(b"{}"),
            size: 2,
        };
        assert!(check_layout_file("index.json", b"{}", &rec).is_ok());
        assert!(matches!(
            check_layout_file("index.json", b"[]", &rec),
            Err(IntegrityError::Contradiction(msg)) if msg.starts_with("index.json")
        ));
    }

    #[test]
    fn a_document_may_not_contradict_its_listed_media_type() {
        let d = Digest::of(b"x");
        assert!(check_own_media_type(&d, None, media::OCI_INDEX).is_ok());
        assert!(check_own_media_type(&d, Some(media::OCI_INDEX), media::OCI_INDEX).is_ok());
        assert!(matches!(
            check_own_media_type(&d, Some(media::OCI_MANIFEST), media::OCI_INDEX),
            Err(IntegrityError::Contradiction(_))
        ));
    }

    /// `n` distinct small layer records.
    fn layers(n: usize) -> Vec<BlobRecord> {
        (0..n as u64)
            .map(|i| BlobRecord {
                digest: Digest::of(&i.to_le_bytes()),
                size: 1,
                media_type: media::OCI_LAYER.into(),
            })
            .collect()
    }

    #[test]
    fn a_blob_list_at_the_limit_passes_and_one_more_is_refused() {
        assert!(validate_archive_manifest(&manifest_with(layers(limits::MAX_BLOBS))).is_ok());
        assert!(matches!(
            validate_archive_manifest(&manifest_with(layers(limits::MAX_BLOBS + 1))),
            Err(IntegrityError::TooLarge { size, limit, .. })
                if size == limits::MAX_BLOBS as u64 + 1 && limit == limits::MAX_BLOBS as u64
        ));
    }

    #[test]
    fn json_bytes_in_total_at_the_limit_pass_and_one_byte_more_is_refused() {
        let each = limits::SMALL_BLOB_BYTES;
        assert_eq!(limits::MAX_METADATA_TOTAL % each, 0);
        let n = (limits::MAX_METADATA_TOTAL / each) as u8;
        let at: Vec<_> = (0..n).map(|i| blob(i, each, media::OCI_MANIFEST)).collect();
        assert!(validate_archive_manifest(&manifest_with(at.clone())).is_ok());
        let mut over = at;
        over.push(blob(n, 1, media::OCI_CONFIG));
        assert!(matches!(
            validate_archive_manifest(&manifest_with(over)),
            Err(IntegrityError::TooLarge { size, limit, .. })
                if size == limits::MAX_METADATA_TOTAL + 1 && limit == limits::MAX_METADATA_TOTAL
        ));
    }
}
