//! SLSA provenance policy on the real npm provenance bundle.

mod common;

use airlock::trust::{
    verify_bundle, verify_provenance, Artifact, IdentityPolicy, ProvenancePolicy, Signer,
    TrustError, TrustRoot, VerifiedBundle,
};

const SIGSTORE_JS: &str =
    "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main";
const GITHUB: &str = "https://token.actions.githubusercontent.com";
const NPM_SHA512: &str = "849a897e81bf7b8a8541a6ae40bd3473a27a16b1cb0462ad905bd6dc96d34881053a12eb4a375233f81677fc9439f628fe0b0445e8535c60b5559597fbd5f80e";
const COMMIT: &str = "7d2900eca1c22b3f87c13987c8d4b7c9a29b733a";

fn npm_bundle() -> Option<VerifiedBundle> {
    let fx = common::fixtures()?;
    let bundle = std::fs::read(fx.join("sigstore/npm-slsa-provenance.sigstore.json")).unwrap();
    let mut digest = [0u8; 64];
    hex::decode_to_slice(NPM_SHA512, &mut digest).unwrap();
    Some(
        verify_bundle(
            &bundle,
            Artifact::Sha512(digest),
            &Signer::Identity(IdentityPolicy::new(SIGSTORE_JS, GITHUB).unwrap()),
            &TrustRoot::production().unwrap(),
        )
        .unwrap(),
    )
}

fn full_policy() -> ProvenancePolicy {
    ProvenancePolicy {
        source_repository: Some("https://github.com/sigstore/sigstore-js".into()),
        source_ref: Some("refs/heads/main".into()),
        source_commit: Some(COMMIT.into()),
        builder_id: Some("https://github.com/actions/runner/github-hosted".into()),
        workflow: Some(".github/workflows/release.yml".into()),
    }
}

#[test]
fn npm_provenance_satisfies_full_policy() {
    let Some(bundle) = npm_bundle() else { return };
    let p = verify_provenance(&bundle, &full_policy()).unwrap();
    assert_eq!(p.predicate_type(), "https://slsa.dev/provenance/v1");
    assert_eq!(
        p.source_repository(),
        Some("https://github.com/sigstore/sigstore-js")
    );
    assert_eq!(p.source_ref(), Some("refs/heads/main"));
    assert_eq!(p.source_commit(), Some(COMMIT));
    assert_eq!(p.workflow(), Some(".github/workflows/release.yml"));
}

/// The Dangerzone-style summary: every field the provenance states, each
/// marked as required by the policy (and so matched) or only shown.
#[test]
fn summary_lists_each_field_and_whether_the_policy_required_it() {
    let Some(bundle) = npm_bundle() else { return };
    let policy = ProvenancePolicy {
        source_repository: Some("https://github.com/sigstore/sigstore-js".into()),
        ..ProvenancePolicy::default()
    };
    let p = verify_provenance(&bundle, &policy).unwrap();
    let lines: Vec<(&str, Option<&str>, bool)> = p
        .summary(&policy)
        .into_iter()
        .map(|f| (f.name, f.value, f.required))
        .collect();
    assert_eq!(
        lines,
        [
            (
                "source repository",
                Some("https://github.com/sigstore/sigstore-js"),
                true
            ),
            ("branch/ref", Some("refs/heads/main"), false),
            ("commit", Some(COMMIT), false),
            ("workflow", Some(".github/workflows/release.yml"), false),
            (
                "builder",
                Some("https://github.com/actions/runner/github-hosted"),
                false
            ),
        ]
    );
}

#[test]
fn short_forms_of_repository_and_ref_match() {
    let Some(bundle) = npm_bundle() else { return };
    let policy = ProvenancePolicy {
        source_repository: Some("github.com/sigstore/sigstore-js.git".into()),
        source_ref: Some("main".into()),
        ..Default::default()
    };
    verify_provenance(&bundle, &policy).unwrap();
}

fn assert_field_mismatch(policy: ProvenancePolicy, field: &str) {
    let Some(bundle) = npm_bundle() else { return };
    let err = verify_provenance(&bundle, &policy).unwrap_err();
    match err {
        TrustError::ProvenanceMismatch { field: f, .. } => assert_eq!(f, field),
        other => panic!("expected a {field} mismatch, got {other}"),
    }
}

#[test]
fn provenance_from_another_repository_is_refused() {
    assert_field_mismatch(
        ProvenancePolicy {
            source_repository: Some("https://github.com/sigstore/sigstore-js-fork".into()),
            ..full_policy()
        },
        "source repository",
    );
}

#[test]
fn provenance_from_another_branch_is_refused() {
    assert_field_mismatch(
        ProvenancePolicy {
            source_ref: Some("refs/heads/release".into()),
            ..full_policy()
        },
        "source ref",
    );
}

#[test]
fn provenance_from_another_commit_is_refused() {
    assert_field_mismatch(
        ProvenancePolicy {
            source_commit: Some("0000000000000000000000000000000000000000".into()),
            ..full_policy()
        },
        "source commit",
    );
}

#[test]
fn provenance_from_another_builder_is_refused() {
    assert_field_mismatch(
        ProvenancePolicy {
            builder_id: Some("https://github.com/actions/runner/self-hosted".into()),
            ..full_policy()
        },
        "builder id",
    );
}

#[test]
fn provenance_from_another_workflow_is_refused() {
    assert_field_mismatch(
        ProvenancePolicy {
            workflow: Some(".github/workflows/ci.yml".into()),
            ..full_policy()
        },
        "workflow",
    );
}

#[test]
fn cosign_signature_statement_is_not_provenance() {
    let Some(fx) = common::fixtures() else { return };
    let bundle = std::fs::read(fx.join("sigstore/cosign-v3-image-bundle.sigstore.json")).unwrap();
    let v = verify_bundle(
        &bundle,
        Artifact::parse_digest("sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172").unwrap(),
        &Signer::Identity(
            IdentityPolicy::new(
                "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0",
                GITHUB,
            )
            .unwrap(),
        ),
        &TrustRoot::production().unwrap(),
    )
    .unwrap();
    let err = verify_provenance(&v, &ProvenancePolicy::default()).unwrap_err();
    assert!(matches!(err, TrustError::NotAnAttestation(_)), "{err}");
}
