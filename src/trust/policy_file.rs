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
use super::scope::ImagePattern;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Largest accepted policy file.
pub const MAX_POLICY: usize = 1024 * 1024;

/// A validated policy file.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// `None`: no signer, the rule admits by Docker Content Trust alone.
    signatures: Option<SignaturePolicy>,
    provenance: Option<ProvenancePolicy>,
    ignore_reference: bool,
    /// Notary `root.json` documents (`notaryRoots`), as read by the caller.
    notary_roots: Vec<std::sync::Arc<[u8]>>,
}

impl TrustPolicy {
    /// Parse and validate a policy document whose keys are all inline PEM
    /// (a key named by path is refused: see [`Self::from_json_with_key_files`]).
    pub fn from_json(json: &[u8]) -> Result<Self, TrustError> {
        Self::from_json_with_key_files(json, &BTreeMap::new())
    }

    /// The `{"path": …}` keys of a policy document (any version, every
    /// rule), as written. The trust core opens no file, so the caller reads
    /// them (the CLI: relative to the policy file's directory) and passes
    /// the bytes to [`Self::from_json_with_key_files`] or
    /// [`PolicyRules::from_json_with_key_files`].
    pub fn key_paths(json: &[u8]) -> Result<Vec<String>, TrustError> {
        let rules = match parse(json)? {
            Parsed::V1(doc) => vec![doc],
            Parsed::V2(doc) => doc
                .rules
                .into_iter()
                .enumerate()
                .map(|(i, r)| RuleDoc::from_map(i, r).map(|r| r.fields))
                .collect::<Result<_, _>>()?,
        };
        for d in &rules {
            check_key_paths(d)?;
        }
        Ok(rules
            .into_iter()
            .flat_map(|d| d.keys)
            .filter_map(|k| match k {
                KeyDoc::File(f) => Some(f.path),
                KeyDoc::Pem(_) => None,
            })
            .collect())
    }

    /// The `notaryRoots` paths of a policy document (any version, every
    /// rule), read by the caller like [`Self::key_paths`] and passed in the
    /// same `key_files` map.
    pub fn notary_root_paths(json: &[u8]) -> Result<Vec<String>, TrustError> {
        let rules = match parse(json)? {
            Parsed::V1(doc) => vec![doc],
            Parsed::V2(doc) => doc
                .rules
                .into_iter()
                .enumerate()
                .map(|(i, r)| RuleDoc::from_map(i, r).map(|r| r.fields))
                .collect::<Result<_, _>>()?,
        };
        Ok(rules
            .into_iter()
            .flat_map(|d| d.notary_roots)
            .map(|f| f.path)
            .collect())
    }

    /// Parse and validate a version-1 policy document; `key_files` maps
    /// each path of [`Self::key_paths`] to the PEM bytes read from it.
    pub fn from_json_with_key_files(
        json: &[u8],
        key_files: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, TrustError> {
        match parse(json)? {
            Parsed::V1(doc) => Self::from_doc(doc, key_files),
            Parsed::V2(_) => Err(TrustError::InvalidPolicy(
                "a version 2 policy holds scoped rules, not one policy".into(),
            )),
        }
    }

    fn from_doc(doc: Document, key_files: &BTreeMap<String, Vec<u8>>) -> Result<Self, TrustError> {
        check_key_paths(&doc)?;
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
        let mut notary_roots = Vec::new();
        for KeyFile { path } in &doc.notary_roots {
            let bytes = key_files.get(path).ok_or_else(|| {
                TrustError::InvalidPolicy(format!("notary root {path:?} was not read"))
            })?;
            notary_roots.push(std::sync::Arc::from(bytes.as_slice()));
        }
        // Notary roots and no signer: content trust alone admits images.
        let signatures = if signers.is_empty() && !notary_roots.is_empty() {
            None
        } else {
            let mut signatures = SignaturePolicy::any_of(signers)?.with_threshold(doc.threshold)?;
            match doc.transparency_log {
                TlogMode::Required => {}
                TlogMode::InsecureIgnore => signatures = signatures.insecure_ignore_tlog()?,
            }
            if doc.require_inclusion_proof {
                signatures = signatures.require_inclusion_proof()?;
            }
            Some(signatures)
        };
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
            notary_roots,
        })
    }

    /// The signature policy (signers, threshold, transparency log); `None`
    /// when the rule names only Notary roots.
    pub fn signatures(&self) -> Option<&SignaturePolicy> {
        self.signatures.as_ref()
    }

    /// The Notary roots the rule pins (`notaryRoots`).
    pub fn notary_roots(&self) -> &[std::sync::Arc<[u8]>] {
        &self.notary_roots
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

/// One rule of a policy file: which images it covers (`None`: all, as a
/// version-1 file's single policy does) and what they must prove.
#[derive(Debug, Clone)]
pub struct ScopedPolicy {
    /// `name`, else `rules[N]` (1-based), else `policy` for version 1.
    pub name: String,
    pub images: Option<Vec<ImagePattern>>,
    pub policy: TrustPolicy,
}

/// Every rule of a policy file, in file order.
#[derive(Debug, Clone)]
pub struct PolicyRules {
    pub version: u32,
    pub rules: Vec<ScopedPolicy>,
}

impl PolicyRules {
    /// Parse and validate a policy document of either version; `key_files`
    /// as for [`TrustPolicy::from_json_with_key_files`].
    pub fn from_json_with_key_files(
        json: &[u8],
        key_files: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, TrustError> {
        match parse(json)? {
            Parsed::V1(doc) => Ok(PolicyRules {
                version: 1,
                rules: vec![ScopedPolicy {
                    name: "policy".into(),
                    images: None,
                    policy: TrustPolicy::from_doc(doc, key_files)?,
                }],
            }),
            Parsed::V2(doc) => {
                if doc.rules.is_empty() {
                    return Err(TrustError::InvalidPolicy(
                        "a version 2 policy needs at least one rule".into(),
                    ));
                }
                let mut rules = Vec::with_capacity(doc.rules.len());
                for (i, r) in doc.rules.into_iter().enumerate() {
                    let r = RuleDoc::from_map(i, r)?;
                    let name = r.name.unwrap_or_else(|| format!("rules[{}]", i + 1));
                    let in_rule = |e: TrustError| match e {
                        TrustError::InvalidPolicy(m) => {
                            TrustError::InvalidPolicy(format!("rule {name:?}: {m}"))
                        }
                        other => other,
                    };
                    if rules.iter().any(|x: &ScopedPolicy| x.name == name) {
                        return Err(TrustError::InvalidPolicy(format!(
                            "two rules are named {name:?}"
                        )));
                    }
                    if r.images.is_empty() {
                        return Err(in_rule(TrustError::InvalidPolicy(
                            "\"images\" is empty; use [\"**\"] for a default rule".into(),
                        )));
                    }
                    let images = r
                        .images
                        .iter()
                        .map(|p| ImagePattern::parse(p))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(in_rule)?;
                    let policy = TrustPolicy::from_doc(r.fields, key_files).map_err(in_rule)?;
                    rules.push(ScopedPolicy {
                        name,
                        images: Some(images),
                        policy,
                    });
                }
                Ok(PolicyRules { version: 2, rules })
            }
        }
    }
}

enum Parsed {
    V1(Document),
    V2(DocumentV2),
}

/// Size, JSON and version: everything before the signers are built.
fn parse(json: &[u8]) -> Result<Parsed, TrustError> {
    super::limits::check("policy", json.len(), MAX_POLICY)?;
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let v: Version = serde_json::from_slice(json).map_err(|e| TrustError::json("policy", e))?;
    match v.version {
        1 => Ok(Parsed::V1(
            serde_json::from_slice(json).map_err(|e| TrustError::json("policy", e))?,
        )),
        2 => Ok(Parsed::V2(
            serde_json::from_slice(json).map_err(|e| TrustError::json("policy", e))?,
        )),
        n => Err(TrustError::InvalidPolicy(format!(
            "unsupported policy version {n}"
        ))),
    }
}

fn check_key_paths(doc: &Document) -> Result<(), TrustError> {
    if doc
        .keys
        .iter()
        .any(|k| matches!(k, KeyDoc::File(f) if f.path.is_empty()))
    {
        return Err(TrustError::InvalidPolicy("a key file path is empty".into()));
    }
    Ok(())
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
struct DocumentV2 {
    #[allow(dead_code)] // read by `parse` to choose this type
    version: u32,
    rules: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// A version-2 rule: a name, its images, and the version-1 fields.
struct RuleDoc {
    name: Option<String>,
    images: Vec<String>,
    fields: Document,
}

impl RuleDoc {
    /// `name` and `images` taken out, the rest read as version-1 fields
    /// (unknown keys still refused).
    fn from_map(
        i: usize,
        mut map: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, TrustError> {
        let bad = |what: &str| TrustError::InvalidPolicy(format!("rules[{}]: {what}", i + 1));
        let name = match map.remove("name") {
            None => None,
            Some(serde_json::Value::String(n)) if !n.is_empty() => Some(n),
            Some(_) => return Err(bad("\"name\" must be a non-empty string")),
        };
        let images = match map.remove("images") {
            Some(v) => serde_json::from_value::<Vec<String>>(v)
                .map_err(|_| bad("\"images\" must be a list of strings"))?,
            None => return Err(bad("missing \"images\"")),
        };
        if map.contains_key("version") {
            return Err(bad("\"version\" belongs at the top of the file"));
        }
        let fields: Document = serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| bad(&e.to_string()))?;
        Ok(RuleDoc {
            name,
            images,
            fields,
        })
    }
}

/// The fields of a version-1 document (and of every version-2 rule).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    #[allow(dead_code)] // read by `parse` to choose this type
    version: Option<u32>,
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
    /// Docker Content Trust: Notary `root.json` files (`{"path": …}`,
    /// relative to the policy file's directory).
    #[serde(default)]
    notary_roots: Vec<KeyFile>,
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
