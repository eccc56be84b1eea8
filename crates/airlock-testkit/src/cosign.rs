//! The cosign formats a publisher writes, made with our own keys: the
//! simple-signing payload, the hashedrekord entry Rekor logs for it, the
//! legacy `dev.sigstore.cosign/bundle` annotation built from Rekor's answer,
//! and the `.sig` manifest that carries them under `sha256-<hex>.sig`.
//!
//! Shared by `airlock-mkimage publish` (the demo) and the tests, so both
//! produce byte-for-byte what `cosign sign --key` pushes.

use std::io;

use airlock::model::media;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::ecdsa::{signature::RandomizedSigner as _, DerSignature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub use airlock::model::media::COSIGN_SIMPLESIGNING as SIMPLESIGNING;
pub const ANNOTATION_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
pub const ANNOTATION_BUNDLE: &str = "dev.sigstore.cosign/bundle";
pub const ANNOTATION_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
pub const ANNOTATION_CHAIN: &str = "dev.sigstore.cosign/chain";

fn other(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// The public key as cosign writes `cosign.pub` (SPKI PEM).
pub fn public_key_pem(key: &SigningKey) -> io::Result<String> {
    key.verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| other("encode public key", e))
}

/// The DER SubjectPublicKeyInfo; its sha256 is a Rekor log ID.
pub fn public_key_der(key: &SigningKey) -> io::Result<Vec<u8>> {
    Ok(key
        .verifying_key()
        .to_public_key_der()
        .map_err(|e| other("encode public key", e))?
        .as_bytes()
        .to_vec())
}

/// ECDSA-SHA256 over `data`, DER, base64 — cosign's signature annotation.
/// Randomized like Go's ECDSA, so signing again gives a new Rekor entry
/// (an identical entry would be refused with 409, as by the real Rekor).
pub fn sign_b64(key: &SigningKey, data: &[u8]) -> String {
    let sig: DerSignature = key.sign_with_rng(&mut rand_core::OsRng, data);
    STANDARD.encode(sig.as_bytes())
}

/// cosign's simple-signing payload for `digest` under `reference`.
pub fn simple_signing_payload(digest: &str, reference: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

/// The hashedrekord v0.0.1 entry cosign submits for a key-based signature.
pub fn hashedrekord(payload: &[u8], signature_b64: &str, public_pem: &str) -> Value {
    hashedrekord_of_hash(&Sha256::digest(payload), signature_b64, public_pem)
}

/// The same entry from the artifact's sha256 (tests forge mismatching ones).
pub fn hashedrekord_of_hash(sha256: &[u8], signature_b64: &str, public_pem: &str) -> Value {
    json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": hex::encode(sha256) } },
            "signature": {
                "content": signature_b64,
                "publicKey": { "content": STANDARD.encode(public_pem) }
            }
        }
    })
}

/// The legacy bundle annotation from one Rekor `LogEntry` value (the object
/// under the entry's UUID in `POST /api/v1/log/entries`' answer).
pub fn legacy_bundle(entry: &Value) -> io::Result<String> {
    let field = |name: &str| {
        entry
            .get(name)
            .cloned()
            .ok_or_else(|| other("Rekor entry", format!("no {name}")))
    };
    let set = entry
        .pointer("/verification/signedEntryTimestamp")
        .cloned()
        .ok_or_else(|| other("Rekor entry", "no signedEntryTimestamp"))?;
    Ok(json!({
        "SignedEntryTimestamp": set,
        "Payload": {
            "body": field("body")?,
            "integratedTime": field("integratedTime")?,
            "logIndex": field("logIndex")?,
            "logID": field("logID")?,
        }
    })
    .to_string())
}

/// One `.sig` layer: the payload plus cosign's annotations.
#[derive(Debug, Clone)]
pub struct SigLayer {
    pub payload: Vec<u8>,
    pub signature: String,
    /// The legacy Rekor bundle JSON, when the signature was logged.
    pub bundle: Option<String>,
    /// Keyless: the signing certificate and its chain (PEM).
    pub certificate: Option<String>,
    pub chain: Option<String>,
}

impl SigLayer {
    /// A signature by `key` over the simple-signing payload, not yet logged.
    pub fn new(key: &SigningKey, digest: &str, reference: &str) -> Self {
        let payload = simple_signing_payload(digest, reference);
        let signature = sign_b64(key, &payload);
        SigLayer {
            payload,
            signature,
            bundle: None,
            certificate: None,
            chain: None,
        }
    }

    pub fn annotations(&self) -> Value {
        let mut ann = json!({ ANNOTATION_SIGNATURE: self.signature });
        let optional = [
            (ANNOTATION_BUNDLE, &self.bundle),
            (ANNOTATION_CERTIFICATE, &self.certificate),
            (ANNOTATION_CHAIN, &self.chain),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                ann[key] = json!(v);
            }
        }
        ann
    }
}

/// The `.sig` image config cosign writes: its diff_ids are the payload digests.
pub fn sig_config(payload_digests: &[String]) -> Vec<u8> {
    json!({
        "architecture": "", "config": {}, "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
        "rootfs": {"type": "layers", "diff_ids": payload_digests},
    })
    .to_string()
    .into_bytes()
}

/// The `.sig` manifest over a config descriptor and `(layer, digest)` pairs.
pub fn sig_manifest(config: (&str, u64), layers: &[(&SigLayer, String)]) -> Vec<u8> {
    let descs: Vec<Value> = layers
        .iter()
        .map(|(l, digest)| {
            json!({
                "mediaType": SIMPLESIGNING, "size": l.payload.len(), "digest": digest,
                "annotations": l.annotations(),
            })
        })
        .collect();
    json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "size": config.1, "digest": config.0},
        "layers": descs,
    })
    .to_string()
    .into_bytes()
}

/// The cosign tag for evidence about `subject` (`sha256:<hex>`): `sha256-<hex>.<suffix>`.
pub fn evidence_tag(subject: &str, suffix: &str) -> String {
    format!("sha256-{}.{suffix}", subject.trim_start_matches("sha256:"))
}

/// Logs a key-based signature in a Rekor v1 API (`POST /api/v1/log/entries`)
/// and returns the legacy bundle annotation for it.
pub fn log_in_rekor(rekor_url: &str, layer: &SigLayer, public_pem: &str) -> io::Result<String> {
    let entry = hashedrekord(&layer.payload, &layer.signature, public_pem);
    let url = format!("{}/api/v1/log/entries", rekor_url.trim_end_matches('/'));
    let mut resp = ureq::post(&url)
        .header("Content-Type", "application/json")
        .send(entry.to_string().as_bytes())
        .map_err(|e| other(&url, e))?;
    let text = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(|e| other(&url, e))?;
    let created: Value = serde_json::from_str(&text).map_err(|e| other(&url, e))?;
    let entry = created
        .as_object()
        .and_then(|o| o.values().next())
        .ok_or_else(|| other(&url, "answer holds no log entry"))?;
    legacy_bundle(entry)
}

pub use airlock::model::media::{DSSE_ENVELOPE, IN_TOTO};
pub const SLSA_PROVENANCE_02: &str = "https://slsa.dev/provenance/v0.2";

/// DSSE pre-authentication encoding, the bytes a DSSE signature covers.
pub fn dsse_pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// An in-toto v0.1 statement with a SLSA v0.2 provenance predicate, as the
/// slsa-github-generator writes for a container image.
pub fn provenance_statement(name: &str, digest: &str, repo_url: &str, git_ref: &str) -> Vec<u8> {
    json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "subject": [{ "name": name, "digest": { "sha256": digest.trim_start_matches("sha256:") } }],
        "predicateType": SLSA_PROVENANCE_02,
        "predicate": {
            "builder": { "id": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.0.0" },
            "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
            "invocation": { "configSource": {
                "uri": format!("git+{repo_url}@{git_ref}"),
                "digest": { "sha1": "0123456789abcdef0123456789abcdef01234567" },
                "entryPoint": ".github/workflows/release.yml"
            } }
        }
    })
    .to_string()
    .into_bytes()
}

/// The DSSE envelope `cosign attest --key` stores as an `.att` layer.
pub fn dsse_envelope(key: &SigningKey, statement: &[u8]) -> Vec<u8> {
    let sig: DerSignature = key.sign_with_rng(&mut rand_core::OsRng, &dsse_pae(IN_TOTO, statement));
    json!({
        "payloadType": IN_TOTO,
        "payload": STANDARD.encode(statement),
        "signatures": [{ "keyid": "", "sig": STANDARD.encode(sig.as_bytes()) }],
    })
    .to_string()
    .into_bytes()
}
