//! The policy file (`--policy FILE`), described by
//! `schema/policy.schema.json`. Parsed from bytes into validated policies;
//! every incoherence is refused here, before any evidence is read.
//!
//! ```json
//! {
//!   "version": 1,
//!   "keys": ["-----BEGIN PUBLIC KEY-----\n…"],
//!   "identities": [{ "identity": "…", "issuer": "https://token.actions.githubusercontent.com" }],
//!   "threshold": 1,
//!   "transparencyLog": "required",
//!   "ignoreReference": false,
//!   "requireInclusionProof": false,
//!   "provenance": { "sourceRepository": "https://github.com/org/repo", "sourceRef": "refs/heads/main" }
//! }
//! ```

use super::attestation::ProvenancePolicy;
use super::error::TrustError;
use super::keys::PublicKey;
use super::policy::{IdentityPolicy, Matcher, SignaturePolicy, Signer};
use serde::Deserialize;

/// Largest accepted policy file.
pub const MAX_POLICY: usize = 1024 * 1024;

/// A validated policy file.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    signatures: SignaturePolicy,
    provenance: Option<ProvenancePolicy>,
    ignore_reference: bool,
}

impl TrustPolicy {
    /// Parse and validate a policy document.
    pub fn from_json(json: &[u8]) -> Result<Self, TrustError> {
        super::limits::check("policy", json.len(), MAX_POLICY)?;
        let doc: Document =
            serde_json::from_slice(json).map_err(|e| TrustError::json("policy", e))?;
        if doc.version != 1 {
            return Err(TrustError::InvalidPolicy(format!(
                "unsupported policy version {}",
                doc.version
            )));
        }
        let mut signers = Vec::new();
        for pem in &doc.keys {
            signers.push(Signer::Key(PublicKey::from_pem(pem.as_bytes())?));
        }
        for id in &doc.identities {
            signers.push(Signer::Identity(IdentityPolicy::from_matchers(
                one_matcher("identity", &id.identity, &id.identity_regexp)?,
                one_matcher("issuer", &id.issuer, &id.issuer_regexp)?,
            )));
        }
        let mut signatures = SignaturePolicy::any_of(signers)?.with_threshold(doc.threshold)?;
        match doc.transparency_log {
            TlogMode::Required => {}
            TlogMode::InsecureIgnore => signatures = signatures.insecure_ignore_tlog()?,
        }
        if doc.require_inclusion_proof {
            signatures = signatures.require_inclusion_proof()?;
        }
        let provenance = doc.provenance.map(|p| ProvenancePolicy {
            source_repository: p.source_repository,
            source_ref: p.source_ref,
            source_commit: p.source_commit,
            builder_id: p.builder_id,
            workflow: p.workflow,
        });
        if provenance
            .as_ref()
            .is_some_and(|p| *p == ProvenancePolicy::default())
        {
            return Err(TrustError::InvalidPolicy(
                "provenance policy names no field to check".into(),
            ));
        }
        Ok(TrustPolicy {
            signatures,
            provenance,
            ignore_reference: doc.ignore_reference,
        })
    }

    /// The signature policy (signers, threshold, transparency log).
    pub fn signatures(&self) -> &SignaturePolicy {
        &self.signatures
    }

    /// The SLSA provenance policy, if the file requires provenance.
    pub fn provenance(&self) -> Option<&ProvenancePolicy> {
        self.provenance.as_ref()
    }

    /// Whether `docker-reference` is not compared (`--ignore-reference`).
    pub fn ignores_reference(&self) -> bool {
        self.ignore_reference
    }
}

fn one_matcher(
    what: &str,
    exact: &Option<String>,
    regexp: &Option<String>,
) -> Result<Matcher, TrustError> {
    match (exact, regexp) {
        (Some(e), None) => Matcher::exact(e.clone()),
        (None, Some(r)) => Matcher::regexp(r.clone()),
        _ => Err(TrustError::InvalidPolicy(format!(
            "give exactly one of {what} and {what}Regexp"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document {
    version: u32,
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    identities: Vec<IdentityDoc>,
    #[serde(default = "one")]
    threshold: usize,
    #[serde(default)]
    transparency_log: TlogMode,
    #[serde(default)]
    ignore_reference: bool,
    #[serde(default)]
    require_inclusion_proof: bool,
    #[serde(default)]
    provenance: Option<ProvenanceDoc>,
}

fn one() -> usize {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IdentityDoc {
    identity: Option<String>,
    identity_regexp: Option<String>,
    issuer: Option<String>,
    issuer_regexp: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
enum TlogMode {
    #[default]
    Required,
    InsecureIgnore,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProvenanceDoc {
    source_repository: Option<String>,
    source_ref: Option<String>,
    source_commit: Option<String>,
    builder_id: Option<String>,
    workflow: Option<String>,
}
