//! From what an archive carries to the trust core's inputs: given one
//! [`ImageRecord`] and the archive's JSON blobs by digest, assemble the
//! cosign signatures (`.sig`), cosign attestations (`.att`) and Sigstore
//! bundle referrers that are about the image. Pure: no files, no sockets.
//!
//! Nothing here decides trust. Every item keeps the digest it claims to be
//! about (`subject`: the per-platform manifest or the index it came from) so
//! the verifier checks the signed claim against exactly that digest.
//!
//! Rekor inclusion proofs fetched at pack time are evidence with role
//! `rekor-proof` whose blob is a [`RekorProofDocument`]: it names the `.sig`
//! layer it belongs to (and the entry's log index), so the proof is attached
//! to that signature only; sigstore-verify then binds it to the entry (the
//! proof's leaf must be the very body the SET signs). See docs/format.md,
//! "Evidence".

use std::collections::BTreeMap;

use serde::Deserialize;

use super::attestation::CosignAttestation;
use super::cosign::CosignSignature;
use super::error::TrustError;
use crate::model::manifest::EvidenceRole;
use crate::model::{Digest, ImageRecord};

/// cosign's signature annotation on a `.sig` layer.
pub const ANNOTATION_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// The Fulcio certificate (PEM) of a keyless signature.
pub const ANNOTATION_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
/// The certificate chain (PEM); not used for trust.
pub const ANNOTATION_CHAIN: &str = "dev.sigstore.cosign/chain";
/// The legacy Rekor bundle (SET) as JSON.
pub const ANNOTATION_BUNDLE: &str = "dev.sigstore.cosign/bundle";
pub use super::rekor::{RekorProofDocument, REKOR_PROOF_MEDIA_TYPE};
/// Sigstore bundle media type prefix (artifact type of bundle referrers).
pub const SIGSTORE_BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";

/// Where a piece of evidence came from, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The evidence manifest (or blob) digest.
    pub evidence: Digest,
    /// Layer position inside that manifest.
    pub layer: usize,
    /// The image digest the evidence is about (manifest or index).
    pub subject: Digest,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "evidence {} layer {}", self.evidence, self.layer)
    }
}

/// Everything an image carries that the trust core can verify.
#[derive(Debug, Default)]
pub struct ImageEvidence {
    /// cosign `.sig` signatures (with any carried inclusion proof attached).
    pub signatures: Vec<(Origin, CosignSignature)>,
    /// cosign `.att` attestations.
    pub attestations: Vec<(Origin, CosignAttestation)>,
    /// Sigstore bundle referrers (bundle JSON bytes).
    pub bundles: Vec<(Origin, Vec<u8>)>,
    /// Evidence that could not be assembled (missing blob, malformed
    /// manifest or annotation), with the reason. Never trusted.
    pub unreadable: Vec<(Origin, TrustError)>,
}

#[derive(Deserialize)]
struct EvidenceManifest {
    #[serde(default)]
    layers: Vec<LayerDescriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayerDescriptor {
    digest: Digest,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Assemble the evidence of `image` from `metadata` (every JSON blob of the
/// archive, by digest; the reader already checked each blob's digest).
pub fn collect(image: &ImageRecord, metadata: &BTreeMap<Digest, Vec<u8>>) -> ImageEvidence {
    let mut out = ImageEvidence::default();
    let proofs = proofs(image, metadata);
    for ev in &image.evidence {
        // Evidence about another image cannot support this one.
        if ev.subject != image.manifest_digest && Some(ev.subject) != image.index_digest {
            continue;
        }
        let is_bundle = ev
            .artifact_type
            .as_deref()
            .is_some_and(|t| t.starts_with(SIGSTORE_BUNDLE_PREFIX));
        let kind = match ev.role {
            EvidenceRole::Signature => Kind::Signature,
            EvidenceRole::Attestation => Kind::Attestation,
            EvidenceRole::Bundle => Kind::Bundle,
            _ if is_bundle => Kind::Bundle,
            _ => continue,
        };
        let whole = Origin {
            evidence: ev.digest,
            layer: 0,
            subject: ev.subject,
        };
        let manifest = match metadata.get(&ev.digest) {
            Some(bytes) => match serde_json::from_slice::<EvidenceManifest>(bytes) {
                Ok(m) => m,
                Err(e) => {
                    out.unreadable
                        .push((whole, TrustError::json("evidence manifest", e)));
                    continue;
                }
            },
            None => {
                out.unreadable.push((
                    whole,
                    TrustError::Unsupported(format!(
                        "evidence {} is not in the archive",
                        ev.digest
                    )),
                ));
                continue;
            }
        };
        for (i, layer) in manifest.layers.iter().enumerate() {
            let origin = Origin {
                evidence: ev.digest,
                layer: i,
                subject: ev.subject,
            };
            let Some(blob) = metadata
                .get(&layer.digest)
                .filter(|b| Digest::of(b) == layer.digest)
            else {
                out.unreadable.push((
                    origin,
                    TrustError::Unsupported(format!(
                        "layer {} is not a JSON blob of the archive",
                        layer.digest
                    )),
                ));
                continue;
            };
            let r = match kind {
                Kind::Signature => signature(ev.digest, layer, blob, &proofs)
                    .map(|s| out.signatures.push((origin.clone(), s))),
                Kind::Attestation => {
                    attestation(layer, blob).map(|a| out.attestations.push((origin.clone(), a)))
                }
                Kind::Bundle => {
                    out.bundles.push((origin.clone(), blob.clone()));
                    Ok(())
                }
            };
            if let Err(e) = r {
                out.unreadable.push((origin, e));
            }
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Kind {
    Signature,
    Attestation,
    Bundle,
}

fn annotation(layer: &LayerDescriptor, key: &str) -> Option<String> {
    layer.annotations.get(key).cloned()
}

fn signature(
    manifest: Digest,
    layer: &LayerDescriptor,
    payload: &[u8],
    proofs: &[RekorProofDocument],
) -> Result<CosignSignature, TrustError> {
    let sig = annotation(layer, ANNOTATION_SIGNATURE).ok_or_else(|| {
        TrustError::Unsupported(format!("layer has no {ANNOTATION_SIGNATURE} annotation"))
    })?;
    let bundle = annotation(layer, ANNOTATION_BUNDLE);
    let mut s = CosignSignature::new(
        payload.to_vec(),
        sig,
        annotation(layer, ANNOTATION_CERTIFICATE),
        annotation(layer, ANNOTATION_CHAIN),
        bundle.as_deref().map(str::as_bytes),
    )?;
    let logged = s.rekor_bundle().map(|b| b.log_index());
    if let Some(index) = logged {
        // The proof names the signature it was fetched for: the `.sig`
        // manifest, its layer and the entry's log index. Binding then checks
        // log ID, time and body against this signature's own SET.
        let mine = proofs.iter().find(|p| {
            p.signature_manifest_digest() == manifest.to_string()
                && p.signature_layer_digest() == layer.digest.to_string()
                && p.log_index() == index
        });
        if let Some(p) = mine {
            s = s.attach_proof_document(p)?;
        }
    }
    Ok(s)
}

fn attestation(layer: &LayerDescriptor, envelope: &[u8]) -> Result<CosignAttestation, TrustError> {
    let bundle = annotation(layer, ANNOTATION_BUNDLE);
    CosignAttestation::new(
        envelope,
        annotation(layer, ANNOTATION_CERTIFICATE),
        bundle.as_deref().map(str::as_bytes),
    )
}

/// The carried inclusion proofs about this image. A malformed proof document
/// is skipped: it can only ever add a check, and without it the signature
/// is judged on its SET (and refused if the policy requires a proof).
fn proofs(image: &ImageRecord, metadata: &BTreeMap<Digest, Vec<u8>>) -> Vec<RekorProofDocument> {
    image
        .evidence
        .iter()
        .filter(|e| e.role == EvidenceRole::RekorProof)
        .filter_map(|e| metadata.get(&e.digest))
        .filter_map(|b| RekorProofDocument::from_json(b).ok())
        .collect()
}

/// Whether a Sigstore bundle's (first) tlog entry carries an inclusion proof.
pub fn bundle_has_inclusion_proof(bundle_json: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bundle_json)
        .ok()
        .and_then(|v| {
            v.pointer("/verificationMaterial/tlogEntries/0/inclusionProof")
                .map(|p| !p.is_null())
        })
        .unwrap_or(false)
}
