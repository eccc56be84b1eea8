//! Who may sign: keys, or Fulcio certificate identities; how many distinct
//! signers are needed; and whether a transparency-log entry is required.
//!
//! Policies are validated when they are built, before any evidence is read:
//! an incoherent combination (ignoring the log for keyless signatures, an
//! empty identity, an unsatisfiable threshold) is refused up front.

use super::error::TrustError;
use super::keys::PublicKey;

/// Longest accepted identity/issuer regular expression.
const MAX_REGEXP: usize = 4096;

/// How a certificate claim (SAN or OIDC issuer) is matched.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// The claim equals this string.
    Exact(String),
    /// The whole claim matches this regular expression. The expression is
    /// always anchored (`^(?:…)$`): a pattern that only matches a prefix or
    /// a substring of the claim does not match.
    Regexp {
        /// The pattern as the operator wrote it.
        pattern: String,
        /// The anchored, compiled expression.
        regex: regex::Regex,
    },
}

impl Matcher {
    /// Match exactly `value` (must be non-empty).
    pub fn exact(value: impl Into<String>) -> Result<Self, TrustError> {
        let value = value.into();
        if value.trim().is_empty() {
            return Err(TrustError::InvalidPolicy("empty identity or issuer".into()));
        }
        Ok(Matcher::Exact(value))
    }

    /// Match the whole claim against `pattern` (anchored at both ends).
    pub fn regexp(pattern: impl Into<String>) -> Result<Self, TrustError> {
        let pattern = pattern.into();
        if pattern.is_empty() || pattern.len() > MAX_REGEXP {
            return Err(TrustError::InvalidPolicy(format!(
                "regular expression must be 1 to {MAX_REGEXP} bytes"
            )));
        }
        let regex = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
            .size_limit(1 << 20)
            .build()
            .map_err(|e| TrustError::InvalidPolicy(format!("bad regular expression: {e}")))?;
        Ok(Matcher::Regexp { pattern, regex })
    }

    /// Whether `value` satisfies this matcher.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(expected) => expected == value,
            Matcher::Regexp { regex, .. } => regex.is_match(value),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(v) => f.write_str(v),
            Matcher::Regexp { pattern, .. } => write!(f, "/{pattern}/"),
        }
    }
}

/// A Fulcio certificate identity: the SAN (email or URI) and the OIDC issuer.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    identity: Matcher,
    issuer: Matcher,
}

impl IdentityPolicy {
    /// Require exactly this SAN and exactly this OIDC issuer.
    pub fn new(identity: impl Into<String>, issuer: impl Into<String>) -> Result<Self, TrustError> {
        Ok(IdentityPolicy {
            identity: Matcher::exact(identity)?,
            issuer: Matcher::exact(issuer)?,
        })
    }

    /// Require SAN and issuer to satisfy these matchers (exact or regexp).
    pub fn from_matchers(identity: Matcher, issuer: Matcher) -> Self {
        IdentityPolicy { identity, issuer }
    }

    /// The SAN matcher.
    pub fn identity(&self) -> &Matcher {
        &self.identity
    }

    /// The OIDC issuer matcher.
    pub fn issuer(&self) -> &Matcher {
        &self.issuer
    }
}

/// Who must have signed.
#[derive(Debug, Clone)]
pub enum Signer {
    /// A managed key (cosign `--key`).
    Key(PublicKey),
    /// A keyless signature: a Fulcio certificate for this identity.
    Identity(IdentityPolicy),
}

/// The policy of `verify_bundle`: who must have signed. Bundles always need
/// their transparency-log evidence as the bundle spec requires.
pub type BundlePolicy = Signer;

/// The policy for cosign image signatures.
#[derive(Debug, Clone)]
pub struct SignaturePolicy {
    signers: Vec<Signer>,
    threshold: usize,
    ignore_tlog: bool,
    require_inclusion_proof: bool,
}

impl SignaturePolicy {
    /// Require one valid signature by `signer`, with a verified Rekor entry
    /// (the secure default).
    pub fn new(signer: Signer) -> Self {
        SignaturePolicy {
            signers: vec![signer],
            threshold: 1,
            ignore_tlog: false,
            require_inclusion_proof: false,
        }
    }

    /// Accept signatures by any of `signers` (e.g. several `--key`).
    pub fn any_of(signers: Vec<Signer>) -> Result<Self, TrustError> {
        if signers.is_empty() {
            return Err(TrustError::InvalidPolicy("no key or identity given".into()));
        }
        Ok(SignaturePolicy {
            signers,
            threshold: 1,
            ignore_tlog: false,
            require_inclusion_proof: false,
        })
    }

    /// Require `n` valid signatures from distinct signing keys (`--threshold`).
    /// With only key signers, `n` cannot exceed the number of keys.
    pub fn with_threshold(mut self, n: usize) -> Result<Self, TrustError> {
        if n == 0 {
            return Err(TrustError::InvalidPolicy(
                "threshold must be at least 1".into(),
            ));
        }
        let only_keys = self.signers.iter().all(|s| matches!(s, Signer::Key(_)));
        if only_keys && n > self.signers.len() {
            return Err(TrustError::InvalidPolicy(format!(
                "threshold {n} cannot be met by {} key(s)",
                self.signers.len()
            )));
        }
        self.threshold = n;
        Ok(self)
    }

    /// Accept key-based signatures that carry no Rekor entry
    /// (cosign `--insecure-ignore-tlog`). A Rekor entry that *is* present is
    /// still verified. Refused when any signer is keyless: a Fulcio
    /// certificate is only meaningful at a logged time.
    pub fn insecure_ignore_tlog(mut self) -> Result<Self, TrustError> {
        if self
            .signers
            .iter()
            .any(|s| matches!(s, Signer::Identity(_)))
        {
            return Err(TrustError::InvalidPolicy(
                "--insecure-ignore-tlog is only allowed with --key".into(),
            ));
        }
        self.ignore_tlog = true;
        Ok(self)
    }

    /// Require a Rekor inclusion proof (and signed checkpoint) next to every
    /// signature's SET (`--require-inclusion-proof`). Refused together with
    /// `insecure_ignore_tlog`.
    pub fn require_inclusion_proof(mut self) -> Result<Self, TrustError> {
        if self.ignore_tlog {
            return Err(TrustError::InvalidPolicy(
                "--require-inclusion-proof contradicts --insecure-ignore-tlog".into(),
            ));
        }
        self.require_inclusion_proof = true;
        Ok(self)
    }

    /// Whether an inclusion proof is required.
    pub fn requires_inclusion_proof(&self) -> bool {
        self.require_inclusion_proof
    }

    /// Who may sign.
    pub fn signers(&self) -> &[Signer] {
        &self.signers
    }

    /// The keys among the signers (`--key`), for messages naming them.
    pub fn keys(&self) -> Vec<&PublicKey> {
        self.signers
            .iter()
            .filter_map(|s| match s {
                Signer::Key(k) => Some(k),
                Signer::Identity(_) => None,
            })
            .collect()
    }

    /// How many distinct signing keys must have produced valid signatures.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The distinct-signer threshold, the one place it is computed: given
    /// the signing keys of every signature that verified (copies and
    /// several signatures by one key count once), the number of distinct
    /// signers when they meet the threshold. Otherwise `first_error` (why
    /// the first invalid signature failed) when nothing verified at all, or
    /// [`TrustError::NoSignatures`], or [`TrustError::ThresholdNotMet`].
    pub fn meet_threshold<'a>(
        &self,
        valid_keys: impl IntoIterator<Item = &'a [u8]>,
        first_error: Option<TrustError>,
    ) -> Result<usize, TrustError> {
        let mut keys: Vec<&[u8]> = valid_keys.into_iter().collect();
        let valid = keys.len();
        keys.sort_unstable();
        keys.dedup();
        let distinct = keys.len();
        if distinct == 0 {
            return Err(first_error.unwrap_or(TrustError::NoSignatures));
        }
        if distinct < self.threshold {
            return Err(TrustError::ThresholdNotMet {
                required: self.threshold,
                distinct,
                valid,
            });
        }
        Ok(distinct)
    }

    /// Whether signatures without a Rekor entry are accepted.
    pub fn ignores_tlog(&self) -> bool {
        self.ignore_tlog
    }
}
