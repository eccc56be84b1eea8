//! Trust roots: the embedded Sigstore public-good root, or one the caller
//! passes as bytes (`--trusted-root`).

use super::error::TrustError;
use super::limits::{check, MAX_TRUSTED_ROOT};
use sigstore_verify::trust_root::{TrustedRoot, SIGSTORE_PRODUCTION_TRUSTED_ROOT};
use sigstore_verify::Verifier;

/// Verification material (Fulcio CAs, Rekor and CT log keys, TSAs) with its
/// keys already parsed, ready to verify many signatures.
pub struct TrustRoot {
    verifier: Verifier,
}

impl std::fmt::Debug for TrustRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoot").finish_non_exhaustive()
    }
}

impl TrustRoot {
    /// The Sigstore public-good production root embedded in the binary (the
    /// copy shipped inside the `sigstore-trust-root` crate).
    pub fn production() -> Result<Self, TrustError> {
        Self::from_json(SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes())
    }

    /// The bytes of the embedded public-good `trusted_root.json` (what pack
    /// writes into an archive by default).
    pub fn production_json() -> &'static [u8] {
        SIGSTORE_PRODUCTION_TRUSTED_ROOT.as_bytes()
    }

    /// A `trusted_root.json` document (Sigstore protobuf-specs JSON form).
    pub fn from_json(json: &[u8]) -> Result<Self, TrustError> {
        check("trusted root", json.len(), MAX_TRUSTED_ROOT)?;
        let text = std::str::from_utf8(json).map_err(|e| TrustError::json("trusted root", e))?;
        let root = TrustedRoot::from_json(text)
            .map_err(|e| TrustError::InvalidTrustRoot(e.to_string()))?;
        let verifier = Verifier::new(&root).map_err(TrustError::from)?;
        Ok(TrustRoot { verifier })
    }

    pub(crate) fn verifier(&self) -> &Verifier {
        &self.verifier
    }
}
