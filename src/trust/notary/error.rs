//! Why Notary (Docker Content Trust) metadata was refused.

/// A refusal while verifying Notary TUF metadata. Each maps to exit code 4.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotaryError {
    /// A metadata file does not parse or misses a field.
    #[error("{role}: malformed metadata: {reason}")]
    Malformed { role: String, reason: String },
    /// A metadata file is larger than the trust core accepts.
    #[error("{role}: {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        role: String,
        size: usize,
        limit: usize,
    },
    /// A key is of a type or encoding this version does not verify.
    #[error("{role}: unsupported key {key_id}: {reason}")]
    UnsupportedKey {
        role: String,
        key_id: String,
        reason: String,
    },
    /// Fewer valid signatures by the role's keys than its threshold.
    #[error("{role}: {valid} valid signature(s) by its keys, threshold is {threshold}")]
    Threshold {
        role: String,
        valid: usize,
        threshold: u64,
    },
    /// The carried root is not the pinned one and does not chain from it.
    #[error("root: {0}")]
    RootChain(String),
    /// A file's hash or length differs from what the role above records.
    #[error("{role}: {reason}")]
    Inconsistent { role: String, reason: String },
    /// A role's metadata had expired when it was fetched.
    #[error("{role}: expired at {expires}, before it was fetched at {fetched_at}")]
    Expired {
        role: String,
        expires: String,
        fetched_at: String,
    },
    /// No valid role signs the tag.
    #[error("tag {tag:?} is not signed in {gun}")]
    TagNotSigned { gun: String, tag: String },
    /// The signed target is not the manifest the tag resolved to.
    #[error("tag {tag:?}: signed target {signed} is not the image's {actual}")]
    TargetMismatch {
        tag: String,
        signed: String,
        actual: String,
    },
    /// An older targets version than one seen before for this GUN.
    #[error("{gun}: targets version {version} is older than version {floor} seen before")]
    Rollback {
        gun: String,
        version: u64,
        floor: u64,
    },
}

impl NotaryError {
    /// A stable, machine-readable name for the refusal, for JSON reports.
    pub fn kind(&self) -> &'static str {
        match self {
            NotaryError::Malformed { .. } => "notary-malformed",
            NotaryError::TooLarge { .. } => "too-large",
            NotaryError::UnsupportedKey { .. } => "unsupported-key",
            NotaryError::Threshold { .. } => "threshold-not-met",
            NotaryError::RootChain(_) => "notary-root",
            NotaryError::Inconsistent { .. } => "notary-inconsistent",
            NotaryError::Expired { .. } => "notary-expired",
            NotaryError::TagNotSigned { .. } => "notary-tag-not-signed",
            NotaryError::TargetMismatch { .. } => "notary-target-mismatch",
            NotaryError::Rollback { .. } => "rollback",
        }
    }

    pub(crate) fn malformed(role: &str, reason: impl std::fmt::Display) -> Self {
        NotaryError::Malformed {
            role: role.to_string(),
            reason: reason.to_string(),
        }
    }
}
