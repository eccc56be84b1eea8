//! Docker Content Trust end to end with a real Notary: `notary-server`
//! (memory storage, TLS on loopback) and the `notary` client signing tags
//! of images in a real registry (Debian's docker-registry). `airlock pack
//! --notary-server` carries the metadata; `airlock verify --notary-root`
//! checks it offline. Bad inputs the client will not produce are made by
//! tampering with the carried document (tests/common/notary.rs; the
//! verifier's own unit tests forge re-signed metadata with keys they hold).

mod common;

use std::path::{Path, PathBuf};

use airlock::model::manifest::{ArchiveManifest, EvidenceRole};
use airlock::model::Digest;
use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, failed, ok, s, Run};
use common::notary::Notary;
use common::registry::Registry;

struct World {
    reg: Registry,
    notary: Notary,
    tmp: tempfile::TempDir,
    /// repo → (manifest digest, manifest bytes) of the images pushed.
    images: Vec<(String, Digest, Vec<u8>)>,
}

/// `app:v1`, `app:v2` (different images) and `other:v1` in the registry.
fn world() -> Option<World> {
    let reg = Registry::plain()?;
    let notary = Notary::start()?;
    let tmp = tempfile::tempdir().unwrap();
    let mut l = Layout::create(tmp.path().join("layout")).unwrap();
    let mut made = Vec::new();
    for seed in 1..=3u64 {
        let layer = l.add_random_layer(2_000, seed).unwrap();
        let img = l
            .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
            .unwrap();
        made.push(img);
    }
    let dir = l.finish().unwrap();
    let p = reg.pusher();
    let mut images = Vec::new();
    for ((repo, tag), img) in [("app", "v1"), ("app", "v2"), ("other", "v1")]
        .into_iter()
        .zip(&made)
    {
        let d = p.push_layout(&dir, &img.digest, &img.media_type, repo, Some(tag));
        let bytes = std::fs::read(dir.join("blobs/sha256").join(d.hex())).unwrap();
        images.push((format!("{repo}:{tag}"), d, bytes));
    }
    Some(World {
        reg,
        notary,
        tmp,
        images,
    })
}

impl World {
    fn gun(&self, repo: &str) -> String {
        format!("{}/{repo}", self.reg.host)
    }

    fn manifest(&self, repo_tag: &str) -> &[u8] {
        &self.images.iter().find(|i| i.0 == repo_tag).unwrap().2
    }

    fn out(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn pack(&self, repo_tag: &str, extra: &[&str], out: &Path) -> Run {
        cli::airlock([
            "pack",
            &format!("{}/{repo_tag}", self.reg.host),
            "--no-rekor",
        ])
        .env("DOCKER_CONFIG", "/nonexistent-airlock-test")
        .args(self.reg.pack_flags())
        .args(self.notary.pack_flags())
        .args(extra)
        .arg("--cache-dir")
        .arg(self.tmp.path().join("cache"))
        .arg("-o")
        .arg(out)
        .run()
    }

    fn verify(&self, archive: &Path, root: &Path, state: &Path) -> Run {
        cli::airlock([
            "verify",
            s(archive),
            "--notary-root",
            s(root),
            "--state-dir",
            s(state),
        ])
        .run()
    }

    /// Repository key: `notary init` + sign `repo_tag` with the targets key.
    fn sign(&self, repo_tag: &str) -> PathBuf {
        let (repo, tag) = repo_tag.split_once(':').unwrap();
        let gun = self.gun(repo);
        if !self.notary.pinned_root(&gun).exists() {
            self.notary.init(&gun);
        }
        self.notary.sign(&gun, tag, self.manifest(repo_tag), None);
        self.notary.save_root(&gun, &format!("{repo}-root.json"))
    }
}

fn archive_manifest(archive: &Path) -> ArchiveManifest {
    serde_json::from_value(common::archive_json(archive)).unwrap()
}

#[test]
fn tag_signed_by_repository_key_packs_and_verifies_offline() {
    let Some(w) = world() else { return };
    let root = w.sign("app:v1");
    let out = w.out("a.tar");
    let err = ok(&w.pack("app:v1", &[], &out));
    assert!(err.contains("content trust: signed by targets"), "{err}");
    cli::assert_schema_valid(&cli::archive_schema(), &common::archive_json(&out));
    let m = archive_manifest(&out);
    assert!(m.images[0]
        .evidence
        .iter()
        .any(|e| e.role == EvidenceRole::NotaryTrust));
    let r = w.verify(&out, &root, &w.out("state"));
    ok(&r);
    assert!(r.stdout.contains("content-trust"), "{}", r.stdout);
    assert!(r.stdout.contains("signed by targets"), "{}", r.stdout);
    // The JSON report of pack names what it checked.
    let r = w.pack("app:v1", &["--output", "json", "--force"], &out);
    let v = r.json();
    cli::assert_schema_valid(&cli::report_schema("pack"), &v);
    assert_eq!(
        v["contentTrust"][0]["roles"],
        serde_json::json!(["targets"]),
        "{v:#}"
    );
    assert_eq!(v["contentTrust"][0]["tag"], "v1");
    // Notary metadata is evidence: no "no signatures or other evidence" note.
    assert!(
        !v["warnings"].to_string().contains("no signatures"),
        "{v:#}"
    );
}

#[test]
fn tag_signed_only_through_releases_delegation_verifies() {
    let Some(w) = world() else { return };
    let gun = w.gun("app");
    w.notary.init(&gun);
    let cert = w.notary.signer("alice");
    w.notary.delegate(&gun, "targets/releases", &cert);
    w.notary
        .sign(&gun, "v1", w.manifest("app:v1"), Some("targets/releases"));
    let root = w.notary.save_root(&gun, "root.json");
    let out = w.out("a.tar");
    ok(&w.pack("app:v1", &[], &out));
    let r = w.verify(&out, &root, &w.out("state"));
    ok(&r);
    assert!(
        r.stdout.contains("signed by targets/releases"),
        "{}",
        r.stdout
    );
}

#[test]
fn target_hash_of_another_manifest_is_refused_at_pack() {
    let Some(w) = world() else { return };
    let gun = w.gun("app");
    w.notary.init(&gun);
    // v1's signed target is v2's manifest.
    w.notary.sign(&gun, "v1", w.manifest("app:v2"), None);
    let out = w.out("a.tar");
    let err = failed(&w.pack("app:v1", &[], &out), 4);
    assert!(err.contains("signed target"), "{err}");
    assert!(!out.exists());
    // --no-verify carries it anyway, loudly; verify then refuses it.
    let err = ok(&w.pack("app:v1", &["--no-verify"], &out));
    assert!(err.contains("content trust NOT satisfied"), "{err}");
    let root = w.notary.save_root(&gun, "root.json");
    let err = failed(&w.verify(&out, &root, &w.out("state")), 4);
    assert!(err.contains("signed target"), "{err}");
}

#[test]
fn target_length_changed_is_refused() {
    let Some(w) = world() else { return };
    let gun = w.gun("app");
    w.notary.init(&gun);
    let mut longer = w.manifest("app:v1").to_vec();
    longer.push(b' ');
    w.notary.sign(&gun, "v1", &longer, None);
    let err = failed(&w.pack("app:v1", &[], &w.out("a.tar")), 4);
    assert!(err.contains("signed target"), "{err}");
}

#[test]
fn root_not_the_pinned_one_is_refused() {
    let Some(w) = world() else { return };
    w.sign("app:v1");
    let other_root = w.sign("other:v1");
    let out = w.out("a.tar");
    ok(&w.pack("app:v1", &[], &out));
    let err = failed(&w.verify(&out, &other_root, &w.out("state")), 4);
    assert!(err.contains("is not the pinned root"), "{err}");
}

#[test]
fn root_rotation_signed_by_old_root_chains_from_the_pin() {
    let Some(w) = world() else { return };
    let old_root = w.sign("app:v1");
    w.notary.rotate_root(&w.gun("app"));
    let out = w.out("a.tar");
    ok(&w.pack("app:v1", &[], &out));
    let r = w.verify(&out, &old_root, &w.out("state"));
    ok(&r);
    assert!(r.stdout.contains("root version 2"), "{}", r.stdout);
}

#[test]
fn delegation_signed_by_removed_signer_is_refused() {
    let Some(w) = world() else { return };
    let gun = w.gun("app");
    w.notary.init(&gun);
    let cert = w.notary.signer("alice");
    w.notary.delegate(&gun, "targets/releases", &cert);
    w.notary
        .sign(&gun, "v1", w.manifest("app:v1"), Some("targets/releases"));
    let keys = w.notary.delegation_keys(&gun, "targets/releases");
    assert_eq!(keys.len(), 1, "{keys:?}");
    w.notary.revoke(&gun, "targets/releases", &keys[0]);
    let err = failed(&w.pack("app:v1", &[], &w.out("a.tar")), 4);
    assert!(
        err.contains("targets/releases: 0 valid signature(s) by its keys"),
        "{err}"
    );
}

#[test]
fn older_targets_version_after_newer_is_a_rollback() {
    let Some(w) = world() else { return };
    let root = w.sign("app:v1");
    let old = w.out("old.tar");
    ok(&w.pack("app:v1", &[], &old));
    // A newer targets version (another tag signed), packed later.
    w.notary
        .sign(&w.gun("app"), "v2", w.manifest("app:v2"), None);
    let new = w.out("new.tar");
    ok(&w.pack("app:v1", &[], &new));
    let state = w.out("state");
    let record = cli::airlock(["verify", s(&new), "--notary-root", s(&root), "--record"])
        .arg("--state-dir")
        .arg(&state)
        .run();
    ok(&record);
    let r = w.verify(&old, &root, &state);
    let err = failed(&r, 5);
    assert!(err.contains("rollback"), "{err}");
}

/// The carried `notary-trust` document of the (one-image) archive.
fn notary_doc(archive: &Path) -> serde_json::Value {
    let es = common::entries(&std::fs::read(archive).unwrap());
    let (i, _) = notary_entry(&es);
    serde_json::from_slice(&es[i].data).unwrap()
}

fn notary_entry(es: &[common::Entry]) -> (usize, Digest) {
    let m = common::airlock_json(es);
    let d: Digest = m["images"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["role"] == "notary-trust")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (
        common::position(es, &format!("blobs/sha256/{}", d.hex())),
        d,
    )
}

/// Replace the carried document with `edit(doc)`, keeping the archive's
/// own integrity records consistent so only the trust checks can object.
fn edit_notary_doc(archive: &Path, out: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut es = common::entries(&std::fs::read(archive).unwrap());
    let (i, old) = notary_entry(&es);
    let mut doc: serde_json::Value = serde_json::from_slice(&es[i].data).unwrap();
    edit(&mut doc);
    let bytes = serde_json::to_vec(&doc).unwrap();
    let new = Digest::of(&bytes);
    es[i].name = format!("blobs/sha256/{}", new.hex());
    es[i].data = bytes.clone();
    let text = serde_json::to_string(&common::airlock_json(&es))
        .unwrap()
        .replace(&old.to_string(), &new.to_string());
    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
    let blobs = m["blobs"].as_array_mut().unwrap();
    for b in blobs.iter_mut() {
        if b["digest"] == new.to_string() {
            b["size"] = bytes.len().into();
        }
    }
    blobs.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
    // Blobs stay in the reader's order: small JSON first, then by digest.
    let records: Vec<airlock::model::BlobRecord> =
        serde_json::from_value(m["blobs"].clone()).unwrap();
    common::set_airlock_json(&mut es, &m);
    let key = |e: &common::Entry| {
        let hex = e.name.strip_prefix("blobs/sha256/")?;
        let r = records.iter().find(|r| r.digest.hex() == hex)?;
        Some(r.order_key())
    };
    let first = es.iter().position(|e| key(e).is_some()).unwrap();
    let mut blobs: Vec<common::Entry> = es.iter().filter(|e| key(e).is_some()).cloned().collect();
    blobs.sort_by_key(|e| key(e));
    es.retain(|e| key(e).is_none());
    for (n, b) in blobs.into_iter().enumerate() {
        es.insert(first + n, b);
    }
    std::fs::write(out, common::build(&es)).unwrap();
}

#[test]
fn carried_metadata_edited_but_consistent_archive_still_verifies() {
    // The harness itself: re-encoding the document changes nothing.
    let Some(w) = world() else { return };
    let root = w.sign("app:v1");
    let out = w.out("a.tar");
    ok(&w.pack("app:v1", &[], &out));
    let edited = w.out("edited.tar");
    edit_notary_doc(&out, &edited, |_| {});
    ok(&w.verify(&edited, &root, &w.out("state")));
}

#[test]
fn expired_targets_at_pack_time_are_refused() {
    let Some(w) = world() else { return };
    let root = w.sign("app:v1");
    let out = w.out("a.tar");
    ok(&w.pack("app:v1", &[], &out));
    // As if fetched four years later: the targets role (3 years) had expired.
    let edited = w.out("expired.tar");
    edit_notary_doc(&out, &edited, |d| {
        let t = d["fetchedAt"].as_i64().unwrap();
        d["fetchedAt"] = (t + 4 * 366 * 86_400).into();
    });
    let err = failed(&w.verify(&edited, &root, &w.out("state")), 4);
    assert!(err.contains("expired"), "{err}");
}

#[test]
fn metadata_files_swapped_between_two_guns_are_refused() {
    let Some(w) = world() else { return };
    let app_root = w.sign("app:v1");
    let other = w.gun("other");
    w.notary.init(&other);
    // other:v1 signed with app:v1's manifest, so only the GUN differs.
    w.notary.sign(&other, "v1", w.manifest("app:v1"), None);
    let other_root = w.notary.save_root(&other, "other-root.json");
    let app = w.out("app.tar");
    ok(&w.pack("app:v1", &[], &app));
    let other_archive = w.out("other.tar");
    ok(&w.pack("other:v1", &["--no-verify"], &other_archive));
    let theirs = notary_doc(&other_archive);
    let swapped = w.out("swapped.tar");
    edit_notary_doc(&app, &swapped, |d| {
        for f in ["roots", "timestamp", "snapshot", "targets", "delegations"] {
            d[f] = theirs[f].clone();
        }
    });
    // Under app's pinned root: the roots do not chain.
    let err = failed(&w.verify(&swapped, &app_root, &w.out("s1")), 4);
    assert!(err.contains("is not the pinned root"), "{err}");
    // Under other's root: its certificates name the other GUN.
    let err = failed(&w.verify(&swapped, &other_root, &w.out("s2")), 4);
    assert!(err.contains("no --notary-root is pinned for"), "{err}");
}

#[test]
fn policy_file_rule_pins_the_notary_root_and_unpack_loads() {
    let Some(w) = world() else { return };
    let app_root = w.sign("app:v1");
    let other_root = w.sign("other:v1");
    let out = w.out("a.tar");
    ok(&w.pack("app:v1", &[], &out));
    let policy_dir = w.out("policy");
    std::fs::create_dir_all(&policy_dir).unwrap();
    std::fs::copy(&app_root, policy_dir.join("app-root.json")).unwrap();
    std::fs::copy(&other_root, policy_dir.join("other-root.json")).unwrap();
    let policy = |root: &str| {
        let p = policy_dir.join(format!("policy-{root}"));
        let doc = serde_json::json!({"version": 2, "rules": [
            {"name": "dct", "images": ["**"], "notaryRoots": [{"path": root}]}
        ]});
        std::fs::write(&p, doc.to_string()).unwrap();
        p
    };
    let unpack = |policy: &Path, into: &Path| {
        cli::airlock([
            "unpack",
            s(&out),
            "--into",
            &format!("dir:{}", into.display()),
            "--policy",
            s(policy),
            "--state-dir",
            s(&w.out("state")),
        ])
        .run()
    };
    let r = unpack(&policy("app-root.json"), &w.out("loaded"));
    ok(&r);
    assert!(w.out("loaded/index.json").exists());
    // A rule pinning another repository's root admits nothing.
    let err = failed(&unpack(&policy("other-root.json"), &w.out("refused")), 4);
    assert!(err.contains("is not the pinned root"), "{err}");
    assert!(!w.out("refused/index.json").exists());
}

#[test]
fn verify_json_report_names_the_content_trust_check() {
    let Some(w) = world() else { return };
    let root = w.sign("app:v1");
    let out = w.out("a.tar");
    ok(&w.pack("app:v1", &[], &out));
    let r = cli::airlock([
        "verify",
        s(&out),
        "--notary-root",
        s(&root),
        "--state-dir",
        s(&w.out("state")),
        "--output",
        "json",
    ])
    .run();
    let v = r.json();
    cli::assert_schema_valid(&cli::report_schema("verify"), &v);
    let checks = v["trust"]["images"][0]["checks"].as_array().unwrap();
    let ct = checks
        .iter()
        .find(|c| c["name"] == "content-trust")
        .unwrap();
    assert_eq!(ct["status"], "pass", "{v:#}");
    assert!(ct["detail"].as_str().unwrap().contains("signed by targets"));
}

/// An archive of app:v1 whose carried metadata is replaced by a forged
/// repository (`build` gives the pinned root, the carried roots and the
/// other files); returns the verify run under that pin.
fn verify_forged(
    name: &str,
    build: impl FnOnce(&[u8]) -> (Vec<u8>, Vec<Vec<u8>>, [Vec<u8>; 3]),
) -> Option<Run> {
    let w = world()?;
    w.sign("app:v1");
    let out = w.out("a.tar");
    ok(&w.pack("app:v1", &[], &out));
    let (pinned, roots, rest) = build(w.manifest("app:v1"));
    let pin = w.out(&format!("{name}-root.json"));
    std::fs::write(&pin, &pinned).unwrap();
    let forged = w.out(&format!("{name}.tar"));
    let roots: Vec<&[u8]> = roots.iter().map(Vec::as_slice).collect();
    edit_notary_doc(&out, &forged, |d| {
        common::notary::forged::install(d, &roots, &rest)
    });
    Some(w.verify(&forged, &pin, &w.out("state")))
}

#[test]
fn forged_repository_with_keys_we_control_verifies() {
    // The forger itself: a well-formed forged repository is accepted.
    let Some(r) = verify_forged("good", |m| {
        let f = common::notary::forged::Repo::new(1);
        let root = f.root(1, 1, &[&f.root_key]);
        let rest = f.rest(&root, "v1", m, &[&f.targets_keys[0]]);
        (root.clone(), vec![root], rest)
    }) else {
        return;
    };
    ok(&r);
}

#[test]
fn targets_signed_by_a_key_the_root_does_not_list_are_refused() {
    let Some(r) = verify_forged("unlisted", |m| {
        let f = common::notary::forged::Repo::new(1);
        let root = f.root(1, 1, &[&f.root_key]);
        let stranger = common::notary::forged::key();
        let rest = f.rest(&root, "v1", m, &[&stranger]);
        (root.clone(), vec![root], rest)
    }) else {
        return;
    };
    let err = failed(&r, 4);
    assert!(err.contains("targets: 0 valid signature(s)"), "{err}");
}

#[test]
fn threshold_not_met_is_refused() {
    let Some(r) = verify_forged("threshold", |m| {
        let f = common::notary::forged::Repo::new(2);
        let root = f.root(1, 2, &[&f.root_key]);
        let rest = f.rest(&root, "v1", m, &[&f.targets_keys[0], &f.targets_keys[0]]);
        (root.clone(), vec![root], rest)
    }) else {
        return;
    };
    let err = failed(&r, 4);
    assert!(
        err.contains("1 valid signature(s) by its keys, threshold is 2"),
        "{err}"
    );
}

#[test]
fn root_rotation_not_signed_by_the_old_root_is_refused() {
    let Some(r) = verify_forged("rotation", |m| {
        let old = common::notary::forged::Repo::new(1);
        let pinned = old.root(1, 1, &[&old.root_key]);
        let new = common::notary::forged::Repo::new(1);
        let rotated = new.root(2, 1, &[&new.root_key]);
        let rest = new.rest(&rotated, "v1", m, &[&new.targets_keys[0]]);
        (pinned.clone(), vec![pinned, rotated], rest)
    }) else {
        return;
    };
    let err = failed(&r, 4);
    assert!(
        err.contains("is not signed by the keys of trusted root version 1"),
        "{err}"
    );
}

#[test]
fn targets_expired_when_fetched_are_refused() {
    let Some(r) = verify_forged("expired", |m| {
        let mut f = common::notary::forged::Repo::new(1);
        f.targets_expires = "2021-01-01T00:00:00Z";
        let root = f.root(1, 1, &[&f.root_key]);
        let rest = f.rest(&root, "v1", m, &[&f.targets_keys[0]]);
        (root.clone(), vec![root], rest)
    }) else {
        return;
    };
    let err = failed(&r, 4);
    assert!(
        err.contains("targets: expired at 2021-01-01T00:00:00Z"),
        "{err}"
    );
}

#[test]
fn serve_refuses_an_archive_whose_tag_another_root_signed() {
    let Some(w) = world() else { return };
    w.sign("app:v1");
    let other_root = w.sign("other:v1");
    let out = w.out("a.tar");
    ok(&w.pack("app:v1", &[], &out));
    let r = cli::airlock([
        "serve",
        "--notary-root",
        s(&other_root),
        "--listen",
        "127.0.0.1:0",
        s(&out),
    ])
    .run();
    let err = failed(&r, 4);
    assert!(err.contains("is not the pinned root"), "{err}");
}

#[test]
fn docker_content_trust_server_variable_stands_for_the_flag() {
    let Some(w) = world() else { return };
    w.sign("app:v1");
    let out = w.out("a.tar");
    let r = cli::airlock([
        "pack",
        &format!("{}/app:v1", w.reg.host),
        "--no-rekor",
        "--insecure-registry",
        &w.reg.host,
        "--notary-ca",
        s(&w.notary.ca_file()),
        "-o",
        s(&out),
    ])
    .env("DOCKER_CONFIG", "/nonexistent-airlock-test")
    .env("DOCKER_CONTENT_TRUST_SERVER", &w.notary.url)
    .arg("--cache-dir")
    .arg(w.out("cache"))
    .run();
    let err = ok(&r);
    assert!(err.contains("content trust: signed by targets"), "{err}");
    // --notary-ca alone names no server.
    let r = cli::airlock([
        "pack",
        "x/app:v1",
        "--notary-ca",
        s(&w.notary.ca_file()),
        "-o",
        s(&w.out("b.tar")),
    ])
    .run();
    let err = failed(&r, 2);
    assert!(err.contains("--notary-ca needs --notary-server"), "{err}");
}

#[test]
fn notary_root_directory_as_docker_keeps_it() {
    // ~/.docker/trust/tuf/<GUN>/metadata/root.json for two GUNs: the root
    // of the image's own GUN admits it, the other is passed over.
    let Some(w) = world() else { return };
    w.sign("other:v1");
    w.sign("app:v1");
    let out = w.out("a.tar");
    ok(&w.pack("app:v1", &[], &out));
    let tuf = w.notary.trust_dir().join("tuf");
    let r = w.verify(&out, &tuf, &w.out("state"));
    ok(&r);
    assert!(r.stdout.contains("signed by targets"), "{}", r.stdout);
    // A directory without any root.json is a usage error.
    let empty = w.out("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = failed(&w.verify(&out, &empty, &w.out("state")), 2);
    assert!(err.contains("no root.json found"), "{err}");
}
