//! Real Sigstore bundles from public projects, with the embedded production
//! trust root.

mod common;

use std::path::Path;

use airlock::trust::{
    verify_bundle, Artifact, IdentityPolicy, Signer, TrustError, TrustRoot, VerifiedBundle,
};

const KUBEWARDEN: &str = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";
const SIGSTORE_JS: &str =
    "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main";
const GITHUB: &str = "https://token.actions.githubusercontent.com";
const IMAGE: &str = "sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172";
const NPM_SHA512: &str = "849a897e81bf7b8a8541a6ae40bd3473a27a16b1cb0462ad905bd6dc96d34881053a12eb4a375233f81677fc9439f628fe0b0445e8535c60b5559597fbd5f80e";

const COSIGN_V3: &str = "sigstore/cosign-v3-image-bundle.sigstore.json";
const NPM: &str = "sigstore/npm-slsa-provenance.sigstore.json";

fn identity(id: &str, issuer: &str) -> Signer {
    Signer::Identity(IdentityPolicy::new(id, issuer).unwrap())
}

fn image(digest: &str) -> Artifact<'static> {
    Artifact::parse_digest(digest).unwrap()
}

/// The fixture bundle `bundle` (a path under the fixtures `fx`) verified
/// for `artifact` under `policy` with the embedded production trust root.
fn verify_fixture(
    fx: &Path,
    bundle: &str,
    artifact: Artifact,
    policy: &Signer,
) -> Result<VerifiedBundle, TrustError> {
    let bundle = std::fs::read(fx.join(bundle)).unwrap();
    verify_bundle(&bundle, artifact, policy, &TrustRoot::production().unwrap())
}

#[test]
fn cosign_v3_image_bundle_verifies() {
    let fx = fixtures_or_skip!();
    let v = verify_fixture(&fx, COSIGN_V3, image(IMAGE), &identity(KUBEWARDEN, GITHUB)).unwrap();
    assert_eq!(v.identity(), Some(KUBEWARDEN));
    assert_eq!(v.issuer(), Some(GITHUB));
    assert_eq!(v.log_index(), Some(1_261_105_807));
    assert_eq!(v.integrated_time(), Some(1_775_719_409));
    let dsse = v.dsse().unwrap();
    assert_eq!(dsse.payload_type(), "application/vnd.in-toto+json");
    let statement: serde_json::Value = serde_json::from_slice(dsse.payload()).unwrap();
    assert_eq!(
        statement["predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );
}

#[test]
fn cosign_v3_image_bundle_for_other_image_fails() {
    let fx = fixtures_or_skip!();
    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
    let err =
        verify_fixture(&fx, COSIGN_V3, image(other), &identity(KUBEWARDEN, GITHUB)).unwrap_err();
    assert_err!(err, TrustError::ArtifactMismatch(_));
}

#[test]
fn cosign_v3_image_bundle_wrong_identity_fails() {
    let fx = fixtures_or_skip!();
    let err =
        verify_fixture(&fx, COSIGN_V3, image(IMAGE), &identity(SIGSTORE_JS, GITHUB)).unwrap_err();
    assert_err!(err, TrustError::IdentityMismatch { .. });
}

#[test]
fn cosign_v3_image_bundle_wrong_issuer_fails() {
    let fx = fixtures_or_skip!();
    let policy = identity(KUBEWARDEN, "https://accounts.google.com");
    let err = verify_fixture(&fx, COSIGN_V3, image(IMAGE), &policy).unwrap_err();
    assert_err!(err, TrustError::IssuerMismatch { .. });
}

#[test]
fn npm_slsa_provenance_bundle_verifies() {
    let fx = fixtures_or_skip!();
    let mut digest = [0u8; 64];
    hex::decode_to_slice(NPM_SHA512, &mut digest).unwrap();
    let policy = identity(SIGSTORE_JS, GITHUB);
    let v = verify_fixture(&fx, NPM, Artifact::Sha512(digest), &policy).unwrap();
    assert_eq!(v.identity(), Some(SIGSTORE_JS));
    assert_eq!(v.log_index(), Some(1_697_019_812));
    let statement: serde_json::Value = serde_json::from_slice(v.dsse().unwrap().payload()).unwrap();
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(statement["subject"][0]["name"], "pkg:npm/sigstore@5.0.0");
}

#[test]
fn key_policy_on_keyless_bundle_is_refused() {
    let fx = fixtures_or_skip!();
    let key = airlock::trust::PublicKey::from_pem(
        &std::fs::read(fx.join("dangerzone/test.pub.key")).unwrap(),
    )
    .unwrap();
    let err = verify_fixture(&fx, NPM, Artifact::Sha512([0; 64]), &Signer::Key(key)).unwrap_err();
    assert_err!(err, TrustError::MaterialMismatch(_));
}

#[test]
fn identity_mismatch_on_conformance_v01_bundle() {
    let fx = fixtures_or_skip!();
    let artifact = std::fs::read(fx.join("conformance/a.txt")).unwrap();
    let err = verify_fixture(
        &fx,
        "conformance/happy-path-v0.1/bundle.sigstore.json",
        Artifact::Bytes(&artifact),
        &identity("someone@example.com", GITHUB),
    )
    .unwrap_err();
    assert_err!(err, TrustError::IdentityMismatch { .. });
    assert_eq!(err.kind(), "identity-mismatch");
}

fn regexp_identity(id: &str, issuer: &str) -> Signer {
    use airlock::trust::Matcher;
    Signer::Identity(IdentityPolicy::from_matchers(
        Matcher::regexp(id).unwrap(),
        Matcher::regexp(issuer).unwrap(),
    ))
}

#[test]
fn identity_regexp_matching_whole_san_verifies() {
    let fx = fixtures_or_skip!();
    let policy = regexp_identity(
        r"https://github\.com/kubewarden/.+@refs/tags/v.*",
        r"https://token\.actions\.githubusercontent\.com",
    );
    let v = verify_fixture(&fx, COSIGN_V3, image(IMAGE), &policy).unwrap();
    assert_eq!(v.identity(), Some(KUBEWARDEN));
}

#[test]
fn identity_regexp_matching_only_a_prefix_is_refused() {
    let fx = fixtures_or_skip!();
    for prefix_only in [
        r"https://github\.com/kubewarden/kubewarden-controller",
        r"kubewarden",
        r".*release\.yml",
    ] {
        let policy = regexp_identity(
            prefix_only,
            r"https://token\.actions\.githubusercontent\.com",
        );
        let err = verify_fixture(&fx, COSIGN_V3, image(IMAGE), &policy).unwrap_err();
        assert!(
            matches!(err, TrustError::IdentityMismatch { .. }),
            "{prefix_only}: {err}"
        );
    }
}

#[test]
fn issuer_regexp_matching_only_a_prefix_is_refused() {
    let fx = fixtures_or_skip!();
    let policy = regexp_identity(".*", r"https://token\.actions");
    let err = verify_fixture(&fx, COSIGN_V3, image(IMAGE), &policy).unwrap_err();
    assert_err!(err, TrustError::IssuerMismatch { .. });
}
