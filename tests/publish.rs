//! The publisher side used by `make demo`, end to end on real parts: the
//! library publisher pushes a signed multi-arch image to the real
//! distribution registry, logging each signature in our Rekor test server
//! over HTTP; `airlock pack` from the registry then stores the inclusion
//! proofs, and the archive verifies offline with `--require-inclusion-proof`.

mod common;

use std::path::Path;

use airlock::model::manifest::{ArchiveManifest, EvidenceRole};
use airlock_testkit::publish::RegistryTarget;
use airlock_testkit::rekor_server::{Log, RekorServer};
use airlock_testkit::signed::{self, PublishRequest, Published};
use common::cli::{self, ok, Run};
use common::registry::Registry;

/// Every place a run could keep rollback state by default, each a directory
/// this test owns: `AIRLOCK_STATE_DIR`, `XDG_STATE_HOME` and
/// `XDG_DATA_HOME` (the harness would otherwise point the XDG ones at a
/// throwaway home, where a stray write goes unseen).
struct StateGuard {
    dir: tempfile::TempDir,
}

impl StateGuard {
    const VARS: [&'static str; 3] = ["AIRLOCK_STATE_DIR", "XDG_STATE_HOME", "XDG_DATA_HOME"];

    fn new() -> StateGuard {
        let dir = tempfile::tempdir().unwrap();
        for var in Self::VARS {
            std::fs::create_dir(dir.path().join(var)).unwrap();
        }
        StateGuard { dir }
    }

    /// `airlock ARGS…` with each default state location in this guard.
    fn airlock<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> cli::Airlock {
        Self::VARS.iter().fold(cli::airlock(args), |a, var| {
            a.env(var, self.dir.path().join(var))
        })
    }

    /// Asserts that no run wrote anything in any of them.
    fn assert_untouched(&self, after: &str) {
        for var in Self::VARS {
            let written: Vec<_> = walkdir::WalkDir::new(self.dir.path().join(var))
                .min_depth(1)
                .into_iter()
                .map(|e| e.unwrap().path().display().to_string())
                .collect();
            assert!(
                written.is_empty(),
                "{after} wrote under ${var}: {written:?}"
            );
        }
    }
}

/// demo/busybox:TAG on a plain-HTTP registry, logged in `rekor_url`.
fn request(reg: &Registry, tag: &str, rekor_url: String, work_dir: &Path) -> PublishRequest {
    PublishRequest {
        target: RegistryTarget {
            host: reg.host.clone(),
            insecure: true,
            ..RegistryTarget::default()
        },
        repo: "demo/busybox".into(),
        tag: tag.into(),
        busybox: "/bin/busybox".into(),
        rekor_url: Some(rekor_url),
        work_dir: work_dir.to_path_buf(),
    }
}

struct World {
    reg: Registry,
    rekor: RekorServer,
    tmp: tempfile::TempDir,
    published: Published,
    guard: StateGuard,
}

impl World {
    fn new() -> Option<World> {
        let reg = Registry::plain()?;
        let rekor = RekorServer::start("127.0.0.1:0", Log::generate("rekor.publish.test").unwrap())
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let (key, public) = signed::generate_key(&tmp.path().join("publisher")).unwrap();
        assert!(public.exists());
        std::fs::write(
            tmp.path().join("trusted_root.json"),
            rekor.log().trusted_root(&rekor.url()).to_string(),
        )
        .unwrap();
        let req = request(&reg, "1.36", rekor.url(), &tmp.path().join("work"));
        if !Path::new("/bin/busybox").exists() {
            assert!(std::env::var_os("CI").is_none(), "busybox-static missing");
            return None;
        }
        let published =
            signed::publish_signed_busybox(&req, &signed::load_key(&key).unwrap()).unwrap();
        Some(World {
            reg,
            rekor,
            tmp,
            published,
            guard: StateGuard::new(),
        })
    }

    fn path(&self, name: &str) -> String {
        self.tmp.path().join(name).display().to_string()
    }

    fn policy(&self) -> Vec<String> {
        vec![
            "--key".into(),
            self.path("publisher.pub"),
            "--trusted-root".into(),
            self.path("trusted_root.json"),
        ]
    }

    fn pack(&self, out: &str) -> Run {
        self.guard
            .airlock(&["pack", "-q", "--insecure-registry", &self.reg.host])
            .args(["--rekor-url", &self.rekor.url()])
            .args(["--cache-dir", &self.path("cache")])
            .args(["--arch", "amd64", "-o", &self.path(out)])
            .arg(&self.published.reference)
            .args(self.policy())
            .run()
    }
}

#[test]
fn published_image_packs_with_rekor_proofs_and_verifies_offline() {
    let Some(w) = World::new() else { return };
    assert!(w.published.logged);
    assert_eq!(w.published.platforms.len(), 2);
    assert_eq!(w.published.signatures.len(), 3, "index + two platforms");
    assert_eq!(w.rekor.log().size(), 3, "every signature logged");

    ok(&w.pack("a.tar"));
    // Rollback is checked on the receiving host: pack keeps no state.
    w.guard.assert_untouched("pack");
    let m: ArchiveManifest = serde_json::from_slice(
        &std::process::Command::new("tar")
            .args(["-xOf", &w.path("a.tar"), "airlock.json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let image = &m.images[0];
    assert_eq!(image.manifest_digest, w.published.platforms[0].1);
    let count = |role: EvidenceRole| image.evidence.iter().filter(|e| e.role == role).count();
    assert_eq!(
        count(EvidenceRole::Signature),
        2,
        "index and amd64 signatures"
    );
    assert_eq!(
        count(EvidenceRole::RekorProof),
        2,
        "one proof per signature"
    );
    assert_eq!(count(EvidenceRole::Sbom), 1);
    assert_eq!(count(EvidenceRole::Attestation), 1, "SLSA provenance .att");

    // verify --record records its rollback marks where --state-dir says, and
    // nowhere else.
    let marks = w.tmp.path().join("marks");
    let o = w
        .guard
        .airlock(&[
            "verify",
            "--record",
            "--require-inclusion-proof",
            "--allow-downgrade",
        ])
        .args(w.policy())
        .arg("--state-dir")
        .arg(&marks)
        .arg(w.path("a.tar"))
        .run();
    ok(&o);
    w.guard.assert_untouched("verify --state-dir");
    let recorded = std::fs::read_dir(marks.join("rollback")).unwrap().count();
    assert_eq!(recorded, 1, "one mark for the amd64 image");
}

#[test]
fn resigning_logs_new_entries_so_archives_are_ordered() {
    let Some(w) = World::new() else { return };
    let first = w.rekor.log().size();
    let req = request(&w.reg, "1.36", w.rekor.url(), &w.tmp.path().join("work2"));
    let key = signed::load_key(&w.tmp.path().join("publisher.key")).unwrap();
    let again = signed::publish_signed_busybox(&req, &key).unwrap();
    assert_eq!(again.index, w.published.index, "same image content");
    assert_ne!(again.signatures, w.published.signatures, "fresh signatures");
    assert_eq!(w.rekor.log().size(), first + 3, "new log entries, no 409");
}

#[test]
fn unreachable_rekor_is_a_clear_publish_error() {
    let Some(reg) = Registry::plain() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (key, _) = signed::generate_key(&tmp.path().join("k")).unwrap();
    let dead = format!("http://127.0.0.1:{}", common::registry::free_port());
    let req = request(&reg, "1", dead, &tmp.path().join("work"));
    let e = signed::publish_signed_busybox(&req, &signed::load_key(&key).unwrap()).unwrap_err();
    assert!(e.to_string().contains("/api/v1/log/entries"), "{e}");
}
