//! The checks that need every document in hand: manifests reference only
//! blobs that are present, every blob is reachable from an image or its
//! evidence, and airlock.json's claims about each image hold.

use std::collections::{BTreeMap, BTreeSet};

use super::layout_files;
use crate::error::{quoted, IntegrityError};
use crate::model::oci::{self, IndexInfo, ManifestInfo};
use crate::model::{ArchiveManifest, Digest};

/// A parsed manifest or index, by the media type airlock.json lists.
pub enum Doc {
    Manifest(ManifestInfo),
    Index(IndexInfo),
}

fn contradiction(msg: String) -> IntegrityError {
    IntegrityError::Contradiction(msg)
}

pub fn check(
    m: &ArchiveManifest,
    docs: &BTreeMap<Digest, Doc>,
    metadata: &BTreeMap<Digest, Vec<u8>>,
    docker_manifest: &[u8],
) -> Result<(), IntegrityError> {
    // Every reference a manifest makes must be present with the listed size.
    for (digest, doc) in docs {
        if let Doc::Manifest(man) = doc {
            for d in std::iter::once(&man.config).chain(man.layers.iter()) {
                let rec =
                    m.any_blob(&d.digest)
                        .ok_or_else(|| IntegrityError::DanglingReference {
                            from: format!("manifest {digest}"),
                            digest: d.digest.to_string(),
                        })?;
                if rec.size != d.size {
                    return Err(contradiction(format!(
                        "manifest {digest} gives {} a size of {} but the archive holds {} bytes",
                        d.digest, d.size, rec.size
                    )));
                }
            }
        }
    }

    for img in &m.images {
        let Some(Doc::Manifest(man)) = docs.get(&img.manifest_digest) else {
            return Err(contradiction(format!(
                "image {} has no image manifest {}",
                quoted(&img.reference),
                img.manifest_digest
            )));
        };
        if man.config.digest != img.config_digest {
            return Err(contradiction(format!(
                "image {}: airlock.json says config {} but the manifest names {}",
                quoted(&img.reference),
                img.config_digest,
                man.config.digest
            )));
        }
        let kind = oci::entry_kind(man);
        if kind != img.kind || oci::artifact_type(man) != img.artifact_type {
            return Err(contradiction(format!(
                "image {}: airlock.json says it is {} ({}) but its manifest makes it {} ({})",
                quoted(&img.reference),
                img.kind.name(),
                img.artifact_type.as_deref().unwrap_or("no artifact type"),
                kind.name(),
                oci::artifact_type(man)
                    .as_deref()
                    .unwrap_or("no artifact type"),
            )));
        }
        if kind.is_image() {
            check_image_platform(img, metadata)?;
        } else if img.platform.is_some() && img.index_digest.is_none() {
            // Only an index descriptor can give an artifact a platform.
            return Err(contradiction(format!(
                "artifact {} claims a platform but no index names one",
                quoted(&img.reference)
            )));
        }
        let size =
            img.manifest_size + man.config.size + man.layers.iter().map(|l| l.size).sum::<u64>();
        let listed_manifest_size = m.blob(&img.manifest_digest).map(|b| b.size);
        if size != img.size || listed_manifest_size != Some(img.manifest_size) {
            return Err(contradiction(format!(
                "image {}: recorded sizes do not add up",
                quoted(&img.reference)
            )));
        }
        if let Some(ix) = &img.index_digest {
            let Some(Doc::Index(index)) = docs.get(ix) else {
                return Err(contradiction(format!(
                    "image {}: {ix} is not an image index",
                    quoted(&img.reference)
                )));
            };
            // An artifact's platform, if any, is its descriptor's.
            if !index.manifests.iter().any(|d| {
                d.digest == img.manifest_digest && (kind.is_image() || d.platform == img.platform)
            }) {
                return Err(contradiction(format!(
                    "image {}: index {ix} does not contain manifest {}",
                    quoted(&img.reference),
                    img.manifest_digest
                )));
            }
        }
        for ev in &img.evidence {
            if ev.subject != img.manifest_digest && Some(ev.subject) != img.index_digest {
                return Err(contradiction(format!(
                    "evidence {} is about {}, which is neither image {}'s manifest nor its index",
                    ev.digest,
                    ev.subject,
                    quoted(&img.reference)
                )));
            }
            if let Some(Doc::Manifest(evm)) = docs.get(&ev.digest) {
                if evm.subject.is_some_and(|s| s != ev.subject) {
                    return Err(contradiction(format!(
                        "evidence {} names a different subject",
                        ev.digest
                    )));
                }
            }
        }
    }

    check_reachable(m, docs)?;
    check_external_are_image_layers(m, docs)?;

    let layers_of = |d: &Digest| match docs.get(d) {
        Some(Doc::Manifest(man)) => Some(man.layers.iter().map(|l| l.digest).collect()),
        _ => None,
    };
    layout_files::check_docker_manifest(docker_manifest, &m.images, &layers_of)
}

/// An image's recorded platform is the one its config states.
fn check_image_platform(
    img: &crate::model::ImageRecord,
    metadata: &BTreeMap<Digest, Vec<u8>>,
) -> Result<(), IntegrityError> {
    let config = metadata.get(&img.config_digest).ok_or_else(|| {
        contradiction(format!(
            "image {}: config {} is not a JSON document",
            quoted(&img.reference),
            img.config_digest
        ))
    })?;
    let platform = oci::config_platform(config).map_err(|e| IntegrityError::MalformedJson {
        name: format!("config {}", img.config_digest),
        reason: e,
    })?;
    if Some(&platform) != img.platform.as_ref() {
        return Err(contradiction(format!(
            "image {}: airlock.json says platform {} but its config says {platform}",
            quoted(&img.reference),
            img.platform_label()
        )));
    }
    Ok(())
}

/// Walk from images, their evidence and the archive-level evidence; any
/// listed blob not reached is extra.
fn check_reachable(
    m: &ArchiveManifest,
    docs: &BTreeMap<Digest, Doc>,
) -> Result<(), IntegrityError> {
    let mut reached = BTreeSet::new();
    let mut stack: Vec<Digest> = Vec::new();
    for img in &m.images {
        stack.push(img.manifest_digest);
        stack.extend(img.index_digest);
        stack.extend(img.evidence.iter().map(|e| e.digest));
    }
    // Trust material is about the whole archive.
    stack.extend(m.evidence.iter().map(|e| e.digest));
    while let Some(d) = stack.pop() {
        if !reached.insert(d) {
            continue;
        }
        match docs.get(&d) {
            Some(Doc::Manifest(man)) => {
                stack.push(man.config.digest);
                stack.extend(man.layers.iter().map(|l| l.digest));
            }
            // An index may name platforms the archive does not carry.
            Some(Doc::Index(ix)) => {
                stack.extend(
                    ix.manifests
                        .iter()
                        .map(|c| c.digest)
                        .filter(|c| m.blob(c).is_some()),
                );
            }
            None => {}
        }
    }
    if let Some(b) = m.blobs.iter().find(|b| !reached.contains(&b.digest)) {
        return Err(IntegrityError::Unreachable {
            digest: b.digest.to_string(),
        });
    }
    if let Some(b) = m.external.iter().find(|b| !reached.contains(&b.digest)) {
        return Err(IntegrityError::Unreachable {
            digest: b.digest.to_string(),
        });
    }
    Ok(())
}

/// Only image layers may be left to a base: every manifest, config and
/// piece of evidence travels in the delta, so it verifies on its own.
fn check_external_are_image_layers(
    m: &ArchiveManifest,
    docs: &BTreeMap<Digest, Doc>,
) -> Result<(), IntegrityError> {
    if m.external.is_empty() {
        return Ok(());
    }
    let mut layers = BTreeSet::new();
    for img in &m.images {
        if let Some(Doc::Manifest(man)) = docs.get(&img.manifest_digest) {
            layers.extend(man.layers.iter().map(|l| l.digest));
        }
    }
    let mut evidence_blobs = BTreeSet::new();
    let evidence = m
        .images
        .iter()
        .flat_map(|i| i.evidence.iter().map(|e| e.digest))
        .chain(m.evidence.iter().map(|e| e.digest));
    for d in evidence {
        evidence_blobs.insert(d);
        if let Some(Doc::Manifest(man)) = docs.get(&d) {
            evidence_blobs.insert(man.config.digest);
            evidence_blobs.extend(man.layers.iter().map(|l| l.digest));
        }
    }
    match m
        .external
        .iter()
        .find(|e| !layers.contains(&e.digest) || evidence_blobs.contains(&e.digest))
    {
        Some(e) => Err(contradiction(format!(
            "external blob {} is not only an image layer (manifests, configs and evidence must be carried)",
            e.digest
        ))),
        None => Ok(()),
    }
}
