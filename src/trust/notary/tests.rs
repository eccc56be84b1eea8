//! Against metadata the real Notary wrote (testdata/notary, made by
//! scripts/make-notary-fixtures.sh), and forged repositories for the inputs
//! the client will not produce (thresholds, unlisted keys, bad rotations).

use super::*;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use p256::ecdsa::{signature::Signer as _, Signature, SigningKey};
use p256::pkcs8::EncodePublicKey as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

macro_rules! fixture {
    ($p:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/notary/", $p)).as_slice()
    };
}

fn fetched_at() -> i64 {
    let s = std::str::from_utf8(fixture!("fetched_at.txt")).unwrap();
    s.trim().parse().unwrap()
}

fn app_files<'a>(roots: &'a [&'a [u8]], delegations: &'a [(&'a str, &'a [u8])]) -> NotaryFiles<'a> {
    NotaryFiles {
        gun: "registry.test/app",
        roots,
        timestamp: fixture!("app/timestamp.json"),
        snapshot: fixture!("app/snapshot.json"),
        targets: fixture!("app/targets.json"),
        delegations,
        fetched_at: fetched_at(),
    }
}

const APP_ROOTS: [&[u8]; 2] = [fixture!("app/root.1.json"), fixture!("app/root.json")];
const RELEASES: [(&str, &[u8]); 1] = [("targets/releases", fixture!("app/targets/releases.json"))];

fn claim_of<'a>(tag: &'a str, bytes: &[u8]) -> TargetClaim<'a> {
    TargetClaim {
        tag,
        sha256: Sha256::digest(bytes).into(),
        length: bytes.len() as u64,
    }
}

#[test]
fn tag_signed_by_repository_key_verifies_through_root_rotation() {
    let v = verify_content_trust(
        fixture!("app/root.1.json"),
        &app_files(&APP_ROOTS, &RELEASES),
        &claim_of("v1", fixture!("v1.json")),
    )
    .unwrap();
    assert_eq!(v.roles, vec!["targets".to_string()]);
    assert_eq!(v.root_version, 2);
    assert!(v.targets_version >= 2);
    assert!(v.expires > fetched_at());
}

#[test]
fn tag_signed_only_through_releases_delegation_verifies() {
    let v = verify_content_trust(
        fixture!("app/root.json"),
        &app_files(&APP_ROOTS, &RELEASES),
        &claim_of("v2", fixture!("v2.json")),
    )
    .unwrap();
    assert_eq!(v.roles, vec!["targets/releases".to_string()]);
}

#[test]
fn target_hash_of_another_manifest_is_refused() {
    let e = verify_content_trust(
        fixture!("app/root.json"),
        &app_files(&APP_ROOTS, &RELEASES),
        &claim_of("v1", fixture!("v2.json")),
    )
    .unwrap_err();
    assert!(matches!(e, NotaryError::TargetMismatch { .. }), "{e}");
}

#[test]
fn target_length_changed_is_refused() {
    let mut c = claim_of("v1", fixture!("v1.json"));
    c.length += 1;
    let e = verify_content_trust(
        fixture!("app/root.json"),
        &app_files(&APP_ROOTS, &RELEASES),
        &c,
    )
    .unwrap_err();
    assert!(matches!(e, NotaryError::TargetMismatch { .. }), "{e}");
}

#[test]
fn root_not_the_pinned_one_is_refused() {
    let e = verify_content_trust(
        fixture!("other/root.json"),
        &app_files(&APP_ROOTS, &RELEASES),
        &claim_of("v1", fixture!("v1.json")),
    )
    .unwrap_err();
    assert!(matches!(e, NotaryError::RootChain(_)), "{e}");
}

#[test]
fn metadata_swapped_between_two_guns_is_refused() {
    // The other GUN's files under this GUN's pinned root.
    let roots = [fixture!("other/root.json")];
    let files = NotaryFiles {
        gun: "registry.test/app",
        roots: &roots,
        timestamp: fixture!("other/timestamp.json"),
        snapshot: fixture!("other/snapshot.json"),
        targets: fixture!("other/targets.json"),
        delegations: &[],
        fetched_at: fetched_at(),
    };
    let e = verify_content_trust(
        fixture!("app/root.json"),
        &files,
        &claim_of("v1", fixture!("v1.json")),
    )
    .unwrap_err();
    assert!(matches!(e, NotaryError::RootChain(_)), "{e}");
    // Only the targets file swapped: the snapshot's hash catches it.
    let mut files = app_files(&APP_ROOTS, &RELEASES);
    files.targets = fixture!("other/targets.json");
    let e = verify_content_trust(
        fixture!("app/root.json"),
        &files,
        &claim_of("v1", fixture!("v1.json")),
    )
    .unwrap_err();
    assert!(matches!(e, NotaryError::Inconsistent { .. }), "{e}");
}

#[test]
fn expired_at_fetch_time_is_refused() {
    let mut files = app_files(&APP_ROOTS, &RELEASES);
    files.fetched_at += 15 * 24 * 3600; // the timestamp role lasts 14 days
    let e = verify_content_trust(
        fixture!("app/root.json"),
        &files,
        &claim_of("v1", fixture!("v1.json")),
    )
    .unwrap_err();
    assert!(
        matches!(e, NotaryError::Expired { ref role, .. } if role == "timestamp"),
        "{e}"
    );
}

#[test]
fn missing_delegation_file_is_refused() {
    let e = verify_content_trust(
        fixture!("app/root.json"),
        &app_files(&APP_ROOTS, &[]),
        &claim_of("v1", fixture!("v1.json")),
    )
    .unwrap_err();
    assert!(matches!(e, NotaryError::Inconsistent { .. }), "{e}");
}

#[test]
fn unsigned_tag_is_refused() {
    let e = verify_content_trust(
        fixture!("app/root.json"),
        &app_files(&APP_ROOTS, &RELEASES),
        &claim_of("v9", fixture!("v1.json")),
    )
    .unwrap_err();
    assert!(matches!(e, NotaryError::TagNotSigned { .. }), "{e}");
}

// ---- forged repositories ----

struct Key {
    sk: SigningKey,
    id: String,
    json: Value,
}

fn key() -> Key {
    let sk = SigningKey::random(&mut rand_core::OsRng);
    let der = sk.verifying_key().to_public_key_der().unwrap();
    let json = json!({"keytype": "ecdsa", "keyval": {"private": null, "public": B64.encode(der.as_bytes())}});
    let id = keys::key_id(&json, "test").unwrap();
    Key { sk, id, json }
}

fn envelope(signed: Value, signers: &[&Key]) -> Vec<u8> {
    let msg = metadata::canonical(&signed, "test").unwrap();
    let sigs: Vec<Value> = signers
        .iter()
        .map(|k| {
            let s: Signature = k.sk.sign(&msg);
            json!({"keyid": k.id, "method": "ecdsa", "sig": B64.encode(s.to_bytes())})
        })
        .collect();
    serde_json::to_vec(&json!({"signed": signed, "signatures": sigs})).unwrap()
}

fn meta(bytes: &[u8]) -> Value {
    json!({"hashes": {"sha256": B64.encode(Sha256::digest(bytes))}, "length": bytes.len()})
}

const FAR: &str = "2099-01-01T00:00:00Z";

struct Forged {
    root_key: Key,
    targets_keys: Vec<Key>,
    snapshot: Key,
    timestamp: Key,
}

impl Forged {
    fn new(n_targets: usize) -> Self {
        Forged {
            root_key: key(),
            targets_keys: (0..n_targets).map(|_| key()).collect(),
            snapshot: key(),
            timestamp: key(),
        }
    }

    fn root(&self, version: u64, targets_threshold: u64, signers: &[&Key]) -> Vec<u8> {
        let mut keys = serde_json::Map::new();
        for k in [&self.root_key, &self.snapshot, &self.timestamp]
            .into_iter()
            .chain(&self.targets_keys)
        {
            keys.insert(k.id.clone(), k.json.clone());
        }
        let ids = |ks: &[&Key]| ks.iter().map(|k| k.id.clone()).collect::<Vec<_>>();
        let tk: Vec<&Key> = self.targets_keys.iter().collect();
        envelope(
            json!({"_type": "Root", "consistent_snapshot": false, "expires": FAR, "version": version,
                "keys": keys,
                "roles": {
                    "root": {"keyids": [self.root_key.id], "threshold": 1},
                    "targets": {"keyids": ids(&tk), "threshold": targets_threshold},
                    "snapshot": {"keyids": [self.snapshot.id], "threshold": 1},
                    "timestamp": {"keyids": [self.timestamp.id], "threshold": 1}}}),
            signers,
        )
    }

    /// targets, snapshot, timestamp for tag v1 = `content`.
    fn rest(&self, root: &[u8], content: &[u8], targets_signers: &[&Key]) -> [Vec<u8>; 3] {
        let targets = envelope(
            json!({"_type": "Targets", "expires": FAR, "version": 3,
                "delegations": {"keys": {}, "roles": []},
                "targets": {"v1": meta(content)}}),
            targets_signers,
        );
        let snapshot = envelope(
            json!({"_type": "Snapshot", "expires": FAR, "version": 3,
                "meta": {"root": meta(root), "targets": meta(&targets)}}),
            &[&self.snapshot],
        );
        let timestamp = envelope(
            json!({"_type": "Timestamp", "expires": FAR, "version": 3,
                "meta": {"snapshot": meta(&snapshot)}}),
            &[&self.timestamp],
        );
        [targets, snapshot, timestamp]
    }
}

fn verify_forged(
    pinned: &[u8],
    roots: &[&[u8]],
    rest: &[Vec<u8>; 3],
) -> Result<VerifiedContentTrust, NotaryError> {
    let files = NotaryFiles {
        gun: "forged.test/app",
        roots,
        targets: &rest[0],
        snapshot: &rest[1],
        timestamp: &rest[2],
        delegations: &[],
        fetched_at: 1_800_000_000,
    };
    verify_content_trust(pinned, &files, &claim_of("v1", b"content"))
}

#[test]
fn forged_repository_with_keys_we_control_verifies() {
    let f = Forged::new(1);
    let root = f.root(1, 1, &[&f.root_key]);
    let rest = f.rest(&root, b"content", &[&f.targets_keys[0]]);
    verify_forged(&root, &[&root], &rest).unwrap();
}

#[test]
fn targets_signed_by_key_the_root_does_not_list_is_refused() {
    let f = Forged::new(1);
    let root = f.root(1, 1, &[&f.root_key]);
    let stranger = key();
    let rest = f.rest(&root, b"content", &[&stranger]);
    let e = verify_forged(&root, &[&root], &rest).unwrap_err();
    assert!(
        matches!(e, NotaryError::Threshold { ref role, valid: 0, .. } if role == "targets"),
        "{e}"
    );
}

#[test]
fn threshold_not_met_is_refused() {
    let f = Forged::new(2);
    let root = f.root(1, 2, &[&f.root_key]);
    // One of two required keys, and the same key twice counts once.
    let rest = f.rest(&root, b"content", &[&f.targets_keys[0], &f.targets_keys[0]]);
    let e = verify_forged(&root, &[&root], &rest).unwrap_err();
    assert!(
        matches!(
            e,
            NotaryError::Threshold {
                valid: 1,
                threshold: 2,
                ..
            }
        ),
        "{e}"
    );
    let rest = f.rest(&root, b"content", &[&f.targets_keys[0], &f.targets_keys[1]]);
    verify_forged(&root, &[&root], &rest).unwrap();
}

#[test]
fn root_rotation_not_signed_by_old_root_is_refused() {
    let old = Forged::new(1);
    let pinned = old.root(1, 1, &[&old.root_key]);
    let mut new = Forged::new(1);
    new.root_key = key();
    let rotated = new.root(2, 1, &[&new.root_key]);
    let rest = new.rest(&rotated, b"content", &[&new.targets_keys[0]]);
    let e = verify_forged(&pinned, &[&pinned, &rotated], &rest).unwrap_err();
    assert!(matches!(e, NotaryError::RootChain(_)), "{e}");
    // Signed by both, the same rotation chains.
    let rotated = {
        let mut signed: Value =
            serde_json::from_slice::<Value>(&rotated).unwrap()["signed"].clone();
        signed["version"] = json!(2);
        envelope(signed, &[&new.root_key, &old.root_key])
    };
    let rest = new.rest(&rotated, b"content", &[&new.targets_keys[0]]);
    verify_forged(&pinned, &[&pinned, &rotated], &rest).unwrap();
}

#[test]
fn gun_and_tag_follow_docker_naming() {
    assert_eq!(
        gun_and_tag("alpine:3"),
        Some(("docker.io/library/alpine".into(), "3".into()))
    );
    assert_eq!(
        gun_and_tag("127.0.0.1:5000/app:v1@sha256:ab"),
        Some(("127.0.0.1:5000/app".into(), "v1".into()))
    );
    assert_eq!(gun_and_tag("127.0.0.1:5000/app"), None);
}

#[test]
fn root_certified_for_another_gun_is_refused() {
    let mut files = app_files(&APP_ROOTS, &RELEASES);
    files.gun = "registry.test/other";
    let e = verify_content_trust(
        fixture!("app/root.json"),
        &files,
        &claim_of("v1", fixture!("v1.json")),
    )
    .unwrap_err();
    assert!(
        matches!(e, NotaryError::RootChain(ref m) if m.contains("another repository")),
        "{e}"
    );
}

#[test]
fn zero_threshold_admits_nothing() {
    let f = Forged::new(1);
    let root = f.root(1, 0, &[&f.root_key]);
    let rest = f.rest(&root, b"content", &[]);
    let e = verify_forged(&root, &[&root], &rest).unwrap_err();
    assert!(matches!(e, NotaryError::Threshold { .. }), "{e}");
}

/// targets delegating `targets/releases` to `signer` with `paths` or
/// `path_hash_prefixes`, and the releases file signing v1 = `content`.
fn delegated(
    f: &Forged,
    signer: &Key,
    role: Value,
    content: &[u8],
) -> (Vec<u8>, [Vec<u8>; 3], Vec<u8>) {
    let root = f.root(1, 1, &[&f.root_key]);
    let releases = envelope(
        json!({"_type": "Targets", "expires": FAR, "version": 1,
            "delegations": {"keys": {}, "roles": []},
            "targets": {"v1": meta(content)}}),
        &[signer],
    );
    let mut role = role;
    role["name"] = json!("targets/releases");
    role["keyids"] = json!([signer.id]);
    role["threshold"] = json!(1);
    let targets = envelope(
        json!({"_type": "Targets", "expires": FAR, "version": 3,
            "delegations": {"keys": {signer.id.clone(): signer.json}, "roles": [role]},
            "targets": {}}),
        &[&f.targets_keys[0]],
    );
    let snapshot = envelope(
        json!({"_type": "Snapshot", "expires": FAR, "version": 3,
            "meta": {"root": meta(&root), "targets": meta(&targets), "targets/releases": meta(&releases)}}),
        &[&f.snapshot],
    );
    let timestamp = envelope(
        json!({"_type": "Timestamp", "expires": FAR, "version": 3,
            "meta": {"snapshot": meta(&snapshot)}}),
        &[&f.timestamp],
    );
    (root, [targets, snapshot, timestamp], releases)
}

fn verify_delegated(role: Value) -> Result<VerifiedContentTrust, NotaryError> {
    let f = Forged::new(1);
    let signer = key();
    let (root, rest, releases) = delegated(&f, &signer, role, b"content");
    let delegations = [("targets/releases", releases.as_slice())];
    let roots = [root.as_slice()];
    let files = NotaryFiles {
        gun: "forged.test/app",
        roots: &roots,
        targets: &rest[0],
        snapshot: &rest[1],
        timestamp: &rest[2],
        delegations: &delegations,
        fetched_at: 1_800_000_000,
    };
    verify_content_trust(&root, &files, &claim_of("v1", b"content"))
}

#[test]
fn delegation_signs_only_the_paths_it_is_given() {
    let v = verify_delegated(json!({"paths": [""]})).unwrap();
    assert_eq!(v.roles, vec!["targets/releases".to_string()]);
    let e = verify_delegated(json!({"paths": ["other/"]})).unwrap_err();
    assert!(matches!(e, NotaryError::TagNotSigned { .. }), "{e}");
    let e = verify_delegated(json!({})).unwrap_err();
    assert!(matches!(e, NotaryError::TagNotSigned { .. }), "{e}");
    let prefix = &hex::encode(Sha256::digest(b"v1"))[..2];
    verify_delegated(json!({"path_hash_prefixes": [prefix]})).unwrap();
    let other = if prefix == "00" { "ff" } else { "00" };
    let e = verify_delegated(json!({"path_hash_prefixes": [other]})).unwrap_err();
    assert!(matches!(e, NotaryError::TagNotSigned { .. }), "{e}");
}

#[test]
fn delegation_whose_keys_were_all_removed_signs_nothing() {
    // Notary writes the emptied key list as null.
    let f = Forged::new(1);
    let signer = key();
    let (_, _, releases) = delegated(&f, &signer, json!({"paths": [""]}), b"content");
    let root = f.root(1, 1, &[&f.root_key]);
    let targets = envelope(
        json!({"_type": "Targets", "expires": FAR, "version": 4,
            "delegations": {"keys": null, "roles": [{"name": "targets/releases",
                "keyids": null, "threshold": 1, "paths": [""]}]},
            "targets": null}),
        &[&f.targets_keys[0]],
    );
    let snapshot = envelope(
        json!({"_type": "Snapshot", "expires": FAR, "version": 4,
            "meta": {"root": meta(&root), "targets": meta(&targets), "targets/releases": meta(&releases)}}),
        &[&f.snapshot],
    );
    let timestamp = envelope(
        json!({"_type": "Timestamp", "expires": FAR, "version": 4,
            "meta": {"snapshot": meta(&snapshot)}}),
        &[&f.timestamp],
    );
    let delegations = [("targets/releases", releases.as_slice())];
    let roots = [root.as_slice()];
    let files = NotaryFiles {
        gun: "forged.test/app",
        roots: &roots,
        targets: &targets,
        snapshot: &snapshot,
        timestamp: &timestamp,
        delegations: &delegations,
        fetched_at: 1_800_000_000,
    };
    let e = verify_content_trust(&root, &files, &claim_of("v1", b"content")).unwrap_err();
    assert!(
        matches!(e, NotaryError::Threshold { ref role, valid: 0, .. } if role == "targets/releases"),
        "{e}"
    );
}

#[test]
fn one_key_listed_under_two_ids_counts_once() {
    let mut f = Forged::new(1);
    // The same targets key again, its ID changed by an extra field the
    // key parser ignores (so it is a different key ID, same public key).
    let mut twin_json = f.targets_keys[0].json.clone();
    twin_json["keyval"]["private"] = json!(null);
    twin_json["scheme"] = json!("twin");
    let twin = Key {
        sk: f.targets_keys[0].sk.clone(),
        id: keys::key_id(&twin_json, "test").unwrap(),
        json: twin_json,
    };
    assert_ne!(twin.id, f.targets_keys[0].id);
    f.targets_keys.push(twin);
    let root = f.root(1, 2, &[&f.root_key]);
    let rest = f.rest(&root, b"content", &[&f.targets_keys[0], &f.targets_keys[1]]);
    let e = verify_forged(&root, &[&root], &rest).unwrap_err();
    assert!(
        matches!(
            e,
            NotaryError::Threshold {
                valid: 1,
                threshold: 2,
                ..
            }
        ),
        "{e}"
    );
}
