//! Pack-time Rekor proofs, end to end: a layout whose cosign `.sig` carries a
//! SET from our Rekor-compatible test server, packed by the `airlock` binary
//! with `--rekor-url` pointing at it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock::model::manifest::{EvidenceRole, RekorProofs};
use airlock::rekor_server::{Log, RekorServer};
use airlock::testkit::{FileEntry, ImageSpec, Layout, Platform};
use airlock::trust::{
    attach_proof_document, verify_cosign_signature, CosignSignature, PublicKey, RekorProofDocument,
    SignaturePolicy, Signer, TrustRoot, REKOR_PROOF_MEDIA_TYPE,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use p256::ecdsa::{signature::Signer as _, DerSignature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const REPO: &str = "registry.example/team/app";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn pem(k: &SigningKey) -> String {
    k.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()
}

struct Signed {
    dir: PathBuf,
    image_digest: String,
    payload: Vec<u8>,
    signature: String,
    set_bundle: String,
}

/// One image plus a cosign `.sig` whose SET comes from `server`: the
/// signature is logged with a real `POST /api/v1/log/entries`.
fn signed_layout(root: &Path, server: &RekorServer, signer: &SigningKey) -> Signed {
    let content = root.display().to_string().into_bytes();
    let mut l = Layout::create(root.join("layout")).unwrap();
    let layer = l
        .add_layer(&[FileEntry::bytes("etc/hello", content, 0o644)])
        .unwrap();
    let img = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
        .unwrap();
    l.tag(&format!("{REPO}:1"), &img);

    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{REPO}"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":null}}"#,
        img.digest
    )
    .into_bytes();
    let sig: DerSignature = signer.sign(&payload);
    let signature = STANDARD.encode(sig.as_bytes());
    let entry = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "signature": { "content": signature, "publicKey": { "content": STANDARD.encode(pem(signer)) } },
            "data": { "hash": { "algorithm": "sha256", "value": hex::encode(Sha256::digest(&payload)) } }
        }
    });
    let mut resp = ureq::post(&format!("{}/api/v1/log/entries", server.url()))
        .send(entry.to_string().as_bytes())
        .unwrap();
    let created: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    let e = created
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    let set_bundle = json!({
        "SignedEntryTimestamp": e["verification"]["signedEntryTimestamp"],
        "Payload": { "body": e["body"], "integratedTime": e["integratedTime"], "logIndex": e["logIndex"], "logID": e["logID"] }
    })
    .to_string();

    let payload_desc = l
        .add_blob("application/vnd.dev.cosign.simplesigning.v1+json", &payload)
        .unwrap();
    let config = l
        .add_blob("application/vnd.oci.image.config.v1+json", b"{}")
        .unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": config.media_type, "digest": config.digest, "size": config.size },
        "layers": [{
            "mediaType": payload_desc.media_type,
            "digest": payload_desc.digest,
            "size": payload_desc.size,
            "annotations": {
                "dev.cosignproject.cosign/signature": signature,
                "dev.sigstore.cosign/bundle": set_bundle,
            }
        }]
    });
    let sig_manifest = l
        .add_blob(OCI_MANIFEST, manifest.to_string().as_bytes())
        .unwrap();
    l.tag(&format!("sha256-{}.sig", img.hex()), &sig_manifest);
    Signed {
        dir: l.finish().unwrap(),
        image_digest: img.digest.clone(),
        payload,
        signature,
        set_bundle,
    }
}

fn start() -> RekorServer {
    RekorServer::start("127.0.0.1:0", Log::generate("rekor.airlock.test").unwrap()).unwrap()
}

fn pack(layout: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(common::airlock_bin())
        .arg("pack")
        .arg("--quiet")
        .arg("--from-oci-layout")
        .arg(layout)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn pack_stores_a_proof_that_verifies_through_trust() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start();
    let signer = SigningKey::random(&mut rand_core::OsRng);
    // Entries before and after ours, so the proof is not trivial.
    let _warmup = signed_layout(&tmp.path().join("warm"), &server, &signer);
    let s = signed_layout(tmp.path(), &server, &signer);
    let _later = signed_layout(&tmp.path().join("later"), &server, &signer);

    let out = tmp.path().join("a.tar");
    let o = pack(&s.dir, &out, &["--rekor-url", &server.url()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("stored 1 Rekor inclusion proof"),
        "{}",
        stderr(&o)
    );

    // Integrity first: the archive verifies as a whole.
    let read = common::verify_file_bytes(&std::fs::read(&out).unwrap()).unwrap();
    let t = read.manifest.transparency.as_ref().unwrap();
    assert_eq!(t.rekor_proofs, RekorProofs::Fetched);
    assert_eq!(t.rekor_url.as_deref(), Some(server.url().as_str()));
    let img = &read.manifest.images[0];
    let proofs: Vec<_> = img
        .evidence
        .iter()
        .filter(|e| e.role == EvidenceRole::RekorProof)
        .collect();
    assert_eq!(proofs.len(), 1);
    assert_eq!(proofs[0].media_type, REKOR_PROOF_MEDIA_TYPE);
    assert_eq!(proofs[0].subject.to_string(), s.image_digest);
    let sig_ev = img
        .evidence
        .iter()
        .find(|e| e.role == EvidenceRole::Signature)
        .unwrap();

    // The proof document binds to the signature and verifies offline.
    let doc = RekorProofDocument::from_json(&read.metadata[&proofs[0].digest]).unwrap();
    assert_eq!(doc.signature_manifest_digest(), sig_ev.digest.to_string());
    assert_eq!(doc.log_index(), 1);
    let sig = CosignSignature::new(
        s.payload.clone(),
        s.signature.clone(),
        None,
        None,
        Some(s.set_bundle.as_bytes()),
    )
    .unwrap();
    let sig = attach_proof_document(sig, &doc).unwrap();
    let policy = SignaturePolicy::new(Signer::Key(
        PublicKey::from_pem(pem(&signer).as_bytes()).unwrap(),
    ))
    .require_inclusion_proof()
    .unwrap();
    let root = TrustRoot::from_json(
        server
            .log()
            .trusted_root(&server.url())
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let v = verify_cosign_signature(&sig, &s.image_digest, Some(REPO), &policy, &root).unwrap();
    assert_eq!(v.log_index(), Some(1));

    // Another log's key does not vouch for the checkpoint or the SET.
    let other = Log::generate("other")
        .unwrap()
        .trusted_root("http://x")
        .to_string();
    let other = TrustRoot::from_json(other.as_bytes()).unwrap();
    assert!(verify_cosign_signature(&sig, &s.image_digest, Some(REPO), &policy, &other).is_err());
}

#[test]
fn rekor_unreachable_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start();
    let signer = SigningKey::random(&mut rand_core::OsRng);
    let s = signed_layout(tmp.path(), &server, &signer);
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = tmp.path().join("a.tar");
    let o = pack(&s.dir, &out, &["--rekor-url", &url]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(&url), "{}", stderr(&o));
    assert!(stderr(&o).contains("unreachable"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn no_rekor_records_that_proofs_were_omitted() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start();
    let signer = SigningKey::random(&mut rand_core::OsRng);
    let s = signed_layout(tmp.path(), &server, &signer);
    let out = tmp.path().join("a.tar");
    // The server is gone: --no-rekor must not need it.
    drop(server);
    let o = pack(&s.dir, &out, &["--no-rekor"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("--no-rekor"), "{}", stderr(&o));
    let read = common::verify_file_bytes(&std::fs::read(&out).unwrap()).unwrap();
    let t = read.manifest.transparency.as_ref().unwrap();
    assert_eq!(t.rekor_proofs, RekorProofs::Omitted);
    assert_eq!(t.rekor_url, None);
    assert!(read.manifest.images[0]
        .evidence
        .iter()
        .all(|e| e.role != EvidenceRole::RekorProof));
    let raw: Value = serde_json::from_slice(&read_airlock_json(&out)).unwrap();
    assert_eq!(raw["transparency"]["rekorProofs"], "omitted");
}

#[test]
fn no_rekor_conflicts_with_rekor_url() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = common::small_layout(tmp.path());
    let o = pack(
        &layout,
        &tmp.path().join("a.tar"),
        &["--no-rekor", "--rekor-url", "http://127.0.0.1:1"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn unsigned_images_need_no_proofs_and_contact_no_log() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = common::small_layout(tmp.path());
    let out = tmp.path().join("a.tar");
    // An unreachable URL proves nothing was fetched.
    let o = pack(&layout, &out, &["--rekor-url", "http://127.0.0.1:1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let raw: Value = serde_json::from_slice(&read_airlock_json(&out)).unwrap();
    assert_eq!(raw["transparency"], json!({ "rekorProofs": "none-needed" }));
}

#[test]
fn log_serving_another_body_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start();
    let signer = SigningKey::random(&mut rand_core::OsRng);
    let s = signed_layout(tmp.path(), &server, &signer);
    server.log().override_served_body(
        0,
        br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}"#.to_vec(),
    );
    let out = tmp.path().join("a.tar");
    let o = pack(&s.dir, &out, &["--rekor-url", &server.url()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("body differs"), "{}", stderr(&o));
    assert!(stderr(&o).contains(&server.url()), "{}", stderr(&o));
    assert!(!out.exists());
}

/// `airlock.json` straight from the tar.
fn read_airlock_json(archive: &Path) -> Vec<u8> {
    let es = common::entries(&std::fs::read(archive).unwrap());
    es.into_iter()
        .find(|e| e.name == "airlock.json")
        .unwrap()
        .data
}

#[test]
fn inspect_reports_transparency() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start();
    let signer = SigningKey::random(&mut rand_core::OsRng);
    let s = signed_layout(tmp.path(), &server, &signer);
    let out = tmp.path().join("a.tar");
    assert!(pack(&s.dir, &out, &["--rekor-url", &server.url()])
        .status
        .success());
    let o = Command::new(common::airlock_bin())
        .arg("inspect")
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!(
            "Rekor inclusion proofs: fetched from {}",
            server.url()
        )),
        "{text}"
    );
    let o = Command::new(common::airlock_bin())
        .args(["--output", "json", "inspect"])
        .arg(&out)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["archive"]["transparency"]["rekorProofs"], "fetched");
    assert!(
        v["images"][0]["evidence"]
            .to_string()
            .contains("rekor-proof"),
        "{v}"
    );
}

/// A signature on the index covers both platforms: one proof document,
/// listed as evidence of both images, and the archive still verifies.
#[test]
fn index_signature_proof_is_shared_by_its_platforms() {
    use airlock::pipeline::{self, PackRequest};
    use airlock::source::rekor::{attach_rekor_proofs, RekorClient};
    let tmp = tempfile::tempdir().unwrap();
    let server = start();
    let signer = SigningKey::random(&mut rand_core::OsRng);
    let mut l = Layout::create(tmp.path().join("layout")).unwrap();
    let mut plats = Vec::new();
    for arch in ["amd64", "arm64"] {
        let layer = l
            .add_layer(&[FileEntry::bytes("arch", arch.as_bytes().to_vec(), 0o644)])
            .unwrap();
        let p = Platform::linux(arch);
        let m = l.add_image(&ImageSpec::new(p.clone()), &[layer]).unwrap();
        plats.push((m, p));
    }
    let index = l.add_index(&plats).unwrap();
    l.tag(&format!("{REPO}:multi"), &index);
    // Reuse the single-image helper's signing steps for the index digest.
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{REPO}"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":null}}"#,
        index.digest
    )
    .into_bytes();
    let sig: DerSignature = signer.sign(&payload);
    let signature = STANDARD.encode(sig.as_bytes());
    let entry = json!({
        "apiVersion": "0.0.1", "kind": "hashedrekord",
        "spec": {
            "signature": { "content": signature, "publicKey": { "content": STANDARD.encode(pem(&signer)) } },
            "data": { "hash": { "algorithm": "sha256", "value": hex::encode(Sha256::digest(&payload)) } }
        }
    });
    let mut resp = ureq::post(&format!("{}/api/v1/log/entries", server.url()))
        .send(entry.to_string().as_bytes())
        .unwrap();
    let created: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    let e = created
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    let set_bundle = json!({
        "SignedEntryTimestamp": e["verification"]["signedEntryTimestamp"],
        "Payload": { "body": e["body"], "integratedTime": e["integratedTime"], "logIndex": e["logIndex"], "logID": e["logID"] }
    })
    .to_string();
    let pd = l
        .add_blob("application/vnd.dev.cosign.simplesigning.v1+json", &payload)
        .unwrap();
    let cfg = l
        .add_blob("application/vnd.oci.image.config.v1+json", b"{}")
        .unwrap();
    let manifest = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": { "mediaType": cfg.media_type, "digest": cfg.digest, "size": cfg.size },
        "layers": [{ "mediaType": pd.media_type, "digest": pd.digest, "size": pd.size,
            "annotations": { "dev.cosignproject.cosign/signature": signature, "dev.sigstore.cosign/bundle": set_bundle } }]
    });
    let sm = l
        .add_blob(OCI_MANIFEST, manifest.to_string().as_bytes())
        .unwrap();
    l.tag(&format!("sha256-{}.sig", index.hex()), &sm);
    let dir = l.finish().unwrap();

    let req = PackRequest {
        layouts: vec![dir],
        refs: vec![],
        images: vec![],
        registry: Default::default(),
        platforms: Default::default(),
        output: tmp.path().join("a.tar"),
        zstd: false,
        trust: Default::default(),
    };
    let mut set = pipeline::resolve(&req).unwrap();
    let client = RekorClient::new(&server.url()).unwrap();
    let summary = attach_rekor_proofs(&mut set, &client).unwrap();
    assert_eq!((summary.signatures, summary.proofs), (1, 1));
    pipeline::pack(&req, &set, &indicatif::ProgressBar::hidden()).unwrap();
    let read = common::verify_file_bytes(&std::fs::read(&req.output).unwrap()).unwrap();
    assert_eq!(read.manifest.images.len(), 2);
    let proof_of = |i: usize| {
        read.manifest.images[i]
            .evidence
            .iter()
            .find(|e| e.role == EvidenceRole::RekorProof)
            .cloned()
            .unwrap()
    };
    assert_eq!(proof_of(0), proof_of(1));
    assert_eq!(proof_of(0).subject.to_string(), index.digest);
}

/// The whole chain through the CLI: pack fetches the proof, and `verify`
/// with a key policy binds it to the signature and requires it.
#[test]
fn packed_proof_satisfies_verify_require_inclusion_proof() {
    let server = start();
    let tmp = tempfile::tempdir().unwrap();
    let signer = SigningKey::random(&mut rand_core::OsRng);
    let s = signed_layout(tmp.path(), &server, &signer);
    let out = tmp.path().join("a.tar");
    let o = pack(&s.dir, &out, &["--rekor-url", &server.url()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let key = tmp.path().join("key.pub");
    std::fs::write(&key, pem(&signer)).unwrap();
    let root = tmp.path().join("trusted_root.json");
    std::fs::write(&root, server.log().trusted_root(&server.url()).to_string()).unwrap();
    let verify = |extra: &[&str], archive: &Path| {
        Command::new(common::airlock_bin())
            .args(["verify", "--quiet", "--key"])
            .arg(&key)
            .arg("--trusted-root")
            .arg(&root)
            .arg("--state-dir")
            .arg(tmp.path().join("state"))
            .args(extra)
            .arg(archive)
            .output()
            .unwrap()
    };
    let o = verify(&["--require-inclusion-proof"], &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // The same image packed without proofs does not meet the requirement.
    let bare = tmp.path().join("bare.tar");
    assert!(pack(&s.dir, &bare, &["--no-rekor"]).status.success());
    let o = verify(&["--require-inclusion-proof"], &bare);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
}

#[test]
fn archive_manifest_with_proofs_matches_schema() {
    let server = start();
    let tmp = tempfile::tempdir().unwrap();
    let signer = SigningKey::random(&mut rand_core::OsRng);
    let s = signed_layout(tmp.path(), &server, &signer);
    let out = tmp.path().join("a.tar");
    assert!(pack(&s.dir, &out, &["--rekor-url", &server.url()])
        .status
        .success());
    let schema: Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/archive-manifest.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let doc: Value = serde_json::from_slice(&read_airlock_json(&out)).unwrap();
    assert_eq!(doc["transparency"]["rekorProofs"], "fetched");
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}
