//! Docker Content Trust: offline verification of Notary v1 TUF metadata.
//!
//! Bytes in, verdict out, in TUF order: the pinned root (and any carried
//! root versions chaining from it, each signed by the previous root's keys
//! and its own), the timestamp (root's timestamp keys) recording the
//! snapshot, the snapshot (root's snapshot keys) recording targets, each
//! delegation and the root, targets (root's targets keys), the delegations
//! DCT uses (`targets/releases`, `targets/<signer>`) under the keys and
//! thresholds targets gives them, and finally the tag's target against the
//! image. Expiry is judged at the time the metadata was fetched (recorded at
//! pack): an air-gapped site cannot refresh a 14-day timestamp, so "now"
//! would make every archive fail two weeks after pack; callers report the
//! age separately.
//!
//! Why not a TUF crate: `sigstore-tuf` and `tough` read TUF 1.0 metadata
//! (`spec_version`, lowercase `_type`, PEM keys with a `scheme`); Notary v1
//! writes an older dialect (`"_type":"Root"`, `ecdsa-x509` keys holding
//! certificates, raw r||s signatures, no `spec_version`), which neither
//! parses. The checks here use `olpc-cjson` for canonical JSON, aws-lc-rs for
//! signatures and `x509-cert` for certificates; nothing is hand-rolled.

mod delegations;
mod error;
mod keys;
mod metadata;
mod root;

use std::collections::BTreeMap;

use delegations::{admitting_roles, verify_delegations};
pub use error::NotaryError;
pub use metadata::MAX_NOTARY_METADATA;
use metadata::{check_file, Common, Keyring, Signed, SnapshotDoc, TargetsDoc, TimestampDoc};
use root::{chain_root, role_of};

/// Most carried root versions one chain may step through.
pub const MAX_ROOT_VERSIONS: usize = 64;
/// Most delegation files one GUN may carry.
pub const MAX_DELEGATIONS: usize = 64;
/// The roles Docker looks a tag up in, in its order.
pub const DCT_ROLES: [&str; 2] = ["targets/releases", "targets"];

/// The Notary metadata carried for one GUN, as bytes.
#[derive(Debug, Clone, Copy)]
pub struct NotaryFiles<'a> {
    /// Registry host and repository path, e.g. `registry.example:5000/app`.
    pub gun: &'a str,
    /// Root versions, oldest first; the last is the repository's current root.
    pub roots: &'a [&'a [u8]],
    pub timestamp: &'a [u8],
    pub snapshot: &'a [u8],
    pub targets: &'a [u8],
    /// Delegated roles' files by role name (`targets/releases`, ...).
    pub delegations: &'a [(&'a str, &'a [u8])],
    /// When the files were fetched (Unix seconds): expiry is judged then.
    pub fetched_at: i64,
}

/// The GUN (`registry/path`, as Docker names it) and tag of an image
/// reference; `None` without a tag (a digest reference has no DCT target).
pub fn gun_and_tag(reference: &str) -> Option<(String, String)> {
    let name = reference.split('@').next()?;
    let colon = name.rfind(':')?;
    if name[colon..].contains('/') {
        return None;
    }
    let gun = super::reference::normalize_repository(name).ok()?;
    Some((gun, name[colon + 1..].to_string()))
}

/// What the tag must resolve to: the manifest (or recorded index) bytes.
#[derive(Debug, Clone, Copy)]
pub struct TargetClaim<'a> {
    pub tag: &'a str,
    pub sha256: [u8; 32],
    pub length: u64,
}

/// A tag admitted by Docker Content Trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedContentTrust {
    pub gun: String,
    pub tag: String,
    /// The roles whose valid metadata sign this tag with this target.
    pub roles: Vec<String>,
    pub root_version: u64,
    /// For the rollback state: a newer archive must not carry an older one.
    pub targets_version: u64,
    /// The earliest expiry among the roles used (Unix seconds).
    pub expires: i64,
    /// When the metadata was fetched (Unix seconds), to report its age.
    pub fetched_at: i64,
}

/// Verify `files` for `claim` under the operator's pinned `root.json`.
pub fn verify_content_trust(
    pinned_root: &[u8],
    files: &NotaryFiles<'_>,
    claim: &TargetClaim<'_>,
) -> Result<VerifiedContentTrust, NotaryError> {
    let mut clock = Clock {
        fetched_at: files.fetched_at,
        earliest: i64::MAX,
    };
    let root = chain_root(pinned_root, files.roots, files.fetched_at)?;
    clock.check("root", &root.doc)?;
    let root_keys = Keyring::new(&root.doc.keys, "root", files.fetched_at)?;
    // Notary names root certificates after the GUN: a root pinned for one
    // repository never admits another's metadata.
    let foreign = root_keys.foreign_certificates(&role_of(&root.doc, "root")?.keyids, files.gun);
    if !foreign.is_empty() {
        return Err(NotaryError::RootChain(format!(
            "root keys certify another repository than {}: {}",
            files.gun,
            foreign.join(", ")
        )));
    }

    let timestamp = Signed::<TimestampDoc>::parse(files.timestamp, "timestamp")?;
    let role = role_of(&root.doc, "timestamp")?;
    timestamp.check_signed("timestamp", &role.keyids, role.threshold, &root_keys)?;
    clock.check("timestamp", &timestamp.doc)?;
    let snap_meta = timestamp
        .doc
        .0
        .meta
        .get("snapshot")
        .ok_or_else(|| NotaryError::malformed("timestamp", "records no snapshot"))?;
    check_file("snapshot", "timestamp", snap_meta, files.snapshot)?;

    let snapshot = Signed::<SnapshotDoc>::parse(files.snapshot, "snapshot")?;
    let role = role_of(&root.doc, "snapshot")?;
    snapshot.check_signed("snapshot", &role.keyids, role.threshold, &root_keys)?;
    clock.check("snapshot", &snapshot.doc)?;
    let recorded = |role: &str| {
        snapshot
            .doc
            .0
            .meta
            .get(role)
            .ok_or_else(|| NotaryError::Inconsistent {
                role: role.to_string(),
                reason: "not recorded by snapshot".into(),
            })
    };
    check_file("targets", "snapshot", recorded("targets")?, files.targets)?;
    if let (Some(meta), Some(current)) = (snapshot.doc.0.meta.get("root"), files.roots.last()) {
        check_file("root", "snapshot", meta, current)?;
    }

    let targets = Signed::<TargetsDoc>::parse(files.targets, "targets")?;
    let role = role_of(&root.doc, "targets")?;
    targets.check_signed("targets", &role.keyids, role.threshold, &root_keys)?;
    clock.check("targets", &targets.doc)?;

    let delegated = verify_delegations(&targets.doc, files, &snapshot.doc, &mut clock)?;
    let mut verified: BTreeMap<&str, &TargetsDoc> = BTreeMap::new();
    verified.insert("targets", &targets.doc);
    for (name, doc) in &delegated {
        verified.insert(name.as_str(), doc);
    }
    let roles = admitting_roles(files.gun, &verified, claim)?;
    Ok(VerifiedContentTrust {
        gun: files.gun.to_string(),
        tag: claim.tag.to_string(),
        roles,
        root_version: root.doc.version(),
        targets_version: targets.doc.version(),
        expires: clock.earliest,
        fetched_at: files.fetched_at,
    })
}

/// Verify a carried `notary-trust` document (see [`verify_content_trust`]);
/// `gun` is the one the image's own reference names, never the document's.
pub fn verify_document(
    pinned_root: &[u8],
    doc_bytes: &[u8],
    gun: &str,
    claim: &TargetClaim<'_>,
) -> Result<VerifiedContentTrust, NotaryError> {
    use crate::model::notary::{NotaryDocument, NOTARY_DOCUMENT_TYPE};
    // What the archive keeps as a document (model::limits::SMALL_BLOB_BYTES).
    let limit = crate::model::limits::MAX_JSON_BYTES as usize;
    if doc_bytes.len() > limit {
        return Err(NotaryError::TooLarge {
            role: "notary-trust".into(),
            size: doc_bytes.len(),
            limit,
        });
    }
    let doc: NotaryDocument =
        serde_json::from_slice(doc_bytes).map_err(|e| NotaryError::malformed("notary-trust", e))?;
    if doc.kind != NOTARY_DOCUMENT_TYPE {
        return Err(NotaryError::malformed(
            "notary-trust",
            "unknown document type",
        ));
    }
    if doc.gun != gun || doc.tag != claim.tag {
        return Err(NotaryError::Inconsistent {
            role: "notary-trust".into(),
            reason: format!(
                "fetched for {}:{}, the image is {gun}:{}",
                doc.gun, doc.tag, claim.tag
            ),
        });
    }
    let roots: Vec<&[u8]> = doc.roots.iter().map(|r| r.0.as_slice()).collect();
    let delegations: Vec<(&str, &[u8])> = doc
        .delegations
        .iter()
        .map(|(n, b)| (n.as_str(), b.0.as_slice()))
        .collect();
    let files = NotaryFiles {
        gun,
        roots: &roots,
        timestamp: &doc.timestamp.0,
        snapshot: &doc.snapshot.0,
        targets: &doc.targets.0,
        delegations: &delegations,
        fetched_at: doc.fetched_at,
    };
    verify_content_trust(pinned_root, &files, claim)
}

/// Expiry at fetch time, and the earliest expiry seen.
struct Clock {
    fetched_at: i64,
    earliest: i64,
}

impl Clock {
    fn check(&mut self, role: &str, doc: &dyn CommonDyn) -> Result<(), NotaryError> {
        let expires: jiff::Timestamp = doc
            .expires_str()
            .parse()
            .map_err(|e| NotaryError::malformed(role, format!("expires: {e}")))?;
        let secs = expires.as_second();
        self.earliest = self.earliest.min(secs);
        if secs <= self.fetched_at {
            let fetched = jiff::Timestamp::from_second(self.fetched_at)
                .map_or_else(|_| self.fetched_at.to_string(), |t| t.to_string());
            return Err(NotaryError::Expired {
                role: role.to_string(),
                expires: expires.to_string(),
                fetched_at: fetched,
            });
        }
        Ok(())
    }
}

/// Object-safe view of [`Common`] for the clock.
trait CommonDyn {
    fn expires_str(&self) -> &str;
}
impl<T: Common> CommonDyn for T {
    fn expires_str(&self) -> &str {
        self.expires()
    }
}

#[cfg(test)]
mod tests;
