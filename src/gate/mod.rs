//! The archive gate: apply a trust policy to every image of an archive (or
//! of a layout about to be packed), using only the evidence it carries.
//!
//! Per image, in this order:
//! 1. signatures: every cosign `.sig` signature and Sigstore bundle
//!    referrer is verified against the digest it is about (the platform
//!    manifest or the index it came from); valid signatures from at least
//!    `threshold` distinct signing keys are required;
//! 2. transparency log: what the signatures' Rekor entries proved, or the
//!    loud note that `--insecure-ignore-tlog` accepted signatures without;
//! 3. attestations: each `--attestation-type` must be present and verify,
//!    and SLSA provenance must satisfy the provenance policy;
//! 4. rollback ([`state`]): only once every image passed 1–3, the newest
//!    verified log index / integrated time is compared with what this host
//!    accepted before; the new marks are written only when the whole
//!    command succeeds.
//!
//! [`evaluate`] is pure (bytes in, verdicts out); [`state`] holds the only
//! file I/O (the state directory).

pub mod admit;
pub mod state;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::model::{ArchiveEvidenceRecord, Digest, ImageRecord};
use crate::trust::attestation::{statement, SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1};
use crate::trust::evidence::{self, bundle_has_inclusion_proof, Origin};
use crate::trust::{
    verify_bundle, verify_cosign_attestation, verify_cosign_signature, verify_provenance, Artifact,
    HighWater, HostTrust, ProvenancePolicy, RootReport, SignaturePolicy, Signer, TrustError,
    TrustRoot, VerifiedBundle,
};

/// Predicate type of a cosign v3 image signature (DSSE bundle referrer).
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// What an image must prove. Built (and validated) by `cli::config` before
/// any input is read.
#[derive(Debug, Clone)]
pub struct GatePolicy {
    /// Signers, threshold, transparency-log mode.
    pub signatures: SignaturePolicy,
    /// Do not compare the payload's `docker-reference` (`--ignore-reference`).
    pub ignore_reference: bool,
    /// Predicate type URIs that must each be attested (`--attestation-type`).
    pub attestation_types: Vec<String>,
    /// What SLSA provenance must say; implies a provenance attestation.
    pub provenance: Option<ProvenancePolicy>,
}

impl GatePolicy {
    /// A stable name for the set of trusted signers, part of the rollback
    /// state key: keys by the SHA-256 of their SubjectPublicKeyInfo,
    /// identities by their matchers; sorted, one per line.
    pub fn trust_identity(&self) -> String {
        let mut parts: Vec<String> = self
            .signatures
            .signers()
            .iter()
            .map(|s| match s {
                Signer::Key(k) => format!("key:{}", Digest::of(k.der())),
                Signer::Identity(id) => {
                    format!("identity:{} issuer:{}", id.identity(), id.issuer())
                }
            })
            .collect();
        parts.sort();
        parts.dedup();
        parts.join("\n")
    }
}

/// Rollback settings (verify only).
#[derive(Debug, Clone)]
pub struct RollbackOptions {
    /// Where the high-water marks live.
    pub state_dir: PathBuf,
    /// Accept older evidence (logged).
    pub allow_downgrade: bool,
}

/// A validated policy plus the material to check it with.
#[derive(Debug)]
pub struct GateConfig {
    pub policy: GatePolicy,
    /// The host's trusted root and TUF anchor; the root that verifies an
    /// archive is chosen from them and the archive's trust material
    /// ([`crate::trust::root_choice`]).
    pub trust: HostTrust,
    /// `None` for pack: rollback is a property of the receiving host.
    pub rollback: Option<RollbackOptions>,
    /// Loud notes about weakened checks (`--insecure-ignore-tlog`, …).
    pub warnings: Vec<String>,
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not applicable or not checked (the detail says why).
    Skip,
}

/// One line of an image's report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// Stable failure name (`TrustError::kind`, or `rollback`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
}

impl Check {
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status: Status::Pass,
            detail: detail.into(),
            kind: None,
        }
    }
    fn skip(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            status: Status::Skip,
            detail: detail.into(),
            kind: None,
        }
    }
    fn fail(name: impl Into<String>, e: &TrustError) -> Self {
        Check {
            name: name.into(),
            status: Status::Fail,
            detail: e.to_string(),
            kind: Some(e.kind()),
        }
    }
}

/// The verdict on one image.
#[derive(Debug)]
pub struct ImageVerdict {
    pub reference: String,
    pub platform: String,
    pub manifest_digest: Digest,
    pub index_digest: Option<Digest>,
    pub checks: Vec<Check>,
    /// The first trust failure (exit 4), if any.
    pub failure: Option<TrustError>,
    /// The newest verified log position among the accepted signatures.
    pub high_water: Option<HighWater>,
}

impl ImageVerdict {
    /// Whether every check passed (skips allowed).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    /// `reference (platform)`, for messages.
    pub fn label(&self) -> String {
        format!("{} ({})", self.reference, self.platform)
    }
}

/// A signature that passed, whatever its carrier.
struct Accepted {
    key: Vec<u8>,
    /// Whether a transparency-log entry was verified for it.
    tlog: bool,
    log_index: Option<u64>,
    integrated_time: Option<i64>,
    signed_over_index: bool,
}

/// Apply `policy` to each image. Pure: no I/O; rollback is [`state`]'s job.
pub fn evaluate(
    images: &[ImageRecord],
    metadata: &BTreeMap<Digest, Vec<u8>>,
    policy: &GatePolicy,
    root: &TrustRoot,
) -> Vec<ImageVerdict> {
    images
        .iter()
        .map(|img| evaluate_one(img, metadata, policy, root))
        .collect()
}

fn evaluate_one(
    img: &ImageRecord,
    metadata: &BTreeMap<Digest, Vec<u8>>,
    policy: &GatePolicy,
    root: &TrustRoot,
) -> ImageVerdict {
    let ev = evidence::collect(img, metadata);
    let mut checks = Vec::new();
    let mut failure: Option<TrustError> = None;
    let expected_ref = (!policy.ignore_reference).then_some(img.reference.as_str());

    // (1) signatures, from .sig layers and bundle referrers.
    let mut accepted: Vec<Accepted> = Vec::new();
    let mut first_error: Option<(Origin, TrustError)> = None;
    let mut note_error = |o: &Origin, e: TrustError| {
        if first_error.is_none() {
            first_error = Some((o.clone(), e));
        }
    };
    for (origin, sig) in &ev.signatures {
        match verify_cosign_signature(
            sig,
            &origin.subject.to_string(),
            expected_ref,
            &policy.signatures,
            root,
        ) {
            Ok(v) => accepted.push(Accepted {
                key: v.signing_key().to_vec(),
                tlog: !v.tlog_skipped(),
                log_index: v.log_index(),
                integrated_time: v.integrated_time(),
                signed_over_index: Some(origin.subject) == img.index_digest,
            }),
            Err(e) => note_error(origin, e),
        }
    }
    let mut attested: Vec<(String, VerifiedBundle)> = Vec::new();
    let mut attestation_error: Option<(Origin, TrustError)> = None;
    for (origin, bytes) in &ev.bundles {
        match verify_bundle_any(bytes, origin.subject, &policy.signatures, root) {
            Ok(v) => match bundle_kind(&v) {
                Ok(None) => accepted.push(Accepted {
                    key: v.signing_key().to_vec(),
                    tlog: v.tlog_verified(),
                    log_index: v.log_index(),
                    integrated_time: bundle_time(&v),
                    signed_over_index: Some(origin.subject) == img.index_digest,
                }),
                Ok(Some(predicate)) => attested.push((predicate, v)),
                Err(e) => note_error(origin, e),
            },
            Err(e) => note_error(origin, e),
        }
    }
    for (origin, e) in ev.unreadable {
        note_error(&origin, e);
    }
    let threshold = policy.signatures.threshold();
    let mut keys: Vec<&[u8]> = accepted.iter().map(|a| a.key.as_slice()).collect();
    keys.sort_unstable();
    keys.dedup();
    let distinct = keys.len();
    if distinct >= threshold && distinct > 0 {
        let over_index = accepted.iter().filter(|a| a.signed_over_index).count();
        let mut detail = format!(
            "{} valid signature(s) from {distinct} distinct signer(s), threshold {threshold}",
            accepted.len()
        );
        if over_index > 0 {
            detail.push_str(&format!("; {over_index} signed the index"));
        }
        if let Some((o, e)) = &first_error {
            detail.push_str(&format!("; ignored invalid {o}: {e}"));
        }
        checks.push(Check::pass("signatures", detail));
    } else {
        let e = match first_error.take() {
            Some((o, e)) if distinct == 0 => {
                checks.push(Check {
                    detail: format!("{o}: {e}"),
                    ..Check::fail("signatures", &e)
                });
                e
            }
            _ if distinct == 0 => {
                let e = TrustError::NoSignatures;
                checks.push(Check::fail("signatures", &e));
                e
            }
            _ => {
                let e = TrustError::ThresholdNotMet {
                    required: threshold,
                    distinct,
                    valid: accepted.len(),
                };
                checks.push(Check::fail("signatures", &e));
                e
            }
        };
        failure.get_or_insert(e);
    }

    // (2) transparency log.
    let logged: Vec<&Accepted> = accepted.iter().filter(|a| a.tlog).collect();
    if accepted.is_empty() {
        checks.push(Check::skip("transparency-log", "no valid signature"));
    } else if logged.len() == accepted.len() {
        let detail = match logged.iter().filter_map(|a| a.log_index).max() {
            Some(m) => format!("Rekor entry verified for every signature (newest log index {m})"),
            None => "transparency-log entry verified for every signature".to_string(),
        };
        checks.push(Check::pass("transparency-log", detail));
    } else {
        checks.push(Check::skip(
            "transparency-log",
            format!(
                "INSECURE: {} signature(s) accepted without a transparency-log entry (--insecure-ignore-tlog)",
                accepted.len() - logged.len()
            ),
        ));
    }

    // (3) attestations.
    let needs_attestations = !policy.attestation_types.is_empty() || policy.provenance.is_some();
    if needs_attestations {
        for (origin, att) in &ev.attestations {
            let mut last = None;
            let mut ok = None;
            for signer in policy.signatures.signers() {
                match verify_cosign_attestation(att, &origin.subject.to_string(), signer, root) {
                    Ok(v) => {
                        ok = Some(v);
                        break;
                    }
                    Err(e) => {
                        last.get_or_insert(e);
                    }
                }
            }
            match (ok, last) {
                (Some(v), _) => match statement(&v) {
                    Ok((predicate, _)) => attested.push((predicate, v)),
                    Err(e) => {
                        attestation_error.get_or_insert((origin.clone(), e));
                    }
                },
                (None, Some(e)) => {
                    attestation_error.get_or_insert((origin.clone(), e));
                }
                (None, None) => {}
            }
        }
        let why_missing = |what: &str| {
            let detail = match &attestation_error {
                Some((o, e)) => format!("no valid {what} attestation (invalid {o}: {e})"),
                None => format!("no {what} attestation"),
            };
            TrustError::MissingAttestation(detail)
        };
        for t in &policy.attestation_types {
            let n = attested.iter().filter(|(p, _)| p == t).count();
            if n > 0 {
                checks.push(Check::pass(
                    format!("attestation {t}"),
                    format!("{n} valid attestation(s)"),
                ));
            } else {
                let e = why_missing(t);
                checks.push(Check::fail(format!("attestation {t}"), &e));
                failure.get_or_insert(e);
            }
        }
        if let Some(pp) = &policy.provenance {
            let slsa: Vec<&VerifiedBundle> = attested
                .iter()
                .filter(|(p, _)| p == SLSA_PROVENANCE_V1 || p == SLSA_PROVENANCE_V02)
                .map(|(_, v)| v)
                .collect();
            let mut result = Err(why_missing("SLSA provenance"));
            for v in slsa {
                match verify_provenance(v, pp) {
                    Ok(p) => {
                        result = Ok(p);
                        break;
                    }
                    Err(e) => {
                        if matches!(result, Err(TrustError::MissingAttestation(_))) {
                            result = Err(e);
                        }
                    }
                }
            }
            match result {
                Ok(p) => checks.push(Check::pass(
                    "provenance",
                    format!(
                        "{} from {} at {}",
                        p.predicate_type(),
                        p.source_repository().unwrap_or("?"),
                        p.source_ref().unwrap_or("?")
                    ),
                )),
                Err(e) => {
                    checks.push(Check::fail("provenance", &e));
                    failure.get_or_insert(e);
                }
            }
        }
    }

    let high_water = if failure.is_none() {
        let index = logged.iter().filter_map(|a| a.log_index).max();
        let time = logged.iter().filter_map(|a| a.integrated_time).max();
        index
            .zip(time)
            .map(|(log_index, integrated_time)| HighWater {
                log_index,
                integrated_time,
            })
    } else {
        None
    };
    ImageVerdict {
        reference: img.reference.clone(),
        platform: img.platform.to_string(),
        manifest_digest: img.manifest_digest,
        index_digest: img.index_digest,
        checks,
        failure,
        high_water,
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
    for signer in policy.signers() {
        match verify_bundle(bytes, Artifact::Sha256(*subject.as_bytes()), signer, root) {
            Ok(v) => return Ok(v),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    Err(first.unwrap_or(TrustError::NoSignatures))
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

/// The gate's result for a whole command.
#[derive(Debug)]
pub struct GateReport {
    /// Which trusted root verified the evidence, and why.
    pub trust_root: RootReport,
    pub images: Vec<ImageVerdict>,
    pub warnings: Vec<String>,
    /// Rollback marks to write when the whole command succeeds.
    pub pending: Vec<state::PendingMark>,
    /// Whether a rollback check refused an image (exit 5).
    pub rolled_back: bool,
}

impl GateReport {
    /// Take the error the command ends with, if any: a trust failure
    /// (exit 4) outranks a rollback (exit 5). The checks keep their text.
    pub fn take_error(&mut self) -> Option<crate::Error> {
        for v in &mut self.images {
            if let Some(e) = v.failure.take() {
                return Some(crate::Error::ImageTrust {
                    image: v.label(),
                    source: e,
                });
            }
        }
        self.images.iter().find_map(|v| {
            v.checks
                .iter()
                .find(|c| c.status == Status::Fail && c.kind == Some("rollback"))
                .map(|c| crate::Error::Rollback(format!("image {}: {}", v.label(), c.detail)))
        })
    }

    /// Whether every image passed every check.
    pub fn ok(&self) -> bool {
        self.images.iter().all(ImageVerdict::ok)
    }
}

/// Run the whole gate: choose the trusted root (the host's, or the
/// archive's when its TUF metadata chains from the host's anchor), evaluate
/// every image, then (verify only, and only if every image passed) the
/// rollback check against the state directory. `archive_evidence` is the
/// archive-level evidence (trust material) whose documents are in `metadata`.
pub fn run(
    images: &[ImageRecord],
    metadata: &BTreeMap<Digest, Vec<u8>>,
    archive_evidence: &[ArchiveEvidenceRecord],
    cfg: &GateConfig,
) -> Result<GateReport, crate::Error> {
    let choice = cfg
        .trust
        .choose(archive_evidence, metadata, jiff::Timestamp::now());
    let mut verdicts = evaluate(images, metadata, &cfg.policy, choice.root());
    let mut warnings = cfg.warnings.clone();
    warnings.extend(choice.warning.clone());
    let mut pending = Vec::new();
    let mut rolled_back = false;
    let all_ok = verdicts.iter().all(ImageVerdict::ok);
    match &cfg.rollback {
        None => {
            for v in &mut verdicts {
                v.checks.push(Check::skip(
                    "rollback",
                    "not checked here (the receiving host checks it on verify)",
                ));
            }
        }
        Some(_) if !all_ok => {
            for v in &mut verdicts {
                v.checks.push(Check::skip(
                    "rollback",
                    "not checked: the cryptographic checks did not all pass",
                ));
            }
        }
        Some(opts) => {
            let r = state::check(
                &mut verdicts,
                &cfg.policy.trust_identity(),
                opts,
                &mut warnings,
            )?;
            pending = r.0;
            rolled_back = r.1;
        }
    }
    Ok(GateReport {
        trust_root: choice.report,
        images: verdicts,
        warnings,
        pending,
        rolled_back,
    })
}

/// The JSON blobs of a resolved (not yet written) image set, by digest, as
/// the gate needs them at pack time. Only in-memory blobs: the layout
/// source reads every manifest, config and small evidence layer into memory
/// after checking it against its descriptor.
pub fn metadata_of_set(set: &crate::source::ImageSet) -> BTreeMap<Digest, Vec<u8>> {
    set.blobs
        .iter()
        .filter_map(|(d, b)| match &b.origin {
            crate::source::BlobOrigin::Memory(bytes) if Digest::of(bytes) == *d => {
                Some((*d, bytes.to_vec()))
            }
            _ => None,
        })
        .chain(
            set.trust
                .iter()
                .flat_map(|t| t.items.iter())
                .map(|i| (i.digest(), i.bytes.to_vec())),
        )
        .collect()
}
