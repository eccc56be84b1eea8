//! The log itself: accepted entries, their leaves in an RFC 6962 tree, and
//! the two things Rekor v1 signs with its key — Signed Entry Timestamps and
//! checkpoints (signed notes).

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::ecdsa::signature::RandomizedSigner as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _, LineEnding};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::merkle::{self, Hash};

/// Largest proposed entry the server accepts.
pub const MAX_ENTRY_BYTES: usize = 1 << 20;

/// A refusal, with the HTTP status Rekor would answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogError {
    pub status: u16,
    pub message: String,
}

impl LogError {
    fn bad(message: impl Into<String>) -> Self {
        LogError {
            status: 400,
            message: message.into(),
        }
    }
    fn not_found(message: impl Into<String>) -> Self {
        LogError {
            status: 404,
            message: message.into(),
        }
    }
}

struct Stored {
    /// The canonicalised body, as logged (the leaf's data).
    body: Vec<u8>,
    integrated_time: i64,
    leaf: Hash,
    set: Vec<u8>,
}

/// An append-only Rekor v1 log with one shard.
pub struct Log {
    key: SigningKey,
    spki: Vec<u8>,
    log_id: Hash,
    host: String,
    tree_id: i64,
    entries: Vec<Stored>,
    leaves: Vec<Hash>,
    by_leaf: HashMap<Hash, usize>,
    fixed_time: Option<i64>,
    /// Fault injection for tests: bodies served instead of the logged ones.
    body_overrides: HashMap<usize, Vec<u8>>,
    /// Sign every served SET and checkpoint afresh with a random nonce, as
    /// the public log does (its signatures differ on every request).
    fresh_signatures: bool,
}

impl Log {
    /// A new empty log signing with `key`; `host` names it in checkpoints
    /// (the origin is `"<host> - <treeID>"`, as Rekor writes it).
    pub fn new(key: SigningKey, host: &str) -> Result<Self, LogError> {
        let spki = key
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| LogError::bad(format!("log key: {e}")))?
            .as_bytes()
            .to_vec();
        let log_id: Hash = Sha256::digest(&spki).into();
        // A stable positive tree ID derived from the key.
        let mut id = [0u8; 8];
        id.copy_from_slice(&log_id[..8]);
        let tree_id = i64::from_be_bytes(id) & i64::MAX;
        Ok(Log {
            key,
            spki,
            log_id,
            host: host.to_string(),
            tree_id,
            entries: Vec::new(),
            leaves: Vec::new(),
            by_leaf: HashMap::new(),
            fixed_time: None,
            body_overrides: HashMap::new(),
            fresh_signatures: false,
        })
    }

    /// A log with a freshly generated P-256 key.
    pub fn generate(host: &str) -> Result<Self, LogError> {
        Log::new(SigningKey::random(&mut rand_core::OsRng), host)
    }

    /// Use `t` (Unix seconds) as every entry's integrated time.
    pub fn set_fixed_time(&mut self, t: Option<i64>) {
        self.fixed_time = t;
    }

    /// Sign each served SET and checkpoint anew with a random ECDSA nonce
    /// (tests of clients that must not depend on a log's signature bytes).
    pub fn set_fresh_signatures(&mut self, on: bool) {
        self.fresh_signatures = on;
    }

    /// `msg` signed with the log key: deterministically (RFC 6979), or with
    /// a random nonce when fresh signatures are on.
    fn sign(&self, msg: &[u8]) -> DerSignature {
        if self.fresh_signatures {
            let sig: Signature = self.key.sign_with_rng(&mut rand_core::OsRng, msg);
            sig.to_der()
        } else {
            self.key.sign(msg)
        }
    }

    /// The SET of a stored entry: the one made at upload, or a fresh one.
    fn served_set(&self, index: usize, e: &Stored) -> Result<Vec<u8>, LogError> {
        if !self.fresh_signatures {
            return Ok(e.set.clone());
        }
        let canonical = self.set_payload(&e.body, e.integrated_time, index)?;
        Ok(self.sign(&canonical).as_bytes().to_vec())
    }

    /// The canonical JSON a SET signs.
    fn set_payload(
        &self,
        body: &[u8],
        integrated_time: i64,
        index: usize,
    ) -> Result<Vec<u8>, LogError> {
        let payload = json!({
            "body": STANDARD.encode(body),
            "integratedTime": integrated_time,
            "logID": hex::encode(self.log_id),
            "logIndex": index,
        });
        serde_json_canonicalizer::to_vec(&payload)
            .map_err(|e| LogError::bad(format!("canonical JSON: {e}")))
    }

    /// Serve `body` instead of the logged body of entry `index` (tests of
    /// clients that must notice a log lying about an entry).
    #[doc(hidden)]
    pub fn override_served_body(&mut self, index: usize, body: Vec<u8>) {
        self.body_overrides.insert(index, body);
    }

    /// DER SubjectPublicKeyInfo of the log key.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// PEM of the log key (`GET /api/v1/log/publicKey`).
    pub fn public_key_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    /// The log ID: SHA-256 of the key's DER SubjectPublicKeyInfo.
    pub fn log_id(&self) -> Hash {
        self.log_id
    }

    pub fn tree_id(&self) -> i64 {
        self.tree_id
    }

    pub fn origin(&self) -> String {
        format!("{} - {}", self.host, self.tree_id)
    }

    pub fn size(&self) -> usize {
        self.entries.len()
    }

    /// The entry UUID Rekor returns: 16 hex digits of the tree ID, then the
    /// leaf hash.
    pub fn uuid(&self, index: usize) -> Option<String> {
        let e = self.entries.get(index)?;
        Some(format!("{:016x}{}", self.tree_id, hex::encode(e.leaf)))
    }

    /// Index of an entry by UUID (with or without the tree-ID prefix).
    pub fn find_uuid(&self, uuid: &str) -> Option<usize> {
        let leaf_hex = match uuid.len() {
            64 => uuid,
            80 if uuid[..16] == format!("{:016x}", self.tree_id) => &uuid[16..],
            _ => return None,
        };
        let leaf: Hash = hex::decode(leaf_hex).ok()?.try_into().ok()?;
        self.by_leaf.get(&leaf).copied()
    }

    /// UUIDs of the entries whose signed artifact hash is `sha256_hex`
    /// (`POST /api/v1/index/retrieve`).
    pub fn search_hash(&self, sha256_hex: &str) -> Vec<String> {
        (0..self.entries.len())
            .filter(|&i| {
                serde_json::from_slice::<Value>(&self.entries[i].body)
                    .ok()
                    .and_then(|b| {
                        b.pointer("/spec/data/hash/value")
                            .and_then(|v| v.as_str())
                            .map(|v| v.eq_ignore_ascii_case(sha256_hex))
                    })
                    .unwrap_or(false)
            })
            .filter_map(|i| self.uuid(i))
            .collect()
    }

    fn now(&self) -> i64 {
        self.fixed_time.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
    }

    /// Validate and canonicalise a proposed entry, then append it. Returns
    /// its index, or a 409 naming the existing entry when already logged.
    pub fn add(&mut self, proposed: &[u8]) -> Result<usize, LogError> {
        if proposed.len() > MAX_ENTRY_BYTES {
            return Err(LogError {
                status: 413,
                message: "entry too large".into(),
            });
        }
        let body = canonicalize(proposed)?;
        let leaf = merkle::leaf_hash(&body);
        if let Some(&i) = self.by_leaf.get(&leaf) {
            return Err(LogError {
                status: 409,
                message: format!(
                    "an equivalent entry already exists in the transparency log with UUID {}",
                    self.uuid(i).unwrap_or_default()
                ),
            });
        }
        let index = self.entries.len();
        let integrated_time = self.now();
        let canonical = self.set_payload(&body, integrated_time, index)?;
        let set = self.sign(&canonical);
        self.entries.push(Stored {
            body,
            integrated_time,
            leaf,
            set: set.as_bytes().to_vec(),
        });
        self.leaves.push(leaf);
        self.by_leaf.insert(leaf, index);
        Ok(index)
    }

    /// The signed note over the tree of the first `size` entries.
    pub fn checkpoint(&self, size: usize) -> String {
        let root = merkle::root(&self.leaves[..size.min(self.leaves.len())]);
        let note = format!("{}\n{size}\n{}\n", self.origin(), STANDARD.encode(root));
        let sig = self.sign(note.as_bytes());
        let mut blob = self.log_id[..4].to_vec();
        blob.extend_from_slice(sig.as_bytes());
        format!("{note}\n\u{2014} {} {}\n", self.host, STANDARD.encode(blob))
    }

    /// `GET /api/v1/log`.
    pub fn info(&self) -> Value {
        let size = self.leaves.len();
        json!({
            "rootHash": hex::encode(merkle::root(&self.leaves)),
            "treeSize": size,
            "signedTreeHead": self.checkpoint(size),
            "treeID": self.tree_id.to_string(),
            "inactiveShards": [],
        })
    }

    /// `GET /api/v1/log/proof`.
    pub fn consistency(&self, first: usize, last: usize) -> Result<Value, LogError> {
        if last > self.leaves.len() || first > last {
            return Err(LogError::bad(format!(
                "firstSize {first} / lastSize {last} outside the tree of {}",
                self.leaves.len()
            )));
        }
        let leaves = &self.leaves[..last];
        let hashes = merkle::consistency_proof(first, leaves)
            .ok_or_else(|| LogError::bad("firstSize must be at least 1"))?;
        Ok(json!({
            "rootHash": hex::encode(merkle::root(leaves)),
            "hashes": hashes.iter().map(hex::encode).collect::<Vec<_>>(),
        }))
    }

    /// One entry in the shape of the Rekor API (`{uuid: LogEntry}`), with an
    /// inclusion proof against the current tree.
    pub fn entry(&self, index: usize) -> Result<Value, LogError> {
        let e = self
            .entries
            .get(index)
            .ok_or_else(|| LogError::not_found(format!("no entry at index {index}")))?;
        let uuid = self.uuid(index).unwrap_or_default();
        let size = self.leaves.len();
        let hashes = merkle::inclusion_path(index, &self.leaves).unwrap_or_default();
        let body = self.body_overrides.get(&index).unwrap_or(&e.body);
        let set = self.served_set(index, e)?;
        let mut map = serde_json::Map::new();
        map.insert(
            uuid,
            json!({
                "body": STANDARD.encode(body),
                "integratedTime": e.integrated_time,
                "logID": hex::encode(self.log_id),
                "logIndex": index,
                "verification": {
                    "inclusionProof": {
                        "checkpoint": self.checkpoint(size),
                        "hashes": hashes.iter().map(hex::encode).collect::<Vec<_>>(),
                        "logIndex": index,
                        "rootHash": hex::encode(merkle::root(&self.leaves)),
                        "treeSize": size,
                    },
                    "signedEntryTimestamp": STANDARD.encode(&set),
                },
            }),
        );
        Ok(Value::Object(map))
    }

    /// A trusted_root.json naming this log (and nothing else), for tests and
    /// private deployments that point airlock at this server.
    pub fn trusted_root(&self, base_url: &str) -> Value {
        json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": base_url,
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": STANDARD.encode(&self.spki),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": { "start": "2020-01-01T00:00:00Z" }
                },
                "logId": { "keyId": STANDARD.encode(self.log_id) }
            }],
            "certificateAuthorities": [],
            "ctlogs": [],
            "timestampAuthorities": []
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Proposed {
    api_version: String,
    spec: HashedRekordSpec,
}

#[derive(Deserialize)]
struct HashedRekordSpec {
    signature: SpecSignature,
    data: SpecData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecSignature {
    content: String,
    public_key: SpecKey,
}

#[derive(Deserialize)]
struct SpecKey {
    content: String,
}

#[derive(Deserialize)]
struct SpecData {
    hash: SpecHash,
}

#[derive(Deserialize)]
struct SpecHash {
    algorithm: String,
    value: String,
}

/// What Rekor stores for a hashedrekord v0.0.1: only the canonical fields,
/// the key re-encoded as canonical PEM, the whole as RFC 8785 JSON. The
/// signature is checked over the artifact digest, as Rekor does.
fn canonicalize(proposed: &[u8]) -> Result<Vec<u8>, LogError> {
    let head: Value =
        serde_json::from_slice(proposed).map_err(|e| LogError::bad(format!("entry: {e}")))?;
    let kind = head.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind != "hashedrekord" {
        return Err(LogError::bad(format!(
            "kind {kind:?} is not supported by this test log (hashedrekord only)"
        )));
    }
    let p: Proposed =
        serde_json::from_value(head).map_err(|e| LogError::bad(format!("hashedrekord: {e}")))?;
    if p.api_version != "0.0.1" {
        return Err(LogError::bad(format!(
            "hashedrekord apiVersion {:?} is not supported (0.0.1 only)",
            p.api_version
        )));
    }
    if p.spec.data.hash.algorithm != "sha256" {
        return Err(LogError::bad("only sha256 artifact hashes are supported"));
    }
    let digest = hex::decode(&p.spec.data.hash.value)
        .ok()
        .filter(|d| d.len() == 32)
        .ok_or_else(|| LogError::bad("data.hash.value is not a hex SHA-256"))?;
    let sig_der = STANDARD
        .decode(p.spec.signature.content.as_bytes())
        .map_err(|_| LogError::bad("signature.content is not base64"))?;
    let pem = STANDARD
        .decode(p.spec.signature.public_key.content.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| LogError::bad("publicKey.content is not base64 PEM"))?;
    let key = VerifyingKey::from_public_key_pem(&pem)
        .map_err(|_| LogError::bad("publicKey is not an ECDSA P-256 PUBLIC KEY PEM"))?;
    let sig = Signature::from_der(&sig_der)
        .map_err(|_| LogError::bad("signature is not a DER ECDSA signature"))?;
    key.verify_prehash(&digest, &sig)
        .map_err(|_| LogError::bad("signature does not verify over the artifact hash"))?;
    let canonical_pem = key
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| LogError::bad(format!("publicKey: {e}")))?;
    let body = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": hex::encode(digest) } },
            "signature": {
                "content": STANDARD.encode(&sig_der),
                "publicKey": { "content": STANDARD.encode(canonical_pem) },
            },
        },
    });
    serde_json_canonicalizer::to_vec(&body)
        .map_err(|e| LogError::bad(format!("canonical JSON: {e}")))
}
