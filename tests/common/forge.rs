//! Forging cosign evidence in the exact cosign format, with test keys: a
//! signer key, a test "Rekor" key placed in a test trusted root, the
//! simple-signing payload, a hashedrekord body and its SET, and the `.sig`
//! manifest cosign pushes under `sha256-<hex>.sig`. Shared by the tests
//! that need evidence (the same construction as tests/forged.rs).

use airlock::trust::{PublicKey, Signer};
use airlock_testkit::cosign;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::ecdsa::{signature::Signer as _, DerSignature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn key() -> SigningKey {
    SigningKey::random(&mut rand_core::OsRng)
}

pub fn pem(k: &SigningKey) -> String {
    k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()
}

pub fn spki(k: &SigningKey) -> Vec<u8> {
    k.verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

/// A key policy for `k`'s public key.
pub fn key_signer(k: &SigningKey) -> Signer {
    Signer::Key(PublicKey::from_pem(pem(k).as_bytes()).unwrap())
}

pub fn log_id(k: &SigningKey) -> Vec<u8> {
    Sha256::digest(spki(k)).to_vec()
}

pub fn sign(k: &SigningKey, data: &[u8]) -> String {
    let sig: DerSignature = k.sign(data);
    STANDARD.encode(sig.as_bytes())
}

/// cosign's simple-signing payload.
pub fn payload(digest: &str, reference: &str) -> Vec<u8> {
    cosign::simple_signing_payload(digest, reference)
}

/// A trusted-root transparency (or CT) log entry for the log of key `k`
/// at `url`.
pub fn log_json(k: &SigningKey, url: &str) -> Value {
    serde_json::json!({
        "baseUrl": url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": STANDARD.encode(spki(k)),
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
            "validFor": { "start": "2020-01-01T00:00:00Z" }
        },
        "logId": { "keyId": STANDARD.encode(log_id(k)) }
    })
}

/// A trusted root whose only Rekor log is `rekor`.
pub fn trust_root_json(rekor: &SigningKey) -> String {
    serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [log_json(rekor, "https://rekor.invalid")],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": []
    })
    .to_string()
}

/// A hashedrekord entry body (what a client posts to Rekor, and what the
/// log records): `signature` (base64) over an artifact with SHA-256 `hash`,
/// verifiable with `public_key_pem` (a public key or a certificate).
pub fn hashedrekord_body(public_key_pem: &str, hash: &[u8], signature: &str) -> Value {
    cosign::hashedrekord_of_hash(hash, signature, public_key_pem)
}

/// cosign's legacy Rekor bundle (`dev.sigstore.cosign/bundle`) for `body`
/// logged at `(log_index, integrated_time)` in the log of `log_key`, with a
/// SET by `set_key` over the canonical entry.
pub fn logged(
    body: &Value,
    set_key: &SigningKey,
    log_key: &SigningKey,
    (log_index, integrated_time): (i64, i64),
) -> String {
    let entry = serde_json::json!({
        "body": STANDARD.encode(serde_json_canonicalizer::to_vec(body).unwrap()),
        "integratedTime": integrated_time,
        "logIndex": log_index,
        "logID": hex::encode(log_id(log_key)),
    });
    let set = sign(set_key, &serde_json_canonicalizer::to_vec(&entry).unwrap());
    serde_json::json!({ "SignedEntryTimestamp": set, "Payload": entry }).to_string()
}

/// A legacy Rekor bundle (cosign's `dev.sigstore.cosign/bundle`) for a
/// hashedrekord entry of `signature` by `signer` over `payload`, with a SET
/// by `rekor`.
pub fn rekor_bundle(
    signer: &SigningKey,
    rekor: &SigningKey,
    payload: &[u8],
    signature: &str,
    log_index: i64,
    integrated_time: i64,
) -> String {
    let log = (log_index, integrated_time);
    rekor_bundle_naming(&pem(signer), rekor, payload, signature, log)
}

/// The same with the body naming `public_key_pem` (a key, or a keyless
/// signature's certificate), logged at `(log_index, integrated_time)`.
pub fn rekor_bundle_naming(
    public_key_pem: &str,
    rekor: &SigningKey,
    payload: &[u8],
    signature: &str,
    log: (i64, i64),
) -> String {
    let body = hashedrekord_body(public_key_pem, &Sha256::digest(payload), signature);
    logged(&body, rekor, rekor, log)
}

/// The decoded entry body of a legacy Rekor bundle.
pub fn body_of(bundle_json: &str) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_str(bundle_json).unwrap();
    STANDARD
        .decode(v["Payload"]["body"].as_str().unwrap())
        .unwrap()
}

/// RFC 6962 leaf hash.
pub fn leaf_hash(body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(body);
    h.finalize().to_vec()
}

/// RFC 6962 interior node hash.
pub fn node_hash(l: &[u8], r: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().to_vec()
}

/// A signed note over `size` and `root`, signed by `key`.
pub fn checkpoint(key: &SigningKey, size: u64, root: &[u8]) -> String {
    checkpoint_hinted(key, key, size, root)
}

/// A signed note over `size` and `root`, signed by `key` under the key hint
/// of `hint_key` (an impostor claiming a log's hint when they differ).
pub fn checkpoint_hinted(
    key: &SigningKey,
    hint_key: &SigningKey,
    size: u64,
    root: &[u8],
) -> String {
    let body = format!("rekor.test - 42\n{size}\n{}\n", STANDARD.encode(root));
    let sig: DerSignature = key.sign(body.as_bytes());
    let mut blob = log_id(hint_key)[..4].to_vec();
    blob.extend_from_slice(sig.as_bytes());
    format!("{body}\n\u{2014} rekor.test {}\n", STANDARD.encode(blob))
}

/// A two-leaf tree with the entry `body` at index 1 and another entry at
/// index 0: (the sibling's leaf hash, the root hash).
pub fn two_leaf_tree(body: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let sibling = leaf_hash(b"another entry");
    let root = node_hash(&sibling, &leaf_hash(body));
    (sibling, root)
}

pub use airlock_testkit::cosign::SigLayer;

/// A `.sig` layer signed by `signer` over `payload(digest, reference)`,
/// logged at `log_index` (None: no Rekor bundle annotation).
pub fn sig_layer(
    signer: &SigningKey,
    rekor: &SigningKey,
    digest: &str,
    reference: &str,
    log: Option<(i64, i64)>,
) -> SigLayer {
    let p = payload(digest, reference);
    let s = sign(signer, &p);
    let bundle = log.map(|(index, time)| rekor_bundle(signer, rekor, &p, &s, index, time));
    SigLayer {
        payload: p,
        signature: s,
        bundle,
        certificate: None,
        chain: None,
    }
}

pub use airlock_testkit::cosign::SIMPLESIGNING;

/// Write the cosign `.sig` manifest for `layers` into the layout and tag it
/// `sha256-<hex>.sig` for `subject` (`sha256:<hex>`), as `cosign sign` does.
pub fn add_sig_manifest(layout: &mut airlock_testkit::Layout, subject: &str, layers: &[SigLayer]) {
    let mut pushed = Vec::new();
    for l in layers {
        let d = layout.add_blob(SIMPLESIGNING, &l.payload).unwrap();
        pushed.push((l, d.digest));
    }
    let digests: Vec<String> = pushed.iter().map(|(_, d)| d.clone()).collect();
    let config = cosign::sig_config(&digests);
    let c = layout
        .add_blob("application/vnd.oci.image.config.v1+json", &config)
        .unwrap();
    let manifest = cosign::sig_manifest((&c.digest, c.size), &pushed);
    let m = layout
        .add_blob("application/vnd.oci.image.manifest.v1+json", &manifest)
        .unwrap();
    layout.tag(&cosign::evidence_tag(subject, "sig"), &m);
}
