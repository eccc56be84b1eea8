//! Size limits for everything the trust core parses. Inputs over these are
//! refused before parsing.

/// A Sigstore bundle or a legacy cosign bundle document.
pub const MAX_BUNDLE: usize = 16 * 1024 * 1024;
/// A trusted_root.json document.
pub const MAX_TRUSTED_ROOT: usize = 4 * 1024 * 1024;
/// A simple-signing payload.
pub const MAX_PAYLOAD: usize = 1024 * 1024;
/// A PEM public key or certificate (chain).
pub const MAX_PEM: usize = 256 * 1024;
/// A base64 signature.
pub const MAX_SIGNATURE_B64: usize = 64 * 1024;
/// A `cosign download signature` document (a list of signatures).
pub const MAX_SIGNATURE_DOCUMENT: usize = 64 * 1024 * 1024;

pub(crate) fn check(
    what: &'static str,
    size: usize,
    limit: usize,
) -> Result<(), super::TrustError> {
    if size > limit {
        return Err(super::TrustError::TooLarge { what, size, limit });
    }
    Ok(())
}
