//! cosign image signatures (the `sha256-<digest>.sig` tag scheme): a
//! simple-signing payload, a base64 signature, an optional Fulcio
//! certificate (and chain), and an optional legacy Rekor bundle (SET).
//!
//! Order of checks in [`verify_cosign_signature`]:
//! 1. sizes and encodings of every field;
//! 2. the signature and its Rekor entry, by converting them into the
//!    equivalent v0.1 Sigstore bundle verified by sigstore-verify (SET against
//!    the trust root's Rekor key, entry body bound to signature, payload
//!    SHA-256 and key/certificate, certificate chain + SCT + identity at the
//!    integrated time); without a Rekor entry only key-based signatures under
//!    `insecure_ignore_tlog` are accepted (signature checked directly);
//! 3. the payload's claims: type, `docker-manifest-digest` equal to the image
//!    digest, `docker-reference` naming the expected repository.

use super::bundle::{legacy_to_bundle, parse_cert_pem, sha256, verify_parsed, Artifact};
use super::error::TrustError;
use super::limits::{check, MAX_PAYLOAD, MAX_PEM, MAX_SIGNATURE_B64, MAX_SIGNATURE_DOCUMENT};
use super::policy::{SignaturePolicy, Signer};
use super::reference::same_repository;
use super::rekor::{LegacyRekorBundle, RekorProofDocument};
use super::root::TrustRoot;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;

/// The simple-signing payload `type` cosign writes.
pub const COSIGN_PAYLOAD_TYPE: &str = "cosign container image signature";

/// One cosign signature, as carried by a `.sig` image layer and its
/// annotations, or by `cosign download signature`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignSignature {
    payload: Vec<u8>,
    signature_b64: String,
    certificate_pem: Option<String>,
    chain_pem: Option<String>,
    rekor_bundle: Option<LegacyRekorBundle>,
}

#[derive(Deserialize)]
struct DownloadedSignature {
    #[serde(rename = "Base64Signature")]
    base64_signature: String,
    #[serde(rename = "Payload")]
    payload: String,
    #[serde(rename = "Cert", default)]
    cert: Option<String>,
    #[serde(rename = "Chain", default)]
    chain: Option<String>,
    #[serde(rename = "Bundle", default)]
    bundle: Option<LegacyRekorBundle>,
}

impl CosignSignature {
    /// Assemble a signature from a `.sig` layer: the layer blob (payload), the
    /// `dev.cosignproject.cosign/signature` annotation, the optional
    /// `dev.sigstore.cosign/certificate` and `/chain` PEM annotations, and the
    /// optional `dev.sigstore.cosign/bundle` JSON annotation.
    pub fn new(
        payload: Vec<u8>,
        signature_b64: impl Into<String>,
        certificate_pem: Option<String>,
        chain_pem: Option<String>,
        rekor_bundle_json: Option<&[u8]>,
    ) -> Result<Self, TrustError> {
        let signature_b64 = signature_b64.into();
        check("payload", payload.len(), MAX_PAYLOAD)?;
        check("signature", signature_b64.len(), MAX_SIGNATURE_B64)?;
        for pem in certificate_pem.iter().chain(chain_pem.iter()) {
            check("certificate", pem.len(), MAX_PEM)?;
        }
        let rekor_bundle = rekor_bundle_json
            .map(LegacyRekorBundle::from_json)
            .transpose()?;
        Ok(CosignSignature {
            payload,
            signature_b64,
            certificate_pem: certificate_pem.filter(|c| !c.trim().is_empty()),
            chain_pem: chain_pem.filter(|c| !c.trim().is_empty()),
            rekor_bundle,
        })
    }

    /// Parse the output of `cosign download signature`: a JSON list of
    /// signatures, a single object, or one object per line.
    pub fn from_download_json(json: &[u8]) -> Result<Vec<Self>, TrustError> {
        check("signature document", json.len(), MAX_SIGNATURE_DOCUMENT)?;
        let raw: Vec<DownloadedSignature> = match serde_json::from_slice(json) {
            Ok(list) => list,
            Err(list_err) => match serde_json::from_slice::<DownloadedSignature>(json) {
                Ok(one) => vec![one],
                Err(_) => serde_json::Deserializer::from_slice(json)
                    .into_iter::<DownloadedSignature>()
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| TrustError::json("signature document", list_err))?,
            },
        };
        raw.into_iter()
            .map(|d| {
                check("payload", d.payload.len(), MAX_PAYLOAD * 2)?;
                let payload = STANDARD
                    .decode(d.payload.trim())
                    .map_err(|_| TrustError::MalformedBase64 { what: "payload" })?;
                let mut sig =
                    CosignSignature::new(payload, d.base64_signature, d.cert, d.chain, None)?;
                sig.rekor_bundle = d.bundle;
                Ok(sig)
            })
            .collect()
    }

    /// Attach the Rekor inclusion proof of this signature's log entry
    /// (fetched at pack time); it is verified together with the SET.
    pub fn with_inclusion_proof(
        mut self,
        proof: super::rekor::RekorInclusionProof,
    ) -> Result<Self, TrustError> {
        let rekor = self
            .rekor_bundle
            .take()
            .ok_or(TrustError::MissingTlogEntry)?;
        self.rekor_bundle = Some(rekor.with_inclusion_proof(proof));
        Ok(self)
    }

    /// Attach a stored proof document after binding it to this signature's
    /// own SET (same log index, log ID, time and body). The proof and
    /// checkpoint are then verified with the signature.
    pub fn attach_proof_document(self, doc: &RekorProofDocument) -> Result<Self, TrustError> {
        let set = self.rekor_bundle().ok_or(TrustError::MissingTlogEntry)?;
        doc.bind(set)?;
        self.with_inclusion_proof(doc.inclusion_proof.clone())
    }

    /// The simple-signing payload bytes (unverified until checked).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The legacy Rekor bundle, if any (unverified until checked).
    pub fn rekor_bundle(&self) -> Option<&LegacyRekorBundle> {
        self.rekor_bundle.as_ref()
    }

    /// The certificate chain annotation, if any. It is not used for trust:
    /// intermediates come from the trust root.
    pub fn chain_pem(&self) -> Option<&str> {
        self.chain_pem.as_deref()
    }
}

/// A cosign signature that passed every check. Only the trust module can
/// build one:
///
/// ```compile_fail
/// let forged = airlock::trust::VerifiedSignature { log_index: Some(1) };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    image_digest: String,
    docker_reference: String,
    identity: Option<String>,
    issuer: Option<String>,
    log_index: Option<u64>,
    integrated_time: Option<i64>,
    optional: serde_json::Value,
    signing_key: Vec<u8>,
}

impl VerifiedSignature {
    /// The DER SubjectPublicKeyInfo of the key that made the signature.
    pub fn signing_key(&self) -> &[u8] {
        &self.signing_key
    }
    /// The image digest the payload names (equal to the one verified).
    pub fn image_digest(&self) -> &str {
        &self.image_digest
    }
    /// The `docker-reference` the payload names.
    pub fn docker_reference(&self) -> &str {
        &self.docker_reference
    }
    /// The certificate SAN, for keyless signatures.
    pub fn identity(&self) -> Option<&str> {
        self.identity.as_deref()
    }
    /// The certificate OIDC issuer, for keyless signatures.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }
    /// The verified Rekor log index; `None` only under `insecure_ignore_tlog`.
    pub fn log_index(&self) -> Option<u64> {
        self.log_index
    }
    /// The verified integrated time (Unix seconds); `None` only under
    /// `insecure_ignore_tlog`.
    pub fn integrated_time(&self) -> Option<i64> {
        self.integrated_time
    }
    /// Whether the signature was accepted without any transparency-log entry.
    pub fn tlog_skipped(&self) -> bool {
        self.log_index.is_none()
    }
    /// The payload's `optional` annotations (signed, free-form).
    pub fn optional(&self) -> &serde_json::Value {
        &self.optional
    }
}

#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
    #[serde(default)]
    optional: serde_json::Value,
}

#[derive(Deserialize)]
struct Critical {
    identity: CriticalIdentity,
    image: CriticalImage,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct CriticalIdentity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct CriticalImage {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Verify one cosign image signature for the image `expected_image_digest`
/// (`sha256:<hex>`). `expected_reference` is the image name the operator
/// expects (`None` = `--ignore-reference`); see
/// [`super::reference::same_repository`] for the comparison rule.
///
/// The signature is accepted if it satisfies any signer of the policy; when
/// none accepts it, the first signer's refusal is returned. The policy's
/// threshold is not applied here (see [`verify_cosign_signatures`]).
pub fn verify_cosign_signature(
    sig: &CosignSignature,
    expected_image_digest: &str,
    expected_reference: Option<&str>,
    policy: &SignaturePolicy,
    trust: &TrustRoot,
) -> Result<VerifiedSignature, TrustError> {
    // The caller's own input first: a bad expected digest or name is not
    // the signature's fault, but must still stop everything.
    super::bundle::parse_sha256(expected_image_digest)?;
    if let Some(expected) = expected_reference {
        super::reference::normalize_repository(expected)?;
    }
    let mut first_error = None;
    let mut all_key_refusals = true;
    for signer in policy.signers() {
        match verify_with_signer(
            sig,
            expected_image_digest,
            expected_reference,
            signer,
            policy,
            trust,
        ) {
            Ok(v) => return Ok(v),
            Err(e) => {
                all_key_refusals &=
                    matches!(signer, Signer::Key(_)) && super::signer::key_refusal(&e);
                first_error.get_or_insert(e);
            }
        }
    }
    let e =
        first_error.unwrap_or_else(|| TrustError::InvalidPolicy("no key or identity given".into()));
    Err(if all_key_refusals {
        explain_refusal(sig, policy, e)
    } else {
        e
    })
}

/// Why no key of the policy accepted `sig` (see [`super::signer`]): its
/// raw signature over the payload is checked against the policy's keys
/// and against the keys it claims (certificate, Rekor entry body).
fn explain_refusal(sig: &CosignSignature, policy: &SignaturePolicy, e: TrustError) -> TrustError {
    use super::signer::{explain, verifies_raw, Claimed};
    let Ok(raw) = STANDARD.decode(sig.signature_b64.trim()) else {
        return e;
    };
    let mut claimed: Vec<Claimed> = sig
        .certificate_pem
        .as_deref()
        .and_then(|pem| parse_cert_pem(pem.as_bytes()).ok())
        .and_then(|c| Claimed::from_cert(&c))
        .into_iter()
        .collect();
    if let Some(body) = sig.rekor_bundle.as_ref().and_then(|r| r.body().ok()) {
        claimed.extend(Claimed::from_rekor_body(&body));
    }
    let keys = policy.keys();
    let verifies = |k: &sigstore_verify::types::DerPublicKey| verifies_raw(k, &sig.payload, &raw);
    explain(&verifies, &claimed, None, &keys, e)
}

/// Signatures that together satisfy a policy's threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignatures {
    signatures: Vec<VerifiedSignature>,
}

impl VerifiedSignatures {
    /// Every signature that verified (at least the threshold, from distinct keys).
    pub fn signatures(&self) -> &[VerifiedSignature] {
        &self.signatures
    }

    /// The highest verified Rekor log index among them (for rollback checks).
    pub fn newest_log_index(&self) -> Option<u64> {
        self.signatures.iter().filter_map(|s| s.log_index).max()
    }

    /// The latest verified integrated time among them (Unix seconds).
    pub fn newest_integrated_time(&self) -> Option<i64> {
        self.signatures
            .iter()
            .filter_map(|s| s.integrated_time)
            .max()
    }
}

/// Verify all signatures of one image and require the policy's threshold:
/// valid signatures made by at least `threshold` distinct signing keys.
/// Copies of one signature, or several signatures by one key, count once.
/// Invalid signatures next to enough valid ones are ignored (as cosign does).
pub fn verify_cosign_signatures(
    sigs: &[CosignSignature],
    expected_image_digest: &str,
    expected_reference: Option<&str>,
    policy: &SignaturePolicy,
    trust: &TrustRoot,
) -> Result<VerifiedSignatures, TrustError> {
    let mut valid: Vec<VerifiedSignature> = Vec::new();
    let mut first_error = None;
    for sig in sigs {
        match verify_cosign_signature(
            sig,
            expected_image_digest,
            expected_reference,
            policy,
            trust,
        ) {
            Ok(v) => valid.push(v),
            Err(e) => {
                // A caller mistake stops everything at once.
                if matches!(
                    e,
                    TrustError::InvalidDigest(_)
                        | TrustError::InvalidPolicy(_)
                        | TrustError::InvalidReference { .. }
                ) {
                    return Err(e);
                }
                first_error.get_or_insert(e);
            }
        }
    }
    policy.meet_threshold(valid.iter().map(|v| v.signing_key.as_slice()), first_error)?;
    Ok(VerifiedSignatures { signatures: valid })
}

fn verify_with_signer(
    sig: &CosignSignature,
    expected_image_digest: &str,
    expected_reference: Option<&str>,
    signer: &Signer,
    policy: &SignaturePolicy,
    trust: &TrustRoot,
) -> Result<VerifiedSignature, TrustError> {
    let ignore_tlog = policy.ignores_tlog();
    check("payload", sig.payload.len(), MAX_PAYLOAD)?;

    let certificate = sig
        .certificate_pem
        .as_deref()
        .map(|pem| parse_cert_pem(pem.as_bytes()))
        .transpose()?;

    // (2) signature + transparency log.
    let (identity, issuer, log_index, integrated_time, signing_key) = match &sig.rekor_bundle {
        Some(rekor) => {
            if policy.requires_inclusion_proof() && !rekor.has_inclusion_proof() {
                return Err(TrustError::MissingInclusionProof);
            }
            let cert_for_bundle = match signer {
                // With a key policy the certificate is not consulted (as with
                // cosign --key); the Rekor body must then hold the key.
                Signer::Key(_) => None,
                Signer::Identity(_) => Some(certificate.as_ref().ok_or_else(|| {
                    TrustError::MaterialMismatch(
                        "an identity was given but the signature carries no certificate".into(),
                    )
                })?),
            };
            let digest = sha256(&sig.payload);
            let bundle = legacy_to_bundle(&sig.signature_b64, cert_for_bundle, digest, rekor)?;
            let v = verify_parsed(&bundle, Artifact::Bytes(&sig.payload), signer, trust)?;
            let integrated = v.integrated_time().ok_or_else(|| {
                TrustError::IntegratedTime(
                    "the Rekor entry's integrated time was not verified".into(),
                )
            })?;
            let index = v.log_index().ok_or(TrustError::MissingTlogEntry)?;
            (
                v.identity().map(str::to_string),
                v.issuer().map(str::to_string),
                Some(index),
                Some(integrated),
                v.signing_key().to_vec(),
            )
        }
        None => match signer {
            Signer::Key(key) if ignore_tlog => {
                check("signature", sig.signature_b64.len(), MAX_SIGNATURE_B64)?;
                let raw = STANDARD
                    .decode(sig.signature_b64.trim())
                    .map_err(|_| TrustError::MalformedBase64 { what: "signature" })?;
                sigstore_verify::crypto::verify_signature(
                    key.sigstore(),
                    &sig.payload,
                    &sigstore_verify::types::SignatureBytes::new(raw),
                    key.default_scheme(),
                )
                .map_err(|e| TrustError::SignatureInvalid(e.to_string()))?;
                (None, None, None, None, key.der().to_vec())
            }
            _ => return Err(TrustError::MissingTlogEntry),
        },
    };

    // (3) claims of the now-authenticated payload.
    let payload: SimpleSigning =
        serde_json::from_slice(&sig.payload).map_err(|e| TrustError::json("payload", e))?;
    if payload.critical.kind != COSIGN_PAYLOAD_TYPE {
        return Err(TrustError::PayloadType(payload.critical.kind));
    }
    let signed_digest = payload.critical.image.docker_manifest_digest;
    if signed_digest != expected_image_digest {
        return Err(TrustError::DigestMismatch {
            expected: expected_image_digest.to_string(),
            signed: signed_digest,
        });
    }
    let signed_reference = payload.critical.identity.docker_reference;
    if let Some(expected) = expected_reference {
        if !same_repository(expected, &signed_reference)? {
            return Err(TrustError::ReferenceMismatch {
                expected: expected.to_string(),
                signed: signed_reference,
            });
        }
    }
    Ok(VerifiedSignature {
        image_digest: signed_digest,
        docker_reference: signed_reference,
        identity,
        issuer,
        log_index,
        integrated_time,
        optional: payload.optional,
        signing_key,
    })
}
