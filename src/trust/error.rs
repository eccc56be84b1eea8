//! Why a piece of evidence was refused.
//!
//! Every variant is a distinct reason a caller (or a JSON report) may need to
//! tell apart; [`TrustError::kind`] gives each a stable kebab-case name. The
//! `String` payloads are human-readable detail only: match on the variant or
//! on `kind()`, never on the text.

/// A refusal by the trust core. All of these map to exit code 4.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A JSON document (bundle, payload, Rekor body, trust root) does not parse.
    #[error("{what}: malformed JSON: {reason}")]
    MalformedJson { what: &'static str, reason: String },
    /// A base64 field does not decode.
    #[error("{what}: malformed base64")]
    MalformedBase64 { what: &'static str },
    /// A PEM document (key or certificate) does not parse.
    #[error("{what}: malformed PEM: {reason}")]
    MalformedPem { what: &'static str, reason: String },
    /// An input exceeds the size the trust core accepts for it.
    #[error("{what}: {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    /// A digest string is not `sha256:` followed by 64 lowercase hex digits.
    #[error("invalid digest {0:?}: expected sha256:<64 hex digits>")]
    InvalidDigest(String),
    /// The bundle is structurally invalid for its media type.
    #[error("invalid bundle: {0}")]
    InvalidBundle(String),
    /// Well-formed evidence of a kind this version cannot verify.
    #[error("unsupported evidence: {0}")]
    Unsupported(String),
    /// The public key given by the policy is not a usable signing key.
    #[error("unusable public key: {0}")]
    UnsupportedKey(String),
    /// Docker Content Trust (Notary metadata) refused the image; the second
    /// field is the Notary refusal's kind.
    #[error("content trust: {0}")]
    ContentTrust(String, &'static str),
    /// The trusted root cannot be used.
    #[error("invalid trusted root: {0}")]
    InvalidTrustRoot(String),
    /// TUF metadata does not chain from the TUF root that must vouch for it.
    #[error("TUF: {0}")]
    TufChain(String),
    /// No rule of a scoped (version 2) policy covers the image, and the
    /// policy has no default rule (`"images": ["**"]`).
    #[error("no policy rule covers this image: {0}")]
    NoMatchingRule(String),
    /// Two rules of a scoped policy cover the image equally specifically.
    #[error("policy rules are ambiguous for this image: {0}")]
    AmbiguousRules(String),
    /// The policy is incoherent (e.g. ignoring the log for keyless signatures).
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
    /// A key policy was given for certificate-signed evidence, or the reverse.
    #[error("verification material mismatch: {0}")]
    MaterialMismatch(String),
    /// The signature does not verify with the signing key.
    #[error("signature does not verify: {0}")]
    SignatureInvalid(String),
    /// No key of the policy verifies the signature. `signer` names who did
    /// sign when the signature verifies under a key it claims (its
    /// certificate's or its log entry's); without one, a wrong key and an
    /// altered payload look the same and the text fits both. Reported with
    /// the kind of [`TrustError::SignatureInvalid`].
    #[error("{}", not_policy_key(.signer, .hint, .expected))]
    NotPolicyKey {
        /// `sha256:<hex>` of the signer's key, with its certificate identity.
        signer: Option<String>,
        /// The unauthenticated key hint the signature carries, quoted.
        hint: Option<String>,
        /// `sha256:<hex>` of each key of the policy.
        expected: Vec<String>,
    },
    /// The signed digest (message digest, hashedrekord hash, in-toto subject)
    /// is not the artifact's.
    #[error("artifact does not match what was signed: {0}")]
    ArtifactMismatch(String),
    /// The simple-signing payload names another image digest.
    #[error("signature is for image {signed}, not for {expected}")]
    DigestMismatch { expected: String, signed: String },
    /// The simple-signing payload names another repository.
    #[error("signature is for repository {signed:?}, not for {expected:?}")]
    ReferenceMismatch { expected: String, signed: String },
    /// An image reference does not parse.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    /// The payload is not a cosign container image signature. The type is
    /// the payload's own text: quoted, escaped and bounded, since the
    /// report prints it on a terminal.
    #[error("not a cosign container image signature: type {}", super::signer::quote(.0))]
    PayloadType(String),
    /// The DSSE bundle is not an in-toto attestation of the expected kind.
    #[error("not the expected attestation: {0}")]
    NotAnAttestation(String),
    /// A SLSA provenance field differs from the policy.
    #[error("provenance {field} is {actual:?}, expected {expected:?}")]
    ProvenanceMismatch {
        field: &'static str,
        expected: String,
        actual: String,
    },
    /// The certificate's SAN does not satisfy the identity policy.
    #[error("certificate identity {actual:?} does not match the expected {expected:?}")]
    IdentityMismatch { expected: String, actual: String },
    /// The certificate's OIDC issuer does not satisfy the policy.
    #[error("certificate issuer {actual:?} does not match the expected {expected:?}")]
    IssuerMismatch { expected: String, actual: String },
    /// The certificate is malformed or does not chain to a trusted Fulcio CA.
    #[error("certificate rejected: {0}")]
    Certificate(String),
    /// The certificate was not valid at the verified signing time.
    #[error("certificate not valid at signing time: {0}")]
    CertificateTime(String),
    /// The certificate's SCT is missing or invalid.
    #[error("certificate transparency: {0}")]
    Sct(String),
    /// The signature has no transparency-log entry and the policy needs one.
    #[error("signature has no transparency log entry (Rekor bundle); refusing by default")]
    MissingTlogEntry,
    /// The policy requires an inclusion proof and the signature has none.
    #[error("signature has no Rekor inclusion proof, and the policy requires one")]
    MissingInclusionProof,
    /// There was no signature to verify.
    #[error("no signature found")]
    NoSignatures,
    /// The policy requires an attestation the image does not carry (or
    /// none of that type verified).
    #[error("required attestation missing: {0}")]
    MissingAttestation(String),
    /// Fewer distinct signing keys produced valid signatures than required.
    #[error("{distinct} distinct signer(s) in {valid} valid signature(s); the policy requires {required}")]
    ThresholdNotMet {
        required: usize,
        distinct: usize,
        valid: usize,
    },
    /// The log entry names a log that is not in the trusted root.
    #[error("transparency log {log_id} is not in the trusted root")]
    UnknownLog { log_id: String },
    /// The Signed Entry Timestamp (inclusion promise) does not verify.
    #[error("signed entry timestamp (SET) rejected: {0}")]
    InvalidSet(String),
    /// The Merkle inclusion proof does not prove the entry.
    #[error("inclusion proof rejected: {0}")]
    InclusionProof(String),
    /// The checkpoint is malformed or not signed by a trusted log key.
    #[error("checkpoint rejected: {0}")]
    Checkpoint(String),
    /// The log entry body does not describe this signature, digest or key.
    #[error("log entry does not match the signature: {0}")]
    LogEntryMismatch(String),
    /// The integrated time is in the future or outside the certificate validity.
    #[error("integrated time rejected: {0}")]
    IntegratedTime(String),
    /// The log entry body is malformed or of an unsupported kind.
    #[error("malformed log entry: {0}")]
    MalformedLogEntry(String),
    /// An RFC 3161 timestamp was rejected or no trusted time exists.
    #[error("timestamp rejected: {0}")]
    Timestamp(String),
    /// A low-level cryptographic operation failed (bad key or signature encoding).
    #[error("cryptographic failure: {0}")]
    Crypto(String),
}

fn not_policy_key(signer: &Option<String>, hint: &Option<String>, expected: &[String]) -> String {
    let expected = expected.join(", ");
    match signer {
        Some(signer) => {
            format!("signed by a key not in the policy: {signer}; the policy expects {expected}")
        }
        None => {
            let hint = hint
                .as_ref()
                .map(|h| format!("; the signature's key hint is {h}"))
                .unwrap_or_default();
            format!(
                "signature does not verify under any key in the policy (expected {expected}){hint}"
            )
        }
    }
}

impl TrustError {
    /// A stable, machine-readable name for the refusal, for JSON reports.
    pub fn kind(&self) -> &'static str {
        match self {
            TrustError::MalformedJson { .. } => "malformed-json",
            TrustError::MalformedBase64 { .. } => "malformed-base64",
            TrustError::MalformedPem { .. } => "malformed-pem",
            TrustError::TooLarge { .. } => "too-large",
            TrustError::InvalidDigest(_) => "invalid-digest",
            TrustError::InvalidBundle(_) => "invalid-bundle",
            TrustError::Unsupported(_) => "unsupported-evidence",
            TrustError::UnsupportedKey(_) => "unsupported-key",
            TrustError::InvalidTrustRoot(_) => "invalid-trusted-root",
            TrustError::TufChain(_) => "tuf-chain",
            TrustError::InvalidPolicy(_) => "invalid-policy",
            TrustError::NoMatchingRule(_) => "no-matching-rule",
            TrustError::AmbiguousRules(_) => "ambiguous-rules",
            TrustError::MaterialMismatch(_) => "material-mismatch",
            // One kind for both: automation keyed on it keeps working.
            TrustError::SignatureInvalid(_) | TrustError::NotPolicyKey { .. } => {
                "signature-invalid"
            }
            TrustError::ArtifactMismatch(_) => "artifact-mismatch",
            TrustError::DigestMismatch { .. } => "image-digest-mismatch",
            TrustError::ReferenceMismatch { .. } => "reference-mismatch",
            TrustError::InvalidReference { .. } => "invalid-reference",
            TrustError::PayloadType(_) => "payload-type",
            TrustError::NotAnAttestation(_) => "not-an-attestation",
            TrustError::ProvenanceMismatch { .. } => "provenance-mismatch",
            TrustError::IdentityMismatch { .. } => "identity-mismatch",
            TrustError::IssuerMismatch { .. } => "issuer-mismatch",
            TrustError::Certificate(_) => "certificate-invalid",
            TrustError::CertificateTime(_) => "certificate-time",
            TrustError::Sct(_) => "sct-invalid",
            TrustError::MissingTlogEntry => "missing-tlog-entry",
            TrustError::MissingInclusionProof => "missing-inclusion-proof",
            TrustError::NoSignatures => "no-signatures",
            TrustError::MissingAttestation(_) => "missing-attestation",
            TrustError::ThresholdNotMet { .. } => "threshold-not-met",
            TrustError::UnknownLog { .. } => "unknown-log",
            TrustError::InvalidSet(_) => "set-invalid",
            TrustError::InclusionProof(_) => "inclusion-proof-invalid",
            TrustError::Checkpoint(_) => "checkpoint-invalid",
            TrustError::LogEntryMismatch(_) => "log-entry-mismatch",
            TrustError::IntegratedTime(_) => "integrated-time",
            TrustError::MalformedLogEntry(_) => "malformed-log-entry",
            TrustError::Timestamp(_) => "timestamp-invalid",
            TrustError::Crypto(_) => "crypto",
            TrustError::ContentTrust(_, kind) => kind,
        }
    }

    pub(crate) fn json(what: &'static str, e: impl std::fmt::Display) -> Self {
        TrustError::MalformedJson {
            what,
            reason: e.to_string(),
        }
    }
}

impl From<sigstore_verify::Error> for TrustError {
    fn from(e: sigstore_verify::Error) -> Self {
        use sigstore_verify::TransparencyLogError as L;
        use sigstore_verify::{CertificateError as C, Error as E, TimestampError as T};
        match e {
            E::IdentityMismatch { expected, actual } => TrustError::IdentityMismatch {
                expected: expected.to_string(),
                actual: actual.map_or_else(|| "none".into(), |a| a.as_str().to_string()),
            },
            E::IssuerMismatch { expected, actual } => TrustError::IssuerMismatch {
                expected,
                actual: actual.unwrap_or_else(|| "none".into()),
            },
            E::SignatureInvalid(s) => TrustError::SignatureInvalid(s),
            E::ArtifactMismatch(s) => TrustError::ArtifactMismatch(s),
            E::UnsupportedArtifact(s) | E::UnsupportedBundle(s) => TrustError::Unsupported(s),
            E::Certificate(c) => match c {
                C::NotYetValid { .. } | C::Expired { .. } | C::NoValidAuthority { .. } => {
                    TrustError::CertificateTime(c.to_string())
                }
                C::Sct(s) => TrustError::Sct(s),
                other => TrustError::Certificate(other.to_string()),
            },
            E::TransparencyLog(l) => match l {
                L::UnknownLog { log_id } => TrustError::UnknownLog { log_id },
                L::InclusionProof(s) => TrustError::InclusionProof(s),
                L::Checkpoint(s) => TrustError::Checkpoint(s),
                L::InclusionPromise(s) => TrustError::InvalidSet(s),
                L::EntryMismatch(s) => TrustError::LogEntryMismatch(s),
                L::IntegratedTime(s) => TrustError::IntegratedTime(s),
                L::MalformedEntry(s) => TrustError::MalformedLogEntry(s),
                other => TrustError::MalformedLogEntry(other.to_string()),
            },
            E::Timestamp(t) => match t {
                T::Invalid(s) | T::NoVerifiedTimestamp(s) => TrustError::Timestamp(s),
                other => TrustError::Timestamp(other.to_string()),
            },
            E::InvalidBundle(s) => TrustError::InvalidBundle(s),
            E::Bundle(b) => TrustError::InvalidBundle(b.to_string()),
            E::Types(t) => TrustError::InvalidBundle(t.to_string()),
            E::InvalidTrustRoot(s) => TrustError::InvalidTrustRoot(s),
            E::TrustRoot(t) => TrustError::InvalidTrustRoot(t.to_string()),
            E::TrustedCertificate(t) => TrustError::InvalidTrustRoot(t.to_string()),
            E::Crypto(c) => TrustError::Crypto(c.to_string()),
            other => TrustError::Crypto(other.to_string()),
        }
    }
}
