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

/// A registry (`registry:HOST[/NAMESPACE]`): every repository the catalog
/// lists (under NAMESPACE), every tag, and each manifest's blobs (for an
/// index, the platforms the registry holds). Read-only: catalog, tag lists
/// and manifests, never a blob.
pub fn of_registry(
    host: &str,
    namespace: Option<&str>,
    access: &crate::registry_client::AccessOptions,
) -> Result<Found, Error> {
    use crate::registry_client as rc;
    let client = rc::client(access)?;
    let auth = rc::credentials(host, access)?;
    let rt = rc::runtime()?;
    rt.block_on(async {
        let probe = oci_client::Reference::with_tag(
            host.to_string(),
            namespace.unwrap_or("library").to_string() + "/x",
            "x".into(),
        );
        client.store_auth_if_needed(host, &auth).await;
        let mut repos = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let page = rc::fail::retrying("catalog", 3, || {
                client.catalog(&probe, &auth, Some(1000), last.as_deref())
            })
            .await?
            .ok_or_else(|| Error::Source(format!("{host}: no catalog (/v2/_catalog)")))?;
            let n = page.repositories.len();
            last = page.repositories.last().cloned();
            repos.extend(page.repositories);
            if n < 1000 || repos.len() > limits::MAX_INVENTORY_ENTRIES {
                break;
            }
        }
        if let Some(ns) = namespace {
            let prefix = format!("{ns}/");
            repos.retain(|r| r.starts_with(&prefix));
        }
        let mut found = Found::default();
        for repo in repos {
            let r =
                |tag: &str| oci_client::Reference::with_tag(host.into(), repo.clone(), tag.into());
            let tag_ref = r("latest");
            let Some(tags) =
                rc::fail::retrying("tags", 3, || client.list_tags(&tag_ref, &auth, None, None))
                    .await?
            else {
                continue;
            };
            let mut stack: Vec<oci_client::Reference> = tags.tags.iter().map(|t| r(t)).collect();
            while let Some(reference) = stack.pop() {
                let what = format!("manifest {}", reference.whole());
                let got = rc::fail::retrying(&what, 3, || {
                    client.pull_manifest_raw(&reference, &auth, super::registry::ACCEPT)
                })
                .await?;
                let Some((bytes, _)) = got else { continue };
                if bytes.len() as u64 > limits::MAX_JSON_BYTES {
                    return Err(Error::Source(format!(
                        "{what}: larger than the manifest limit"
                    )));
                }
                let digest = Digest::of(&bytes);
                if found.manifests.contains(&digest) {
                    continue;
                }
                if oci::parse_manifest(&bytes).is_err() {
                    let ix = oci::parse_index(&bytes)
                        .map_err(|e| Error::Source(format!("{what}: {e}")))?;
                    found.manifests.push(digest);
                    found.blobs.push(InventoryBlob {
                        digest,
                        size: bytes.len() as u64,
                    });
                    stack.extend(ix.manifests.iter().map(|d| {
                        oci_client::Reference::with_digest(
                            host.into(),
                            repo.clone(),
                            d.digest.to_string(),
                        )
                    }));
                    continue;
                }
                let f = of_manifest(digest, &bytes)?;
                found.blobs.extend(f.blobs);
                found.manifests.extend(f.manifests);
                if found.blobs.len() > limits::MAX_INVENTORY_ENTRIES {
                    return Err(Error::Source(format!(
                        "{host} holds more than {} blobs",
                        limits::MAX_INVENTORY_ENTRIES
                    )));
                }
            }
        }
        Ok(found)
    })
}
