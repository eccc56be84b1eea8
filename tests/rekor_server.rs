//! The Rekor-compatible test server: its tree and proofs checked by an
//! independent verifier (sigstore-merkle), its HTTP API exercised as a Rekor
//! client would, and what it logs verified through airlock's own trust code.

mod common;

use airlock::trust::{
    verify_bundle, verify_cosign_signature, Artifact, CosignSignature, RekorInclusionProof,
    RekorProofDocument, SignaturePolicy, TrustError, TrustRoot,
};
use airlock_testkit::rekor_server::{merkle, Log};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::forge::{key, key_signer};
use common::rekor::{hashedrekord, only, set_bundle, start, trust_root, Client};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePublicKey as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sigstore_types::Sha256Hash;

fn h(b: &[u8; 32]) -> Sha256Hash {
    Sha256Hash::new(*b)
}

#[test]
fn inclusion_proofs_for_sizes_1_to_20_verify_independently() {
    let leaves: Vec<merkle::Hash> = (0u32..20)
        .map(|i| merkle::leaf_hash(format!("entry {i}").as_bytes()))
        .collect();
    for n in 1..=20 {
        let tree = &leaves[..n];
        let root = merkle::root(tree);
        for m in 0..n {
            let path = merkle::inclusion_path(m, tree).unwrap();
            let hashes: Vec<Sha256Hash> = path.iter().map(h).collect();
            sigstore_merkle::verify_inclusion_proof(
                &h(&tree[m]),
                m as u64,
                n as u64,
                &hashes,
                &h(&root),
            )
            .unwrap_or_else(|e| panic!("leaf {m} of {n}: {e}"));
            // The same proof must not verify another leaf.
            let other = merkle::leaf_hash(b"not in the tree");
            assert!(sigstore_merkle::verify_inclusion_proof(
                &h(&other),
                m as u64,
                n as u64,
                &hashes,
                &h(&root)
            )
            .is_err());
        }
    }
}

#[test]
fn consistency_proofs_for_sizes_1_to_20_verify_independently() {
    let leaves: Vec<merkle::Hash> = (0u32..20)
        .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
        .collect();
    for n in 1..=20 {
        for m in 1..=n {
            let proof = merkle::consistency_proof(m, &leaves[..n]).unwrap();
            let hashes: Vec<Sha256Hash> = proof.iter().map(h).collect();
            sigstore_merkle::verify_consistency_proof(
                m as u64,
                n as u64,
                &hashes,
                &h(&merkle::root(&leaves[..m])),
                &h(&merkle::root(&leaves[..n])),
            )
            .unwrap_or_else(|e| panic!("{m} -> {n}: {e}"));
        }
    }
}

// ---- over HTTP ---------------------------------------------------------

/// A signature over `payload` logged in the test log, as cosign carries it
/// (with the SET bundle); and the entry the log returned.
fn logged_signature(c: &Client, signer: &SigningKey, payload: &[u8]) -> (CosignSignature, Value) {
    let (sig_b64, e) = c.log(signer, payload);
    let bundle = set_bundle(&e);
    let sig = CosignSignature::new(
        payload.to_vec(),
        sig_b64,
        None,
        None,
        Some(bundle.as_bytes()),
    )
    .unwrap();
    (sig, e)
}

/// A proof document (as `airlock pack` stores it) for log index `index`
/// naming `body` integrated at `time`, with the log ID and inclusion proof
/// of the logged entry `log`, and the SET `set`.
fn proof_doc(index: i64, body: &Value, time: &Value, log: &Value, set: &str) -> RekorProofDocument {
    let proof = log["verification"]["inclusionProof"].to_string();
    RekorProofDocument::new(
        "sha256:aa".into(),
        "sha256:bb".into(),
        index,
        log["logID"].as_str().unwrap().into(),
        body.as_str().unwrap().into(),
        time.as_i64().unwrap(),
        RekorInclusionProof::from_json(proof.as_bytes()).unwrap(),
        set.into(),
    )
}

/// A Sigstore bundle v0.3 (message signature, public-key hint) built from a
/// Rekor API entry, as cosign/sigstore-go build them.
fn bundle_v03(entry: &Value, blob: &[u8], sig_b64: &str) -> Vec<u8> {
    let p = &entry["verification"]["inclusionProof"];
    let b64 = |hex_str: &str| STANDARD.encode(hex::decode(hex_str).unwrap());
    json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "publicKey": { "hint": "test" },
            "tlogEntries": [{
                "logIndex": entry["logIndex"].to_string(),
                "logId": { "keyId": b64(entry["logID"].as_str().unwrap()) },
                "kindVersion": { "kind": "hashedrekord", "version": "0.0.1" },
                "integratedTime": entry["integratedTime"].to_string(),
                "inclusionPromise": { "signedEntryTimestamp": entry["verification"]["signedEntryTimestamp"] },
                "inclusionProof": {
                    "logIndex": p["logIndex"].to_string(),
                    "rootHash": b64(p["rootHash"].as_str().unwrap()),
                    "treeSize": p["treeSize"].to_string(),
                    "hashes": p["hashes"].as_array().unwrap().iter().map(|x| b64(x.as_str().unwrap())).collect::<Vec<_>>(),
                    "checkpoint": { "envelope": p["checkpoint"] }
                },
                "canonicalizedBody": entry["body"]
            }]
        },
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": STANDARD.encode(Sha256::digest(blob)) },
            "signature": sig_b64
        }
    })
    .to_string()
    .into_bytes()
}

#[test]
fn logged_hashedrekord_verifies_as_a_v03_bundle_through_trust() {
    let server = start();
    let c = Client::new(&server);
    let signer = key();
    let policy = key_signer(&signer);
    let root = trust_root(&server);
    // Several entries, so proofs have siblings on both sides.
    let mut logged = Vec::new();
    for i in 0..5u8 {
        let blob = vec![i; 100];
        let (entry, sig) = hashedrekord(&signer, &blob);
        let (status, created) = c.post("/api/v1/log/entries", &entry);
        assert_eq!(status, 201, "{created}");
        logged.push((blob, sig, only(&created).0));
    }
    for (i, (blob, sig, uuid)) in logged.iter().enumerate() {
        let (status, by_index) = c.get(&format!("/api/v1/log/entries?logIndex={i}"));
        assert_eq!(status, 200);
        let (status, by_uuid) = c.get(&format!("/api/v1/log/entries/{uuid}"));
        assert_eq!(status, 200);
        assert_eq!(only(&by_index), only(&by_uuid));
        let (_, entry) = only(&by_index);
        assert_eq!(entry["verification"]["inclusionProof"]["treeSize"], 5);
        let bundle = bundle_v03(&entry, blob, sig);
        let v = verify_bundle(&bundle, Artifact::Bytes(blob), &policy, &root).unwrap();
        assert_eq!(v.log_index(), Some(i as u64));
        assert!(v.tlog_verified());
        // Bound to the artifact.
        assert!(verify_bundle(&bundle, Artifact::Bytes(b"other"), &policy, &root).is_err());
    }
    // A trust root with another Rekor key refuses the same bundle.
    let (_, entry) = only(&c.get("/api/v1/log/entries?logIndex=0").1);
    let other = Log::generate("x")
        .unwrap()
        .trusted_root("http://x")
        .to_string();
    let other = TrustRoot::from_json(other.as_bytes()).unwrap();
    let bundle = bundle_v03(&entry, &logged[0].0, &logged[0].1);
    assert!(verify_bundle(&bundle, Artifact::Bytes(&logged[0].0), &policy, &other).is_err());
}

#[test]
fn cosign_legacy_signature_with_fetched_proof_verifies() {
    let server = start();
    let c = Client::new(&server);
    let signer = key();
    let payload = br#"{"critical":{"identity":{"docker-reference":"registry.example/app"},"image":{"docker-manifest-digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"},"type":"cosign container image signature"},"optional":null}"#;
    c.post(
        "/api/v1/log/entries",
        &hashedrekord(&signer, b"earlier entry").0,
    );
    // With what cosign puts in the dev.sigstore.cosign/bundle annotation.
    let (sig, _) = logged_signature(&c, &signer, payload);
    // Later: the log grew; the proof is fetched then.
    c.post(
        "/api/v1/log/entries",
        &hashedrekord(&signer, b"later entry").0,
    );
    let (_, fetched) = only(&c.get("/api/v1/log/entries?logIndex=1").1);
    let doc = proof_doc(
        1,
        &fetched["body"],
        &fetched["integratedTime"],
        &fetched,
        fetched["verification"]["signedEntryTimestamp"]
            .as_str()
            .unwrap(),
    );
    let doc = RekorProofDocument::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap();
    let policy = SignaturePolicy::new(key_signer(&signer))
        .require_inclusion_proof()
        .unwrap();
    let root = trust_root(&server);
    let digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let with = sig.clone().attach_proof_document(&doc).unwrap();
    let v = verify_cosign_signature(&with, digest, None, &policy, &root).unwrap();
    assert_eq!(v.log_index(), Some(1));
    // Without the proof, the policy refuses.
    let err = verify_cosign_signature(&sig, digest, None, &policy, &root).unwrap_err();
    assert!(matches!(err, TrustError::MissingInclusionProof), "{err}");
}

#[test]
fn proof_document_for_another_entry_does_not_bind() {
    let server = start();
    let c = Client::new(&server);
    let signer = key();
    let (sig, e) = logged_signature(&c, &signer, b"{}");
    let (_, other) = c.log(&signer, b"other");
    let doc =
        |index: i64, body: &Value| proof_doc(index, body, &e["integratedTime"], &other, "AA==");
    // Other entry's body under our index, and our body under the other index.
    assert!(matches!(
        sig.clone().attach_proof_document(&doc(0, &other["body"])),
        Err(TrustError::InclusionProof(_))
    ));
    assert!(matches!(
        sig.attach_proof_document(&doc(1, &e["body"])),
        Err(TrustError::InclusionProof(_))
    ));
}

#[test]
fn log_info_and_consistency_proof_agree() {
    let server = start();
    let c = Client::new(&server);
    let signer = key();
    for i in 0..7u8 {
        assert_eq!(
            c.post("/api/v1/log/entries", &hashedrekord(&signer, &[i]).0)
                .0,
            201
        );
    }
    let (status, info) = c.get("/api/v1/log");
    assert_eq!(status, 200);
    assert_eq!(info["treeSize"], 7);
    let sth = info["signedTreeHead"].as_str().unwrap();
    let cp = sigstore_types::Checkpoint::from_text(sth).unwrap();
    assert_eq!(cp.tree_size(), 7);
    assert_eq!(cp.root_hash().to_hex(), info["rootHash"].as_str().unwrap());
    assert!(cp.origin().starts_with("rekor.airlock.test - "));
    let (status, proof) = c.get("/api/v1/log/proof?firstSize=3&lastSize=7");
    assert_eq!(status, 200);
    assert_eq!(proof["rootHash"], info["rootHash"]);
    let hashes: Vec<Sha256Hash> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| Sha256Hash::from_hex(x.as_str().unwrap()).unwrap())
        .collect();
    let leaves: Vec<merkle::Hash> = (0..3)
        .map(|i| {
            let (_, e) = only(&c.get(&format!("/api/v1/log/entries?logIndex={i}")).1);
            merkle::leaf_hash(&STANDARD.decode(e["body"].as_str().unwrap()).unwrap())
        })
        .collect();
    sigstore_merkle::verify_consistency_proof(
        3,
        7,
        &hashes,
        &h(&merkle::root(&leaves)),
        &Sha256Hash::from_hex(info["rootHash"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(c.get("/api/v1/log/proof?firstSize=3&lastSize=9").0, 400);
}

#[test]
fn search_endpoints_find_entries() {
    let server = start();
    let c = Client::new(&server);
    let signer = key();
    let (_, created) = c.post("/api/v1/log/entries", &hashedrekord(&signer, b"findme").0);
    let (uuid, _) = only(&created);
    assert_eq!(uuid.len(), 80);
    let (status, list) = c.post(
        "/api/v1/log/entries/retrieve",
        &json!({ "entryUUIDs": [uuid], "logIndexes": [0, 5] }),
    );
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (_, uuids) = c.post(
        "/api/v1/index/retrieve",
        &json!({ "hash": format!("sha256:{}", hex::encode(Sha256::digest(b"findme"))) }),
    );
    assert_eq!(uuids, json!([uuid]));
    // The short (tree-less) UUID works too.
    assert_eq!(
        c.get(&format!("/api/v1/log/entries/{}", &uuid[16..])).0,
        200
    );
}

#[test]
fn bad_entries_are_refused() {
    let server = start();
    let c = Client::new(&server);
    let signer = key();
    let (mut entry, _) = hashedrekord(&signer, b"blob");
    // Signature over another hash.
    entry["spec"]["data"]["hash"]["value"] = json!(hex::encode(Sha256::digest(b"other")));
    let (status, body) = c.post("/api/v1/log/entries", &entry);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], 400);
    let (status, _) = c.post(
        "/api/v1/log/entries",
        &json!({ "kind": "rekord", "apiVersion": "0.0.1", "spec": {} }),
    );
    assert_eq!(status, 400);
    let (status, _) = c.post("/api/v1/log/entries", &json!("not an entry"));
    assert_eq!(status, 400);
    // A duplicate is a conflict, not a second entry.
    let (good, _) = hashedrekord(&signer, b"blob");
    assert_eq!(c.post("/api/v1/log/entries", &good).0, 201);
    assert_eq!(c.post("/api/v1/log/entries", &good).0, 409);
    assert_eq!(c.get("/api/v1/log").1["treeSize"], 1);
    assert_eq!(c.get("/api/v1/log/entries?logIndex=1").0, 404);
    assert_eq!(c.get("/api/v1/log/entries?logIndex=x").0, 400);
    assert_eq!(c.get("/api/v1/nope").0, 404);
}

#[test]
fn canonical_body_is_what_is_logged() {
    let server = start();
    let c = Client::new(&server);
    let signer = key();
    let (mut entry, _) = hashedrekord(&signer, b"x");
    entry["spec"]["extra"] = json!("dropped");
    let (_, e) = only(&c.post("/api/v1/log/entries", &entry).1);
    let body: Value =
        serde_json::from_slice(&STANDARD.decode(e["body"].as_str().unwrap()).unwrap()).unwrap();
    assert!(body["spec"].get("extra").is_none());
    assert_eq!(body["kind"], "hashedrekord");
    // SET over canonical {body, integratedTime, logID, logIndex}, by the log key.
    let set_payload = json!({ "body": e["body"], "integratedTime": e["integratedTime"], "logID": e["logID"], "logIndex": e["logIndex"] });
    let canonical = serde_json_canonicalizer::to_vec(&set_payload).unwrap();
    let spki = server.log().public_key_der().to_vec();
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    let vk = p256::ecdsa::VerifyingKey::from_public_key_der(&spki).unwrap();
    let sig = p256::ecdsa::DerSignature::from_bytes(
        &STANDARD
            .decode(e["verification"]["signedEntryTimestamp"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    vk.verify(&canonical, &sig).unwrap();
    assert_eq!(
        e["logID"].as_str().unwrap(),
        hex::encode(Sha256::digest(&spki))
    );
}

#[test]
fn pack_time_structure_check_refuses_inconsistent_proofs() {
    let server = start();
    let c = Client::new(&server);
    let signer = key();
    for i in 0..3u8 {
        c.post("/api/v1/log/entries", &hashedrekord(&signer, &[i]).0);
    }
    let (_, e) = only(&c.get("/api/v1/log/entries?logIndex=1").1);
    let body = STANDARD.decode(e["body"].as_str().unwrap()).unwrap();
    let proof = &e["verification"]["inclusionProof"];
    let parse = |v: &Value| RekorInclusionProof::from_json(v.to_string().as_bytes()).unwrap();
    parse(proof).check_structure(&body).unwrap();
    // Another body.
    assert!(parse(proof).check_structure(b"other").is_err());
    // A tampered path hash.
    let mut bad = proof.clone();
    bad["hashes"][0] = json!(hex::encode([7u8; 32]));
    assert!(parse(&bad).check_structure(&body).is_err());
    // A checkpoint for another tree (size 2) next to the size-3 proof.
    let mut bad = proof.clone();
    bad["checkpoint"] = json!(server.log().checkpoint(2));
    assert!(parse(&bad).check_structure(&body).is_err());
    // Leaf index outside the tree.
    let mut bad = proof.clone();
    bad["logIndex"] = json!(3);
    assert!(parse(&bad).check_structure(&body).is_err());
}

/// The `airlock-test-rekor` binary: prints its address, serves the API, and
/// its printed trusted root names the key it signs with.
#[test]
fn binary_serves_and_prints_its_trusted_root() {
    use std::io::BufRead as _;
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let bin = airlock_testkit::bin_path("airlock-test-rekor");
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("log.pem");
    assert!(std::process::Command::new(&bin)
        .arg("--generate-key")
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let printed = std::process::Command::new(&bin)
        .args(["--print-trusted-root", "--url", "http://127.0.0.1"])
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    assert!(printed.status.success());
    let root_json: Value = serde_json::from_slice(&printed.stdout).unwrap();
    let mut child = Kill(
        std::process::Command::new(&bin)
            .args(["--listen", "127.0.0.1:0"])
            .arg("--key")
            .arg(&key)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = format!("http://{}", line.trim());
    let mut r = ureq::get(&format!("{base}/api/v1/log/publicKey"))
        .call()
        .unwrap();
    let pem = r.body_mut().read_to_string().unwrap();
    use p256::pkcs8::DecodePublicKey as _;
    let der = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem)
        .unwrap()
        .to_public_key_der()
        .unwrap();
    assert_eq!(
        root_json["tlogs"][0]["publicKey"]["rawBytes"],
        json!(STANDARD.encode(der.as_bytes()))
    );
    assert_eq!(
        root_json["tlogs"][0]["logId"]["keyId"],
        json!(STANDARD.encode(Sha256::digest(der.as_bytes())))
    );
    TrustRoot::from_json(root_json.to_string().as_bytes()).unwrap();
    let mut r = ureq::get(&format!("{base}/api/v1/log")).call().unwrap();
    let info: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(info["treeSize"], 0);
}
