//! Checks on the archive-level evidence (the trust material) that
//! `airlock.json` lists, made before any blob is read. What the documents
//! mean is decided later, by the trust gate (`trust::root_choice`).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::IntegrityError;
use crate::model::manifest::{BlobClass, EvidenceRole};
use crate::model::{limits, ArchiveManifest};

/// The archive-level evidence (trust material): archive-level roles only,
/// each a listed JSON document the reader keeps in hand, at most one trusted
/// root and one of each TUF top-level role, and TUF metadata only complete
/// (root versions, timestamp, snapshot, targets) and with the trusted root
/// it vouches for.
pub(crate) fn validate(m: &ArchiveManifest) -> Result<(), IntegrityError> {
    let bad = |msg: String| IntegrityError::Contradiction(msg);
    let mut digests = BTreeSet::new();
    let mut counts: BTreeMap<EvidenceRole, usize> = BTreeMap::new();
    for ev in &m.evidence {
        let role = ev.role.name();
        if !ev.role.is_archive_level() {
            return Err(bad(format!(
                "airlock.json lists {role} evidence {} for the whole archive; it belongs to an image",
                ev.digest
            )));
        }
        let Some(rec) = m.blob(&ev.digest) else {
            return Err(bad(format!(
                "airlock.json names {role} evidence {} but does not list that blob",
                ev.digest
            )));
        };
        if rec.class() != BlobClass::Metadata {
            return Err(bad(format!(
                "{role} evidence {} is not listed as a JSON document of at most {} bytes",
                ev.digest,
                limits::SMALL_BLOB_BYTES
            )));
        }
        let name_ok = !ev.name.is_empty()
            && ev.name.len() <= 255
            && ev
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !name_ok {
            return Err(bad(format!(
                "{role} evidence {} has an invalid name {}",
                ev.digest,
                crate::error::quoted(&ev.name)
            )));
        }
        if !digests.insert(ev.digest) {
            return Err(bad(format!(
                "airlock.json lists archive evidence {} twice",
                ev.digest
            )));
        }
        *counts.entry(ev.role).or_default() += 1;
    }
    let n = |r: EvidenceRole| counts.get(&r).copied().unwrap_or(0);
    for r in [
        EvidenceRole::TrustRoot,
        EvidenceRole::TufTimestamp,
        EvidenceRole::TufSnapshot,
        EvidenceRole::TufTargets,
    ] {
        if n(r) > 1 {
            return Err(bad(format!(
                "airlock.json lists {} {} documents; an archive carries at most one",
                n(r),
                r.name()
            )));
        }
    }
    let tuf = counts.keys().any(|r| r.is_tuf());
    if tuf {
        let complete = n(EvidenceRole::TufRoot) >= 1
            && n(EvidenceRole::TufTimestamp) == 1
            && n(EvidenceRole::TufSnapshot) == 1
            && n(EvidenceRole::TufTargets) == 1
            && n(EvidenceRole::TrustRoot) == 1;
        if !complete {
            return Err(bad(
                "airlock.json lists incomplete TUF metadata: it needs root version(s), timestamp, snapshot, targets and the trust-root they vouch for".into(),
            ));
        }
    }
    Ok(())
}
