//! What a registry unpack will write, worked out before the first request:
//! per repository, the blobs (configs and layers of images and evidence),
//! the manifests in the order a registry accepts them (image manifests,
//! then an index over them, then evidence manifests), the evidence tags
//! (cosign `sha256-<hex>.sig|.att|.sbom`), the OCI 1.1 referrers (for the
//! tag-schema fallback), and the image tags, written last.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::naming::{RegistryTarget, TargetName};
use crate::error::{Error, IntegrityError};
use crate::gate::{Plan, VerifiedArchive};
use crate::model::{media, oci, BlobRecord, Digest};
use crate::sink::evidence::{self, Placement};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPush {
    pub digest: Digest,
    pub media_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPush {
    pub tag: String,
    pub digest: Digest,
    pub media_type: String,
}

/// A referrer of `subject`, and its entry for the tag-schema index.
#[derive(Debug, Clone)]
pub struct ReferrerPush {
    pub subject: Digest,
    pub digest: Digest,
    pub descriptor: Value,
}

#[derive(Debug, Clone, Default)]
pub struct RepoPlan {
    pub repository: String,
    pub blobs: Vec<BlobRecord>,
    pub manifests: Vec<ManifestPush>,
    pub evidence_tags: Vec<TagPush>,
    pub referrers: Vec<ReferrerPush>,
    pub image_tags: Vec<TagPush>,
}

/// One selected image and where it ends up.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    pub repository: String,
    pub name: TargetName,
    /// What the name points at: the manifest, or the index taken whole.
    pub tagged: Digest,
    /// Evidence manifests pushed for it (tags and referrers).
    pub evidence: usize,
}

#[derive(Debug, Clone, Default)]
pub struct PushPlan {
    pub repos: Vec<RepoPlan>,
    /// In the order of `Plan::images`.
    pub images: Vec<ImagePlan>,
    /// Things the operator should know (evidence verifiers will not find).
    pub notes: Vec<String>,
}

/// The names the plan's images get in `target` (for reports and dry runs);
/// fails (usage) when one cannot be named there.
pub fn names(target: &RegistryTarget, plan: &Plan) -> Result<Vec<String>, Error> {
    plan.images
        .iter()
        .map(|img| Ok(target.display_name(&target.name_for(&img.tag)?)))
        .collect()
}

fn missing(d: &Digest) -> Error {
    Error::Integrity(IntegrityError::MissingBlob {
        digest: d.to_string(),
    })
}

fn malformed(d: &Digest, reason: String) -> Error {
    Error::Integrity(IntegrityError::MalformedJson {
        name: format!("manifest {d}"),
        reason,
    })
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

struct Builder<'a, 'v> {
    verified: &'v VerifiedArchive<'a>,
    bytes: &'v dyn Fn(&Digest) -> Result<Vec<u8>, Error>,
    repo: RepoPlan,
    image_manifests: Vec<ManifestPush>,
    indexes: Vec<ManifestPush>,
    evidence_manifests: Vec<ManifestPush>,
    blob_seen: BTreeSet<Digest>,
}

impl Builder<'_, '_> {
    fn record(&self, d: &Digest) -> Result<BlobRecord, Error> {
        self.verified
            .outcome()
            .manifest
            .any_blob(d)
            .ok_or_else(|| missing(d))
    }

    /// A manifest's config and layers go in as blobs; returns its JSON.
    fn manifest_parts(&mut self, d: &Digest) -> Result<Value, Error> {
        let bytes = (self.bytes)(d)?;
        let m = oci::parse_manifest(&bytes).map_err(|e| malformed(d, e))?;
        for part in std::iter::once(&m.config).chain(m.layers.iter()) {
            if self.blob_seen.insert(part.digest) {
                let rec = self.record(&part.digest)?;
                self.repo.blobs.push(rec);
            }
        }
        serde_json::from_slice(&bytes).map_err(|e| malformed(d, e.to_string()))
    }
}

/// Work out every write for `target`. `bytes` reads a verified document.
pub fn build(
    target: &RegistryTarget,
    verified: &VerifiedArchive<'_>,
    bytes: &dyn Fn(&Digest) -> Result<Vec<u8>, Error>,
) -> Result<PushPlan, Error> {
    let mut out = PushPlan::default();
    let mut builders: Vec<Builder<'_, '_>> = Vec::new();
    for (img, evidence) in evidence::per_image(verified) {
        let name = target.name_for(&img.tag)?;
        let at = match builders
            .iter()
            .position(|b| b.repo.repository == name.repository)
        {
            Some(i) => i,
            None => {
                builders.push(Builder {
                    verified,
                    bytes,
                    repo: RepoPlan {
                        repository: name.repository.clone(),
                        ..RepoPlan::default()
                    },
                    image_manifests: Vec::new(),
                    indexes: Vec::new(),
                    evidence_manifests: Vec::new(),
                    blob_seen: BTreeSet::new(),
                });
                builders.len() - 1
            }
        };
        let b = &mut builders[at];
        let r = &img.record;
        b.manifest_parts(&r.manifest_digest)?;
        push_unique(
            &mut b.image_manifests,
            ManifestPush {
                digest: r.manifest_digest,
                media_type: r.manifest_media_type.clone(),
            },
        );
        // The index goes along only when selection took it whole.
        let whole_index = r.index_digest.filter(|ix| img.image_blobs.contains(ix));
        let tagged = match whole_index {
            Some(ix) => {
                let rec = b.record(&ix)?;
                push_unique(
                    &mut b.indexes,
                    ManifestPush {
                        digest: ix,
                        media_type: rec.media_type,
                    },
                );
                ManifestPush {
                    digest: ix,
                    media_type: b.record(&ix)?.media_type,
                }
            }
            None => ManifestPush {
                digest: r.manifest_digest,
                media_type: r.manifest_media_type.clone(),
            },
        };
        if let Some(tag) = &name.tag {
            if let Some(other) = b
                .repo
                .image_tags
                .iter()
                .find(|t| &t.tag == tag && t.digest != tagged.digest)
            {
                return Err(Error::Usage(format!(
                    "{} would name both {} and {}; unpack them separately or rename one with --tag",
                    target.display_name(&name),
                    other.digest,
                    tagged.digest
                )));
            }
            push_unique(
                &mut b.repo.image_tags,
                TagPush {
                    tag: tag.clone(),
                    digest: tagged.digest,
                    media_type: tagged.media_type.clone(),
                },
            );
        }
        let mut index_evidence = false;
        for ev in &evidence {
            let rec = ev.record;
            if ev.placement == Placement::Document || !media::is_image_manifest(&rec.media_type) {
                continue;
            }
            let doc = b.manifest_parts(&rec.digest)?;
            push_unique(
                &mut b.evidence_manifests,
                ManifestPush {
                    digest: rec.digest,
                    media_type: rec.media_type.clone(),
                },
            );
            index_evidence |= Some(rec.subject) == r.index_digest && whole_index.is_none();
            match &ev.placement {
                Placement::CosignTag(t) => push_unique(
                    &mut b.repo.evidence_tags,
                    TagPush {
                        tag: t.clone(),
                        digest: rec.digest,
                        media_type: rec.media_type.clone(),
                    },
                ),
                Placement::Referrer => {
                    let artifact_type = doc
                        .get("artifactType")
                        .or_else(|| doc.get("config").and_then(|c| c.get("mediaType")))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let mut descriptor = json!({
                        "mediaType": rec.media_type,
                        "digest": rec.digest.to_string(),
                        "size": ev.size,
                    });
                    if !artifact_type.is_null() {
                        descriptor["artifactType"] = artifact_type;
                    }
                    if let Some(a) = doc
                        .get("annotations")
                        .filter(|a| a.as_object().is_some_and(|o| !o.is_empty()))
                    {
                        descriptor["annotations"] = a.clone();
                    }
                    b.repo.referrers.push(ReferrerPush {
                        subject: rec.subject,
                        digest: rec.digest,
                        descriptor,
                    });
                }
                Placement::Document => {}
            }
        }
        if index_evidence {
            out.notes.push(format!(
                "{}: evidence about index {} is pushed, but the archive does not hold that \
                 index's every platform, so the name points at manifest {}; verifiers that \
                 resolve the name will not find the index's evidence (pack all platforms to keep the index)",
                target.display_name(&name),
                r.index_digest.map(|d| d.to_string()).unwrap_or_default(),
                r.manifest_digest
            ));
        }
        let evidence_count = r
            .evidence
            .iter()
            .filter(|e| media::is_image_manifest(&e.media_type))
            .count();
        out.images.push(ImagePlan {
            repository: name.repository.clone(),
            name,
            tagged: tagged.digest,
            evidence: evidence_count,
        });
    }
    for b in builders {
        let mut repo = b.repo;
        let mut manifests = b.image_manifests;
        for m in b.indexes.into_iter().chain(b.evidence_manifests) {
            push_unique(&mut manifests, m);
        }
        repo.manifests = manifests;
        out.repos.push(repo);
    }
    Ok(out)
}
