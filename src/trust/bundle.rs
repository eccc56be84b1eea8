//! Sigstore bundles (v0.1, v0.2, v0.3; message signature or DSSE; Rekor v1
//! or v2) and cosign's legacy `verify-blob --bundle` documents.
//!
//! All cryptographic decisions are made by sigstore-verify; this module
//! chooses its policy from ours, converts legacy documents into the
//! equivalent v0.1 bundle, and turns its result into a [`VerifiedBundle`].

use super::error::TrustError;
use super::limits::{check, MAX_BUNDLE, MAX_PEM, MAX_SIGNATURE_B64};
use super::policy::{BundlePolicy, Matcher, Signer};
use super::rekor::LegacyRekorBundle;
use super::root::TrustRoot;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use sigstore_verify::types::{Bundle, DerCertificate, KindVersion, Sha256Hash, SignatureContent};
use sigstore_verify::{PublicKeyVerificationPolicy, VerificationPolicy};

/// What was signed, as the caller knows it.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    /// The artifact's bytes.
    Bytes(&'a [u8]),
    /// Only the artifact's SHA-256 digest (e.g. an image manifest digest).
    /// Ed25519 message signatures cannot be checked from a digest.
    Sha256([u8; 32]),
    /// Only the artifact's SHA-512 digest (DSSE attestations whose in-toto
    /// subject is a SHA-512 digest, e.g. npm provenance).
    Sha512([u8; 64]),
}

impl<'a> Artifact<'a> {
    /// Parse `sha256:<64 lowercase hex>`.
    pub fn parse_digest(digest: &str) -> Result<Artifact<'static>, TrustError> {
        parse_sha256(digest).map(Artifact::Sha256)
    }

    pub(crate) fn sha256(&self) -> Result<[u8; 32], TrustError> {
        match self {
            Artifact::Bytes(b) => Ok(sha256(b)),
            Artifact::Sha256(d) => Ok(*d),
            Artifact::Sha512(_) => Err(TrustError::Unsupported(
                "this signature needs the artifact's SHA-256 digest".into(),
            )),
        }
    }

    fn sigstore(&self) -> Result<sigstore_verify::types::Artifact<'a>, TrustError> {
        use sigstore_verify::types::{Artifact as A, ArtifactDigest, HashAlgorithm};
        Ok(match *self {
            Artifact::Bytes(b) => A::from(b),
            Artifact::Sha256(d) => A::from(Sha256Hash::new(d)),
            Artifact::Sha512(d) => A::from(
                ArtifactDigest::new(HashAlgorithm::Sha2512, d.to_vec())
                    .map_err(|e| TrustError::Unsupported(e.to_string()))?,
            ),
        })
    }
}

/// Parse `sha256:<64 lowercase hex>` into raw digest bytes.
pub fn parse_sha256(digest: &str) -> Result<[u8; 32], TrustError> {
    let invalid = || TrustError::InvalidDigest(digest.chars().take(80).collect());
    let hex_part = digest.strip_prefix("sha256:").ok_or_else(invalid)?;
    if hex_part.len() != 64
        || !hex_part
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(invalid());
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).map_err(|_| invalid())?;
    Ok(out)
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}

/// A bundle that passed every check of its policy. Only the trust module can
/// build one:
///
/// ```compile_fail
/// let forged = airlock::trust::VerifiedBundle { identity: None };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    identity: Option<String>,
    issuer: Option<String>,
    log_index: Option<u64>,
    integrated_time: Option<i64>,
    signed_times: Vec<i64>,
    tlog_verified: bool,
    dsse: Option<DssePayload>,
    legacy: bool,
    signing_key: Vec<u8>,
}

/// The payload of a verified DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DssePayload {
    payload_type: String,
    payload: Vec<u8>,
}

impl DssePayload {
    /// The DSSE payload type (e.g. `application/vnd.in-toto+json`).
    pub fn payload_type(&self) -> &str {
        &self.payload_type
    }
    /// The signed payload bytes (for in-toto, the statement JSON).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

impl VerifiedBundle {
    /// The certificate SAN (keyless signatures only), as matched by the policy.
    pub fn identity(&self) -> Option<&str> {
        self.identity.as_deref()
    }
    /// The certificate OIDC issuer (keyless signatures only).
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }
    /// The Rekor log index of the (first) verified log entry.
    pub fn log_index(&self) -> Option<u64> {
        self.log_index
    }
    /// The Rekor v1 integrated time (Unix seconds) authenticated by a SET.
    pub fn integrated_time(&self) -> Option<i64> {
        self.integrated_time
    }
    /// Every authenticated signing time (SETs, RFC 3161 timestamps), Unix seconds.
    pub fn signed_times(&self) -> &[i64] {
        &self.signed_times
    }
    /// Whether transparency-log inclusion was verified.
    pub fn tlog_verified(&self) -> bool {
        self.tlog_verified
    }
    /// The DSSE payload, when the bundle carried an envelope.
    pub fn dsse(&self) -> Option<&DssePayload> {
        self.dsse.as_ref()
    }
    /// The DER SubjectPublicKeyInfo of the key that made the signature (the
    /// policy's key, or the certificate's key).
    pub fn signing_key(&self) -> &[u8] {
        &self.signing_key
    }
    /// Whether the input was cosign's legacy `verify-blob --bundle` format.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }
}

/// Verify a Sigstore bundle (or a legacy cosign blob bundle) over `artifact`.
///
/// Checks, in sigstore-verify's order: bundle structure for its media type;
/// verified times (SET integrated time, RFC 3161); for keyless policies the
/// certificate chain to a Fulcio CA in `trust` at each verified time, its SCT,
/// the exact SAN and issuer; the inclusion proof and signed checkpoint and/or
/// the SET against the trust root's Rekor keys; the signature (or DSSE PAE)
/// with the certificate's or policy's key; the binding of the artifact (message
/// digest, in-toto subject); and that the log entry body describes this
/// signature, digest and key/certificate.
pub fn verify_bundle(
    bundle_json: &[u8],
    artifact: Artifact<'_>,
    policy: &BundlePolicy,
    trust: &TrustRoot,
) -> Result<VerifiedBundle, TrustError> {
    check("bundle", bundle_json.len(), MAX_BUNDLE)?;
    let value: serde_json::Value =
        serde_json::from_slice(bundle_json).map_err(|e| TrustError::json("bundle", e))?;
    let is_legacy = value
        .as_object()
        .is_some_and(|o| o.contains_key("base64Signature") || o.contains_key("rekorBundle"));
    if is_legacy {
        let legacy: LegacyBlobBundle = serde_json::from_value(value)
            .map_err(|e| TrustError::json("legacy cosign bundle", e))?;
        let rekor = legacy
            .rekor_bundle
            .as_ref()
            .ok_or(TrustError::MissingTlogEntry)?;
        let certificate = match &legacy.cert {
            Some(c) if !c.is_empty() => Some(decode_legacy_cert(c)?),
            _ => None,
        };
        let bundle = legacy_to_bundle(
            &legacy.base64_signature,
            certificate.as_ref(),
            artifact.sha256()?,
            rekor,
        )?;
        let mut verified = verify_parsed(&bundle, artifact, policy, trust)?;
        verified.legacy = true;
        return Ok(verified);
    }
    let bundle: Bundle =
        serde_json::from_value(value).map_err(|e| TrustError::json("bundle", e))?;
    verify_parsed(&bundle, artifact, policy, trust)
}

/// cosign's `verify-blob --bundle` document (`LocalSignedPayload`).
#[derive(Deserialize)]
struct LegacyBlobBundle {
    #[serde(rename = "base64Signature")]
    base64_signature: String,
    #[serde(default)]
    cert: Option<String>,
    #[serde(rename = "rekorBundle", default)]
    rekor_bundle: Option<LegacyRekorBundle>,
}

/// cosign stores `cert` as base64 of the PEM; accept bare PEM too.
fn decode_legacy_cert(cert: &str) -> Result<DerCertificate, TrustError> {
    check("certificate", cert.len(), MAX_PEM)?;
    let pem = if cert.trim_start().starts_with("-----BEGIN") {
        cert.as_bytes().to_vec()
    } else {
        STANDARD
            .decode(cert.trim())
            .map_err(|_| TrustError::MalformedBase64 {
                what: "certificate",
            })?
    };
    parse_cert_pem(&pem)
}

/// Parse the first `CERTIFICATE` block of a PEM document.
pub(crate) fn parse_cert_pem(pem: &[u8]) -> Result<DerCertificate, TrustError> {
    check("certificate", pem.len(), MAX_PEM)?;
    let text = std::str::from_utf8(pem).map_err(|_| TrustError::MalformedPem {
        what: "certificate",
        reason: "not UTF-8".into(),
    })?;
    // Only the leaf is used: intermediates come from the trust root.
    let end = "-----END CERTIFICATE-----";
    let first = match text.find(end) {
        Some(i) => &text[..i + end.len()],
        None => text,
    };
    DerCertificate::from_pem(first).map_err(|e| TrustError::MalformedPem {
        what: "certificate",
        reason: e.to_string(),
    })
}

/// Build the v0.1 bundle equivalent to a legacy cosign signature: the
/// message signature over `digest`, the leaf certificate (or a public-key
/// hint), and the Rekor entry with its SET as inclusion promise.
pub(crate) fn legacy_to_bundle(
    signature_b64: &str,
    certificate: Option<&DerCertificate>,
    digest: [u8; 32],
    rekor: &LegacyRekorBundle,
) -> Result<Bundle, TrustError> {
    check("signature", signature_b64.len(), MAX_SIGNATURE_B64)?;
    let signature = STANDARD
        .decode(signature_b64.trim())
        .map_err(|_| TrustError::MalformedBase64 { what: "signature" })?;
    if signature.is_empty() {
        return Err(TrustError::SignatureInvalid("empty signature".into()));
    }
    let material = match certificate {
        Some(cert) => serde_json::json!({
            "x509CertificateChain": { "certificates": [ { "rawBytes": STANDARD.encode(cert.as_bytes()) } ] }
        }),
        None => serde_json::json!({ "publicKey": { "hint": "" } }),
    };
    let mut material = material;
    if let Some(obj) = material.as_object_mut() {
        obj.insert(
            "tlogEntries".into(),
            serde_json::Value::Array(vec![rekor.tlog_entry_json()?]),
        );
    }
    let json = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": material,
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": STANDARD.encode(digest) },
            "signature": STANDARD.encode(&signature),
        }
    });
    serde_json::from_value(json).map_err(|e| TrustError::InvalidBundle(e.to_string()))
}

/// Verify an already-parsed bundle with sigstore-verify.
pub(crate) fn verify_parsed(
    bundle: &Bundle,
    artifact: Artifact<'_>,
    policy: &BundlePolicy,
    trust: &TrustRoot,
) -> Result<VerifiedBundle, TrustError> {
    // Exactly one log entry: a second, unverifiable one must not be able to
    // ride along (and lend its log index to rollback checks).
    match bundle.verification_material.tlog_entries.len() {
        0 => return Err(TrustError::MissingTlogEntry),
        1 => {}
        n => {
            return Err(TrustError::Unsupported(format!(
                "{n} transparency log entries; exactly one is supported"
            )))
        }
    }
    let verifier = trust.verifier();
    let (result, signing_key) = match policy {
        Signer::Key(key) => {
            if bundle.signing_certificate().is_some() {
                return Err(TrustError::MaterialMismatch(
                    "a public key was given but the signature carries a certificate".into(),
                ));
            }
            let p = PublicKeyVerificationPolicy::new(key.sigstore().clone());
            let r = verifier.verify(artifact.sigstore()?, bundle, &p)?;
            (r, key.der().to_vec())
        }
        Signer::Identity(id) => {
            if bundle.signing_certificate().is_none() {
                return Err(TrustError::MaterialMismatch(
                    "an identity was given but the signature carries no certificate".into(),
                ));
            }
            // Exact policies are also enforced inside sigstore-verify; regexp
            // policies only here, below. Chain, SCT and log are verified in
            // both cases.
            let p = match (id.identity(), id.issuer()) {
                (Matcher::Exact(identity), Matcher::Exact(issuer)) => {
                    VerificationPolicy::new(identity.as_str(), issuer.as_str())
                }
                _ => VerificationPolicy::any_identity(),
            };
            let r = verifier
                .verify(artifact.sigstore()?, bundle, &p)
                .map_err(|e| super::cert_time::explain(e, bundle))?;
            if !(r.certificate_verified() && r.sct_verified()) {
                return Err(TrustError::Certificate(
                    "certificate chain or SCT was not verified".into(),
                ));
            }
            let actual = r.identity().map(|s| s.as_str().to_string());
            if !actual.as_deref().is_some_and(|a| id.identity().matches(a)) {
                return Err(TrustError::IdentityMismatch {
                    expected: id.identity().to_string(),
                    actual: actual.unwrap_or_else(|| "none".into()),
                });
            }
            if !r.issuer().is_some_and(|a| id.issuer().matches(a)) {
                return Err(TrustError::IssuerMismatch {
                    expected: id.issuer().to_string(),
                    actual: r.issuer().unwrap_or("none").to_string(),
                });
            }
            let key = r
                .certificate()
                .map(|c| c.public_key.as_bytes().to_vec())
                .ok_or_else(|| TrustError::Certificate("no certificate in result".into()))?;
            (r, key)
        }
    };
    if !result.tlog_verified() {
        return Err(TrustError::MissingTlogEntry);
    }
    // The log index is reported only where it is authenticated: by the SET
    // (Rekor v1; the proof's index is shard-local) or by the inclusion proof
    // against a signed checkpoint (Rekor v2, whose leaf index is the entry's).
    let entry = bundle
        .verification_material
        .tlog_entries
        .first()
        .ok_or(TrustError::MissingTlogEntry)?;
    let log_index = if entry.kind_version == KindVersion::HashedRekordV002
        || entry.inclusion_promise.is_some()
    {
        Some(entry.log_index.get())
    } else {
        None
    };
    let dsse = match &bundle.content {
        SignatureContent::DsseEnvelope(env) => Some(DssePayload {
            payload_type: env.payload_type.clone(),
            payload: env.payload.as_bytes().to_vec(),
        }),
        _ => None,
    };
    Ok(VerifiedBundle {
        identity: result.identity().map(|s| s.as_str().to_string()),
        issuer: result.issuer().map(str::to_string),
        log_index,
        integrated_time: result.integrated_time().map(|t| t.as_second()),
        signed_times: result
            .verified_timestamps()
            .iter()
            .map(|t| t.as_second())
            .collect(),
        tlog_verified: true,
        dsse,
        legacy: false,
        signing_key,
    })
}
