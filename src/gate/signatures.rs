//! Steps 1 and 2 of an image's verdict: its signatures (cosign `.sig`
//! layers and Sigstore bundle referrers) against the policy's signers and
//! threshold, then what their transparency-log entries proved.

use super::report::Check;
use super::{Steps, COSIGN_SIGN_PREDICATE};
use crate::model::{Digest, ImageRecord};
use crate::trust::attestation::statement;
use crate::trust::evidence::{bundle_has_inclusion_proof, ImageEvidence, Origin};
use crate::trust::signer::{explain_bundle, key_refusal};
use crate::trust::{
    verify_bundle, verify_cosign_signature, Artifact, HighWater, SignaturePolicy, Signer,
    TrustError, TrustRoot, VerifiedBundle,
};

/// A signature that passed, whatever its carrier.
pub(super) struct Accepted {
    key: Vec<u8>,
    /// Whether a transparency-log entry was verified for it.
    tlog: bool,
    log_index: Option<u64>,
    integrated_time: Option<i64>,
    signed_over_index: bool,
}

/// What the signature step found: the accepted signatures, and the bundle
/// referrers that turned out to be attestations (checked in step 3).
pub(super) struct Signed {
    pub accepted: Vec<Accepted>,
    pub attested: Vec<(String, VerifiedBundle)>,
}

impl Signed {
    /// The newest verified log position among the logged signatures.
    pub fn high_water(&self) -> Option<HighWater> {
        let logged = || self.accepted.iter().filter(|a| a.tlog);
        let index = logged().filter_map(|a| a.log_index).max();
        let time = logged().filter_map(|a| a.integrated_time).max();
        index
            .zip(time)
            .map(|(log_index, integrated_time)| HighWater {
                log_index,
                integrated_time,
            })
    }
}

/// Step 1: verify every signature about the image or its index and apply
/// the distinct-signer threshold.
pub(super) fn check(
    img: &ImageRecord,
    ev: &mut ImageEvidence,
    expected_ref: Option<&str>,
    policy: &SignaturePolicy,
    root: &TrustRoot,
    steps: &mut Steps,
) -> Signed {
    let over_index = |o: &Origin| Some(o.subject) == img.index_digest;
    let mut accepted: Vec<Accepted> = Vec::new();
    let mut attested: Vec<(String, VerifiedBundle)> = Vec::new();
    let mut first_error: Option<(Origin, TrustError)> = None;
    let mut note_error = |o: &Origin, e: TrustError| {
        if first_error.is_none() {
            first_error = Some((o.clone(), e));
        }
    };
    for (origin, sig) in &ev.signatures {
        match verify_cosign_signature(sig, &origin.subject.to_string(), expected_ref, policy, root)
        {
            Ok(v) => accepted.push(Accepted {
                key: v.signing_key().to_vec(),
                tlog: !v.tlog_skipped(),
                log_index: v.log_index(),
                integrated_time: v.integrated_time(),
                signed_over_index: over_index(origin),
            }),
            Err(e) => note_error(origin, e),
        }
    }
    for (origin, bytes) in &ev.bundles {
        match verify_bundle_any(bytes, origin.subject, policy, root) {
            Ok(v) => match bundle_kind(&v) {
                Ok(None) => accepted.push(Accepted {
                    key: v.signing_key().to_vec(),
                    tlog: v.tlog_verified(),
                    log_index: v.log_index(),
                    integrated_time: bundle_time(&v),
                    signed_over_index: over_index(origin),
                }),
                Ok(Some(predicate)) => attested.push((predicate, v)),
                Err(e) => note_error(origin, e),
            },
            Err(e) => note_error(origin, e),
        }
    }
    for (origin, e) in std::mem::take(&mut ev.unreadable) {
        note_error(&origin, e);
    }
    let ignored = first_error
        .as_ref()
        .map(|(o, e)| format!("; ignored invalid {o}: {e}"));
    let first_origin = first_error.as_ref().map(|(o, _)| o.clone());
    let keys = accepted.iter().map(|a| a.key.as_slice());
    match policy.meet_threshold(keys, first_error.map(|(_, e)| e)) {
        Ok(distinct) => {
            let mut detail = format!(
                "{} valid signature(s) from {distinct} distinct signer(s), threshold {}",
                accepted.len(),
                policy.threshold()
            );
            let signed_index = accepted.iter().filter(|a| a.signed_over_index).count();
            if signed_index > 0 {
                detail.push_str(&format!("; {signed_index} signed the index"));
            }
            detail.push_str(ignored.as_deref().unwrap_or(""));
            steps.pass(Check::pass("signatures", detail));
        }
        Err(e) => {
            let mut check = Check::fail("signatures", &e);
            // Nothing verified: the first invalid signature is the reason.
            if let Some(o) = first_origin.filter(|_| accepted.is_empty()) {
                check.detail = format!("{o}: {e}");
            }
            steps.fail(check, e);
        }
    }
    Signed { accepted, attested }
}

/// Step 2: whether every accepted signature had a verified log entry, or
/// the loud note that `--insecure-ignore-tlog` accepted some without.
pub(super) fn check_tlog(accepted: &[Accepted], steps: &mut Steps) {
    let logged: Vec<&Accepted> = accepted.iter().filter(|a| a.tlog).collect();
    if accepted.is_empty() {
        steps.pass(Check::skip("transparency-log", "no valid signature"));
    } else if logged.len() == accepted.len() {
        let detail = match logged.iter().filter_map(|a| a.log_index).max() {
            Some(m) => format!("Rekor entry verified for every signature (newest log index {m})"),
            None => "transparency-log entry verified for every signature".to_string(),
        };
        steps.pass(Check::pass("transparency-log", detail));
    } else {
        steps.pass(Check::skip(
            "transparency-log",
            format!(
                "INSECURE: {} signature(s) accepted without a transparency-log entry (--insecure-ignore-tlog)",
                accepted.len() - logged.len()
            ),
        ));
    }
}

/// Verify a bundle referrer with each signer of the policy; the first
/// acceptance wins, else the first refusal is returned.
fn verify_bundle_any(
    bytes: &[u8],
    subject: Digest,
    policy: &SignaturePolicy,
    root: &TrustRoot,
) -> Result<VerifiedBundle, TrustError> {
    if policy.requires_inclusion_proof() && !bundle_has_inclusion_proof(bytes) {
        return Err(TrustError::MissingInclusionProof);
    }
    let mut first = None;
    let mut all_key_refusals = true;
    for signer in policy.signers() {
        match verify_bundle(bytes, Artifact::Sha256(*subject.as_bytes()), signer, root) {
            Ok(v) => return Ok(v),
            Err(e) => {
                all_key_refusals &= matches!(signer, Signer::Key(_)) && key_refusal(&e);
                first.get_or_insert(e);
            }
        }
    }
    Err(match first {
        // Every key refused it: say whose signature it is, if it can be
        // known, beside the keys the policy expects.
        Some(e) if all_key_refusals => explain_bundle(bytes, subject.as_bytes(), &policy.keys(), e),
        Some(e) => e,
        None => TrustError::NoSignatures,
    })
}

/// `None` for an image signature (message signature over the digest, or a
/// cosign v3 `sign/v1` statement), else the attestation's predicate type.
fn bundle_kind(v: &VerifiedBundle) -> Result<Option<String>, TrustError> {
    if v.dsse().is_none() {
        return Ok(None);
    }
    let (predicate, _) = statement(v)?;
    Ok((predicate != COSIGN_SIGN_PREDICATE).then_some(predicate))
}

/// The verified signing time of a bundle: the SET's integrated time, else
/// the latest RFC 3161 / log timestamp.
fn bundle_time(v: &VerifiedBundle) -> Option<i64> {
    v.integrated_time()
        .or_else(|| v.signed_times().iter().copied().max())
}
