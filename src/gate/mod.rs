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
pub mod admitted;
mod attestations;
pub mod content_trust;
mod report;
pub mod reserve;
mod signatures;
pub mod state;
mod verified;

pub use report::{Check, GateReport, ImageVerdict, Status};

pub use verified::{pass_gate, Gate, IntegrityOnly, Plan, SelectedImage, VerifiedArchive};

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::model::{ArchiveEvidenceRecord, Digest, ImageRecord};
use crate::trust::evidence;
use crate::trust::{HostTrust, ProvenancePolicy, SignaturePolicy, Signer, TrustError, TrustRoot};

/// Predicate type of a cosign v3 image signature (DSSE bundle referrer).
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// What an image must prove. Built (and validated) by `cli::config` before
/// any input is read.
#[derive(Debug, Clone)]
pub struct GatePolicy {
    /// Signers, threshold, transparency-log mode; `None` when content
    /// trust alone admits images (only `--notary-root` given).
    pub signatures: Option<SignaturePolicy>,
    /// Do not compare the payload's `docker-reference` (`--ignore-reference`).
    pub ignore_reference: bool,
    /// Predicate type URIs that must each be attested (`--attestation-type`).
    pub attestation_types: Vec<String>,
    /// What SLSA provenance must say; implies a provenance attestation.
    pub provenance: Option<ProvenancePolicy>,
    /// Docker Content Trust roots the image's tag must verify under.
    pub content_trust: Option<content_trust::ContentTrustPolicy>,
}

impl GatePolicy {
    /// A stable name for the set of trusted signers, part of the rollback
    /// state key: keys by the SHA-256 of their SubjectPublicKeyInfo,
    /// identities by their matchers; sorted, one per line.
    pub fn trust_identity(&self) -> String {
        let mut parts: Vec<String> = self
            .signatures
            .iter()
            .flat_map(|s| s.signers())
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

/// One rule of the policy: the images it covers (`None`: every image, as a
/// version-1 file or the signer flags give) and what they must prove.
#[derive(Debug, Clone)]
pub struct GateRule {
    /// Shown in reports: the rule's `name`, or `rules[N]`.
    pub name: String,
    pub images: Option<Vec<crate::trust::ImagePattern>>,
    pub policy: GatePolicy,
}

/// The rules of a policy, in file order; a version-1 policy is one rule
/// over every image.
#[derive(Debug, Clone)]
pub struct GateRules {
    pub rules: Vec<GateRule>,
    /// Whether the rules are scoped (a version-2 file), so reports name
    /// the rule that decided each image.
    pub scoped: bool,
}

impl GateRules {
    /// One policy for every image.
    pub fn single(policy: GatePolicy) -> Self {
        GateRules {
            rules: vec![GateRule {
                name: "policy".into(),
                images: None,
                policy,
            }],
            scoped: false,
        }
    }

    /// The rule that decides `reference`: of the rules with a pattern that
    /// matches, the one whose best match is the most specific
    /// ([`crate::trust::scope::Specificity`]). Two different rules tied at
    /// the top are refused rather than guessed between.
    pub fn rule_for(&self, reference: &str) -> Result<&GateRule, TrustError> {
        let mut best: Vec<(crate::trust::scope::Specificity, &GateRule)> = Vec::new();
        for rule in &self.rules {
            let spec = match &rule.images {
                None => Some(Default::default()),
                Some(patterns) => patterns
                    .iter()
                    .filter(|p| p.matches(reference))
                    .map(|p| p.specificity())
                    .max(),
            };
            let Some(spec) = spec else { continue };
            match best.first().map(|b| b.0) {
                Some(top) if spec < top => {}
                Some(top) if spec == top => best.push((spec, rule)),
                _ => best = vec![(spec, rule)],
            }
        }
        match best.as_slice() {
            [(_, one)] => Ok(one),
            [] => Err(TrustError::NoMatchingRule(format!(
                "{reference} matches none of the rules ({}) and there is no default rule (\"images\": [\"**\"])",
                self.rules
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            many => Err(TrustError::AmbiguousRules(format!(
                "{reference} matches rules {} equally specifically; make one pattern more specific",
                many.iter()
                    .map(|(_, r)| format!("{:?}", r.name))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ))),
        }
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
    pub policy: GateRules,
    /// The host's trusted root and TUF anchor; the root that verifies an
    /// archive is chosen from them and the archive's trust material
    /// ([`crate::trust::root_choice`]).
    pub trust: HostTrust,
    /// `None` for pack: rollback is a property of the receiving host.
    pub rollback: Option<RollbackOptions>,
    /// Loud notes about weakened checks (`--insecure-ignore-tlog`, …).
    pub warnings: Vec<String>,
}

/// Apply the rule that covers each image. Pure: no I/O; rollback is
/// [`state`]'s job.
pub fn evaluate(
    images: &[ImageRecord],
    metadata: &BTreeMap<Digest, Vec<u8>>,
    rules: &GateRules,
    root: &TrustRoot,
) -> Vec<ImageVerdict> {
    images
        .iter()
        .map(|img| match rules.rule_for(&img.reference) {
            Ok(rule) => {
                let mut v = evaluate_one(img, metadata, &rule.policy, root);
                if rules.scoped {
                    v.rule = Some(rule.name.clone());
                }
                v.trust_identity = rule.policy.trust_identity();
                v
            }
            Err(e) => {
                let mut steps = Steps::default();
                steps.fail(Check::fail("policy rule", &e), e);
                verdict(img, steps, None)
            }
        })
        .collect()
}

fn verdict(
    img: &ImageRecord,
    steps: Steps,
    high_water: Option<crate::trust::HighWater>,
) -> ImageVerdict {
    ImageVerdict {
        reference: img.reference.clone(),
        platform: img.platform_label(),
        manifest_digest: img.manifest_digest,
        index_digest: img.index_digest,
        checks: steps.checks,
        failure: steps.failure,
        high_water,
        rule: None,
        trust_identity: String::new(),
        targets: None,
    }
}

fn evaluate_one(
    img: &ImageRecord,
    metadata: &BTreeMap<Digest, Vec<u8>>,
    policy: &GatePolicy,
    root: &TrustRoot,
) -> ImageVerdict {
    let mut ev = evidence::collect(img, metadata);
    let mut steps = Steps::default();
    let expected_ref = (!policy.ignore_reference).then_some(img.reference.as_str());
    let (high_water, attested) = match &policy.signatures {
        Some(sp) => {
            let signed = signatures::check(img, &mut ev, expected_ref, sp, root, &mut steps);
            signatures::check_tlog(&signed.accepted, &mut steps);
            (signed.high_water(), signed.attested)
        }
        None => {
            steps.pass(Check::skip(
                "signatures",
                "not required: the policy admits by content trust (--notary-root)",
            ));
            (None, Vec::new())
        }
    };
    attestations::check(&ev, policy, root, attested, &mut steps);
    let targets = content_trust::check(
        img,
        metadata,
        policy.content_trust.as_ref(),
        jiff::Timestamp::now().as_second(),
        &mut steps,
    );
    let ok = steps.failure.is_none();
    let mut v = verdict(img, steps, high_water.filter(|_| ok));
    v.targets = targets.filter(|_| ok);
    v
}

/// The checks of one image so far, and its first trust failure.
#[derive(Default)]
struct Steps {
    checks: Vec<Check>,
    failure: Option<TrustError>,
}

impl Steps {
    fn pass(&mut self, c: Check) {
        self.checks.push(c);
    }

    /// Record a failed check; the first failure is the image's verdict.
    fn fail(&mut self, c: Check, e: TrustError) {
        self.checks.push(c);
        self.failure.get_or_insert(e);
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
            let r = state::check(&mut verdicts, opts, &mut warnings)?;
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
pub fn metadata_of_set(set: &crate::model::image_set::ImageSet) -> BTreeMap<Digest, Vec<u8>> {
    set.blobs
        .iter()
        .filter_map(|(d, b)| match &b.origin {
            crate::model::image_set::BlobOrigin::Memory(bytes) if Digest::of(bytes) == *d => {
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
