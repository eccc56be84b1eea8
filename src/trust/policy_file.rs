//! The policy file (`--policy FILE`), described by
//! `schema/policy.schema.json`. Parsed from bytes into validated policies;
//! every incoherence is refused here, before any evidence is read.
//!
//! ```json
//! {
//!   "version": 1,
//!   "keys": ["-----BEGIN PUBLIC KEY-----\n…", { "path": "keys/release.pub" }],
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
use std::collections::BTreeMap;

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
    /// Parse and validate a policy document whose keys are all inline PEM
    /// (a key named by path is refused: see [`Self::from_json_with_key_files`]).
    pub fn from_json(json: &[u8]) -> Result<Self, TrustError> {
        Self::from_json_with_key_files(json, &BTreeMap::new())
    }

    /// The `{"path": …}` keys of a policy document, as written. The trust
    /// core opens no file, so the caller reads them (the CLI: relative to the
    /// policy file's directory) and passes the bytes to
    /// [`Self::from_json_with_key_files`].
    pub fn key_paths(json: &[u8]) -> Result<Vec<String>, TrustError> {
        Ok(parse(json)?
            .keys
            .into_iter()
            .filter_map(|k| match k {
                KeyDoc::File(f) => Some(f.path),
                KeyDoc::Pem(_) => None,
            })
            .collect())
    }

    /// Parse and validate a policy document; `key_files` maps each path of
    /// [`Self::key_paths`] to the PEM bytes read from it.
    pub fn from_json_with_key_files(
        json: &[u8],
        key_files: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, TrustError> {
        let doc = parse(json)?;
        let mut signers = Vec::new();
        for key in &doc.keys {
            let key = match key {
                KeyDoc::Pem(pem) => PublicKey::from_pem(pem.as_bytes())?,
                KeyDoc::File(KeyFile { path }) => {
                    let pem = key_files.get(path).ok_or_else(|| {
                        TrustError::InvalidPolicy(format!("key file {path:?} was not read"))
                    })?;
                    PublicKey::from_pem(pem)
                        .map_err(|e| TrustError::InvalidPolicy(format!("key file {path:?}: {e}")))?
                }
            };
            signers.push(Signer::Key(key));
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

/// Size, JSON and version: everything before the signers are built.
fn parse(json: &[u8]) -> Result<Document, TrustError> {
    super::limits::check("policy", json.len(), MAX_POLICY)?;
    let doc: Document = serde_json::from_slice(json).map_err(|e| TrustError::json("policy", e))?;
    if doc.version != 1 {
        return Err(TrustError::InvalidPolicy(format!(
            "unsupported policy version {}",
            doc.version
        )));
    }
    if doc
        .keys
        .iter()
        .any(|k| matches!(k, KeyDoc::File(f) if f.path.is_empty()))
    {
        return Err(TrustError::InvalidPolicy("a key file path is empty".into()));
    }
    Ok(doc)
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
    keys: Vec<KeyDoc>,
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

/// A key inline (PEM text) or by path (`{"path": "keys/release.pub"}`,
/// relative to the policy file's directory).
#[derive(Deserialize)]
#[serde(untagged)]
enum KeyDoc {
    Pem(String),
    File(KeyFile),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    path: String,
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
