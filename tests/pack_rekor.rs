//! Pack-time Rekor proofs, end to end: a layout whose cosign `.sig` carries a
//! SET from our Rekor-compatible test server, packed by the `airlock` binary
//! with `--rekor-url` pointing at it.

mod common;

use std::path::{Path, PathBuf};

use airlock::model::manifest::{EvidenceRole, RekorProofs};
use airlock::trust::{
    verify_cosign_signature, CosignSignature, RekorProofDocument, SignaturePolicy, TrustRoot,
    REKOR_PROOF_MEDIA_TYPE,
};
use airlock_testkit::rekor_server::{Log, RekorServer};
use airlock_testkit::{Descriptor, FileEntry, ImageSpec, Layout, Platform};
use common::cli::{self, assert_code, ok, s, Run};
use common::forge::{self, key_signer, SigLayer};
use common::rekor::{self, Client};
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};

const REPO: &str = "registry.example/team/app";

struct Signed {
    dir: PathBuf,
    image_digest: String,
    sig: SigLayer,
}

/// cosign's simple-signing payload for `digest` in REPO, as cosign writes it.
fn payload(digest: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{REPO}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

/// Signs `subject` as cosign does and logs the signature in `server` with a
/// real `POST /api/v1/log/entries`; the `.sig` (with the SET the log
/// returned) is added to `l` under `sha256-<hex>.sig`.
fn sign_logged(
    l: &mut Layout,
    server: &RekorServer,
    signer: &SigningKey,
    subject: &Descriptor,
) -> SigLayer {
    let payload = payload(&subject.digest);
    let (signature, entry) = Client::new(server).log(signer, &payload);
    let sig = SigLayer {
        payload,
        signature,
        bundle: Some(rekor::set_bundle(&entry)),
        certificate: None,
        chain: None,
    };
    forge::add_sig_manifest(l, &subject.digest, std::slice::from_ref(&sig));
    sig
}

/// One image plus a cosign `.sig` whose SET comes from `server`.
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
    let sig = sign_logged(&mut l, server, signer, &img);
    Signed {
        dir: l.finish().unwrap(),
        image_digest: img.digest.clone(),
        sig,
    }
}

/// A temporary directory, a running test log, and a layout in the
/// directory signed with `signer` and logged in that log.
struct Logged {
    tmp: tempfile::TempDir,
    server: RekorServer,
    signer: SigningKey,
    s: Signed,
}

impl Logged {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let server = rekor::start();
        let signer = forge::key();
        let s = signed_layout(tmp.path(), &server, &signer);
        Logged {
            tmp,
            server,
            signer,
            s,
        }
    }

    /// `airlock pack --quiet` of the signed layout into `name` with `extra`.
    fn pack(&self, name: &str, extra: &[&str]) -> (Run, PathBuf) {
        pack(&self.s.dir, &self.tmp.path().join(name), extra)
    }

    /// The same, fetching proofs from the test log.
    fn pack_fetching(&self, name: &str) -> (Run, PathBuf) {
        self.pack(name, &["--rekor-url", &self.server.url()])
    }
}

fn pack(layout: &Path, out: &Path, extra: &[&str]) -> (Run, PathBuf) {
    let r = cli::pack(layout, out, &["--quiet"]).args(extra).run();
    (r, out.to_path_buf())
}

#[test]
fn pack_stores_a_proof_that_verifies_through_trust() {
    let tmp = tempfile::tempdir().unwrap();
    let server = rekor::start();
    let signer = forge::key();
    // Entries before and after ours, so the proof is not trivial.
    let _warmup = signed_layout(&tmp.path().join("warm"), &server, &signer);
    let s = signed_layout(tmp.path(), &server, &signer);
    let _later = signed_layout(&tmp.path().join("later"), &server, &signer);

    let (o, out) = pack(
        &s.dir,
        &tmp.path().join("a.tar"),
        &["--rekor-url", &server.url()],
    );
    let err = ok(&o);
    assert!(err.contains("stored 1 Rekor inclusion proof"), "{err}");

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
        s.sig.payload.clone(),
        s.sig.signature.clone(),
        None,
        None,
        s.sig.bundle.as_deref().map(str::as_bytes),
    )
    .unwrap();
    let sig = sig.attach_proof_document(&doc).unwrap();
    let policy = SignaturePolicy::new(key_signer(&signer))
        .require_inclusion_proof()
        .unwrap();
    let root = rekor::trust_root(&server);
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
    let l = Logged::new();
    // A port nothing listens on.
    let url = format!("http://127.0.0.1:{}", common::registry::free_port());
    let (o, out) = l.pack("a.tar", &["--rekor-url", &url]);
    let err = cli::failed(&o, 1);
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("unreachable"), "{err}");
    assert!(!out.exists());
}

#[test]
fn no_rekor_records_that_proofs_were_omitted() {
    let l = Logged::new();
    let out = l.tmp.path().join("a.tar");
    // The server is gone: --no-rekor must not need it.
    drop(l.server);
    let (o, out) = pack(&l.s.dir, &out, &["--no-rekor"]);
    let err = ok(&o);
    assert!(err.contains("--no-rekor"), "{err}");
    let read = common::verify_file_bytes(&std::fs::read(&out).unwrap()).unwrap();
    let t = read.manifest.transparency.as_ref().unwrap();
    assert_eq!(t.rekor_proofs, RekorProofs::Omitted);
    assert_eq!(t.rekor_url, None);
    assert!(read.manifest.images[0]
        .evidence
        .iter()
        .all(|e| e.role != EvidenceRole::RekorProof));
    let raw = common::archive_json(&out);
    assert_eq!(raw["transparency"]["rekorProofs"], "omitted");
}

#[test]
fn no_rekor_conflicts_with_rekor_url() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = common::small_layout(tmp.path());
    let (o, _) = pack(
        &layout,
        &tmp.path().join("a.tar"),
        &["--no-rekor", "--rekor-url", "http://127.0.0.1:1"],
    );
    assert_code(&o, 2);
}

#[test]
fn unsigned_images_need_no_proofs_and_contact_no_log() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = common::small_layout(tmp.path());
    // An unreachable URL proves nothing was fetched.
    let (o, out) = pack(
        &layout,
        &tmp.path().join("a.tar"),
        &["--rekor-url", "http://127.0.0.1:1"],
    );
    ok(&o);
    let raw = common::archive_json(&out);
    assert_eq!(raw["transparency"], json!({ "rekorProofs": "none-needed" }));
}

#[test]
fn log_serving_another_body_is_refused() {
    let l = Logged::new();
    l.server.log().override_served_body(
        0,
        br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}"#.to_vec(),
    );
    let (o, out) = l.pack_fetching("a.tar");
    let err = cli::failed(&o, 1);
    assert!(err.contains("body differs"), "{err}");
    assert!(err.contains(&l.server.url()), "{err}");
    assert!(!out.exists());
}

#[test]
fn inspect_reports_transparency() {
    let l = Logged::new();
    let (o, out) = l.pack_fetching("a.tar");
    ok(&o);
    let text = cli::run(&["inspect", s(&out)]).stdout;
    assert!(
        text.contains(&format!(
            "Rekor inclusion proofs: fetched from {}",
            l.server.url()
        )),
        "{text}"
    );
    let v = cli::run(&["--output", "json", "inspect", s(&out)]).json();
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
    use airlock::pipeline;
    use airlock::source::rekor::{attach_rekor_proofs, EntrySource, RekorClient};
    let tmp = tempfile::tempdir().unwrap();
    let server = rekor::start();
    let signer = forge::key();
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
    // The single-image helper's signing steps, for the index digest.
    sign_logged(&mut l, &server, &signer, &index);
    let dir = l.finish().unwrap();

    let req = common::pack_request(&dir, &tmp.path().join("a.tar"));
    let mut set = pipeline::resolve(&req).unwrap();
    let client = RekorClient::new(&server.url()).unwrap();
    let source = EntrySource {
        client: &client,
        cache: None,
        refresh: false,
    };
    let summary = attach_rekor_proofs(&mut set, &source).unwrap();
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
    let l = Logged::new();
    let (o, out) = l.pack_fetching("a.tar");
    ok(&o);
    let dir = l.tmp.path();
    let key = cli::put(dir, "key.pub", forge::pem(&l.signer));
    let root = cli::put(dir, "trusted_root.json", rekor::trust_root_json(&l.server));
    let state = dir.join("state");
    let verify = |archive: &Path| {
        cli::run(&[
            "verify",
            "--quiet",
            "--key",
            s(&key),
            "--trusted-root",
            s(&root),
            "--state-dir",
            s(&state),
            "--require-inclusion-proof",
            s(archive),
        ])
    };
    assert_code(&verify(&out), 0);

    // The same image packed without proofs does not meet the requirement.
    let (o, bare) = l.pack("bare.tar", &["--no-rekor"]);
    ok(&o);
    assert_code(&verify(&bare), 4);
}

#[test]
fn archive_manifest_with_proofs_matches_schema() {
    let l = Logged::new();
    let (o, out) = l.pack_fetching("a.tar");
    ok(&o);
    let doc: Value = common::archive_json(&out);
    assert_eq!(doc["transparency"]["rekorProofs"], "fetched");
    cli::assert_schema_valid(&cli::archive_schema(), &doc);
}

/// The log signs every SET and checkpoint afresh (random nonces) and its
/// tree grows between two packs: the second pack reuses the cached entry and
/// writes the same bytes; `--refresh-proofs` fetches anew (other bytes, and
/// the archive still verifies with the newer proof).
#[test]
fn repack_reuses_cached_proofs_against_a_log_that_signs_afresh() {
    let l = Logged::new();
    l.server.log().set_fresh_signatures(true);
    let url = l.server.url();
    let cache = l.tmp.path().join("cache");
    let cache = cache.to_str().unwrap();
    let pack = |name: &str, extra: &[&str]| {
        let mut args = vec!["--rekor-url", url.as_str(), "--cache-dir", cache];
        args.extend(extra);
        let (o, out) = l.pack(name, &args);
        assert_eq!(o.code, 0, "{}", o.stderr);
        std::fs::read(out).unwrap()
    };
    let first = pack("a.tar", &[]);
    // The log moves on: another entry, a bigger tree, new signatures.
    let _later = signed_layout(&l.tmp.path().join("later"), &l.server, &l.signer);
    let second = pack("b.tar", &[]);
    assert!(
        first == second,
        "a re-pack of the same inputs changed bytes"
    );

    let refreshed = pack("c.tar", &["--refresh-proofs"]);
    assert!(
        first != refreshed,
        "--refresh-proofs reused the cached entry"
    );
    let v = cli::airlock(["verify", l.tmp.path().join("c.tar").to_str().unwrap()]).run();
    assert_eq!(v.code, 0, "{}", v.stderr);
    // The refreshed entry replaced the cached one: packing again reuses it.
    assert!(pack("d.tar", &[]) == refreshed);
}

/// A cached entry that no longer matches the signature (here: edited on
/// disk) is not used: pack fetches the entry again and the archive verifies.
#[test]
fn a_cached_entry_that_does_not_match_is_fetched_again() {
    let l = Logged::new();
    let url = l.server.url();
    let cache = l.tmp.path().join("cache");
    let args = [
        "--rekor-url",
        url.as_str(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    let (o, _) = l.pack("a.tar", &args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let entries: Vec<_> = walk_files(&cache.join("rekor"));
    assert_eq!(entries.len(), 1, "{entries:?}");
    let mut e: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&entries[0]).unwrap()).unwrap();
    e["integratedTime"] = serde_json::json!(e["integratedTime"].as_i64().unwrap() + 1);
    std::fs::write(&entries[0], serde_json::to_vec(&e).unwrap()).unwrap();

    let (o, out) = l.pack("b.tar", &args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("0 log entries reused"), "{}", o.stderr);
    let v = cli::airlock(["verify", out.to_str().unwrap()]).run();
    assert_eq!(v.code, 0, "{}", v.stderr);
    let (o, _) = l.pack("c.tar", &args);
    assert!(o.stderr.contains("1 log entry reused"), "{}", o.stderr);
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}
