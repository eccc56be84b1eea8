//! Docker Content Trust step of an image's verdict: its carried
//! `notary-trust` document against the Notary roots the operator pinned
//! (`--notary-root`, or a policy rule's `notaryRoots`). One `content-trust`
//! check per image, naming the roles that signed its tag.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::report::Check;
use super::Steps;
use crate::model::manifest::EvidenceRole;
use crate::model::{Digest, ImageRecord};
use crate::trust::notary::{gun_and_tag, verify_document, NotaryError, TargetClaim};
use crate::trust::TrustError;

/// The Notary roots an image's tag must verify under.
#[derive(Debug, Clone)]
pub struct ContentTrustPolicy {
    /// Trusted `root.json` documents (each bound to its GUN by its
    /// certificates' CN).
    pub roots: Vec<Arc<[u8]>>,
    /// No cosign signer is configured: content trust alone admits images.
    pub only: bool,
}

/// What the rollback state keeps per GUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetsMark {
    pub gun: String,
    pub targets_version: u64,
}

fn refuse(steps: &mut Steps, e: NotaryError) {
    let t = TrustError::ContentTrust(e.to_string(), e.kind());
    steps.fail(Check::fail("content-trust", &t), t);
}

/// Run the step; returns the GUN's verified targets version for rollback.
pub(super) fn check(
    img: &ImageRecord,
    metadata: &BTreeMap<Digest, Vec<u8>>,
    policy: Option<&ContentTrustPolicy>,
    now: i64,
    steps: &mut Steps,
) -> Option<TargetsMark> {
    let subject = img.index_digest.unwrap_or(img.manifest_digest);
    let carried: Vec<&[u8]> = img
        .evidence
        .iter()
        .filter(|e| e.role == EvidenceRole::NotaryTrust && e.subject == subject)
        .filter_map(|e| metadata.get(&e.digest).map(Vec::as_slice))
        .collect();
    let Some(policy) = policy else {
        if !carried.is_empty() {
            steps.pass(Check::skip(
                "content-trust",
                "Notary metadata carried; not checked against a pinned root (no --notary-root)",
            ));
        }
        return None;
    };
    let Some((gun, tag)) = gun_and_tag(&img.reference) else {
        let t = TrustError::ContentTrust(
            format!("{} has no tag, so no signed target", img.reference),
            "notary-tag-not-signed",
        );
        steps.fail(Check::fail("content-trust", &t), t);
        return None;
    };
    let Some(subject_bytes) = metadata.get(&subject) else {
        refuse(
            steps,
            NotaryError::malformed("notary-trust", format!("{subject} is not in the archive")),
        );
        return None;
    };
    let claim = TargetClaim {
        tag: &tag,
        sha256: *subject.as_bytes(),
        length: subject_bytes.len() as u64,
    };
    if carried.is_empty() {
        refuse(
            steps,
            NotaryError::TagNotSigned {
                gun: gun.clone(),
                tag: format!("{tag} (no Notary metadata carried; pack with --notary-server)"),
            },
        );
        return None;
    }
    let mut first_error: Option<NotaryError> = None;
    for doc in &carried {
        for root in &policy.roots {
            match verify_document(root, doc, &gun, &claim) {
                Ok(v) => {
                    let age = now.saturating_sub(v.fetched_at).max(0) / 86_400;
                    steps.pass(Check::pass(
                        "content-trust",
                        format!(
                            "{gun}:{tag} signed by {} (root version {}, targets version {}; metadata fetched {age} day(s) ago, unexpired then)",
                            v.roles.join(", "),
                            v.root_version,
                            v.targets_version
                        ),
                    ));
                    return Some(TargetsMark {
                        gun,
                        targets_version: v.targets_version,
                    });
                }
                // A root pinned for another GUN says nothing about this one.
                Err(NotaryError::RootChain(m)) if m.contains("another repository") => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    refuse(
        steps,
        first_error.unwrap_or_else(|| {
            NotaryError::RootChain(format!("no --notary-root is pinned for {gun}"))
        }),
    );
    None
}
