//! Legacy Rekor bundles (cosign's `dev.sigstore.cosign/bundle` annotation and
//! the `rekorBundle` of `verify-blob --bundle` files): a Signed Entry
//! Timestamp over `{body, integratedTime, logIndex, logID}`.
//!
//! They are converted into the `tlogEntries` element of a v0.1 Sigstore
//! bundle (as sigstore-go does), so the SET, the log key lookup in the trust
//! root and the body binding (signature, payload hash, key or certificate)
//! are all checked by sigstore-verify.

use super::error::TrustError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// A legacy Rekor bundle as cosign stores it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyRekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    payload: LegacyRekorPayload,
    /// Carried next to the bundle (fetched from Rekor at pack time).
    #[serde(skip)]
    inclusion_proof: Option<RekorInclusionProof>,
}

/// A Rekor v1 inclusion proof as the Rekor API returns it
/// (`verification.inclusionProof` of a log entry): hex hashes, the
/// shard-local leaf index, and the signed checkpoint (note) it chains to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RekorInclusionProof {
    log_index: i64,
    root_hash: String,
    tree_size: i64,
    hashes: Vec<String>,
    checkpoint: String,
}

/// Most hashes an inclusion proof of a 2^64-leaf tree can need.
const MAX_PROOF_HASHES: usize = 64;

impl RekorInclusionProof {
    /// Parse the JSON of `verification.inclusionProof`.
    pub fn from_json(json: &[u8]) -> Result<Self, TrustError> {
        super::limits::check("inclusion proof", json.len(), 64 * 1024)?;
        serde_json::from_slice(json).map_err(|e| TrustError::json("inclusion proof", e))
    }

    fn bundle_json(&self) -> Result<serde_json::Value, TrustError> {
        let hash = |h: &str| -> Result<String, TrustError> {
            hex::decode(h)
                .ok()
                .filter(|b| b.len() == 32)
                .map(|b| STANDARD.encode(b))
                .ok_or_else(|| TrustError::InclusionProof(format!("{h:?} is not a hex SHA-256")))
        };
        if self.hashes.len() > MAX_PROOF_HASHES {
            return Err(TrustError::InclusionProof("too many hashes".into()));
        }
        if self.log_index < 0 || self.tree_size <= self.log_index {
            return Err(TrustError::InclusionProof(
                "leaf index outside the tree".into(),
            ));
        }
        Ok(serde_json::json!({
            "logIndex": self.log_index.to_string(),
            "rootHash": hash(&self.root_hash)?,
            "treeSize": self.tree_size.to_string(),
            "hashes": self.hashes.iter().map(|h| hash(h)).collect::<Result<Vec<_>, _>>()?,
            "checkpoint": { "envelope": self.checkpoint },
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyRekorPayload {
    body: String,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logIndex")]
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

#[derive(Deserialize)]
struct BodyHeader {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
}

impl LegacyRekorBundle {
    /// Parse the JSON of a legacy Rekor bundle.
    pub fn from_json(json: &[u8]) -> Result<Self, TrustError> {
        super::limits::check("rekor bundle", json.len(), super::limits::MAX_BUNDLE)?;
        serde_json::from_slice(json).map_err(|e| TrustError::json("rekor bundle", e))
    }

    /// The log index, as logged (not yet verified).
    pub fn log_index(&self) -> i64 {
        self.payload.log_index
    }

    /// The hex log ID, as logged (not yet verified).
    pub fn log_id(&self) -> &str {
        &self.payload.log_id
    }

    /// The integrated time in Unix seconds, as logged (not yet verified).
    pub fn integrated_time(&self) -> i64 {
        self.payload.integrated_time
    }

    /// Attach the entry's inclusion proof (fetched at pack time). It is
    /// verified with the entry: the proof's leaf is this entry's body, its
    /// root must be the checkpoint's, and the checkpoint must be signed by a
    /// Rekor key of the trust root.
    pub fn with_inclusion_proof(mut self, proof: RekorInclusionProof) -> Self {
        self.inclusion_proof = Some(proof);
        self
    }

    /// Whether an inclusion proof is attached.
    pub fn has_inclusion_proof(&self) -> bool {
        self.inclusion_proof.is_some()
    }

    /// The decoded entry body.
    pub(crate) fn body(&self) -> Result<Vec<u8>, TrustError> {
        STANDARD
            .decode(self.payload.body.as_bytes())
            .map_err(|_| TrustError::MalformedBase64 {
                what: "rekor entry body",
            })
    }

    /// The `tlogEntries[]` element of a v0.1 bundle for this entry.
    pub(crate) fn tlog_entry_json(&self) -> Result<serde_json::Value, TrustError> {
        let body = self.body()?;
        let header: BodyHeader =
            serde_json::from_slice(&body).map_err(|e| TrustError::json("rekor entry body", e))?;
        let log_id = hex::decode(&self.payload.log_id)
            .ok()
            .filter(|id| id.len() == 32)
            .ok_or_else(|| {
                TrustError::MalformedLogEntry(format!(
                    "logID {:?} is not a hex SHA-256 key id",
                    self.payload.log_id
                ))
            })?;
        if self.payload.log_index < 0 {
            return Err(TrustError::MalformedLogEntry("negative logIndex".into()));
        }
        if self.payload.integrated_time <= 0 {
            return Err(TrustError::MalformedLogEntry(
                "integratedTime is missing or not positive".into(),
            ));
        }
        STANDARD
            .decode(self.signed_entry_timestamp.as_bytes())
            .map_err(|_| TrustError::MalformedBase64 {
                what: "signed entry timestamp",
            })?;
        let mut entry = serde_json::json!({
            "logIndex": self.payload.log_index.to_string(),
            "logId": { "keyId": STANDARD.encode(log_id) },
            "kindVersion": { "kind": header.kind, "version": header.api_version },
            "integratedTime": self.payload.integrated_time.to_string(),
            "inclusionPromise": { "signedEntryTimestamp": self.signed_entry_timestamp },
            "canonicalizedBody": self.payload.body,
        });
        if let (Some(proof), Some(obj)) = (&self.inclusion_proof, entry.as_object_mut()) {
            obj.insert("inclusionProof".into(), proof.bundle_json()?);
        }
        Ok(entry)
    }
}

/// Media type of the Rekor proof documents airlock stores in an archive
/// (evidence role `rekor-proof`).
pub const REKOR_PROOF_MEDIA_TYPE: &str = "application/vnd.airlock.rekor-proof.v1+json";

/// The document `airlock pack` stores for a cosign legacy signature whose
/// bundle carries only a SET: the log entry as Rekor served it, with its
/// inclusion proof and signed checkpoint. Nothing in it is trusted until
/// [`RekorProofDocument::bind`] has matched it to the signature's own SET
/// and the signature, with the proof attached, has verified.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RekorProofDocument {
    /// Always [`REKOR_PROOF_MEDIA_TYPE`].
    pub(crate) media_type: String,
    /// The `.sig` manifest holding the signature layer.
    pub(crate) signature_manifest_digest: String,
    /// The `.sig` layer (the simple-signing payload) the entry is for.
    pub(crate) signature_layer_digest: String,
    /// The entry's (global) log index, as in the SET.
    pub(crate) log_index: i64,
    /// Hex SHA-256 of the log key, as in the SET.
    #[serde(rename = "logID")]
    pub(crate) log_id: String,
    /// Base64 canonicalised entry body, as in the SET.
    pub(crate) body: String,
    pub(crate) integrated_time: i64,
    /// Rekor's `verification.inclusionProof` (its `logIndex` is the
    /// shard-local leaf index, which may differ from `log_index`).
    pub(crate) inclusion_proof: RekorInclusionProof,
    pub(crate) signed_entry_timestamp: String,
}

impl RekorProofDocument {
    /// Parse a stored proof document (bounded; unknown fields refused).
    pub fn from_json(json: &[u8]) -> Result<Self, TrustError> {
        super::limits::check(
            "rekor proof document",
            json.len(),
            super::limits::MAX_BUNDLE,
        )?;
        let doc: Self = serde_json::from_slice(json)
            .map_err(|e| TrustError::json("rekor proof document", e))?;
        if doc.media_type != REKOR_PROOF_MEDIA_TYPE {
            return Err(TrustError::MalformedLogEntry(format!(
                "rekor proof document has media type {:?}",
                doc.media_type
            )));
        }
        Ok(doc)
    }

    /// Build one (pack time) from the entry Rekor served.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        signature_manifest_digest: String,
        signature_layer_digest: String,
        log_index: i64,
        log_id: String,
        body: String,
        integrated_time: i64,
        inclusion_proof: RekorInclusionProof,
        signed_entry_timestamp: String,
    ) -> Self {
        RekorProofDocument {
            media_type: REKOR_PROOF_MEDIA_TYPE.to_string(),
            signature_manifest_digest,
            signature_layer_digest,
            log_index,
            log_id,
            body,
            integrated_time,
            inclusion_proof,
            signed_entry_timestamp,
        }
    }

    /// The `.sig` layer digest (`sha256:<hex>`) this proof belongs to.
    pub fn signature_layer_digest(&self) -> &str {
        &self.signature_layer_digest
    }

    /// The `.sig` manifest digest holding that layer.
    pub fn signature_manifest_digest(&self) -> &str {
        &self.signature_manifest_digest
    }

    /// The entry's log index (unverified until bound and checked).
    pub fn log_index(&self) -> i64 {
        self.log_index
    }

    /// The inclusion proof and checkpoint.
    pub fn inclusion_proof(&self) -> &RekorInclusionProof {
        &self.inclusion_proof
    }

    /// Check that this document is about the entry `set` names: same log
    /// index, log ID, integrated time and body (byte for byte). Only then may
    /// its proof be attached to that signature.
    pub fn bind(&self, set: &LegacyRekorBundle) -> Result<(), TrustError> {
        let p = &set.payload;
        let mismatch = |what: &str| {
            Err(TrustError::InclusionProof(format!(
                "the stored Rekor proof is for another entry ({what} differs from the signature's SET)"
            )))
        };
        if self.log_index != p.log_index {
            return mismatch("log index");
        }
        if !self.log_id.eq_ignore_ascii_case(&p.log_id) {
            return mismatch("log ID");
        }
        if self.integrated_time != p.integrated_time {
            return mismatch("integrated time");
        }
        let ours =
            STANDARD
                .decode(self.body.as_bytes())
                .map_err(|_| TrustError::MalformedBase64 {
                    what: "rekor proof body",
                })?;
        if ours != set.body()? {
            return mismatch("entry body");
        }
        Ok(())
    }
}

impl RekorInclusionProof {
    /// The inclusion proof of a stored proof document (not bound to any
    /// signature: prefer
    /// [`super::cosign::CosignSignature::attach_proof_document`]).
    pub fn from_proof_document(json: &[u8]) -> Result<Self, TrustError> {
        Ok(RekorProofDocument::from_json(json)?.inclusion_proof)
    }
}

impl RekorInclusionProof {
    /// The checks that need no key: the proof leads from `body`'s leaf to
    /// `rootHash`, and the checkpoint names the same tree size and root.
    /// Used at pack time to refuse a log that serves an inconsistent proof;
    /// the checkpoint's signature is checked at verify time (trust root).
    pub fn check_structure(&self, body: &[u8]) -> Result<(), TrustError> {
        use sigstore_types::{Checkpoint, Sha256Hash};
        let bad = |m: String| TrustError::InclusionProof(m);
        if self.hashes.len() > MAX_PROOF_HASHES {
            return Err(bad("too many hashes".into()));
        }
        let (Ok(index), Ok(size)) = (u64::try_from(self.log_index), u64::try_from(self.tree_size))
        else {
            return Err(bad("negative leaf index or tree size".into()));
        };
        let hash = |h: &str| {
            Sha256Hash::from_hex(h).map_err(|_| bad(format!("{h:?} is not a hex SHA-256")))
        };
        let root = hash(&self.root_hash)?;
        let hashes = self
            .hashes
            .iter()
            .map(|h| hash(h))
            .collect::<Result<Vec<_>, _>>()?;
        let leaf = sigstore_merkle::hash_leaf(body);
        sigstore_merkle::verify_inclusion_proof(&leaf, index, size, &hashes, &root).map_err(
            |e| {
                bad(format!(
                    "the proof does not lead from the entry to its root: {e}"
                ))
            },
        )?;
        let cp = Checkpoint::from_text(&self.checkpoint)
            .map_err(|e| bad(format!("malformed checkpoint: {e}")))?;
        if cp.tree_size() != size || cp.root_hash() != &root {
            return Err(bad(
                "the checkpoint's tree size or root differs from the proof's".into(),
            ));
        }
        Ok(())
    }
}
