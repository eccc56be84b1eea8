//! What `airlock serve` answers with, worked out once from a
//! [`VerifiedArchive`]: per repository its tags (image tags and cosign
//! `sha256-<hex>.sig|.att|.sbom`), the manifests it may return (exact bytes
//! and media type, kept in memory: they are the archive's small, already
//! parsed JSON documents), the blobs it may return (where their data starts
//! in the served tar file), and the OCI 1.1 referrers of each subject.
//!
//! The repository names and tags are the registry sink's
//! ([`crate::sink::registry::plan`]), so `serve --namespace NS` and
//! `unpack --into registry:HOST/NS` name an image the same way.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use serde_json::Value;

use crate::error::{Error, IntegrityError};
use crate::gate::VerifiedArchive;
use crate::model::Digest;
use crate::sink::registry::naming::RegistryTarget;
use crate::sink::registry::plan;

/// A manifest (image, index, or any artifact) served by its exact bytes.
#[derive(Debug, Clone)]
pub struct Document {
    pub bytes: Bytes,
    pub media_type: String,
}

/// A blob's data in the served tar file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobAt {
    pub offset: u64,
    pub size: u64,
}

#[derive(Debug, Default)]
pub struct Repo {
    pub tags: BTreeMap<String, Digest>,
    pub manifests: BTreeSet<Digest>,
    pub blobs: BTreeSet<Digest>,
    /// Referrer descriptors by subject digest.
    pub referrers: BTreeMap<Digest, Vec<Value>>,
}

#[derive(Debug, Default)]
pub struct Index {
    pub repos: BTreeMap<String, Repo>,
    pub manifests: BTreeMap<Digest, Document>,
    pub blobs: BTreeMap<Digest, BlobAt>,
}

fn missing(d: &Digest) -> Error {
    IntegrityError::MissingBlob {
        digest: d.to_string(),
    }
    .into()
}

/// Check `--namespace` the way `registry:HOST/NAMESPACE` is checked.
pub fn parse_namespace(ns: Option<&str>) -> Result<RegistryTarget, Error> {
    let spec = match ns {
        Some(n) => format!("localhost/{}", n.trim_matches('/')),
        None => "localhost".to_string(),
    };
    RegistryTarget::parse(&spec).map_err(|e| match e {
        Error::Usage(m) => Error::Usage(m.replace("--into registry:localhost/", "--namespace ")),
        other => other,
    })
}

impl Index {
    /// Everything the verified plan holds, under `target`'s namespace.
    /// `blob_offsets` are where each blob's data starts in the served tar.
    pub fn build(
        verified: &VerifiedArchive<'_>,
        target: &RegistryTarget,
        blob_offsets: &BTreeMap<Digest, u64>,
    ) -> Result<Index, Error> {
        let doc = |d: &Digest| {
            verified
                .metadata(d)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| missing(d))
        };
        // The naming errors are the registry sink's; serve has no --tag.
        let pushes = plan::build(target, verified, &doc).map_err(|e| match e {
            Error::Usage(m) => Error::Usage(format!(
                "cannot serve this archive: {}",
                m.replace("; give the name with --tag", "")
                    .replace("; unpack them separately or rename one with --tag", "")
                    .replace("registry:localhost", "serve")
            )),
            other => other,
        })?;
        let archive = &verified.outcome().manifest;
        let mut index = Index::default();
        for r in pushes.repos {
            let mut repo = Repo::default();
            for m in &r.manifests {
                let bytes = verified
                    .metadata(&m.digest)
                    .ok_or_else(|| missing(&m.digest))?;
                index.manifests.insert(
                    m.digest,
                    Document {
                        bytes: Bytes::copy_from_slice(bytes),
                        media_type: m.media_type.clone(),
                    },
                );
                repo.manifests.insert(m.digest);
            }
            for t in r.image_tags.iter().chain(&r.evidence_tags) {
                repo.tags.insert(t.tag.clone(), t.digest);
            }
            for b in &r.blobs {
                let offset = *blob_offsets
                    .get(&b.digest)
                    .ok_or_else(|| missing(&b.digest))?;
                let size = archive.blob(&b.digest).map_or(b.size, |rec| rec.size);
                index.blobs.insert(b.digest, BlobAt { offset, size });
                repo.blobs.insert(b.digest);
            }
            for referrer in r.referrers {
                repo.referrers
                    .entry(referrer.subject)
                    .or_default()
                    .push(referrer.descriptor);
            }
            index.repos.insert(r.repository, repo);
        }
        Ok(index)
    }

    /// Images and tags, for the start-up report: (repository, tags).
    pub fn summary(&self) -> Vec<(String, Vec<String>)> {
        self.repos
            .iter()
            .map(|(name, r)| (name.clone(), r.tags.keys().cloned().collect()))
            .collect()
    }
}
