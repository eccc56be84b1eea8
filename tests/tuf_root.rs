//! The trust root travels in the archive, and a root the archive carries is
//! used only when it chains via TUF from a TUF root the host trusts.
//!
//! A test TUF repository (tests/common/tuf.rs): root v1 (the host's anchor,
//! `--tuf-root`) → root v2 (new root keys, new online key) → timestamp →
//! snapshot → targets listing a `trusted_root.json` whose only Rekor key is
//! a test key. The archive's cosign signature has a SET by that key, so it
//! verifies under `--key` alone exactly when the archive's root is used;
//! every refused chain falls back to the embedded public-good root, where
//! the signature cannot verify (exit 4), with a warning naming the reason.

mod common;

use std::path::Path;

use common::cli::{self, assert_code, run, s, Run};
use common::forge;
use common::tuf::{self, Expiry, Site, TufFilesOut, TufRepo, PAST};
use serde_json::Value;

impl Site {
    /// `verify --key … --output json` with a state dir and extra flags.
    fn verify(&self, archive: &Path, extra: &[&str]) -> Run {
        let state = self.path("state");
        let mut args = vec![
            "--output",
            "json",
            "verify",
            s(archive),
            "--key",
            s(&self.key),
            "--state-dir",
            s(&state),
        ];
        args.extend_from_slice(extra);
        run(&args)
    }

    /// verify with the test repository's v1 root as the site's TUF anchor.
    fn verify_anchored(&self, archive: &Path) -> Run {
        self.verify(archive, &["--tuf-root", s(&self.anchor)])
    }

    /// verify_anchored of an archive carrying `files` as they are.
    fn verify_carrying(&self, name: &str, files: &TufFilesOut) -> Run {
        self.verify_anchored(&self.archive_with(name, files))
    }

    /// The repository with root v2 signed by the v1 and v2 keys listed.
    fn rotation_signed_by(&self, v1: &[usize], v2: &[usize]) -> TufFilesOut {
        let v2 = self.repo.v2_signed_by(v1, v2);
        self.repo
            .files(v2, &self.root_json, &self.root_json, tuf::FRESH)
    }

    /// The good repository, but with these expiry dates.
    fn expiring(&self, exp: Expiry) -> TufFilesOut {
        self.repo
            .files(self.repo.v2(), &self.root_json, &self.root_json, exp)
    }
}

/// The archive root was refused: the host's embedded root was used (so the
/// test-Rekor signature cannot verify), and a warning says why.
fn assert_ignored(r: &Run, why: &str) {
    assert_code(r, 4);
    let v = r.json();
    let tr = &v["trust"]["trustRoot"];
    assert_eq!(tr["source"], "embedded", "{v:#}");
    assert!(tr["tufRootVersion"].is_null(), "{v:#}");
    let warnings = v["trust"]["warnings"].as_array().unwrap();
    let w = warnings
        .iter()
        .filter_map(Value::as_str)
        .find(|w| w.contains("trusted root") && w.contains("is ignored"))
        .unwrap_or_else(|| panic!("no 'ignored' warning in {warnings:?}"));
    assert!(w.contains(why), "warning {w:?} does not mention {why:?}");
    assert!(
        r.stderr.contains("warning: the archive's trusted root"),
        "stderr: {}",
        r.stderr
    );
    assert_eq!(v["trust"]["images"][0]["checks"][0]["status"], "fail");
}

#[test]
fn archive_root_chained_via_tuf_verifies_with_key_only() {
    let w = Site::new();
    let a = w.good_archive("good.tar");
    let r = w.verify_anchored(&a);
    assert_code(&r, 0);
    let v = r.json();
    let tr = &v["trust"]["trustRoot"];
    assert_eq!(tr["source"], "archive-tuf", "{v:#}");
    assert_eq!(tr["tufRootVersion"], 2, "{v:#}");
    assert_eq!(
        tr["digest"],
        airlock::model::Digest::of(&w.root_json).to_string()
    );
    assert!(
        tr["detail"].as_str().unwrap().contains("to root v2"),
        "{tr:#}"
    );
    assert_eq!(v["trust"]["warnings"].as_array().unwrap().len(), 0, "{v:#}");
    assert_eq!(v["trust"]["images"][0]["ok"], true);

    // Text report names the chain too.
    let state = w.path("state-text");
    let r = run(&[
        "verify",
        s(&a),
        "--key",
        s(&w.key),
        "--tuf-root",
        s(&w.anchor),
        "--state-dir",
        s(&state),
    ]);
    assert_code(&r, 0);
    assert!(
        r.stdout
            .contains("trust root: the archive's trusted root sha256:"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("chained via TUF from --tuf-root"),
        "{}",
        r.stdout
    );
}

#[test]
fn unpack_uses_the_chained_root_too() {
    let w = Site::new();
    let a = w.good_archive("good.tar");
    let out = w.path("unpacked");
    let target = format!("dir:{}", out.display());
    let r = run(&[
        "--output",
        "json",
        "unpack",
        s(&a),
        "--into",
        &target,
        "--platform",
        "linux/amd64",
        "--key",
        s(&w.key),
        "--tuf-root",
        s(&w.anchor),
        "--state-dir",
        s(&w.path("state")),
    ]);
    assert_code(&r, 0);
    let gate = r.json()["gate"].as_str().unwrap().to_string();
    assert!(gate.contains("chained via TUF"), "{gate}");
    assert!(out.join("index.json").is_file());

    // Without the site's anchor the archive's root is ignored: nothing loaded.
    let out2 = w.path("unpacked2");
    let r = run(&[
        "unpack",
        s(&a),
        "--into",
        &format!("dir:{}", out2.display()),
        "--platform",
        "linux/amd64",
        "--key",
        s(&w.key),
        "--state-dir",
        s(&w.path("state2")),
    ]);
    assert_code(&r, 4);
    assert!(r.stderr.contains("is ignored"), "{}", r.stderr);
    assert!(!out2.exists());
}

#[test]
fn root_rotation_below_threshold_is_ignored() {
    let w = Site::new();
    // v1 needs two of its keys; only one signed the rotation.
    let r = w.verify_carrying("below.tar", &w.rotation_signed_by(&[0], &[0, 1]));
    assert_ignored(&r, "root version 2 does not chain from version 1");
    assert_ignored(&r, "threshold");
}

#[test]
fn root_rotation_not_signed_by_old_keys_is_ignored() {
    let w = Site::new();
    // Fully self-signed by the new keys, but by none of v1's.
    let files = w.rotation_signed_by(&[], &[0, 1, 2]);
    let r = w.verify_carrying("unsigned-rotation.tar", &files);
    assert_ignored(&r, "root version 2 does not chain from version 1");
}

#[test]
fn root_rotation_without_new_keys_threshold_is_ignored() {
    let w = Site::new();
    // The old keys approve, but the new root is not signed by its own keys.
    let files = w.rotation_signed_by(&[0, 1, 2], &[0]);
    let r = w.verify_carrying("not-self-signed.tar", &files);
    assert_ignored(&r, "root version 2 does not chain from version 1");
}

#[test]
fn trusted_root_not_matching_targets_hash_is_ignored() {
    let w = Site::new();
    // targets lists another root of the same length; the archive carries ours.
    let other = forge::trust_root_json(&forge::key()).into_bytes();
    assert_eq!(other.len(), w.root_json.len());
    let files = w.repo.files(w.repo.v2(), &other, &w.root_json, tuf::FRESH);
    let r = w.verify_carrying("hash.tar", &files);
    assert_ignored(&r, "sha256");
    assert_ignored(&r, "does not match targets v3");
}

#[test]
fn trusted_root_not_matching_targets_length_is_ignored() {
    let w = Site::new();
    let mut longer = w.root_json.clone();
    longer.push(b'\n');
    let files = w.repo.files(w.repo.v2(), &longer, &w.root_json, tuf::FRESH);
    let r = w.verify_carrying("length.tar", &files);
    assert_ignored(&r, "length");
}

#[test]
fn chain_from_a_different_anchor_is_ignored() {
    let w = Site::new();
    let a = w.good_archive("good.tar");
    // Another site's TUF root: the archive's v2 is not signed by its keys.
    let other = TufRepo::new();
    let other_anchor = cli::put(w.dir.path(), "other-v1.json", other.v1());
    let r = w.verify(&a, &["--tuf-root", s(&other_anchor)]);
    assert_ignored(&r, "does not chain from --tuf-root");

    // And with no --tuf-root: the Sigstore public-good TUF root (v16) is the
    // anchor, which the test repository does not chain from.
    let r = w.verify(&a, &[]);
    assert_ignored(&r, "the Sigstore public-good TUF root (v16)");
}

#[test]
fn expired_timestamp_is_ignored() {
    let w = Site::new();
    let files = w.expiring(Expiry {
        timestamp: PAST,
        ..tuf::FRESH
    });
    let r = w.verify_carrying("expired-ts.tar", &files);
    assert_ignored(&r, "timestamp metadata expired");
    assert_ignored(&r, "expired TUF metadata is never accepted");
}

#[test]
fn expired_targets_is_ignored() {
    let w = Site::new();
    let files = w.expiring(Expiry {
        targets: PAST,
        ..tuf::FRESH
    });
    let r = w.verify_carrying("expired-targets.tar", &files);
    assert_ignored(&r, "targets metadata expired");
}

#[test]
fn expired_final_root_is_ignored() {
    let mut w = Site::new();
    w.repo.expires_root = PAST.into();
    // The anchor file must be the (equally expired) v1 of this repository.
    std::fs::write(&w.anchor, w.repo.v1()).unwrap();
    let r = w.verify_carrying("expired-root.tar", &w.repo.good(&w.root_json));
    assert_ignored(&r, "root metadata expired");
}

#[test]
fn host_trusted_root_wins_over_a_chained_archive_root() {
    let w = Site::new();
    let a = w.good_archive("good.tar");
    // The host names a root with another Rekor key: it is used, so the
    // signature fails, although the archive's root chains.
    let host_root = cli::put(
        w.dir.path(),
        "host-root.json",
        forge::trust_root_json(&forge::key()),
    );
    let r = w.verify(&a, &["--trusted-root", s(&host_root)]);
    assert_code(&r, 4);
    let v = r.json();
    let tr = &v["trust"]["trustRoot"];
    assert_eq!(tr["source"], "host-file", "{v:#}");
    assert!(
        tr["detail"]
            .as_str()
            .unwrap()
            .contains("is not considered because --trusted-root"),
        "{tr:#}"
    );
    // A note, not a warning: the operator chose this.
    assert_eq!(v["trust"]["warnings"].as_array().unwrap().len(), 0);

    // The same host root as the archive's: accepted, as the host's.
    let same = w.root_file("same-root.json");
    let r = w.verify(&a, &["--trusted-root", s(&same)]);
    assert_code(&r, 0);
    assert_eq!(r.json()["trust"]["trustRoot"]["source"], "host-file");
}

#[test]
fn trusted_root_and_tuf_root_together_are_refused_on_verify() {
    let w = Site::new();
    let a = w.good_archive("good.tar");
    let root = w.root_file("root.json");
    let r = w.verify(
        &a,
        &["--trusted-root", s(&root), "--tuf-root", s(&w.anchor)],
    );
    assert_code(&r, 2);
}

#[test]
fn bad_tuf_root_flag_is_a_usage_error() {
    let w = Site::new();
    let a = w.good_archive("good.tar");
    // v1 signed by one key only: below its own threshold.
    let weak = cli::put(
        w.dir.path(),
        "weak.json",
        tuf::envelope(&w.repo.v1_signed(), &[&w.repo.v1_keys[0]]),
    );
    let r = w.verify(&a, &["--tuf-root", s(&weak)]);
    assert_code(&r, 2);
    assert!(r.stderr.contains("--tuf-root"), "{}", r.stderr);
}

#[test]
fn archive_root_without_tuf_metadata_is_not_used() {
    let w = Site::new();
    let root = w.root_file("root.json");
    // Packed with --trusted-root: the archive carries that root, no TUF.
    let (r, a) = w.pack("plain.tar", &["--trusted-root", s(&root)]);
    assert_code(&r, 0);
    let r = w.verify(&a, &[]);
    assert_code(&r, 4);
    let v = r.json();
    assert_eq!(v["trust"]["trustRoot"]["source"], "embedded");
    assert!(v["trust"]["trustRoot"]["detail"]
        .as_str()
        .unwrap()
        .contains("carries no TUF metadata, so it is not used"));
    // With the same root given by the host it verifies.
    let r = w.verify(&a, &["--trusted-root", s(&root)]);
    assert_code(&r, 0);
}

// ---- pack -----------------------------------------------------------------

fn inspect_json(archive: &Path) -> Value {
    let r = run(&["--output", "json", "inspect", s(archive)]);
    assert_code(&r, 0);
    r.json()
}

#[test]
fn pack_writes_the_embedded_root_by_default() {
    let w = Site::new();
    let (r, a) = w.pack("default.tar", &[]);
    assert_code(&r, 0);
    let v = inspect_json(&a);
    let ev = v["evidence"].as_array().unwrap();
    assert_eq!(ev.len(), 1, "{v:#}");
    assert_eq!(ev[0]["role"], "trust-root");
    assert_eq!(ev[0]["name"], "trusted_root.json");
    assert_eq!(
        ev[0]["mediaType"],
        "application/vnd.dev.sigstore.trustedroot.v0.1+json"
    );
    let embedded = airlock::trust::TrustRoot::production_json();
    assert_eq!(
        ev[0]["digest"],
        airlock::model::Digest::of(embedded).to_string()
    );
    assert_eq!(ev[0]["size"], embedded.len());
    assert_eq!(ev[0]["embeddedPublicGoodRoot"], true);
    // The text form names it too.
    let t = run(&["inspect", s(&a)]);
    assert!(
        t.stdout
            .contains("(the Sigstore public-good root embedded in this airlock)"),
        "{}",
        t.stdout
    );
    // And the archive passes the integrity check.
    assert_code(&run(&["verify", s(&a)]), 0);
}

#[test]
fn pack_writes_the_given_trusted_root() {
    let w = Site::new();
    let root = w.root_file("root.json");
    let (r, a) = w.pack("given.tar", &["--trusted-root", s(&root)]);
    assert_code(&r, 0);
    let v = inspect_json(&a);
    let ev = v["evidence"].as_array().unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["role"], "trust-root");
    assert_eq!(
        ev[0]["digest"],
        airlock::model::Digest::of(&w.root_json).to_string()
    );
    assert_eq!(ev[0]["embeddedPublicGoodRoot"], false);
    assert_code(&run(&["verify", s(&a)]), 0);
}

#[test]
fn pack_with_a_policy_checks_with_the_given_root() {
    let w = Site::new();
    let root = w.root_file("root.json");
    let (r, _) = w.pack(
        "policy.tar",
        &["--trusted-root", s(&root), "--key", s(&w.key)],
    );
    assert_code(&r, 0);
    // Without it the embedded root cannot verify the test Rekor SET.
    let (r, out) = w.pack("refused.tar", &["--key", s(&w.key)]);
    assert_code(&r, 4);
    assert!(!out.exists());
}

#[test]
fn pack_with_tuf_metadata_records_every_document() {
    let w = Site::new();
    let a = w.good_archive("good.tar");
    let v = inspect_json(&a);
    let ev = v["evidence"].as_array().unwrap();
    let roles: Vec<(&str, &str)> = ev
        .iter()
        .map(|e| (e["role"].as_str().unwrap(), e["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("trust-root", "trusted_root.json"),
            ("tuf-root", "1.root.json"),
            ("tuf-root", "2.root.json"),
            ("tuf-timestamp", "timestamp.json"),
            ("tuf-snapshot", "snapshot.json"),
            ("tuf-targets", "targets.json"),
        ]
    );
    // Each is a blob in the tar, and the archive passes the integrity check.
    assert_code(&run(&["verify", s(&a)]), 0);
    let tar = std::fs::read(&a).unwrap();
    let es = common::entries(&tar);
    for d in ev.iter().map(|e| e["digest"].as_str().unwrap()) {
        let name = format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
        assert!(es.iter().any(|e| e.name == name), "{name} not in the tar");
    }
    let t = run(&["inspect", s(&a)]);
    assert!(t.stdout.contains("tuf-timestamp"), "{}", t.stdout);
    assert!(
        t.stdout.contains("only if this TUF metadata chains"),
        "{}",
        t.stdout
    );
}

#[test]
fn pack_is_deterministic_with_trust_material() {
    let w = Site::new();
    let dir = w.repo.good(&w.root_json).write(&w.path("tuf"));
    let args = ["--tuf-metadata", s(&dir), "--tuf-root", s(&w.anchor)];
    let (r1, a1) = w.pack("one.tar", &args);
    let (r2, a2) = w.pack("two.tar", &args);
    assert_code(&r1, 0);
    assert_code(&r2, 0);
    assert_eq!(std::fs::read(&a1).unwrap(), std::fs::read(&a2).unwrap());
    let (_, d1) = w.pack("d1.tar", &[]);
    let (_, d2) = w.pack("d2.tar", &[]);
    assert_eq!(std::fs::read(&d1).unwrap(), std::fs::read(&d2).unwrap());
}

#[test]
fn pack_refuses_tuf_metadata_that_does_not_chain() {
    let w = Site::new();
    let dir = w.repo.good(&w.root_json).write(&w.path("tuf"));
    // Anchored at the Sigstore public-good TUF root by default.
    let (r, out) = w.pack("refused.tar", &["--tuf-metadata", s(&dir)]);
    assert_code(&r, 4);
    assert!(r.stderr.contains("does not chain from"), "{}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn pack_refuses_expired_tuf_metadata() {
    let w = Site::new();
    let dir = w
        .expiring(Expiry {
            snapshot: PAST,
            ..tuf::FRESH
        })
        .write(&w.path("tuf"));
    let (r, out) = w.pack(
        "expired.tar",
        &["--tuf-metadata", s(&dir), "--tuf-root", s(&w.anchor)],
    );
    assert_code(&r, 4);
    assert!(
        r.stderr.contains("snapshot metadata expired"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}

#[test]
fn pack_refuses_a_trusted_root_other_than_the_tuf_target() {
    let w = Site::new();
    let dir = w.repo.good(&w.root_json).write(&w.path("tuf"));
    let other = cli::put(
        w.dir.path(),
        "other.json",
        forge::trust_root_json(&forge::key()),
    );
    let (r, out) = w.pack(
        "mixed.tar",
        &[
            "--tuf-metadata",
            s(&dir),
            "--tuf-root",
            s(&w.anchor),
            "--trusted-root",
            s(&other),
        ],
    );
    assert_code(&r, 2);
    assert!(!out.exists());
    // The same file is fine.
    let same = w.root_file("same.json");
    let (r, _) = w.pack(
        "same.tar",
        &[
            "--tuf-metadata",
            s(&dir),
            "--tuf-root",
            s(&w.anchor),
            "--trusted-root",
            s(&same),
        ],
    );
    assert_code(&r, 0);
}

#[test]
fn pack_refuses_tuf_root_without_tuf_metadata() {
    let w = Site::new();
    let (r, out) = w.pack("x.tar", &["--tuf-root", s(&w.anchor)]);
    assert_code(&r, 2);
    assert!(!out.exists());
}

#[test]
fn pack_reads_consistent_snapshot_file_names() {
    let w = Site::new();
    let files = w.repo.good(&w.root_json);
    let dir = w.path("consistent");
    std::fs::create_dir_all(dir.join("targets")).unwrap();
    for (v, b) in &files.roots {
        std::fs::write(dir.join(format!("{v}.root.json")), b).unwrap();
    }
    std::fs::write(dir.join("timestamp.json"), &files.timestamp).unwrap();
    std::fs::write(dir.join("5.snapshot.json"), &files.snapshot).unwrap();
    std::fs::write(dir.join("3.targets.json"), &files.targets).unwrap();
    let sha = airlock::model::Digest::of(&w.root_json);
    std::fs::write(
        dir.join(format!("targets/{}.trusted_root.json", sha.hex())),
        &w.root_json,
    )
    .unwrap();
    let (r, a) = w.pack(
        "consistent.tar",
        &["--tuf-metadata", s(&dir), "--tuf-root", s(&w.anchor)],
    );
    assert_code(&r, 0);
    let r = w.verify_anchored(&a);
    assert_code(&r, 0);
    assert_eq!(r.json()["trust"]["trustRoot"]["tufRootVersion"], 2);
}

#[test]
fn test_rekor_key_is_what_the_chained_root_trusts() {
    // Control for the refusal tests: the same archive verifies when the host
    // names the test root directly, so their exit 4 comes from the root
    // choice, not from a broken signature.
    let w = Site::new();
    let a = w.archive_with("below.tar", &w.rotation_signed_by(&[0], &[0, 1]));
    let root = w.root_file("root.json");
    let r = w.verify(&a, &["--trusted-root", s(&root)]);
    assert_code(&r, 0);
}

#[test]
fn archive_manifest_with_tuf_metadata_matches_schema() {
    let w = Site::new();
    let a = w.good_archive("good.tar");
    let validator = cli::archive_schema();
    let doc = common::archive_json(&a);
    cli::assert_schema_valid(&validator, &doc);
    // Archive-level roles are refused in an image's evidence, and the reverse.
    let mut bad = doc.clone();
    bad["evidence"][0]["role"] = Value::from("signature");
    assert!(!validator.is_valid(&bad));
    let mut bad = doc.clone();
    let mut ev = doc["evidence"][0].clone();
    ev["subject"] = doc["images"][0]["manifestDigest"].clone();
    ev.as_object_mut().unwrap().remove("name");
    bad["images"][0]["evidence"]
        .as_array_mut()
        .unwrap()
        .push(ev);
    assert!(!validator.is_valid(&bad));
}
