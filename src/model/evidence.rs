//! Classifying evidence artifacts by their artifact type.

use super::manifest::EvidenceRole;

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
