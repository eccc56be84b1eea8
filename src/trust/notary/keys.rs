//! Notary v1 public keys and signatures.
//!
//! Key types Notary writes: `ecdsa` (base64 DER SubjectPublicKeyInfo),
//! `ecdsa-x509` (base64 of a PEM certificate; root and delegation keys) and
//! `ed25519` (base64 of the raw 32-byte key; the server's timestamp key).
//! Signature methods: `ecdsa` (raw r||s over SHA-256, 64 bytes for P-256)
//! and `eddsa`. A key ID is the SHA-256 of the key's canonical JSON.
//! Cryptography is aws-lc-rs (the provider rustls already uses here); X.509
//! and SPKI parsing is `x509-cert` / `spki`.

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ED25519};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use x509_cert::der::{Decode as _, DecodePem as _};
use x509_cert::spki::SubjectPublicKeyInfoRef;

use super::error::NotaryError;
use super::metadata::canonical;

/// OID of id-ecPublicKey and of the P-256 curve.
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const P256: &str = "1.2.840.10045.3.1.7";

#[derive(Deserialize)]
struct KeyDoc {
    keytype: String,
    keyval: KeyVal,
}

#[derive(Deserialize)]
struct KeyVal {
    public: String,
}

/// A key a role may sign with.
#[derive(Debug, Clone)]
pub(crate) struct VerifyingKey {
    kind: Kind,
    /// The uncompressed P-256 point or the raw Ed25519 key.
    raw: Vec<u8>,
    /// notAfter of an `ecdsa-x509` key's certificate (Unix seconds).
    pub(crate) cert_not_after: Option<i64>,
    /// The subject common name of an `ecdsa-x509` key's certificate: Notary
    /// names a root certificate after its GUN.
    pub(crate) cert_cn: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    EcdsaP256,
    Ed25519,
}

/// The key ID Notary gives `key`: hex SHA-256 of its canonical JSON.
pub(crate) fn key_id(key: &Value, role: &str) -> Result<String, NotaryError> {
    Ok(hex::encode(Sha256::digest(canonical(key, role)?)))
}

/// Parse a key entry of a `keys` map, checking it is listed under its own ID.
pub(crate) fn parse_key(id: &str, key: &Value, role: &str) -> Result<VerifyingKey, NotaryError> {
    let unsupported = |reason: String| NotaryError::UnsupportedKey {
        role: role.to_string(),
        key_id: id.to_string(),
        reason,
    };
    if key_id(key, role)? != id {
        return Err(NotaryError::malformed(
            role,
            format!("key {id} is not listed under its own key ID"),
        ));
    }
    let doc: KeyDoc =
        serde_json::from_value(key.clone()).map_err(|e| unsupported(e.to_string()))?;
    let public = base64::engine::general_purpose::STANDARD
        .decode(doc.keyval.public.as_bytes())
        .map_err(|_| unsupported("public key is not base64".into()))?;
    match doc.keytype.as_str() {
        "ed25519" if public.len() == 32 => Ok(VerifyingKey {
            kind: Kind::Ed25519,
            raw: public,
            cert_not_after: None,
            cert_cn: None,
        }),
        "ecdsa" => Ok(VerifyingKey {
            kind: Kind::EcdsaP256,
            raw: p256_point(&public).map_err(unsupported)?,
            cert_not_after: None,
            cert_cn: None,
        }),
        "ecdsa-x509" => {
            let cert = x509_cert::Certificate::from_pem(&public)
                .map_err(|e| unsupported(format!("certificate: {e}")))?;
            let tbs = &cert.tbs_certificate;
            let spki = x509_cert::der::Encode::to_der(&tbs.subject_public_key_info)
                .map_err(|e| unsupported(format!("certificate key: {e}")))?;
            let not_after = tbs.validity.not_after.to_unix_duration().as_secs();
            Ok(VerifyingKey {
                kind: Kind::EcdsaP256,
                raw: p256_point(&spki).map_err(unsupported)?,
                cert_not_after: i64::try_from(not_after).ok(),
                cert_cn: common_name(&tbs.subject),
            })
        }
        other => Err(unsupported(format!("key type {other:?}"))),
    }
}

/// The first CN of a certificate subject (UTF8String or PrintableString).
fn common_name(name: &x509_cert::name::Name) -> Option<String> {
    use x509_cert::der::asn1::{PrintableStringRef, Utf8StringRef};
    const CN: &str = "2.5.4.3";
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|a| a.oid.to_string() == CN)
        .and_then(|a| {
            a.value
                .decode_as::<Utf8StringRef<'_>>()
                .map(|s| s.as_str().to_string())
                .or_else(|_| {
                    a.value
                        .decode_as::<PrintableStringRef<'_>>()
                        .map(|s| s.as_str().to_string())
                })
                .ok()
        })
}

/// The uncompressed point of a DER P-256 SubjectPublicKeyInfo.
fn p256_point(der: &[u8]) -> Result<Vec<u8>, String> {
    let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|e| format!("SPKI: {e}"))?;
    let alg = &spki.algorithm;
    let curve = alg
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<x509_cert::der::asn1::ObjectIdentifier>().ok());
    if alg.oid.to_string() != EC_PUBLIC_KEY || curve.map(|c| c.to_string()).as_deref() != Some(P256)
    {
        return Err("only ECDSA P-256 keys are supported".into());
    }
    spki.subject_public_key
        .as_bytes()
        .map(<[u8]>::to_vec)
        .ok_or_else(|| "SPKI bit string is not byte-aligned".into())
}

impl VerifyingKey {
    /// The raw public key (point or Ed25519 key), whatever its encoding.
    pub(crate) fn public_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// Whether `sig` (method `method`) is this key's signature over `msg`.
    pub(crate) fn verifies(&self, method: &str, msg: &[u8], sig: &[u8]) -> bool {
        let alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm =
            match (self.kind, method) {
                (Kind::EcdsaP256, "ecdsa") => &ECDSA_P256_SHA256_FIXED,
                (Kind::Ed25519, "eddsa") => &ED25519,
                _ => return false,
            };
        UnparsedPublicKey::new(alg, &self.raw)
            .verify(msg, sig)
            .is_ok()
    }
}
