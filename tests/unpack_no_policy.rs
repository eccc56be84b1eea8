//! Secure by default: `unpack` refuses to load without a policy (from
//! `--policy`, `AIRLOCK_POLICY` or the site file), and `--insecure-no-policy`
//! is the loud opt-out. `verify` resolves the policy the same way but, with
//! none, still checks integrity only.

mod common;

use std::path::{Path, PathBuf};

use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, Run};
use common::site::Site;

const REF: &str = "registry.example.org/team/app:1.0";

impl Site {
    /// An archive of one amd64 image, signed by the site's publisher with a
    /// SET at `log_index`, or unsigned.
    fn packed(&self, name: &str, seed: u64, log_index: Option<i64>) -> PathBuf {
        let mut l = Layout::create(self.path(name)).unwrap();
        let layer = l.add_random_layer(20_000, seed).unwrap();
        let m = l
            .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
            .unwrap();
        l.tag(REF, &m);
        if let Some(i) = log_index {
            self.sign(&mut l, &m.digest, REF, i);
        }
        let layout = l.finish().unwrap();
        let out = self.path(&format!("{name}.tar"));
        let o = cli::airlock([
            "pack",
            "--no-rekor",
            "--arch",
            "amd64",
            "--from-oci-layout",
            s(&layout),
            "-o",
            s(&out),
        ])
        .run();
        assert_eq!(o.code, 0, "{}", o.stderr);
        out
    }

    /// A policy file naming the publisher key by a path relative to the
    /// file's own directory (`keys/`), as an operator would ship it.
    fn policy_file(&self, name: &str) -> PathBuf {
        let dir = self.path(name);
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        std::fs::copy(&self.key, dir.join("keys/publisher.pub")).unwrap();
        let file = dir.join("policy.json");
        std::fs::write(
            &file,
            r#"{ "version": 1, "keys": [{ "path": "keys/publisher.pub" }] }"#,
        )
        .unwrap();
        file
    }

    /// `airlock unpack ARCHIVE --into dir:OUT` with this site's trusted
    /// root and state, plus `extra` and `env`.
    fn unpack_dir(&self, archive: &Path, out: &Path, extra: &[&str], env: &[(&str, &Path)]) -> Run {
        let target = format!("dir:{}", out.display());
        let mut args = vec![
            "unpack",
            s(archive),
            "--into",
            &target,
            "--trusted-root",
            s(&self.root),
            "--state-dir",
            s(&self.state),
        ];
        args.extend_from_slice(extra);
        cli::airlock(&args).envs(env).run()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn no_policy_is_refused_and_nothing_is_loaded() {
    let site = Site::new();
    let unsigned = site.packed("unsigned", 1, None);
    let out = site.path("out");
    let target = format!("dir:{}", out.display());
    for extra in [&[][..], &["--dry-run"][..]] {
        let mut args = vec!["unpack", s(&unsigned), "--into", &target];
        args.extend_from_slice(extra);
        let o = cli::airlock(&args).run();
        cli::assert_code(&o, 2);
        let line = o.stderr.trim();
        assert_eq!(line.lines().count(), 1, "one line: {line}");
        for named in [
            "--policy",
            "AIRLOCK_POLICY",
            "policy.json",
            "--insecure-no-policy",
        ] {
            assert!(line.contains(named), "names {named}: {line}");
        }
        assert!(!out.exists(), "nothing loaded");
    }
    let o = cli::airlock([
        "unpack",
        s(&unsigned),
        "--into",
        &target,
        "--output",
        "json",
    ])
    .run();
    cli::assert_refused(&o, 2, "no-policy");
    assert!(!out.exists());
}

#[test]
fn airlock_policy_names_the_policy_file() {
    let site = Site::new();
    let signed = site.packed("signed", 2, Some(3));
    let unsigned = site.packed("unsigned", 3, None);
    let policy = site.policy_file("env");
    let env = [("AIRLOCK_POLICY", policy.as_path())];

    let out = site.path("out-unsigned");
    let o = site.unpack_dir(&unsigned, &out, &[], &env);
    cli::assert_code(&o, 4);
    assert!(!out.exists());

    let out = site.path("out-signed");
    let o = site.unpack_dir(&signed, &out, &["--output", "json"], &env);
    cli::assert_code(&o, 0);
    assert!(out.join("index.json").is_file());
    let report = o.json();
    assert_eq!(report["policy"]["source"], "AIRLOCK_POLICY");
    assert_eq!(report["policy"]["file"], s(&policy));

    // verify resolves the policy the same way.
    let o = cli::airlock(["verify", s(&unsigned), "--trusted-root", s(&site.root)])
        .envs(&env)
        .run();
    cli::assert_code(&o, 4);
}

#[test]
fn site_policy_file_is_used() {
    let site = Site::new();
    let signed = site.packed("signed", 4, Some(5));
    let unsigned = site.packed("unsigned", 5, None);
    let policy = site.policy_file("etc-airlock");
    let env = [("AIRLOCK_SITE_POLICY", policy.as_path())];

    let out = site.path("out-unsigned");
    let o = site.unpack_dir(&unsigned, &out, &[], &env);
    cli::assert_code(&o, 4);
    assert!(!out.exists());

    let out = site.path("out-signed");
    let o = site.unpack_dir(&signed, &out, &[], &env);
    cli::assert_code(&o, 0);
    assert!(o.stdout.contains("site policy"), "{}", o.stdout);
    assert!(out.join("index.json").is_file());

    // AIRLOCK_POLICY wins over the site file: this one trusts nobody we sign with.
    let other = site.path("other.json");
    std::fs::write(
        &other,
        format!(
            r#"{{ "version": 1, "keys": [{}] }}"#,
            serde_json::json!(common::forge::pem(&common::forge::key()))
        ),
    )
    .unwrap();
    let out = site.path("out-other");
    let o = site.unpack_dir(
        &signed,
        &out,
        &[],
        &[env[0], ("AIRLOCK_POLICY", other.as_path())],
    );
    cli::assert_code(&o, 4);
    assert!(!out.exists());
}

#[test]
fn insecure_no_policy_loads_and_says_insecure() {
    let site = Site::new();
    let unsigned = site.packed("unsigned", 6, None);
    let out = site.path("out");
    let target = format!("dir:{}", out.display());
    let o = cli::airlock([
        "unpack",
        s(&unsigned),
        "--into",
        &target,
        "--insecure-no-policy",
    ])
    .run();
    let warned = cli::ok(&o);
    assert!(o.stdout.contains("INSECURE"), "{}", o.stdout);
    assert!(warned.contains("INSECURE"), "{warned}");
    assert!(out.join("index.json").is_file());

    let out = site.path("out-json");
    let target = format!("dir:{}", out.display());
    let o = cli::airlock([
        "unpack",
        s(&unsigned),
        "--into",
        &target,
        "--insecure-no-policy",
        "--output",
        "json",
    ])
    .run();
    cli::assert_code(&o, 0);
    let report = o.json();
    assert_eq!(report["policy"]["source"], "none");
    assert!(
        report["gate"].as_str().unwrap().contains("INSECURE"),
        "{report}"
    );
    let insecure = report["insecure"].as_array().unwrap();
    assert!(
        insecure[0]
            .as_str()
            .unwrap()
            .contains("--insecure-no-policy"),
        "{report}"
    );
}

#[test]
fn insecure_no_policy_contradicts_any_policy() {
    let site = Site::new();
    let signed = site.packed("signed", 7, Some(1));
    let policy = site.policy_file("p");
    let out = site.path("out");
    let o = site.unpack_dir(
        &signed,
        &out,
        &["--insecure-no-policy", "--key", s(&site.key)],
        &[],
    );
    cli::assert_code(&o, 2);
    let o = site.unpack_dir(
        &signed,
        &out,
        &["--insecure-no-policy", "--policy", s(&policy)],
        &[],
    );
    cli::assert_code(&o, 2);
    let o = site.unpack_dir(
        &signed,
        &out,
        &["--insecure-no-policy"],
        &[("AIRLOCK_POLICY", policy.as_path())],
    );
    cli::assert_code(&o, 2);
    assert!(o.stderr.contains("AIRLOCK_POLICY"), "{}", o.stderr);
    assert!(!out.exists());
}

#[test]
fn verify_without_policy_still_checks_integrity_only() {
    let site = Site::new();
    let unsigned = site.packed("unsigned", 8, None);
    let o = cli::airlock(["verify", s(&unsigned)]).run();
    cli::ok(&o);
    assert!(o.stdout.starts_with("OK archive"), "{}", o.stdout);
}
