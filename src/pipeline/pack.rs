//! `airlock pack`, step by step: sources → Rekor proofs → gate → writer.
//! Returns what happened (warnings included); the CLI prints and reports.

use super::{PackRequest, PackResult};
use crate::error::Error;
use crate::gate::{self, GateConfig, GateReport};
use crate::model::image_set::ImageSet;
use crate::model::progress::Progress;
use crate::model::timings;
use crate::model::warning::{no_evidence, Warning};
use crate::source::notary;
use crate::source::rekor;
use crate::source::rekor_cache::ProofCache;

/// How pack treats transparency-log proofs and the policy.
#[derive(Debug)]
pub struct PackSteps<'a> {
    /// `--notary-server`: carry and check Docker Content Trust metadata.
    pub notary: Option<NotaryStep<'a>>,
    /// `--no-rekor`: record that inclusion proofs were not fetched.
    pub no_rekor: bool,
    /// Where inclusion proofs are fetched from.
    pub rekor_url: &'a str,
    /// The pack cache, where fetched log entries are kept for re-packs.
    pub cache_dir: &'a std::path::Path,
    /// `--refresh-proofs`: fetch log entries anew instead of reusing them.
    pub refresh_proofs: bool,
    /// The validated policy; `None`: integrity only.
    pub gate: Option<&'a GateConfig>,
    /// `--no-verify`: carry the policy's evidence without checking it.
    pub no_verify: bool,
}

/// Where Notary metadata is fetched from.
#[derive(Debug, Clone, Copy)]
pub struct NotaryStep<'a> {
    pub url: &'a str,
    pub ca_pem: Option<&'a [u8]>,
}

/// A written archive and what was learnt on the way.
#[derive(Debug)]
pub struct Packed {
    pub result: PackResult,
    /// The policy's verdicts; `None` without a policy or with `--no-verify`.
    pub gate: Option<GateReport>,
    /// Loud notes for the operator, one per fact (the CLI folds repeats).
    pub warnings: Vec<Warning>,
    /// Informational lines (e.g. how many proofs were stored).
    pub notes: Vec<String>,
    /// `--notary-server`: what the pack-time content-trust check found.
    pub content_trust: Vec<PackedContentTrust>,
}

/// One tag's Docker Content Trust as pack checked it (under the served root).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackedContentTrust {
    pub reference: String,
    pub gun: String,
    pub tag: String,
    /// The roles that signed the tag; empty when refused (`--no-verify`).
    pub roles: Vec<String>,
    pub targets_version: Option<u64>,
    /// Why it was not satisfied (`--no-verify` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The policy refused an image, so nothing was written.
#[derive(Debug)]
pub struct Refused {
    pub gate: GateReport,
    pub error: Error,
    pub warnings: Vec<Warning>,
}

/// What pack did: wrote an archive, or refused it on the policy.
#[derive(Debug)]
pub enum PackOutcome {
    Written(Box<Packed>),
    Refused(Box<Refused>),
}

/// Run every step of pack. `progress` is sized once the sources are
/// resolved (the total of the blobs to write).
pub fn run(
    req: &PackRequest,
    steps: &PackSteps,
    progress: &dyn Progress,
) -> Result<PackOutcome, Error> {
    // Where the archive goes is checked before any source is read.
    super::output::compression(&req.output, req.zstd)?;
    super::output::check(&req.output, &req.layouts, req.force, req.split.is_some())?;
    // A bad --base fails before any source is read.
    let bases = super::delta::load_bases(&req.bases)?;
    let resolving = std::time::Instant::now();
    let mut set = super::resolve(req)?;
    // Downloads happen inside resolve; report them apart.
    timings::add(
        "resolve",
        resolving.elapsed().saturating_sub(timings::get("download")),
    );
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    rekor_step(&mut set, steps, &mut warnings, &mut notes)?;
    let content_trust = match steps.notary {
        Some(n) => notary_step(&mut set, n, steps.no_verify, &mut warnings, &mut notes)?,
        None => Vec::new(),
    };
    // After the Notary step: its metadata is evidence too.
    let mut warnings = [no_evidence(&set.images), warnings].concat();
    let gate = match steps.gate {
        Some(_) if steps.no_verify => {
            warnings.push(Warning::general(
                "--no-verify: the policy was NOT checked; the archive may hold unsigned or untrusted images",
            ));
            None
        }
        Some(cfg) => {
            let mut g = check_policy(&set, cfg)?;
            warnings.extend(g.warnings.iter().map(Warning::general));
            if let Some(error) = g.take_error() {
                return Ok(PackOutcome::Refused(Box::new(Refused {
                    gate: g,
                    error,
                    warnings,
                })));
            }
            Some(g)
        }
        None => {
            warnings.push(Warning::general(
                "no policy given, so no signature was checked (integrity only)",
            ));
            None
        }
    };
    progress.set_total(set.blobs.values().map(|b| b.record.size).sum());
    let result = timings::time("write", || super::pack_against(req, &set, &bases, progress))?;
    Ok(PackOutcome::Written(Box::new(Packed {
        result,
        gate,
        warnings,
        notes,
        content_trust,
    })))
}

/// Fetch (or, with `--no-rekor`, record the omission of) the Rekor
/// inclusion proofs of signatures that carry only a SET.
fn rekor_step(
    set: &mut ImageSet,
    steps: &PackSteps,
    warnings: &mut Vec<Warning>,
    notes: &mut Vec<String>,
) -> Result<(), Error> {
    if steps.no_rekor {
        let s = rekor::omit_rekor_proofs(set)?;
        if s.signatures > 0 {
            warnings.push(Warning::general(format!(
                "--no-rekor: {} signature(s) carry only a SET; their inclusion proofs were not fetched",
                s.signatures
            )));
        }
        return Ok(());
    }
    let client = rekor::RekorClient::new(steps.rekor_url)?;
    let cache = ProofCache::new(steps.cache_dir, client.url());
    let source = rekor::EntrySource {
        client: &client,
        cache: Some(&cache),
        refresh: steps.refresh_proofs,
    };
    let s = rekor::attach_rekor_proofs(set, &source)?;
    if s.proofs > 0 {
        notes.push(format!(
            "stored {} Rekor inclusion proof(s) from {} ({} log entr{} reused from the pack cache)",
            s.proofs,
            client.url(),
            s.reused,
            if s.reused == 1 { "y" } else { "ies" }
        ));
    }
    Ok(())
}

/// Fetch and carry each tagged image's Notary metadata; refuse (exit 4)
/// when its tag's signed target is not the image, unless `--no-verify`.
fn notary_step(
    set: &mut ImageSet,
    step: NotaryStep,
    no_verify: bool,
    warnings: &mut Vec<Warning>,
    notes: &mut Vec<String>,
) -> Result<Vec<PackedContentTrust>, Error> {
    let client = notary::NotaryClient::new(step.url, step.ca_pem)?;
    let checks = notary::attach_notary(set, &client)?;
    let mut out = Vec::new();
    for c in &checks {
        let (gun, tag) = crate::trust::notary::gun_and_tag(&c.reference).unwrap_or_default();
        out.push(PackedContentTrust {
            reference: c.reference.clone(),
            gun,
            tag,
            roles: c
                .result
                .as_ref()
                .map(|v| v.roles.clone())
                .unwrap_or_default(),
            targets_version: c.result.as_ref().ok().map(|v| v.targets_version),
            error: c.result.as_ref().err().map(ToString::to_string),
        });
        match &c.result {
            Ok(v) => notes.push(format!(
                "{}: content trust: signed by {} (targets version {})",
                c.reference,
                v.roles.join(", "),
                v.targets_version
            )),
            Err(e) if no_verify => warnings.push(Warning::general(format!(
                "--no-verify: {}: content trust NOT satisfied: {e}",
                c.reference
            ))),
            Err(e) => {
                return Err(Error::ImageTrust {
                    image: c.reference.clone(),
                    source: crate::trust::TrustError::ContentTrust(e.to_string(), e.kind()),
                })
            }
        }
    }
    Ok(out)
}

/// The pack-time gate: the policy over the resolved images, with the
/// evidence and trust material they will carry.
fn check_policy(set: &ImageSet, cfg: &GateConfig) -> Result<GateReport, Error> {
    let metadata = gate::metadata_of_set(set);
    let evidence = set.trust.as_ref().map(|t| t.records()).unwrap_or_default();
    gate::run(&set.images, &metadata, &evidence, cfg)
}
