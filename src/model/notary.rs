//! The `notary-trust` evidence document: a repository's Notary (Docker
//! Content Trust) metadata as fetched at pack, byte for byte (base64, since
//! snapshot and timestamp record the files' exact hashes).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Format marker of the document.
pub const NOTARY_DOCUMENT_TYPE: &str = "airlock-notary-trust/v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotaryDocument {
    /// Always [`NOTARY_DOCUMENT_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The GUN: registry host and repository path.
    pub gun: String,
    /// The tag whose target the image is.
    pub tag: String,
    /// The Notary server it came from (informational).
    pub server: String,
    /// When it was fetched (Unix seconds): expiry is judged at this time.
    pub fetched_at: i64,
    /// `1.root.json` … `root.json`, oldest first (the last is current).
    pub roots: Vec<B64>,
    pub timestamp: B64,
    pub snapshot: B64,
    pub targets: B64,
    /// Delegated roles' files (`targets/releases`, `targets/<signer>`).
    #[serde(default)]
    pub delegations: BTreeMap<String, B64>,
}

/// Bytes kept as standard base64 in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct B64(pub Vec<u8>);

impl Serialize for B64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(B64)
            .map_err(serde::de::Error::custom)
    }
}
