//! unpack behind the trust policy: the Dangerzone flow (key-based cosign
//! signature, `--key publisher.pub`), refusals that leave nothing behind,
//! and rollback remembered across runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, Run};
use common::forge;
use common::site::Site;

const REF: &str = "registry.example.org/dangerzone/dangerzone:1.0";

/// What these tests build and run on the shared site (`common::site::Site`
/// is this test crate's own type, so it takes methods here).
impl Site {
    /// An archive of one amd64 image, signed (or not) with a SET at `log_index`.
    fn archive(&self, name: &str, seed: u64, log_index: Option<i64>) -> PathBuf {
        let mut l = Layout::create(self.path(name)).unwrap();
        let layer = l.add_random_layer(60_000, seed).unwrap();
        let m = l
            .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
            .unwrap();
        l.tag(REF, &m);
        if let Some(i) = log_index {
            self.sign(&mut l, &m.digest, REF, i);
        }
        let layout = l.finish().unwrap();
        let out = self.path(&format!("{name}.tar"));
        let o = run(
            &[
                "pack",
                "--no-rekor",
                "--arch",
                "amd64",
                "--from-oci-layout",
                s(&layout),
                "-o",
                s(&out),
            ],
            &[],
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        out
    }

    fn unpack(
        &self,
        archive: &Path,
        into: &str,
        key: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Run {
        let mut args = vec![
            "unpack",
            s(archive),
            "--into",
            into,
            "--key",
            s(key),
            "--trusted-root",
            s(&self.root),
            "--state-dir",
            s(&self.state),
        ];
        args.extend_from_slice(extra);
        run(&args, env)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `airlock ARGS…` through the shared harness, with `env` set.
fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    cli::airlock(args).envs(env).run()
}

fn code(o: &Run) -> i32 {
    o.code
}

fn stderr(o: &Run) -> String {
    o.stderr.clone()
}

fn state_files(state: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = walkdir::WalkDir::new(state)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn dangerzone_flow_into_dir_with_rollback() {
    let site = Site::new();
    let v10 = site.archive("v10", 1, Some(10));
    let v5 = site.archive("v5", 2, Some(5));

    let out = site.path("images-10");
    let target = format!("dir:{}", out.display());
    let o = site.unpack(&v10, &target, &site.key, &[], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(out.join("index.json").is_file());
    let marks = state_files(&site.state);
    assert!(!marks.is_empty(), "the accepted log index is remembered");

    // An older signed archive next time: refused, nothing written, state kept.
    let older = site.path("images-5");
    let o = site.unpack(
        &v5,
        &format!("dir:{}", older.display()),
        &site.key,
        &[],
        &[],
    );
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert!(!older.exists());
    assert_eq!(state_files(&site.state), marks);

    // The operator may force it.
    let o = site.unpack(
        &v5,
        &format!("dir:{}", older.display()),
        &site.key,
        &["--allow-downgrade"],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(older.join("index.json").is_file());
}

#[test]
fn wrong_key_and_missing_signature_leave_nothing() {
    let site = Site::new();
    let signed = site.archive("signed", 3, Some(7));
    let unsigned = site.archive("unsigned", 4, None);
    let other = site.path("other.pub");
    std::fs::write(&other, forge::pem(&forge::key())).unwrap();

    let out = site.path("out");
    let target = format!("dir:{}", out.display());
    let o = site.unpack(&signed, &target, &other, &[], &[]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert_eq!(
        stderr(&o).lines().count(),
        1,
        "one clear line: {}",
        stderr(&o)
    );
    assert!(!out.exists());

    let o = site.unpack(&unsigned, &target, &site.key, &[], &[]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(!out.exists());
    assert!(
        state_files(&site.state).is_empty(),
        "no state written on refusal"
    );

    // --dry-run verifies with the policy and writes nothing.
    let o = site.unpack(&signed, &target, &site.key, &["--dry-run"], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn podman_target_behind_the_policy() {
    let found = Command::new("sh")
        .args(["-c", "command -v podman"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "podman is required when CI is set"
        );
        return;
    }
    let site = Site::new();
    let store = tempfile::tempdir().unwrap();
    let args = format!(
        "--root={} --runroot={} --storage-driver=vfs",
        store.path().join("root").display(),
        store.path().join("run").display()
    );
    let env = [("AIRLOCK_PODMAN_ARGS", args.as_str())];
    let images = || {
        let o = Command::new("podman")
            .args(args.split_whitespace())
            .args(["images", "--all", "--quiet", "--no-trunc"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let v10 = site.archive("p10", 5, Some(10));
    let v5 = site.archive("p5", 6, Some(5));
    let other = site.path("other.pub");
    std::fs::write(&other, forge::pem(&forge::key())).unwrap();

    let o = site.unpack(&v10, "podman", &other, &[], &env);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert_eq!(images(), "", "a wrong key loads nothing");

    let o = site.unpack(&v10, "podman", &site.key, &[], &env);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let loaded = images();
    assert_eq!(loaded.lines().count(), 1);

    let o = site.unpack(&v5, "podman", &site.key, &[], &env);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert_eq!(images(), loaded, "a rollback loads nothing");
}
