//! Real bundles with one field altered: each alteration must be refused
//! for its own reason. Starts from conformance `happy-path-v0.3`, which
//! verifies unaltered (the control).

mod common;

use airlock::trust::{verify_bundle, Artifact, IdentityPolicy, Signer, TrustError, TrustRoot};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn verify_altered(alter: impl FnOnce(&mut Value)) -> Option<Result<(), TrustError>> {
    let fx = common::fixtures()?;
    let conf = fx.join("conformance");
    let mut bundle: Value = serde_json::from_slice(
        &std::fs::read(conf.join("happy-path-v0.3/bundle.sigstore.json")).unwrap(),
    )
    .unwrap();
    alter(&mut bundle);
    let artifact = std::fs::read(conf.join("a.txt")).unwrap();
    Some(
        verify_bundle(
            &serde_json::to_vec(&bundle).unwrap(),
            Artifact::Bytes(&artifact),
            &Signer::Identity(IdentityPolicy::new(IDENTITY, ISSUER).unwrap()),
            &TrustRoot::production().unwrap(),
        )
        .map(|_| ()),
    )
}

/// Why the conformance bundle with `alter` applied is refused (None: the
/// fixtures are missing and CI is not set).
fn refused(alter: impl FnOnce(&mut Value)) -> Option<TrustError> {
    verify_altered(alter).map(|r| r.unwrap_err())
}

fn entry(b: &mut Value) -> &mut Value {
    &mut b["verificationMaterial"]["tlogEntries"][0]
}

#[test]
fn control_unaltered_bundle_verifies() {
    if let Some(r) = verify_altered(|_| {}) {
        r.unwrap();
    }
}

#[test]
fn entry_log_index_not_covered_by_set_is_refused() {
    let Some(err) = refused(|b| entry(b)["logIndex"] = "79571824".into()) else {
        return;
    };
    assert_err!(err, TrustError::InvalidSet(_));
}

#[test]
fn integrated_time_not_covered_by_set_is_refused() {
    let Some(err) = refused(|b| entry(b)["integratedTime"] = "1710869187".into()) else {
        return;
    };
    assert_err!(err, TrustError::InvalidSet(_));
}

#[test]
fn inclusion_proof_for_another_leaf_is_refused() {
    let Some(err) = refused(|b| {
        entry(b)["inclusionProof"]["logIndex"] = "75408391".into();
    }) else {
        return;
    };
    assert_err!(err, TrustError::InclusionProof(_));
}

#[test]
fn inclusion_proof_with_altered_path_is_refused() {
    let Some(err) = refused(|b| {
        entry(b)["inclusionProof"]["hashes"][0] =
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    }) else {
        return;
    };
    assert_err!(err, TrustError::InclusionProof(_));
}

#[test]
fn checkpoint_signed_by_another_key_is_refused() {
    let Some(err) = refused(|b| {
        let cp = &mut entry(b)["inclusionProof"]["checkpoint"]["envelope"];
        let text = cp.as_str().unwrap().to_string();
        // Same key hint, different signature bytes.
        let altered = text.replace("wNI9ajBFAiBTyiBM", "wNI9ajBFAiBTyiBN");
        assert_ne!(altered, text);
        *cp = altered.into();
    }) else {
        return;
    };
    assert_err!(err, TrustError::Checkpoint(_));
}

#[test]
fn checkpoint_for_another_tree_size_is_refused() {
    let Some(err) = refused(|b| {
        entry(b)["inclusionProof"]["treeSize"] = "75408394".into();
    }) else {
        return;
    };
    assert_err!(
        err,
        TrustError::InclusionProof(_) | TrustError::Checkpoint(_) | TrustError::InvalidBundle(_)
    );
}

#[test]
fn second_tlog_entry_is_refused() {
    let Some(err) = refused(|b| {
        let first = entry(b).clone();
        b["verificationMaterial"]["tlogEntries"]
            .as_array_mut()
            .unwrap()
            .push(first);
    }) else {
        return;
    };
    assert_err!(err, TrustError::Unsupported(_));
}

#[test]
fn bundle_without_tlog_entry_is_refused() {
    let Some(r) = verify_altered(|b| {
        b["verificationMaterial"]["tlogEntries"] = Value::Array(vec![]);
    }) else {
        return;
    };
    assert!(r.is_err());
}

#[test]
fn altered_signature_is_refused() {
    let Some(err) = refused(|b| {
        let sig = b["messageSignature"]["signature"]
            .as_str()
            .unwrap()
            .to_string();
        let mut raw = STANDARD.decode(sig).unwrap();
        let last = raw.len() - 3;
        raw[last] ^= 1;
        b["messageSignature"]["signature"] = STANDARD.encode(&raw).into();
    }) else {
        return;
    };
    assert_err!(
        err,
        TrustError::SignatureInvalid(_) | TrustError::LogEntryMismatch(_)
    );
}

#[test]
fn malformed_base64_in_bundle_is_refused() {
    let Some(err) = refused(|b| {
        b["messageSignature"]["signature"] = "%%%not-base64%%%".into();
    }) else {
        return;
    };
    assert_err!(err, TrustError::MalformedJson { .. });
}
