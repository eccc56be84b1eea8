//! A check must not change state: `verify` reads the rollback marks (and
//! still refuses a rollback, exit 5) but writes them only with `--record`;
//! `unpack` records as before.

mod common;

use std::path::{Path, PathBuf};

use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, Run};
use common::site::Site;

const REF: &str = "registry.example.org/team/app:2.0";

impl Site {
    /// An archive of one amd64 image signed with a SET at `log_index`.
    fn signed(&self, name: &str, seed: u64, log_index: i64) -> PathBuf {
        let mut l = Layout::create(self.path(name)).unwrap();
        let layer = l.add_random_layer(20_000, seed).unwrap();
        let m = l
            .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
            .unwrap();
        l.tag(REF, &m);
        self.sign(&mut l, &m.digest, REF, log_index);
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
        cli::assert_code(&o, 0);
        out
    }

    fn policy_args<'a>(&'a self, cmd: &'a str, archive: &'a Path) -> Vec<&'a str> {
        vec![
            cmd,
            s(archive),
            "--key",
            s(&self.key),
            "--trusted-root",
            s(&self.root),
            "--state-dir",
            s(&self.state),
        ]
    }

    fn verify(&self, archive: &Path, extra: &[&str]) -> Run {
        let mut args = self.policy_args("verify", archive);
        args.extend_from_slice(extra);
        cli::airlock(&args).run()
    }

    fn unpack_into(&self, archive: &Path, out: &Path) -> Run {
        let target = format!("dir:{}", out.display());
        let mut args = self.policy_args("unpack", archive);
        args.extend_from_slice(&["--into", &target]);
        cli::airlock(&args).run()
    }

    /// Every file under the state directory, with its bytes.
    fn state(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut v: Vec<_> = walkdir::WalkDir::new(&self.state)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
            .collect();
        v.sort();
        v
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn verify_without_record_leaves_the_state_untouched() {
    let site = Site::new();
    let v10 = site.signed("v10", 1, 10);
    let v5 = site.signed("v5", 2, 5);
    cli::ok(&site.verify(&v10, &[]));
    assert!(!site.state.exists(), "verify created {:?}", site.state());
    // Checking a newer archive at a transfer station does not make an
    // older one a rollback on this host.
    cli::ok(&site.verify(&v5, &[]));
    let out = site.path("out");
    cli::ok(&site.unpack_into(&v5, &out));
    assert!(out.join("index.json").is_file());
    let marks = site
        .state()
        .into_iter()
        .filter(|(p, _)| p.starts_with(site.state.join("rollback")))
        .count();
    assert_eq!(marks, 1, "unpack records its rollback mark as before");
}

#[test]
fn verify_record_writes_the_mark() {
    let site = Site::new();
    let v10 = site.signed("v10", 3, 10);
    let v5 = site.signed("v5", 4, 5);
    cli::ok(&site.verify(&v10, &["--record"]));
    let marks = site.state();
    assert_eq!(marks.len(), 1, "the accepted mark is recorded");
    let o = site.verify(&v5, &["--output", "json"]);
    cli::assert_refused(&o, 5, "rollback");
    assert_eq!(site.state(), marks);
}

#[test]
fn verify_reads_what_unpack_recorded() {
    let site = Site::new();
    let v10 = site.signed("v10", 5, 10);
    let v5 = site.signed("v5", 6, 5);
    cli::ok(&site.unpack_into(&v10, &site.path("out")));
    let marks = site.state();
    let o = site.verify(&v5, &[]);
    cli::assert_code(&o, 5);
    assert_eq!(site.state(), marks, "a refused check changes nothing");
}

#[test]
fn record_needs_a_policy() {
    let site = Site::new();
    let v1 = site.signed("v1", 7, 1);
    let o = cli::airlock(["verify", s(&v1), "--record"]).run();
    cli::assert_code(&o, 2);
    assert!(o.stderr.contains("--record"), "{}", o.stderr);
}
