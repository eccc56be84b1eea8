//! Naming the signer of a signature no key of the policy accepts.
//!
//! "signature does not verify" after a wrong `--key` reads like forgery.
//! When every key signer refused a signature, [`explain`] asks two
//! questions the crypto can answer: does the signature itself verify under
//! a policy key (then the refusal was about something else, e.g. the log
//! entry, and stands), and does it verify under a key the signature claims
//! (its certificate's, or the one its Rekor entry names)? Only a claimed key
//! that verifies it makes "signed by a key not in the policy" true; else
//! the wording must also fit an altered payload, which is indistinguishable.

use super::error::TrustError;
use super::keys::PublicKey;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sigstore_verify::crypto::{parse_certificate_info, KeyAlgorithm};
use sigstore_verify::types::{DerCertificate, DerPublicKey};

/// Longest identity or hint quoted from a signature.
const MAX_QUOTED: usize = 200;

/// `sha256:<hex>` of a DER SubjectPublicKeyInfo: how keys are named in
/// messages (the same as `openssl pkey -pubin -outform DER | sha256sum`).
pub fn fingerprint(spki_der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(super::bundle::sha256(spki_der)))
}

/// A key a signature names as its own, with the certificate identity
/// when the key came in a certificate.
pub(crate) struct Claimed {
    key: DerPublicKey,
    identity: Option<String>,
}

impl Claimed {
    /// The key of a certificate (DER), with its SAN.
    pub(crate) fn from_cert(cert: &DerCertificate) -> Option<Claimed> {
        let info = parse_certificate_info(cert).ok()?;
        Some(Claimed {
            key: info.public_key,
            identity: info.identity.map(|i| i.as_str().to_string()),
        })
    }

    /// A key or certificate as PEM, or as base64 of PEM or of DER (the
    /// ways Rekor entry bodies carry them).
    fn from_encoded(text: &str) -> Option<Claimed> {
        let bytes = if text.trim_start().starts_with("-----BEGIN") {
            text.as_bytes().to_vec()
        } else {
            STANDARD.decode(text.trim()).ok()?
        };
        let Ok(pem) = std::str::from_utf8(&bytes) else {
            return Self::from_der(bytes);
        };
        if !pem.contains("-----BEGIN") {
            return Self::from_der(bytes);
        }
        if pem.contains("CERTIFICATE") {
            return Self::from_cert(&DerCertificate::from_pem(pem).ok()?);
        }
        let key = DerPublicKey::from_pem(pem).ok()?;
        Some(Claimed {
            key,
            identity: None,
        })
    }

    fn from_der(der: Vec<u8>) -> Option<Claimed> {
        let cert = DerCertificate::new(der.clone());
        Self::from_cert(&cert).or_else(|| {
            let key = DerPublicKey::new(der);
            KeyAlgorithm::from_spki(&key).ok()?;
            Some(Claimed {
                key,
                identity: None,
            })
        })
    }

    /// Every key a Rekor entry body names: hashedrekord's
    /// `publicKey.content`, DSSE's `verifier`, intoto's `publicKey`,
    /// Rekor v2's `verifier.{publicKey,x509Certificate}.rawBytes`.
    pub(crate) fn from_rekor_body(body: &[u8]) -> Vec<Claimed> {
        let mut found = Vec::new();
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
            collect(&v, 0, &mut found);
        }
        found
    }

    fn describe(&self) -> String {
        let fp = fingerprint(self.key.as_bytes());
        match &self.identity {
            Some(id) => format!("{fp} (certificate identity {})", quote(id)),
            None => fp,
        }
    }
}

/// Walk a (small, size-limited) entry body for key material; depth-bounded.
fn collect(v: &serde_json::Value, depth: usize, out: &mut Vec<Claimed>) {
    use serde_json::Value;
    if depth > 8 || out.len() > 4 {
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let keyish = matches!(
                    k.as_str(),
                    "publicKey" | "verifier" | "x509Certificate" | "content" | "rawBytes"
                );
                match child {
                    Value::String(s) if keyish => out.extend(Claimed::from_encoded(s)),
                    _ => collect(child, depth + 1, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, depth + 1, out)),
        _ => {}
    }
}

/// `text` in quotes with Rust escapes (no control characters reach a
/// terminal), at most [`MAX_QUOTED`] characters.
pub(crate) fn quote(text: &str) -> String {
    let cut: String = text.chars().take(MAX_QUOTED).collect();
    if cut.len() < text.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// Whether the signature verifies under `key`, however its bytes are
/// checked (raw payload, prehashed digest, DSSE PAE).
pub(crate) type Check<'a> = &'a dyn Fn(&DerPublicKey) -> bool;

/// The refusal to report for a signature every key signer refused with
/// `original`: `original` itself when the signature verifies under a
/// policy key (its fault lies elsewhere), else
/// [`TrustError::NotPolicyKey`] naming the claimed signer that verifies it,
/// if any, and the `hint` the signature gives.
pub(crate) fn explain(
    verifies: Check<'_>,
    claimed: &[Claimed],
    hint: Option<&str>,
    keys: &[&PublicKey],
    original: TrustError,
) -> TrustError {
    if keys.is_empty() || keys.iter().any(|k| verifies(k.sigstore())) {
        return original;
    }
    TrustError::NotPolicyKey {
        signer: claimed
            .iter()
            .find(|c| verifies(&c.key))
            .map(Claimed::describe),
        hint: hint.filter(|h| !h.is_empty()).map(quote),
        expected: keys.iter().map(|k| fingerprint(k.der())).collect(),
    }
}

/// Whether `original` is the kind of refusal a wrong key produces: the
/// signature, or the log entry's binding to the key, failed.
pub(crate) fn key_refusal(e: &TrustError) -> bool {
    matches!(
        e,
        TrustError::SignatureInvalid(_) | TrustError::LogEntryMismatch(_)
    ) || matches!(e, TrustError::MaterialMismatch(m) if m.contains("carries a certificate"))
}

/// Whether `raw` verifies `data` under `key` with the scheme cosign uses
/// for that key type.
pub(crate) fn verifies_raw(key: &DerPublicKey, data: &[u8], raw: &[u8]) -> bool {
    let Ok(k) = PublicKey::from_der(key.clone()) else {
        return false;
    };
    sigstore_verify::crypto::verify_signature(
        key,
        data,
        &sigstore_verify::types::SignatureBytes::new(raw.to_vec()),
        k.default_scheme(),
    )
    .is_ok()
}

/// Whether `raw` verifies the SHA-256 `digest` (a hashedrekord message
/// signature) under `key`.
pub(crate) fn verifies_prehashed(key: &DerPublicKey, digest: &[u8], raw: &[u8]) -> bool {
    let Ok(k) = PublicKey::from_der(key.clone()) else {
        return false;
    };
    sigstore_verify::crypto::verify_signature_prehashed(
        key,
        digest,
        &sigstore_verify::types::SignatureBytes::new(raw.to_vec()),
        k.default_scheme(),
    )
    .is_ok()
}

/// [`explain`] for a Sigstore bundle over the artifact `digest` (SHA-256):
/// a message signature is checked over the digest, a DSSE envelope over
/// its PAE. A legacy or unparsable bundle keeps `original`.
pub(crate) fn explain_bundle(
    bundle_json: &[u8],
    digest: &[u8; 32],
    keys: &[&PublicKey],
    original: TrustError,
) -> TrustError {
    use sigstore_verify::types::{Bundle, SignatureContent, VerificationMaterialContent};
    let Ok(bundle) = serde_json::from_slice::<Bundle>(bundle_json) else {
        return original;
    };
    let mut claimed: Vec<Claimed> = bundle
        .signing_certificate()
        .and_then(Claimed::from_cert)
        .into_iter()
        .collect();
    for entry in &bundle.verification_material.tlog_entries {
        claimed.extend(Claimed::from_rekor_body(
            entry.canonicalized_body.as_bytes(),
        ));
    }
    let hint = match &bundle.verification_material.content {
        VerificationMaterialContent::PublicKey(p) => Some(p.hint.as_str()),
        _ => None,
    };
    match &bundle.content {
        SignatureContent::MessageSignature(m) => {
            let raw = m.signature.as_bytes();
            let verifies = |k: &DerPublicKey| verifies_prehashed(k, digest, raw);
            explain(&verifies, &claimed, hint, keys, original)
        }
        SignatureContent::DsseEnvelope(env) => {
            let (pae, raw) = (env.pae(), env.signature.sig.as_bytes());
            let verifies = |k: &DerPublicKey| verifies_raw(k, &pae, raw);
            explain(&verifies, &claimed, hint, keys, original)
        }
        // A content kind this version does not know: nothing to check.
        _ => original,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_sha256_of_the_der() {
        assert_eq!(
            fingerprint(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn a_payload_type_from_input_cannot_reach_the_terminal_raw() {
        let e = TrustError::PayloadType("x\u{1b}[2J\nOK".into());
        assert_eq!(
            e.to_string(),
            r#"not a cosign container image signature: type "x\u{1b}[2J\nOK""#
        );
    }

    #[test]
    fn quotes_escape_and_bound() {
        assert_eq!(quote("a\nb"), r#""a\nb""#);
        assert!(quote(&"x".repeat(500)).ends_with("\"…"));
    }
}
