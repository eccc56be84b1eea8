//! Evidence discovery for one subject digest (an index or a manifest):
//! cosign tags `sha256-<hex>.sig|.att|.sbom`, then OCI 1.1 referrers (the
//! referrers API, or the `sha256-<hex>` tag-schema index when the registry
//! has no API; `oci-client` does the fallback). Each piece of evidence is
//! stored whole: its manifest in memory, its config and layers via the cache.

use oci_client::Reference;

use super::{Ctx, Pending};
use crate::error::Error;
use crate::model::evidence::role_for_artifact;
use crate::model::manifest::EvidenceRole;
use crate::model::oci::{self, DescriptorInfo};
use crate::model::{limits, media, Digest, EvidenceRecord};
use crate::registry_client::fail;
use crate::source::ImageSet;

const COSIGN_TAGS: [(&str, EvidenceRole); 3] = [
    ("sig", EvidenceRole::Signature),
    ("att", EvidenceRole::Attestation),
    ("sbom", EvidenceRole::Sbom),
];

pub(super) async fn discover(
    ctx: &Ctx,
    r: &Reference,
    subject: Digest,
    set: &mut ImageSet,
    pending: &mut Vec<Pending>,
) -> Result<(), Error> {
    let mut found = Vec::new();
    for (suffix, role) in COSIGN_TAGS {
        let tag = format!("sha256-{}.{suffix}", subject.hex());
        let tagged = Reference::with_tag(
            r.registry().to_string(),
            r.repository().to_string(),
            tag.clone(),
        );
        let Some(m) = ctx.manifest(&tagged, None).await? else {
            continue;
        };
        if !media::is_image_manifest(&m.media_type) {
            return Err(Error::Source(format!(
                "{}: evidence tag {tag} is a {}, not an image manifest",
                r.whole(),
                m.media_type
            )));
        }
        let info = oci::parse_manifest(&m.bytes)
            .map_err(|e| Error::Source(format!("{}: evidence {tag}: {e}", r.whole())))?;
        store_parts(ctx, r, &info, set, pending).await?;
        found.push(EvidenceRecord {
            role,
            digest: m.digest,
            media_type: m.media_type.clone(),
            subject,
            artifact_type: info.artifact_type.clone(),
            tag: Some(tag),
        });
        set.add_memory(m.digest, &m.media_type, m.bytes);
    }

    for entry in referrers(ctx, r, subject).await? {
        if !ctx.opts.artifact_types.is_empty()
            && !entry
                .artifact_type
                .as_ref()
                .is_some_and(|t| ctx.opts.artifact_types.contains(t))
        {
            continue;
        }
        if !media::is_image_manifest(&entry.desc.media_type) {
            continue; // nested indexes as referrers: not evidence airlock understands
        }
        let at = r.clone_with_digest(entry.desc.digest.to_string());
        let Some(m) = ctx.manifest(&at, Some(&entry.desc)).await? else {
            continue; // listed but gone: the listing is advisory
        };
        let info = oci::parse_manifest(&m.bytes)
            .map_err(|e| Error::Source(format!("{}: referrer {}: {e}", r.whole(), m.digest)))?;
        // The listing is the registry's word; the subject field is the artifact's.
        if info.subject != Some(subject) {
            continue;
        }
        let artifact_type = info
            .artifact_type
            .clone()
            .unwrap_or_else(|| info.config.media_type.clone());
        store_parts(ctx, r, &info, set, pending).await?;
        found.push(EvidenceRecord {
            role: role_for_artifact(&artifact_type),
            digest: m.digest,
            media_type: m.media_type.clone(),
            subject,
            artifact_type: Some(artifact_type),
            tag: None,
        });
        set.add_memory(m.digest, &m.media_type, m.bytes);
    }

    set.attach_evidence(subject, &found);
    Ok(())
}

/// Config and layers of an evidence manifest: small JSON in memory now,
/// anything else queued for the parallel download.
async fn store_parts(
    ctx: &Ctx,
    r: &Reference,
    info: &oci::ManifestInfo,
    set: &mut ImageSet,
    pending: &mut Vec<Pending>,
) -> Result<(), Error> {
    for blob in std::iter::once(&info.config).chain(info.layers.iter()) {
        if set.blobs.contains_key(&blob.digest) {
            continue;
        }
        if blob.size <= limits::MAX_JSON_BYTES {
            let bytes = ctx.small_blob(r, blob).await?;
            set.add_memory(blob.digest, &blob.media_type, bytes);
        } else {
            pending.push(Pending {
                repo: r.clone(),
                desc: blob.clone(),
                image: super::EVIDENCE,
            });
        }
    }
    Ok(())
}

struct Referrer {
    desc: DescriptorInfo,
    artifact_type: Option<String>,
}

/// The referrers of `subject`, from the API or the tag-schema fallback.
async fn referrers(ctx: &Ctx, r: &Reference, subject: Digest) -> Result<Vec<Referrer>, Error> {
    let at = r.clone_with_digest(subject.to_string());
    let what = format!("referrers of {}", at.whole());
    let found = fail::retrying(&what, ctx.opts.retries, || {
        ctx.streams.client.pull_referrers(&at, None)
    })
    .await?;
    let Some(index) = found else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in index.manifests {
        let Ok(digest) = e.digest.parse::<Digest>() else {
            continue; // not sha256: airlock cannot store it
        };
        let Ok(size) = u64::try_from(e.size) else {
            continue;
        };
        out.push(Referrer {
            desc: DescriptorInfo {
                digest,
                size,
                media_type: e.media_type,
                platform: None,
                annotations: Default::default(),
            },
            artifact_type: e.artifact_type,
        });
    }
    out.sort_by_key(|x| x.desc.digest);
    out.dedup_by_key(|x| x.desc.digest);
    Ok(out)
}
