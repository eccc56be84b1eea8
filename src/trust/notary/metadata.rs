//! Notary's signed metadata files: the envelope, the role documents and
//! the signature-threshold and file-hash checks every role shares.
//!
//! Signatures cover the canonical JSON of `signed` as Notary writes it
//! (`github.com/docker/go/canonical/json`: sorted keys, no whitespace, only
//! `"` and `\` escaped), which is the OLPC form `olpc-cjson` produces.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha512};

use super::error::NotaryError;
use super::keys::{parse_key, VerifyingKey};

/// Largest metadata file accepted (DCT's are a few KiB; a targets file
/// with thousands of tags stays below this). The carried document holding
/// all of a GUN's files is bounded by `model::limits::MAX_JSON_BYTES`.
pub const MAX_NOTARY_METADATA: usize = 4 * 1024 * 1024;

/// The OLPC canonical JSON bytes of `v`.
pub(crate) fn canonical(v: &Value, role: &str) -> Result<Vec<u8>, NotaryError> {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    v.serialize(&mut ser)
        .map_err(|e| NotaryError::malformed(role, format!("not canonicalizable: {e}")))?;
    Ok(out)
}

#[derive(Deserialize)]
struct RawEnvelope {
    signed: Value,
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
struct RawSignature {
    keyid: String,
    method: String,
    sig: String,
}

/// One parsed metadata file: its role document and what was signed.
pub(crate) struct Signed<T> {
    pub(crate) doc: T,
    canonical: Vec<u8>,
    signatures: Vec<RawSignature>,
}

/// Fields every role document has.
pub(crate) trait Common {
    const TYPE: &'static str;
    fn kind(&self) -> &str;
    fn expires(&self) -> &str;
    fn version(&self) -> u64;
}

macro_rules! common {
    ($t:ty, $name:literal) => {
        impl Common for $t {
            const TYPE: &'static str = $name;
            fn kind(&self) -> &str {
                &self.kind
            }
            fn expires(&self) -> &str {
                &self.expires
            }
            fn version(&self) -> u64 {
                self.version
            }
        }
    };
}

/// Go writes an empty slice or map as `null` (e.g. a delegation whose
/// last key was removed): read it as empty.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
pub(crate) struct RoleKeys {
    #[serde(deserialize_with = "nullable")]
    pub(crate) keyids: Vec<String>,
    pub(crate) threshold: u64,
}

#[derive(Deserialize)]
pub(crate) struct RootDoc {
    #[serde(rename = "_type")]
    kind: String,
    expires: String,
    version: u64,
    pub(crate) keys: BTreeMap<String, Value>,
    pub(crate) roles: BTreeMap<String, RoleKeys>,
}
common!(RootDoc, "Root");

#[derive(Deserialize)]
pub(crate) struct FileMeta {
    pub(crate) hashes: BTreeMap<String, String>,
    pub(crate) length: u64,
}

#[derive(Deserialize)]
pub(crate) struct MetaDoc {
    #[serde(rename = "_type")]
    kind: String,
    expires: String,
    version: u64,
    #[serde(deserialize_with = "nullable")]
    pub(crate) meta: BTreeMap<String, FileMeta>,
}

/// Snapshot and timestamp documents share a shape; these name the type.
pub(crate) struct SnapshotDoc(pub(crate) MetaDoc);
pub(crate) struct TimestampDoc(pub(crate) MetaDoc);

impl<'de> Deserialize<'de> for SnapshotDoc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        MetaDoc::deserialize(d).map(SnapshotDoc)
    }
}
impl<'de> Deserialize<'de> for TimestampDoc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        MetaDoc::deserialize(d).map(TimestampDoc)
    }
}
macro_rules! meta_common {
    ($t:ty, $name:literal) => {
        impl Common for $t {
            const TYPE: &'static str = $name;
            fn kind(&self) -> &str {
                &self.0.kind
            }
            fn expires(&self) -> &str {
                &self.0.expires
            }
            fn version(&self) -> u64 {
                self.0.version
            }
        }
    };
}
meta_common!(SnapshotDoc, "Snapshot");
meta_common!(TimestampDoc, "Timestamp");

#[derive(Deserialize, Default)]
pub(crate) struct Delegations {
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) keys: BTreeMap<String, Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) roles: Vec<DelegatedRole>,
}

#[derive(Deserialize)]
pub(crate) struct DelegatedRole {
    pub(crate) name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) keyids: Vec<String>,
    pub(crate) threshold: u64,
    #[serde(default)]
    pub(crate) paths: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) path_hash_prefixes: Option<Vec<String>>,
}

#[derive(Deserialize)]
pub(crate) struct TargetsDoc {
    #[serde(rename = "_type")]
    kind: String,
    expires: String,
    version: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) targets: BTreeMap<String, FileMeta>,
    #[serde(default)]
    pub(crate) delegations: Option<Delegations>,
}
common!(TargetsDoc, "Targets");

impl<T: DeserializeOwned + Common> Signed<T> {
    /// Parse `bytes` as role `role`'s file; checks size and `_type`.
    pub(crate) fn parse(bytes: &[u8], role: &str) -> Result<Self, NotaryError> {
        if bytes.len() > MAX_NOTARY_METADATA {
            return Err(NotaryError::TooLarge {
                role: role.to_string(),
                size: bytes.len(),
                limit: MAX_NOTARY_METADATA,
            });
        }
        let env: RawEnvelope =
            serde_json::from_slice(bytes).map_err(|e| NotaryError::malformed(role, e))?;
        let canonical = canonical(&env.signed, role)?;
        let doc: T =
            serde_json::from_value(env.signed).map_err(|e| NotaryError::malformed(role, e))?;
        if doc.kind() != T::TYPE {
            return Err(NotaryError::malformed(
                role,
                format!("_type is {:?}, expected {:?}", doc.kind(), T::TYPE),
            ));
        }
        Ok(Signed {
            doc,
            canonical,
            signatures: env.signatures,
        })
    }

    /// Check at least `threshold` distinct keys of `keyids` signed this file.
    pub(crate) fn check_signed(
        &self,
        role: &str,
        keyids: &[String],
        threshold: u64,
        keys: &Keyring,
    ) -> Result<(), NotaryError> {
        let listed: BTreeSet<&str> = keyids.iter().map(String::as_str).collect();
        let mut valid = BTreeSet::new();
        // One public key listed under two IDs (say, bare and as a
        // certificate) is still one signer.
        let mut signers: BTreeSet<&[u8]> = BTreeSet::new();
        for s in &self.signatures {
            if !listed.contains(s.keyid.as_str()) || valid.contains(s.keyid.as_str()) {
                continue;
            }
            let Some(key) = keys.get(&s.keyid) else {
                continue;
            };
            let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(s.sig.as_bytes()) else {
                continue;
            };
            if key.verifies(&s.method, &self.canonical, &sig) && signers.insert(key.public_bytes())
            {
                valid.insert(s.keyid.as_str());
            }
        }
        // A threshold of 0 would admit unsigned metadata.
        if threshold == 0 || (valid.len() as u64) < threshold {
            return Err(NotaryError::Threshold {
                role: role.to_string(),
                valid: valid.len(),
                threshold,
            });
        }
        Ok(())
    }

    /// The canonical bytes of `signed` (to compare two roots).
    pub(crate) fn canonical_signed(&self) -> &[u8] {
        &self.canonical
    }
}

/// Key IDs to keys, each checked to be listed under its own ID.
pub(crate) struct Keyring(BTreeMap<String, VerifyingKey>);

impl Keyring {
    /// `at`: the fetch time; a certificate key expired by then signs nothing
    /// (as Notary's client refuses expired certificates).
    pub(crate) fn new(
        keys: &BTreeMap<String, Value>,
        role: &str,
        at: i64,
    ) -> Result<Self, NotaryError> {
        let mut out = BTreeMap::new();
        for (id, key) in keys {
            // Unusable keys only matter if a role needs them: skip, and the
            // threshold check then counts no signature by them.
            if let Ok(k) = parse_key(id, key, role) {
                if k.cert_not_after.is_none_or(|t| t > at) {
                    out.insert(id.clone(), k);
                }
            }
        }
        Ok(Keyring(out))
    }

    /// Certificate keys among `ids` whose CN is not `gun`.
    pub(crate) fn foreign_certificates(&self, ids: &[String], gun: &str) -> Vec<String> {
        ids.iter()
            .filter_map(|id| self.0.get(id).map(|k| (id, k)))
            .filter_map(|(id, k)| k.cert_cn.as_ref().map(|cn| (id, cn)))
            .filter(|(_, cn)| cn.as_str() != gun)
            .map(|(id, cn)| format!("{id} (CN {cn:?})"))
            .collect()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&VerifyingKey> {
        self.0.get(id)
    }
}

/// Check `bytes` against the hashes and length `meta` records for it.
pub(crate) fn check_file(
    role: &str,
    by: &str,
    meta: &FileMeta,
    bytes: &[u8],
) -> Result<(), NotaryError> {
    let bad = |reason: String| NotaryError::Inconsistent {
        role: role.to_string(),
        reason,
    };
    if meta.length != bytes.len() as u64 {
        return Err(bad(format!(
            "length {} differs from {} recorded by {by}",
            bytes.len(),
            meta.length
        )));
    }
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let Some(sha256) = meta.hashes.get("sha256") else {
        return Err(bad(format!("{by} records no sha256")));
    };
    if *sha256 != b64(&Sha256::digest(bytes)) {
        return Err(bad(format!("sha256 differs from the one recorded by {by}")));
    }
    if let Some(sha512) = meta.hashes.get("sha512") {
        if *sha512 != b64(&Sha512::digest(bytes)) {
            return Err(bad(format!("sha512 differs from the one recorded by {by}")));
        }
    }
    Ok(())
}
