//! Attestations: the in-toto statement inside a verified DSSE bundle, and a
//! SLSA provenance policy (source repository, ref, commit, builder, workflow)
//! — the checks Dangerzone's former `attest-provenance` made, offline.
//!
//! The DSSE signature, the log entry and the binding of the statement's
//! subject to the artifact digest are verified by [`super::verify_bundle`]
//! before a [`VerifiedBundle`] exists; this module only reads the already
//! authenticated statement.
//!
//! Field locations:
//! - SLSA v1 (`https://slsa.dev/provenance/v1`, GitHub Actions build type):
//!   `buildDefinition.externalParameters.workflow.{repository, ref, path}`,
//!   the `gitCommit` digest of the `resolvedDependencies` entry whose `uri`
//!   is that repository, `runDetails.builder.id`;
//! - SLSA v0.2 (`https://slsa.dev/provenance/v0.2`):
//!   `invocation.configSource.uri` (`git+<repository>@<ref>`),
//!   `invocation.configSource.digest.sha1`, `invocation.configSource.entryPoint`,
//!   `builder.id`.
//!
//! Comparison rules: repositories are compared after dropping a `git+`
//! prefix, the URL scheme and a trailing `.git` (so `github.com/o/r`,
//! `https://github.com/o/r` and `git+https://github.com/o/r.git` are equal);
//! a ref that does not start with `refs/` matches `refs/heads/<it>` or
//! `refs/tags/<it>`; commit, builder id and workflow path are compared
//! exactly (commit case-insensitively).

use super::bundle::{parse_cert_pem, verify_parsed, Artifact, VerifiedBundle};
use super::error::TrustError;
use super::limits::{check, MAX_PAYLOAD, MAX_PEM};
use super::policy::Signer;
use super::rekor::LegacyRekorBundle;
use super::root::TrustRoot;
use serde::Deserialize;
use serde_json::Value;

/// A cosign attestation (`.att` layer): a DSSE envelope whose payload is an
/// in-toto statement, with the optional `dev.sigstore.cosign/certificate`
/// and `dev.sigstore.cosign/bundle` (legacy Rekor bundle) annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignAttestation {
    envelope: Envelope,
    certificate_pem: Option<String>,
    rekor_bundle: Option<LegacyRekorBundle>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload_type: String,
    payload: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct EnvelopeSignature {
    #[serde(default)]
    keyid: Option<String>,
    sig: String,
}

impl CosignAttestation {
    /// Assemble an attestation from the `.att` layer blob (the DSSE envelope
    /// JSON) and its annotations.
    pub fn new(
        envelope_json: &[u8],
        certificate_pem: Option<String>,
        rekor_bundle_json: Option<&[u8]>,
    ) -> Result<Self, TrustError> {
        // base64 of the payload, plus the envelope's own fields.
        check("attestation envelope", envelope_json.len(), MAX_PAYLOAD * 2)?;
        if let Some(pem) = &certificate_pem {
            check("certificate", pem.len(), MAX_PEM)?;
        }
        let envelope: Envelope = serde_json::from_slice(envelope_json)
            .map_err(|e| TrustError::json("attestation envelope", e))?;
        Ok(CosignAttestation {
            envelope,
            certificate_pem: certificate_pem.filter(|c| !c.trim().is_empty()),
            rekor_bundle: rekor_bundle_json
                .map(LegacyRekorBundle::from_json)
                .transpose()?,
        })
    }
}

/// Verify a cosign attestation of the image `expected_image_digest`: the
/// DSSE signature over the PAE, the Rekor entry (SET, body bound to the
/// envelope's payload, signature and key/certificate), the certificate and
/// identity for keyless signers, and that the in-toto statement has a
/// subject whose sha256 digest is the image digest. The result feeds
/// [`verify_provenance`]. An attestation without a Rekor entry is refused.
pub fn verify_cosign_attestation(
    att: &CosignAttestation,
    expected_image_digest: &str,
    signer: &Signer,
    trust: &TrustRoot,
) -> Result<VerifiedBundle, TrustError> {
    let digest = super::bundle::parse_sha256(expected_image_digest)?;
    let rekor = att
        .rekor_bundle
        .as_ref()
        .ok_or(TrustError::MissingTlogEntry)?;
    let [signature] = att.envelope.signatures.as_slice() else {
        return Err(TrustError::Unsupported(format!(
            "attestation envelope has {} signatures; exactly one is supported",
            att.envelope.signatures.len()
        )));
    };
    let material = match (signer, &att.certificate_pem) {
        (Signer::Identity(_), Some(pem)) => {
            let cert = parse_cert_pem(pem.as_bytes())?;
            serde_json::json!({ "x509CertificateChain": { "certificates": [
                { "rawBytes": base64_encode(cert.as_bytes()) } ] } })
        }
        (Signer::Identity(_), None) => {
            return Err(TrustError::MaterialMismatch(
                "an identity was given but the attestation carries no certificate".into(),
            ))
        }
        (Signer::Key(_), _) => serde_json::json!({ "publicKey": { "hint": "" } }),
    };
    let mut material = material;
    if let Some(obj) = material.as_object_mut() {
        obj.insert(
            "tlogEntries".into(),
            Value::Array(vec![rekor.tlog_entry_json()?]),
        );
    }
    let json = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": material,
        "dsseEnvelope": {
            "payload": att.envelope.payload,
            "payloadType": att.envelope.payload_type,
            "signatures": [ { "sig": signature.sig, "keyid": signature.keyid.clone().unwrap_or_default() } ],
        }
    });
    let bundle = serde_json::from_value(json).map_err(|e| TrustError::json("attestation", e))?;
    verify_parsed(&bundle, Artifact::Sha256(digest), signer, trust)
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// In-toto statement media type (DSSE payload type).
pub use crate::model::media::IN_TOTO as IN_TOTO_PAYLOAD_TYPE;
/// SLSA provenance v1 predicate type.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// SLSA provenance v0.2 predicate type.
pub const SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";

/// What the provenance must say. `None` fields are not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvenancePolicy {
    /// `--source-repository`, e.g. `https://github.com/freedomofpress/dangerzone`.
    pub source_repository: Option<String>,
    /// `--source-ref`, e.g. `refs/heads/main` or `main`.
    pub source_ref: Option<String>,
    /// `--source-commit`: the full commit hash.
    pub source_commit: Option<String>,
    /// `--builder-id`.
    pub builder_id: Option<String>,
    /// `--workflow`: the workflow path, e.g. `.github/workflows/release.yml`.
    pub workflow: Option<String>,
}

/// Provenance read from a verified attestation that satisfied a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProvenance {
    predicate_type: String,
    source_repository: Option<String>,
    source_ref: Option<String>,
    source_commit: Option<String>,
    builder_id: Option<String>,
    workflow: Option<String>,
}

impl VerifiedProvenance {
    /// The SLSA predicate type.
    pub fn predicate_type(&self) -> &str {
        &self.predicate_type
    }
    /// The source repository the provenance names.
    pub fn source_repository(&self) -> Option<&str> {
        self.source_repository.as_deref()
    }
    /// The source ref.
    pub fn source_ref(&self) -> Option<&str> {
        self.source_ref.as_deref()
    }
    /// The source commit.
    pub fn source_commit(&self) -> Option<&str> {
        self.source_commit.as_deref()
    }
    /// The builder id.
    pub fn builder_id(&self) -> Option<&str> {
        self.builder_id.as_deref()
    }
    /// The workflow path.
    pub fn workflow(&self) -> Option<&str> {
        self.workflow.as_deref()
    }

    /// Each field a summary shows (Dangerzone-style), in reading order:
    /// its name, the value the provenance states, and whether `policy`
    /// required it (then it matched, or this provenance was refused).
    pub fn summary(&self, policy: &ProvenancePolicy) -> Vec<ProvenanceField<'_>> {
        [
            (
                "source repository",
                self.source_repository(),
                policy.source_repository.is_some(),
            ),
            ("branch/ref", self.source_ref(), policy.source_ref.is_some()),
            (
                "commit",
                self.source_commit(),
                policy.source_commit.is_some(),
            ),
            ("workflow", self.workflow(), policy.workflow.is_some()),
            ("builder", self.builder_id(), policy.builder_id.is_some()),
        ]
        .into_iter()
        .map(|(name, value, required)| ProvenanceField {
            name,
            value,
            required,
        })
        .collect()
    }
}

/// One line of a provenance summary (see [`VerifiedProvenance::summary`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceField<'a> {
    pub name: &'static str,
    /// `None`: the provenance does not state it.
    pub value: Option<&'a str>,
    /// The policy required this field (so it matched).
    pub required: bool,
}

/// The in-toto statement of a verified DSSE bundle, with its predicate type.
pub fn statement(bundle: &VerifiedBundle) -> Result<(String, Value), TrustError> {
    let dsse = bundle
        .dsse()
        .ok_or_else(|| TrustError::NotAnAttestation("the bundle holds no DSSE envelope".into()))?;
    if dsse.payload_type() != IN_TOTO_PAYLOAD_TYPE {
        return Err(TrustError::NotAnAttestation(format!(
            "DSSE payload type {:?}",
            dsse.payload_type()
        )));
    }
    let value: Value = serde_json::from_slice(dsse.payload())
        .map_err(|e| TrustError::json("in-toto statement", e))?;
    let predicate_type = value
        .get("predicateType")
        .and_then(Value::as_str)
        .ok_or_else(|| TrustError::NotAnAttestation("statement has no predicateType".into()))?
        .to_string();
    Ok((predicate_type, value))
}

/// Check a verified SLSA provenance attestation against `policy`.
pub fn verify_provenance(
    bundle: &VerifiedBundle,
    policy: &ProvenancePolicy,
) -> Result<VerifiedProvenance, TrustError> {
    let (predicate_type, statement) = statement(bundle)?;
    let predicate = statement.get("predicate").unwrap_or(&Value::Null);
    let found = match predicate_type.as_str() {
        SLSA_PROVENANCE_V1 => read_v1(predicate),
        SLSA_PROVENANCE_V02 => read_v02(predicate),
        other => {
            return Err(TrustError::NotAnAttestation(format!(
                "predicate type {other:?} is not SLSA provenance"
            )))
        }
    };
    let found = VerifiedProvenance {
        predicate_type,
        ..found
    };
    compare(
        "source repository",
        &policy.source_repository,
        &found.source_repository,
        |e, a| normalize_repo(e) == normalize_repo(a),
    )?;
    compare(
        "source ref",
        &policy.source_ref,
        &found.source_ref,
        |e, a| {
            e == a
                || (!e.starts_with("refs/")
                    && (a == format!("refs/heads/{e}") || a == format!("refs/tags/{e}")))
        },
    )?;
    compare(
        "source commit",
        &policy.source_commit,
        &found.source_commit,
        |e, a| e.eq_ignore_ascii_case(a),
    )?;
    compare(
        "builder id",
        &policy.builder_id,
        &found.builder_id,
        |e, a| e == a,
    )?;
    compare("workflow", &policy.workflow, &found.workflow, |e, a| e == a)?;
    Ok(found)
}

fn compare(
    field: &'static str,
    expected: &Option<String>,
    actual: &Option<String>,
    same: impl Fn(&str, &str) -> bool,
) -> Result<(), TrustError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    match actual {
        Some(actual) if same(expected, actual) => Ok(()),
        Some(actual) => Err(TrustError::ProvenanceMismatch {
            field,
            expected: expected.clone(),
            actual: actual.clone(),
        }),
        None => Err(TrustError::ProvenanceMismatch {
            field,
            expected: expected.clone(),
            actual: "absent".into(),
        }),
    }
}

fn normalize_repo(repo: &str) -> String {
    let r = repo.strip_prefix("git+").unwrap_or(repo);
    let r = r.split_once("://").map_or(r, |(_, rest)| rest);
    let r = r.trim_end_matches('/');
    r.strip_suffix(".git").unwrap_or(r).to_string()
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::to_string)
}

fn read_v1(predicate: &Value) -> VerifiedProvenance {
    let workflow = &["buildDefinition", "externalParameters", "workflow"];
    let repository = text(predicate, &[workflow, &["repository"][..]].concat());
    let commit = predicate
        .pointer("/buildDefinition/resolvedDependencies")
        .and_then(Value::as_array)
        .and_then(|deps| {
            deps.iter().find(|d| {
                let uri = d.get("uri").and_then(Value::as_str).unwrap_or_default();
                let uri_repo = uri.split('@').next().unwrap_or_default();
                repository
                    .as_deref()
                    .is_none_or(|r| normalize_repo(uri_repo) == normalize_repo(r))
            })
        })
        .and_then(|d| text(d, &["digest", "gitCommit"]));
    VerifiedProvenance {
        predicate_type: String::new(),
        source_ref: text(predicate, &[workflow, &["ref"][..]].concat()),
        workflow: text(predicate, &[workflow, &["path"][..]].concat()),
        source_repository: repository,
        source_commit: commit,
        builder_id: text(predicate, &["runDetails", "builder", "id"]),
    }
}

fn read_v02(predicate: &Value) -> VerifiedProvenance {
    let uri = text(predicate, &["invocation", "configSource", "uri"]);
    let (repository, git_ref) = match uri.as_deref().and_then(|u| u.rsplit_once('@')) {
        Some((repo, r)) => (Some(repo.to_string()), Some(r.to_string())),
        None => (uri.clone(), None),
    };
    VerifiedProvenance {
        predicate_type: String::new(),
        source_repository: repository,
        source_ref: git_ref,
        source_commit: text(predicate, &["invocation", "configSource", "digest", "sha1"]),
        builder_id: text(predicate, &["builder", "id"]),
        workflow: text(predicate, &["invocation", "configSource", "entryPoint"]),
    }
}
