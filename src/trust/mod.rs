//! Offline trust verification: bytes and parsed documents in, `Verified*`
//! results out. No file system, no sockets: callers read the inputs.
//!
//! - [`verify_bundle`]: Sigstore bundles v0.1–v0.3 and cosign's legacy
//!   `verify-blob --bundle` format.
//! - [`verify_cosign_signature`]: cosign `.sig` image signatures.
//!
//! Cryptographic decisions (signatures, certificate chains, SCTs, SETs,
//! inclusion proofs, checkpoints, RFC 3161 timestamps) are made by
//! `sigstore-verify`; this module adds the image claims and the policy.

pub mod attestation;
pub mod bundle;
mod cert_time;
pub mod cosign;
pub mod error;
pub mod evidence;
pub mod keys;
pub mod limits;
pub mod notary;
pub mod policy;
pub mod policy_file;
pub mod reference;
pub mod rekor;
pub mod rollback;
pub mod root;
pub mod root_choice;
pub mod scope;
pub mod signer;
pub mod tuf;

pub use attestation::{
    verify_cosign_attestation, verify_provenance, CosignAttestation, ProvenancePolicy,
    VerifiedProvenance,
};
pub use bundle::{parse_sha256, verify_bundle, Artifact, DssePayload, VerifiedBundle};
pub use cosign::{
    verify_cosign_signature, verify_cosign_signatures, CosignSignature, VerifiedSignature,
    VerifiedSignatures,
};
pub use error::TrustError;
pub use keys::PublicKey;
pub use notary::{
    verify_content_trust, NotaryError, NotaryFiles, TargetClaim, VerifiedContentTrust,
};
pub use policy::{BundlePolicy, IdentityPolicy, Matcher, SignaturePolicy, Signer};
pub use policy_file::{PolicyRules, ScopedPolicy, TrustPolicy};
pub use reference::{normalize_repository, same_repository};
pub use rekor::{
    LegacyRekorBundle, RekorInclusionProof, RekorProofDocument, REKOR_PROOF_MEDIA_TYPE,
};
pub use rollback::{check_rollback, next_high_water, Downgrade, HighWater, RollbackDecision};
pub use root::TrustRoot;
pub use root_choice::{HostRoot, HostTrust, RootChoice, RootReport, RootSource};
pub use scope::ImagePattern;
