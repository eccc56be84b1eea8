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
use serde::Deserialize;

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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
