//! What a site holds, read from an OCI layout directory (`dir:PATH`) or an
//! archive's manifest, for `airlock inventory`. Names and sizes only: a
//! blob is listed by its file name and length, not re-hashed (the delta's
//! consumer re-hashes every blob it takes from a base).

use std::path::Path;

use crate::error::{Error, IoContext};
use crate::model::inventory::InventoryBlob;
use crate::model::{limits, media, oci, ArchiveManifest, Digest};

/// Blobs and manifests found in one source.
#[derive(Debug, Default, Clone)]
pub struct Found {
    pub blobs: Vec<InventoryBlob>,
    pub manifests: Vec<Digest>,
}

/// An OCI layout: every `blobs/sha256/<hex>` file, and the manifests its
/// `index.json` names (with the children of the indexes it holds).
pub fn of_layout(dir: &Path) -> Result<Found, Error> {
    if !dir.join("oci-layout").is_file() {
        return Err(Error::Usage(format!(
            "{} is not an OCI layout (no oci-layout file)",
            dir.display()
        )));
    }
    let blobs_dir = dir.join("blobs/sha256");
    let mut found = Found::default();
    if blobs_dir.is_dir() {
        for entry in std::fs::read_dir(&blobs_dir).at("read", &blobs_dir)? {
            let entry = entry.at("read", &blobs_dir)?;
            let name = entry.file_name();
            let Some(digest) = name.to_str().and_then(|h| Digest::from_hex(h).ok()) else {
                continue;
            };
            let meta = entry.metadata().at("stat", &entry.path())?;
            if meta.is_file() {
                found.blobs.push(InventoryBlob {
                    digest,
                    size: meta.len(),
                });
            }
            if found.blobs.len() > limits::MAX_INVENTORY_ENTRIES {
                return Err(Error::Source(format!(
                    "{} holds more than {} blobs",
                    dir.display(),
                    limits::MAX_INVENTORY_ENTRIES
                )));
            }
        }
    }
    let index = crate::error::read_input_file(
        &dir.join("index.json"),
        limits::MAX_JSON_BYTES,
        "index.json",
    )?;
    let ix = oci::parse_index(&index)
        .map_err(|e| Error::Source(format!("{}/index.json: {e}", dir.display())))?;
    let mut stack: Vec<_> = ix.manifests;
    while let Some(d) = stack.pop() {
        let path = dir.join(d.digest.blob_path());
        if found.manifests.contains(&d.digest) || !path.is_file() {
            continue;
        }
        found.manifests.push(d.digest);
        if media::is_index(&d.media_type) {
            let bytes = crate::error::read_input_file(&path, limits::MAX_JSON_BYTES, "index")?;
            if let Ok(child) = oci::parse_index(&bytes) {
                stack.extend(child.manifests);
            }
        }
    }
    Ok(found)
}

/// An archive: the blobs it carries and the manifests of its images.
pub fn of_archive(m: &ArchiveManifest) -> Found {
    Found {
        blobs: m
            .blobs
            .iter()
            .map(|b| InventoryBlob {
                digest: b.digest,
                size: b.size,
            })
            .collect(),
        manifests: m
            .images
            .iter()
            .flat_map(|i| std::iter::once(i.manifest_digest).chain(i.index_digest))
            .collect(),
    }
}

/// An image known by its manifest bytes: the manifest, config and layers.
pub fn of_manifest(manifest_digest: Digest, manifest: &[u8]) -> Result<Found, Error> {
    let m = oci::parse_manifest(manifest)
        .map_err(|e| Error::Source(format!("manifest {manifest_digest}: {e}")))?;
    let mut blobs = vec![InventoryBlob {
        digest: manifest_digest,
        size: manifest.len() as u64,
    }];
    blobs.extend(
        std::iter::once(&m.config)
            .chain(&m.layers)
            .map(|d| InventoryBlob {
                digest: d.digest,
                size: d.size,
            }),
    );
    Ok(Found {
        blobs,
        manifests: vec![manifest_digest],
    })
}
