//! `airlock verify-bundle`: the sigstore-conformance CLI protocol.
//!
//! ```text
//! airlock verify-bundle --bundle FILE
//!     (--key PEM | --certificate-identity I --certificate-oidc-issuer URL)
//!     [--trusted-root FILE] FILE_OR_DIGEST
//! ```
//!
//! Exit 0 when the bundle verifies; otherwise one line on stderr and the
//! exit code of the error (4 for a trust failure, 2 for usage, 1 for I/O).

use crate::error::{Error, IoContext as _};
use crate::trust::{self, Artifact, IdentityPolicy, PublicKey, Signer, TrustRoot};
use std::path::Path;

/// Artifacts up to this size are read into memory (needed for Ed25519
/// message signatures); larger ones are hashed while streaming.
const MAX_IN_MEMORY_ARTIFACT: u64 = 64 * 1024 * 1024;

pub use super::args::VerifyBundleArgs;

/// Run `verify-bundle`.
pub fn run(args: VerifyBundleArgs) -> Result<(), Error> {
    let policy =
        match (
            &args.key,
            &args.certificate_identity,
            &args.certificate_oidc_issuer,
        ) {
            (Some(key), None, None) => Signer::Key(PublicKey::from_pem(&read_bounded(
                key,
                trust::limits::MAX_PEM,
            )?)?),
            (None, Some(identity), Some(issuer)) => {
                Signer::Identity(IdentityPolicy::new(identity.clone(), issuer.clone())?)
            }
            _ => return Err(Error::Usage(
                "give either --key, or both --certificate-identity and --certificate-oidc-issuer"
                    .into(),
            )),
        };
    let trust_root = match &args.trusted_root {
        Some(path) => TrustRoot::from_json(&read_bounded(path, trust::limits::MAX_TRUSTED_ROOT)?)?,
        None => TrustRoot::production()?,
    };
    let bundle = read_bounded(&args.bundle, trust::limits::MAX_BUNDLE)?;

    let artifact_bytes;
    let artifact = if args.file_or_digest.starts_with("sha256:") {
        Artifact::parse_digest(&args.file_or_digest)
            .map_err(|e| Error::Usage(format!("FILE_OR_DIGEST: {e}")))?
    } else {
        let path = Path::new(&args.file_or_digest);
        let size = std::fs::metadata(path).at("read", path)?.len();
        if size <= MAX_IN_MEMORY_ARTIFACT {
            artifact_bytes = read_bounded(path, MAX_IN_MEMORY_ARTIFACT as usize)?;
            Artifact::Bytes(&artifact_bytes)
        } else {
            Artifact::Sha256(hash_file(path)?)
        }
    };

    trust::verify_bundle(&bundle, artifact, &policy, &trust_root)?;
    Ok(())
}

/// Read a whole file, refusing more than `limit` bytes.
fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>, Error> {
    let file = std::fs::File::open(path).at("read", path)?;
    crate::model::limits::read_at_most(file, limit as u64)
        .at("read", path)?
        .ok_or_else(|| {
            trust::TrustError::TooLarge {
                what: "input file",
                size: limit + 1,
                limit,
            }
            .into()
        })
}

fn hash_file(path: &Path) -> Result<[u8; 32], Error> {
    use sha2::Digest as _;
    let mut file = std::fs::File::open(path).at("read", path)?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher).at("read", path)?;
    Ok(hasher.finalize().into())
}
