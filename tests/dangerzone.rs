//! Real cosign signatures of Dangerzone images (public-good Rekor), through
//! `verify_cosign_signature` with the embedded production trust root.

mod common;

use airlock::trust::{
    verify_cosign_signature, CosignSignature, PublicKey, SignaturePolicy, Signer, TrustError,
    TrustRoot,
};
use std::path::Path;

fn policy(fx: &Path) -> SignaturePolicy {
    let pem = std::fs::read(fx.join("dangerzone/test.pub.key")).unwrap();
    SignaturePolicy::new(Signer::Key(PublicKey::from_pem(&pem).unwrap()))
}

fn expected_reference(digest_hex: &str) -> &'static str {
    // One image was signed by another fork; the others by almet's.
    if digest_hex.starts_with("4da44123") {
        "ghcr.io/apyrgio/dangerzone/dangerzone"
    } else {
        "ghcr.io/almet/dangerzone/dangerzone"
    }
}

fn signatures(path: &Path) -> (String, Vec<CosignSignature>) {
    let digest_hex = path.file_stem().unwrap().to_str().unwrap().to_string();
    let sigs = CosignSignature::from_download_json(&std::fs::read(path).unwrap()).unwrap();
    (digest_hex, sigs)
}

#[test]
fn valid_dangerzone_signatures_verify() {
    let fx = fixtures_or_skip!();
    let root = TrustRoot::production().unwrap();
    let policy = policy(&fx);
    let mut checked = 0;
    for entry in std::fs::read_dir(fx.join("dangerzone/valid")).unwrap() {
        let path = entry.unwrap().path();
        let (digest_hex, sigs) = signatures(&path);
        assert!(!sigs.is_empty(), "{}: no signatures", path.display());
        for sig in &sigs {
            let digest = format!("sha256:{digest_hex}");
            let logged_index = sig.rekor_bundle().unwrap().log_index();
            let logged_time = sig.rekor_bundle().unwrap().integrated_time();
            let v = verify_cosign_signature(
                sig,
                &digest,
                Some(expected_reference(&digest_hex)),
                &policy,
                &root,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(v.image_digest(), digest);
            assert_eq!(v.log_index(), Some(logged_index as u64));
            assert_eq!(v.integrated_time(), Some(logged_time));
            assert!(!v.tlog_skipped());
            checked += 1;
        }
    }
    assert_eq!(checked, 7, "expected 7 real signatures in the fixtures");
}

#[test]
fn tampered_dangerzone_signature_fails() {
    let fx = fixtures_or_skip!();
    let root = TrustRoot::production().unwrap();
    let policy = policy(&fx);
    let mut checked = 0;
    for entry in std::fs::read_dir(fx.join("dangerzone/tampered")).unwrap() {
        let path = entry.unwrap().path();
        let (digest_hex, sigs) = signatures(&path);
        for sig in &sigs {
            let r = verify_cosign_signature(
                sig,
                &format!("sha256:{digest_hex}"),
                Some(expected_reference(&digest_hex)),
                &policy,
                &root,
            );
            assert!(r.is_err(), "tampered signature {} verified", path.display());
            // Signed by the policy's own key: never called a key mismatch.
            if let Err(e) = r {
                assert!(!e.to_string().contains("not in the policy"), "{e}");
            }
            checked += 1;
        }
    }
    assert!(checked > 0);
}

#[test]
fn dangerzone_signature_for_other_digest_is_refused() {
    let fx = fixtures_or_skip!();
    let root = TrustRoot::production().unwrap();
    let (_, sigs) = signatures(&fx.join(
        "dangerzone/valid/19e8eacd75879d05f6621c2ea8dd955e68ee3e07b41b9d53f4c8cc9929a68a67.json",
    ));
    let other = "sha256:220b52200e3e47b1b42010667fcaa9338681e64dd3e34a34873866cb051d694e";
    let err = verify_cosign_signature(
        &sigs[0],
        other,
        Some("ghcr.io/almet/dangerzone/dangerzone"),
        &policy(&fx),
        &root,
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::DigestMismatch { .. }), "{err}");
}

#[test]
fn dangerzone_signature_for_other_repository_is_refused() {
    let fx = fixtures_or_skip!();
    let root = TrustRoot::production().unwrap();
    let digest = "4da441235e84e93518778827a5c5745d532d7a4079886e1647924bee7ef1c14d";
    let (_, sigs) = signatures(&fx.join(format!("dangerzone/valid/{digest}.json")));
    let err = verify_cosign_signature(
        &sigs[0],
        &format!("sha256:{digest}"),
        Some("ghcr.io/almet/dangerzone/dangerzone:latest"),
        &policy(&fx),
        &root,
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::ReferenceMismatch { .. }), "{err}");
    // --ignore-reference accepts it.
    verify_cosign_signature(
        &sigs[0],
        &format!("sha256:{digest}"),
        None,
        &policy(&fx),
        &root,
    )
    .unwrap();
}

#[test]
fn dangerzone_signature_with_other_key_is_refused() {
    let fx = fixtures_or_skip!();
    let root = TrustRoot::production().unwrap();
    let digest = "19e8eacd75879d05f6621c2ea8dd955e68ee3e07b41b9d53f4c8cc9929a68a67";
    let (_, sigs) = signatures(&fx.join(format!("dangerzone/valid/{digest}.json")));
    // The Rekor key is a valid P-256 key, but not the signer's.
    let other = std::fs::read(fx.join("dangerzone/rekor.pub")).unwrap();
    let policy = SignaturePolicy::new(Signer::Key(PublicKey::from_pem(&other).unwrap()));
    let err = verify_cosign_signature(&sigs[0], &format!("sha256:{digest}"), None, &policy, &root)
        .unwrap_err();
    // Named for what it is: the real signer (its key is in the Rekor entry
    // and verifies the signature) beside the key the policy expected.
    let signer = std::fs::read(fx.join("dangerzone/test.pub.key")).unwrap();
    let signer = PublicKey::from_pem(&signer).unwrap().fingerprint();
    let expected = PublicKey::from_pem(&other).unwrap().fingerprint();
    match &err {
        TrustError::NotPolicyKey {
            signer: Some(s),
            expected: e,
            ..
        } => {
            assert_eq!(s, &signer);
            assert_eq!(e, &vec![expected.clone()]);
        }
        other => panic!("{other}"),
    }
    assert_eq!(err.kind(), "signature-invalid");
    assert_eq!(
        err.to_string(),
        format!("signed by a key not in the policy: {signer}; the policy expects {expected}")
    );
}
