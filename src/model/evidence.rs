//! Classifying evidence artifacts by their artifact type.

use super::manifest::EvidenceRole;
use super::Digest;

pub const SIGSTORE_BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";

/// The role of an OCI 1.1 referrer, from its artifact type.
pub fn role_for_artifact(artifact_type: &str) -> EvidenceRole {
    let t = artifact_type;
    if t.starts_with(SIGSTORE_BUNDLE_PREFIX) {
        EvidenceRole::Bundle
    } else if t.contains("spdx") || t.contains("cyclonedx") || t.contains("syft") {
        EvidenceRole::Sbom
    } else if t.contains("in-toto") || t.contains("intoto") || t.contains("dsse") {
        EvidenceRole::Attestation
    } else if t.contains("cosign.simplesigning") || t.contains("notary") {
        EvidenceRole::Signature
    } else {
        EvidenceRole::Referrer
    }
}

/// `sha256-<hex>.sig|.att|.sbom` → (subject digest, role).
pub fn cosign_tag(tag: &str) -> Option<(Digest, EvidenceRole)> {
    let rest = tag.strip_prefix("sha256-")?;
    let (hex, suffix) = rest.split_once('.')?;
    let role = match suffix {
        "sig" => EvidenceRole::Signature,
        "att" => EvidenceRole::Attestation,
        "sbom" => EvidenceRole::Sbom,
        _ => return None,
    };
    Some((Digest::from_hex(hex).ok()?, role))
}
