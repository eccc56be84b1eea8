//! Step 3 of an image's verdict: each `--attestation-type` must be attested
//! by a valid signer, and SLSA provenance must satisfy the provenance
//! policy. Runs only when the policy asks for attestations.

use super::report::Check;
use super::{GatePolicy, Steps};
use crate::trust::attestation::{statement, SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1};
use crate::trust::evidence::{ImageEvidence, Origin};
use crate::trust::{
    verify_cosign_attestation, verify_provenance, ProvenancePolicy, TrustError, TrustRoot,
    VerifiedBundle, VerifiedProvenance,
};

/// `attested`: the attestations already verified as bundle referrers in
/// step 1 (predicate type, bundle); cosign `.att` ones are added here.
pub(super) fn check(
    ev: &ImageEvidence,
    policy: &GatePolicy,
    root: &TrustRoot,
    mut attested: Vec<(String, VerifiedBundle)>,
    steps: &mut Steps,
) {
    if policy.attestation_types.is_empty() && policy.provenance.is_none() {
        return;
    }
    let mut attestation_error: Option<(Origin, TrustError)> = None;
    for (origin, att) in &ev.attestations {
        let mut last = None;
        let mut ok = None;
        for signer in policy.signatures.iter().flat_map(|s| s.signers()) {
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
            steps.pass(Check::pass(
                format!("attestation {t}"),
                format!("{n} valid attestation(s)"),
            ));
        } else {
            let e = why_missing(t);
            steps.fail(Check::fail(format!("attestation {t}"), &e), e);
        }
    }
    let Some(pp) = &policy.provenance else {
        return;
    };
    let slsa = attested
        .iter()
        .filter(|(p, _)| p == SLSA_PROVENANCE_V1 || p == SLSA_PROVENANCE_V02)
        .map(|(_, v)| v);
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
        Ok(p) => {
            steps.pass(Check::pass(
                "provenance",
                format!(
                    "{} from {} at {}",
                    p.predicate_type(),
                    p.source_repository().unwrap_or("?"),
                    p.source_ref().unwrap_or("?")
                ),
            ));
            provenance_summary(&p, pp, steps);
        }
        Err(e) => steps.fail(Check::fail("provenance", &e), e),
    }
}

/// The Dangerzone-style summary of admitted provenance: each field the
/// attestation states, one line each, saying whether the policy required it
/// (and so it matched) or it is only shown.
fn provenance_summary(p: &VerifiedProvenance, pp: &ProvenancePolicy, steps: &mut Steps) {
    steps.pass(Check::pass("provenance type", p.predicate_type()));
    for f in p.summary(pp) {
        let name = format!("provenance {}", f.name);
        match f.value {
            Some(v) if f.required => {
                steps.pass(Check::pass(name, format!("{v} (matches the policy)")))
            }
            Some(v) => steps.pass(Check::pass(
                name,
                format!("{v} (not required by the policy)"),
            )),
            None => steps.pass(Check::skip(name, "not stated in the provenance")),
        }
    }
}
