//! Negative (and control) cases built from material forged in the test:
//! a signer key, a test "Rekor" key placed in a test trusted root, a
//! simple-signing payload, a hashedrekord body and its SET.

mod common;

use airlock::trust::{
    verify_bundle, verify_cosign_signature, verify_cosign_signatures, Artifact, CosignSignature,
    IdentityPolicy, PublicKey, SignaturePolicy, Signer, TrustError, TrustRoot,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::ecdsa::{signature::Signer as _, DerSignature, SigningKey};
use sha2::{Digest, Sha256};

// Shared with tests/gate.rs (tests/common/forge.rs).
use common::forge::{
    body_of, checkpoint_hinted as checkpoint, hashedrekord_body, key, key_signer, leaf_hash,
    logged, payload, pem, sign, trust_root_json, two_leaf_tree,
};

const IMAGE: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const OTHER_IMAGE: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const REPO: &str = "registry.example.org/team/app";
const LOG_INDEX: i64 = 4242;
const INTEGRATED: i64 = 1_700_000_000;

/// A valid signature with a random nonce (differs from the RFC 6979 one).
fn sign_randomized(k: &SigningKey, data: &[u8]) -> String {
    use p256::ecdsa::signature::RandomizedSigner as _;
    let sig: DerSignature = k.sign_with_rng(&mut rand_core::OsRng, data);
    STANDARD.encode(sig.as_bytes())
}

/// A trusted root whose only Rekor log is `rekor`.
fn trust_root(rekor: &SigningKey) -> TrustRoot {
    TrustRoot::from_json(trust_root_json(rekor).as_bytes()).unwrap()
}

/// What goes into a hashedrekord entry and its SET.
struct Entry<'a> {
    /// Key whose PEM the body names.
    body_key: &'a SigningKey,
    /// Hash the body names.
    body_hash: Vec<u8>,
    /// Signature the body names (base64).
    body_sig: String,
    /// Key that signs the SET.
    set_key: &'a SigningKey,
    /// Log whose ID the entry names.
    log_key: &'a SigningKey,
}

fn rekor_bundle(e: &Entry) -> String {
    let body = hashedrekord_body(&pem(e.body_key), &e.body_hash, &e.body_sig);
    logged(&body, e.set_key, e.log_key, (LOG_INDEX, INTEGRATED))
}

/// A signature of `payload` carrying the legacy Rekor bundle of `entry`.
fn logged_signature(payload: Vec<u8>, signature: String, entry: &Entry) -> CosignSignature {
    let bundle = rekor_bundle(entry);
    CosignSignature::new(payload, signature, None, None, Some(bundle.as_bytes())).unwrap()
}

/// A policy needing two of the keys `a` and `b`.
fn two_of(a: &SigningKey, b: &SigningKey) -> SignaturePolicy {
    SignaturePolicy::any_of(vec![key_signer(a), key_signer(b)])
        .unwrap()
        .with_threshold(2)
        .unwrap()
}

struct World {
    signer: SigningKey,
    rekor: SigningKey,
    root: TrustRoot,
}

impl World {
    fn new() -> Self {
        let rekor = key();
        World {
            signer: key(),
            root: trust_root(&rekor),
            rekor,
        }
    }

    fn key_policy(&self) -> SignaturePolicy {
        SignaturePolicy::new(key_signer(&self.signer))
    }

    /// The correct Rekor entry for `sig` over `payload` by the signer.
    fn entry(&self, payload: &[u8], sig: &str) -> Entry<'_> {
        Entry {
            body_key: &self.signer,
            body_hash: Sha256::digest(payload).to_vec(),
            body_sig: sig.to_string(),
            set_key: &self.rekor,
            log_key: &self.rekor,
        }
    }

    /// A correct signature of `payload` with a correct Rekor entry.
    fn signature(&self, payload: Vec<u8>) -> CosignSignature {
        let sig = sign(&self.signer, &payload);
        let entry = self.entry(&payload, &sig);
        logged_signature(payload, sig, &entry)
    }

    /// A correct signature of cosign's payload for IMAGE whose Rekor entry
    /// is `alter`ed, verified under the key policy.
    fn verify_logged_as<'a>(
        &'a self,
        alter: impl FnOnce(Entry<'a>) -> Entry<'a>,
    ) -> Result<airlock::trust::VerifiedSignature, TrustError> {
        let p = payload(IMAGE, REPO);
        let sig = sign(&self.signer, &p);
        let entry = alter(self.entry(&p, &sig));
        self.verify(&logged_signature(p, sig, &entry))
    }

    fn verify(
        &self,
        sig: &CosignSignature,
    ) -> Result<airlock::trust::VerifiedSignature, TrustError> {
        verify_cosign_signature(sig, IMAGE, Some(REPO), &self.key_policy(), &self.root)
    }
}

#[test]
fn control_forged_signature_verifies() {
    let w = World::new();
    let v = w.verify(&w.signature(payload(IMAGE, REPO))).unwrap();
    assert_eq!(v.log_index(), Some(LOG_INDEX as u64));
    assert_eq!(v.integrated_time(), Some(INTEGRATED));
    assert_eq!(v.docker_reference(), REPO);
    assert_eq!(v.image_digest(), IMAGE);
}

#[test]
fn signature_over_another_digest_is_refused() {
    let w = World::new();
    let err = w
        .verify(&w.signature(payload(OTHER_IMAGE, REPO)))
        .unwrap_err();
    assert_err!(err, TrustError::DigestMismatch { .. });
}

#[test]
fn docker_reference_mismatch_is_refused() {
    let w = World::new();
    let sig = w.signature(payload(IMAGE, "registry.example.org/team/other"));
    let err = w.verify(&sig).unwrap_err();
    assert_err!(err, TrustError::ReferenceMismatch { .. });
    // With --ignore-reference (None) the same signature is accepted.
    verify_cosign_signature(&sig, IMAGE, None, &w.key_policy(), &w.root).unwrap();
}

#[test]
fn docker_hub_defaults_are_normalised() {
    let w = World::new();
    let sig = w.signature(payload(IMAGE, "index.docker.io/library/alpine"));
    for expected in [
        "alpine",
        "docker.io/alpine:3.20",
        "docker.io/library/alpine@sha256:00",
    ] {
        verify_cosign_signature(&sig, IMAGE, Some(expected), &w.key_policy(), &w.root)
            .unwrap_or_else(|e| panic!("{expected}: {e}"));
    }
    let err = verify_cosign_signature(
        &sig,
        IMAGE,
        Some("ghcr.io/library/alpine"),
        &w.key_policy(),
        &w.root,
    )
    .unwrap_err();
    assert_err!(err, TrustError::ReferenceMismatch { .. });
}

#[test]
fn wrong_key_is_refused() {
    let w = World::new();
    let sig = w.signature(payload(IMAGE, REPO));
    let other = key();
    let policy = SignaturePolicy::new(key_signer(&other));
    let err = verify_cosign_signature(&sig, IMAGE, Some(REPO), &policy, &w.root).unwrap_err();
    // The logged key verifies the signature: it names the signer.
    let want = format!(
        "signed by a key not in the policy: {}; the policy expects {}",
        fingerprint(&w.signer),
        fingerprint(&other)
    );
    assert_eq!(err.to_string(), want);
    assert_eq!(err.kind(), "signature-invalid");
}

fn fingerprint(k: &SigningKey) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(common::forge::spki(k)))
    )
}

#[test]
fn tampered_payload_is_refused() {
    let w = World::new();
    let good = w.signature(payload(IMAGE, REPO));
    // Same signature and Rekor entry, payload changed to another repository.
    let forged = logged_signature(
        payload(IMAGE, "registry.example.org/evil/app"),
        sign(&w.signer, &payload(IMAGE, REPO)),
        &w.entry(good.payload(), &sign(&w.signer, good.payload())),
    );
    let err = verify_cosign_signature(&forged, IMAGE, None, &w.key_policy(), &w.root).unwrap_err();
    // Made by the policy's key, then altered: not a key mismatch.
    assert!(!err.to_string().contains("not in the policy"), "{err}");
}

#[test]
fn key_signature_without_tlog_is_refused_by_default() {
    let w = World::new();
    let p = payload(IMAGE, REPO);
    let sig = CosignSignature::new(p.clone(), sign(&w.signer, &p), None, None, None).unwrap();
    let err = w.verify(&sig).unwrap_err();
    assert_err!(err, TrustError::MissingTlogEntry);
    assert_eq!(err.kind(), "missing-tlog-entry");
}

#[test]
fn key_signature_without_tlog_accepted_only_with_insecure_ignore_tlog() {
    let w = World::new();
    let p = payload(IMAGE, REPO);
    let sig = CosignSignature::new(p.clone(), sign(&w.signer, &p), None, None, None).unwrap();
    let policy = w.key_policy().insecure_ignore_tlog().unwrap();
    let v = verify_cosign_signature(&sig, IMAGE, Some(REPO), &policy, &w.root).unwrap();
    assert!(v.tlog_skipped());
    assert_eq!(v.log_index(), None);
    // The signature itself is still checked.
    let bad = CosignSignature::new(p.clone(), sign(&key(), &p), None, None, None).unwrap();
    let err = verify_cosign_signature(&bad, IMAGE, Some(REPO), &policy, &w.root).unwrap_err();
    // A bare signature names no signer: only the keys it failed under.
    assert_err!(err, TrustError::NotPolicyKey { signer: None, .. });
    assert_eq!(
        err.to_string(),
        format!(
            "signature does not verify under any key in the policy (expected {})",
            fingerprint(&w.signer)
        )
    );
}

#[test]
fn insecure_ignore_tlog_is_refused_for_identity_policies() {
    let policy = SignaturePolicy::new(Signer::Identity(
        IdentityPolicy::new("a@example.com", "https://accounts.google.com").unwrap(),
    ));
    let err = policy.insecure_ignore_tlog().unwrap_err();
    assert_err!(err, TrustError::InvalidPolicy(_));
}

#[test]
fn set_from_key_not_in_trust_root_is_refused() {
    let w = World::new();
    let impostor = key();
    // SET signed by an impostor but naming the trusted log.
    let err = w
        .verify_logged_as(|e| Entry {
            set_key: &impostor,
            ..e
        })
        .unwrap_err();
    assert_err!(err, TrustError::InvalidSet(_));
    // SET signed by, and naming, a log the trust root does not know.
    let err = w
        .verify_logged_as(|e| Entry {
            set_key: &impostor,
            log_key: &impostor,
            ..e
        })
        .unwrap_err();
    assert_err!(
        err,
        TrustError::InvalidSet(_) | TrustError::UnknownLog { .. }
    );
}

#[test]
fn rekor_body_for_other_payload_hash_is_refused() {
    let w = World::new();
    let err = w
        .verify_logged_as(|e| Entry {
            body_hash: Sha256::digest(b"something else").to_vec(),
            ..e
        })
        .unwrap_err();
    assert_err!(
        err,
        TrustError::ArtifactMismatch(_) | TrustError::LogEntryMismatch(_)
    );
}

#[test]
fn rekor_body_for_other_key_is_refused() {
    let w = World::new();
    let other = key();
    let err = w
        .verify_logged_as(|e| Entry {
            body_key: &other,
            ..e
        })
        .unwrap_err();
    assert_err!(err, TrustError::LogEntryMismatch(_));
}

#[test]
fn rekor_body_for_other_signature_is_refused() {
    let w = World::new();
    let p = payload(IMAGE, REPO);
    let err = w
        .verify_logged_as(|e| Entry {
            body_sig: sign_randomized(&w.signer, &p), // another valid signature
            ..e
        })
        .unwrap_err();
    assert_err!(err, TrustError::LogEntryMismatch(_));
}

#[test]
fn malformed_base64_signature_is_refused() {
    let w = World::new();
    let good = w.signature(payload(IMAGE, REPO));
    let bundle = rekor_bundle(&w.entry(good.payload(), "x"));
    let s = CosignSignature::new(
        good.payload().to_vec(),
        "not base64!!",
        None,
        None,
        Some(bundle.as_bytes()),
    )
    .unwrap();
    let err = w.verify(&s).unwrap_err();
    assert_err!(err, TrustError::MalformedBase64 { .. });
}

#[test]
fn malformed_payload_json_is_refused() {
    let w = World::new();
    // Correctly signed and logged, but not JSON.
    let err = w.verify(&w.signature(b"{not json".to_vec())).unwrap_err();
    assert_err!(err, TrustError::MalformedJson { .. });
}

#[test]
fn payload_of_other_type_is_refused() {
    let w = World::new();
    let p = String::from_utf8(payload(IMAGE, REPO)).unwrap().replace(
        "cosign container image signature",
        "atomic container signature",
    );
    let err = w.verify(&w.signature(p.into_bytes())).unwrap_err();
    assert_err!(err, TrustError::PayloadType(_));
}

#[test]
fn malformed_rekor_bundle_json_is_refused() {
    let err = CosignSignature::new(
        b"{}".to_vec(),
        "AA==",
        None,
        None,
        Some(b"{\"SignedEntryTimestamp\":"),
    )
    .unwrap_err();
    assert_err!(err, TrustError::MalformedJson { .. });
}

#[test]
fn malformed_pem_key_is_refused() {
    let err = PublicKey::from_pem(b"-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n")
        .unwrap_err();
    assert_err!(err, TrustError::MalformedPem { .. });
    let err = PublicKey::from_pem(b"hello").unwrap_err();
    assert_err!(err, TrustError::MalformedPem { .. });
}

#[test]
fn malformed_certificate_pem_is_refused() {
    let w = World::new();
    let good = w.signature(payload(IMAGE, REPO));
    let with_cert = CosignSignature::new(
        good.payload().to_vec(),
        sign(&w.signer, good.payload()),
        Some("-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n".into()),
        None,
        None,
    )
    .unwrap();
    let err = w.verify(&with_cert).unwrap_err();
    assert_err!(err, TrustError::MalformedPem { .. });
}

#[test]
fn malformed_bundle_json_is_refused() {
    let w = World::new();
    let policy = key_signer(&w.signer);
    let err =
        verify_bundle(b"{\"mediaType\": ", Artifact::Bytes(b"x"), &policy, &w.root).unwrap_err();
    assert_err!(err, TrustError::MalformedJson { .. });
}

#[test]
fn malformed_digest_is_refused() {
    for bad in [
        "sha256:abc",
        "sha512:00",
        "1111111111111111111111111111111111111111111111111111111111111111",
    ] {
        assert!(
            matches!(
                Artifact::parse_digest(bad),
                Err(TrustError::InvalidDigest(_))
            ),
            "{bad}"
        );
    }
    let w = World::new();
    let err = verify_cosign_signature(
        &w.signature(payload(IMAGE, REPO)),
        "sha256:XYZ",
        None,
        &w.key_policy(),
        &w.root,
    )
    .unwrap_err();
    assert_err!(err, TrustError::InvalidDigest(_));
}

#[test]
fn malformed_trusted_root_is_refused() {
    let err = TrustRoot::from_json(b"{]").unwrap_err();
    assert_err!(
        err,
        TrustError::InvalidTrustRoot(_) | TrustError::MalformedJson { .. }
    );
}

/// cosign `verify-blob --bundle` legacy document: `{base64Signature, cert, rekorBundle}`.
fn legacy_blob(w: &World, blob: &[u8], set_key: &SigningKey) -> String {
    let sig = sign(&w.signer, blob);
    let rekor = rekor_bundle(&Entry {
        set_key,
        ..w.entry(blob, &sig)
    });
    serde_json::json!({
        "base64Signature": sig,
        "cert": "",
        "rekorBundle": serde_json::from_str::<serde_json::Value>(&rekor).unwrap(),
    })
    .to_string()
}

#[test]
fn legacy_blob_bundle_verifies_and_binds_artifact() {
    let w = World::new();
    let policy = key_signer(&w.signer);
    let doc = legacy_blob(&w, b"hello blob", &w.rekor);
    let v = verify_bundle(
        doc.as_bytes(),
        Artifact::Bytes(b"hello blob"),
        &policy,
        &w.root,
    )
    .unwrap();
    assert!(v.is_legacy());
    assert_eq!(v.log_index(), Some(LOG_INDEX as u64));
    assert_eq!(v.integrated_time(), Some(INTEGRATED));
    let err = verify_bundle(
        doc.as_bytes(),
        Artifact::Bytes(b"other blob"),
        &policy,
        &w.root,
    )
    .unwrap_err();
    assert_err!(
        err,
        TrustError::SignatureInvalid(_) | TrustError::ArtifactMismatch(_)
    );
}

#[test]
fn legacy_blob_bundle_with_bad_set_is_refused() {
    let w = World::new();
    let policy = key_signer(&w.signer);
    let doc = legacy_blob(&w, b"hello blob", &key());
    let err = verify_bundle(
        doc.as_bytes(),
        Artifact::Bytes(b"hello blob"),
        &policy,
        &w.root,
    )
    .unwrap_err();
    assert_err!(err, TrustError::InvalidSet(_));
}

#[test]
fn legacy_blob_bundle_through_cli() {
    use common::cli::{assert_code, put, run, s};
    let w = World::new();
    let dir = tempfile::tempdir().unwrap();
    let artifact = put(dir.path(), "blob.txt", b"hello blob");
    let bundle = put(
        dir.path(),
        "blob.bundle",
        legacy_blob(&w, b"hello blob", &w.rekor),
    );
    let key = put(dir.path(), "key.pub", pem(&w.signer));
    let root = put(dir.path(), "root.json", trust_root_json(&w.rekor));
    let verify = |artifact: &std::path::Path, root: &[&str]| {
        let args = [
            &["verify-bundle", "--bundle", s(&bundle), "--key", s(&key)],
            root,
        ]
        .concat();
        run(&[&args[..], &[s(artifact)]].concat())
    };
    let with_root = ["--trusted-root", s(&root)];
    assert_code(&verify(&artifact, &with_root), 0);
    let other = put(dir.path(), "other.txt", b"tampered blob");
    assert_code(&verify(&other, &with_root), 4);
    // Without --trusted-root the production root does not know the test log.
    assert_code(&verify(&artifact, &[]), 4);
}

#[test]
fn threshold_not_met_by_duplicates_of_one_signature() {
    let w = World::new();
    let sig = w.signature(payload(IMAGE, REPO));
    let policy = two_of(&w.signer, &key());
    let copies = vec![sig.clone(), sig.clone(), sig];
    let err = verify_cosign_signatures(&copies, IMAGE, Some(REPO), &policy, &w.root).unwrap_err();
    assert_err!(
        err,
        TrustError::ThresholdNotMet {
            required: 2,
            distinct: 1,
            valid: 3
        }
    );
}

#[test]
fn threshold_met_by_two_distinct_keys() {
    let w = World::new();
    let first = w.signature(payload(IMAGE, REPO));
    // A second signer whose signature is logged in the same test log.
    let w2 = World {
        signer: key(),
        rekor: w.rekor.clone(),
        root: trust_root(&w.rekor),
    };
    let second = w2.signature(payload(IMAGE, REPO));
    let policy = two_of(&w.signer, &w2.signer);
    let v =
        verify_cosign_signatures(&[first, second], IMAGE, Some(REPO), &policy, &w.root).unwrap();
    assert_eq!(v.signatures().len(), 2);
    assert_eq!(v.newest_log_index(), Some(LOG_INDEX as u64));
}

#[test]
fn unsatisfiable_threshold_is_refused_up_front() {
    let w = World::new();
    let err = w.key_policy().with_threshold(2).unwrap_err();
    assert_err!(err, TrustError::InvalidPolicy(_));
    let err = w.key_policy().with_threshold(0).unwrap_err();
    assert_err!(err, TrustError::InvalidPolicy(_));
}

#[test]
fn no_signatures_is_refused() {
    let w = World::new();
    let err =
        verify_cosign_signatures(&[], IMAGE, Some(REPO), &w.key_policy(), &w.root).unwrap_err();
    assert_err!(err, TrustError::NoSignatures);
}

#[test]
fn regexp_is_anchored() {
    use airlock::trust::Matcher;
    let m = Matcher::regexp("https://github\\.com/org/.*").unwrap();
    assert!(m.matches("https://github.com/org/repo"));
    assert!(!m.matches("https://github.com/org2/repo"));
    let prefix = Matcher::regexp("https://github\\.com/org").unwrap();
    assert!(!prefix.matches("https://github.com/org/repo"));
    let alt = Matcher::regexp("a|b").unwrap();
    assert!(
        !alt.matches("ab"),
        "alternation must not escape the anchors"
    );
    assert!(matches!(
        Matcher::regexp("("),
        Err(TrustError::InvalidPolicy(_))
    ));
}

// ---- Rekor inclusion proofs carried next to a legacy signature ----------

/// A two-leaf tree: our entry at index 1, `sibling` at index 0.
fn proof_json(index: u64, size: u64, root: &[u8], hashes: &[Vec<u8>], cp: &str) -> Vec<u8> {
    serde_json::json!({
        "logIndex": index,
        "rootHash": hex::encode(root),
        "treeSize": size,
        "hashes": hashes.iter().map(hex::encode).collect::<Vec<_>>(),
        "checkpoint": cp,
    })
    .to_string()
    .into_bytes()
}

struct Proved {
    sig: CosignSignature,
    body: Vec<u8>,
}

fn logged_with_body(w: &World) -> Proved {
    let p = payload(IMAGE, REPO);
    let s = sign(&w.signer, &p);
    let bundle = rekor_bundle(&w.entry(&p, &s));
    Proved {
        body: body_of(&bundle),
        sig: CosignSignature::new(p, s, None, None, Some(bundle.as_bytes())).unwrap(),
    }
}

fn with_proof(p: &Proved, proof: Vec<u8>) -> CosignSignature {
    p.sig
        .clone()
        .with_inclusion_proof(airlock::trust::RekorInclusionProof::from_json(&proof).unwrap())
        .unwrap()
}

fn proof_policy(w: &World) -> SignaturePolicy {
    w.key_policy().require_inclusion_proof().unwrap()
}

/// `sig` verified under a policy requiring an inclusion proof.
fn verify_proved(
    w: &World,
    sig: &CosignSignature,
) -> Result<airlock::trust::VerifiedSignature, TrustError> {
    verify_cosign_signature(sig, IMAGE, Some(REPO), &proof_policy(w), &w.root)
}

#[test]
fn inclusion_proof_and_checkpoint_verify() {
    let w = World::new();
    let p = logged_with_body(&w);
    let (sibling, root) = two_leaf_tree(&p.body);
    let cp = checkpoint(&w.rekor, &w.rekor, 2, &root);
    let sig = with_proof(&p, proof_json(1, 2, &root, &[sibling], &cp));
    let v = verify_proved(&w, &sig).unwrap();
    assert_eq!(v.log_index(), Some(LOG_INDEX as u64));
}

#[test]
fn required_inclusion_proof_missing_is_refused() {
    let w = World::new();
    let p = logged_with_body(&w);
    let err = verify_proved(&w, &p.sig).unwrap_err();
    assert_err!(err, TrustError::MissingInclusionProof);
    // Without the requirement, the SET alone suffices.
    verify_cosign_signature(&p.sig, IMAGE, Some(REPO), &w.key_policy(), &w.root).unwrap();
}

#[test]
fn inclusion_proof_not_matching_the_sets_entry_is_refused() {
    let w = World::new();
    let p = logged_with_body(&w);
    // A valid proof and checkpoint, but for another entry's body.
    let (sibling, root) = two_leaf_tree(b"some other logged entry");
    let cp = checkpoint(&w.rekor, &w.rekor, 2, &root);
    let sig = with_proof(&p, proof_json(1, 2, &root, &[sibling], &cp));
    let err = verify_proved(&w, &sig).unwrap_err();
    assert_err!(err, TrustError::InclusionProof(_));
}

#[test]
fn checkpoint_signed_by_another_key_is_refused() {
    let w = World::new();
    let p = logged_with_body(&w);
    let (sibling, root) = two_leaf_tree(&p.body);
    // Signed by an impostor that claims the trusted log's key hint.
    let cp = checkpoint(&key(), &w.rekor, 2, &root);
    let sig = with_proof(&p, proof_json(1, 2, &root, &[sibling], &cp));
    let err = verify_proved(&w, &sig).unwrap_err();
    assert_err!(err, TrustError::Checkpoint(_));
}

#[test]
fn checkpoint_root_not_matching_the_proof_is_refused() {
    let w = World::new();
    let p = logged_with_body(&w);
    let (sibling, root) = two_leaf_tree(&p.body);
    // The checkpoint is genuine, but for another tree state.
    let cp = checkpoint(&w.rekor, &w.rekor, 3, &leaf_hash(b"other root"));
    let sig = with_proof(&p, proof_json(1, 2, &root, &[sibling], &cp));
    let err = verify_proved(&w, &sig).unwrap_err();
    assert_err!(
        err,
        TrustError::Checkpoint(_) | TrustError::InvalidBundle(_)
    );
}

#[test]
fn inclusion_proof_with_wrong_tree_size_is_refused() {
    let w = World::new();
    let p = logged_with_body(&w);
    let (sibling, root) = two_leaf_tree(&p.body);
    let cp = checkpoint(&w.rekor, &w.rekor, 2, &root);
    let sig = with_proof(&p, proof_json(1, 3, &root, &[sibling], &cp));
    let err = verify_proved(&w, &sig).unwrap_err();
    assert_err!(
        err,
        TrustError::InclusionProof(_) | TrustError::Checkpoint(_) | TrustError::InvalidBundle(_)
    );
}

#[test]
fn require_inclusion_proof_contradicts_ignore_tlog() {
    let w = World::new();
    let err = w
        .key_policy()
        .insecure_ignore_tlog()
        .unwrap()
        .require_inclusion_proof()
        .unwrap_err();
    assert_err!(err, TrustError::InvalidPolicy(_));
}

// ---- cosign attestations (.att): DSSE + intoto 0.0.2 entry + SET --------

fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    airlock_testkit::cosign::dsse_pae(payload_type, payload)
}

fn statement(subject_digest: &str, predicate_type: &str, predicate: serde_json::Value) -> Vec<u8> {
    serde_json::json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "subject": [{ "name": "registry.example.org/team/app",
                      "digest": { "sha256": subject_digest.trim_start_matches("sha256:") } }],
        "predicateType": predicate_type,
        "predicate": predicate,
    })
    .to_string()
    .into_bytes()
}

/// An attestation over `statement`, signed by `signer`, logged as intoto 0.0.2.
fn attestation(
    w: &World,
    signer: &SigningKey,
    statement: &[u8],
) -> airlock::trust::CosignAttestation {
    let pt = "application/vnd.in-toto+json";
    let sig: DerSignature = signer.sign(&pae(pt, statement));
    let raw_sig = sig.as_bytes().to_vec();
    let envelope = serde_json::json!({
        "payloadType": pt,
        "payload": STANDARD.encode(statement),
        "signatures": [{ "keyid": "", "sig": STANDARD.encode(&raw_sig) }],
    });
    let body = serde_json::json!({
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": { "content": {
            "envelope": {
                "payloadType": pt,
                "signatures": [{
                    "sig": STANDARD.encode(STANDARD.encode(&raw_sig)),
                    "publicKey": STANDARD.encode(pem(signer)),
                }]
            },
            "hash": { "algorithm": "sha256",
                      "value": hex::encode(Sha256::digest(envelope.to_string().as_bytes())) },
            "payloadHash": { "algorithm": "sha256", "value": hex::encode(Sha256::digest(statement)) }
        } }
    });
    let rekor = logged(&body, &w.rekor, &w.rekor, (LOG_INDEX, INTEGRATED));
    airlock::trust::CosignAttestation::new(
        envelope.to_string().as_bytes(),
        None,
        Some(rekor.as_bytes()),
    )
    .unwrap()
}

/// SLSA v0.2 provenance for `subject_digest`, built from
/// github.com/org/app at refs/heads/main.
fn provenance(subject_digest: &str) -> Vec<u8> {
    airlock_testkit::cosign::provenance_statement(
        REPO,
        subject_digest,
        "https://github.com/org/app",
        "refs/heads/main",
    )
}

impl World {
    /// `att` verified for IMAGE under the signer's key.
    fn verify_attestation(
        &self,
        att: &airlock::trust::CosignAttestation,
    ) -> Result<airlock::trust::VerifiedBundle, TrustError> {
        airlock::trust::verify_cosign_attestation(att, IMAGE, &key_signer(&self.signer), &self.root)
    }
}

#[test]
fn attestation_verifies_and_provenance_policy_applies() {
    use airlock::trust::{verify_provenance, ProvenancePolicy};
    let w = World::new();
    let att = attestation(&w, &w.signer, &provenance(IMAGE));
    let v = w.verify_attestation(&att).unwrap();
    assert_eq!(v.log_index(), Some(LOG_INDEX as u64));
    let policy = ProvenancePolicy {
        source_repository: Some("https://github.com/org/app".into()),
        source_ref: Some("main".into()),
        source_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        workflow: Some(".github/workflows/release.yml".into()),
        ..Default::default()
    };
    let p = verify_provenance(&v, &policy).unwrap();
    assert_eq!(p.source_ref(), Some("refs/heads/main"));
    let other_repo = ProvenancePolicy {
        source_repository: Some("https://github.com/org/other".into()),
        ..Default::default()
    };
    let err = verify_provenance(&v, &other_repo).unwrap_err();
    assert_err!(
        err,
        TrustError::ProvenanceMismatch {
            field: "source repository",
            ..
        }
    );
    let other_branch = ProvenancePolicy {
        source_ref: Some("refs/heads/dev".into()),
        ..Default::default()
    };
    let err = verify_provenance(&v, &other_branch).unwrap_err();
    assert_err!(
        err,
        TrustError::ProvenanceMismatch {
            field: "source ref",
            ..
        }
    );
}

#[test]
fn attestation_subject_mismatch_is_refused() {
    let w = World::new();
    let att = attestation(&w, &w.signer, &provenance(OTHER_IMAGE));
    let err = w.verify_attestation(&att).unwrap_err();
    assert_err!(err, TrustError::ArtifactMismatch(_));
}

#[test]
fn attestation_by_other_key_is_refused() {
    let w = World::new();
    let att = attestation(&w, &key(), &provenance(IMAGE));
    let err = w.verify_attestation(&att).unwrap_err();
    assert_err!(
        err,
        TrustError::SignatureInvalid(_) | TrustError::LogEntryMismatch(_)
    );
}

#[test]
fn attestation_without_rekor_entry_is_refused() {
    use airlock::trust::CosignAttestation;
    let w = World::new();
    let st = statement(
        IMAGE,
        "https://slsa.dev/provenance/v0.2",
        serde_json::json!({}),
    );
    let sig: DerSignature = w.signer.sign(&pae("application/vnd.in-toto+json", &st));
    let env = serde_json::json!({ "payloadType": "application/vnd.in-toto+json", "payload": STANDARD.encode(&st),
                                  "signatures": [{ "sig": STANDARD.encode(sig.as_bytes()) }] });
    let att = CosignAttestation::new(env.to_string().as_bytes(), None, None).unwrap();
    let err = w.verify_attestation(&att).unwrap_err();
    assert_err!(err, TrustError::MissingTlogEntry);
}

#[test]
fn malformed_attestation_envelope_is_refused() {
    let err =
        airlock::trust::CosignAttestation::new(b"{\"payloadType\":1}", None, None).unwrap_err();
    assert_err!(err, TrustError::MalformedJson { .. });
}
