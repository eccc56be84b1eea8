//! Registry mistakes an operator makes, and the one line that tells them
//! what to do: a plain-HTTP registry addressed over HTTPS, and credentials
//! kept where skopeo and podman keep them (`REGISTRY_AUTH_FILE`,
//! `$XDG_RUNTIME_DIR/containers/auth.json`). Real Debian `docker-registry`
//! (tests/common/registry.rs).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use airlock::model::Digest;
use airlock_testkit::{ImageSpec, Layout, Platform};
use base64::Engine as _;
use common::cli::{self, failed, ok};
use common::registry::{Registry, PASSWORD, USER};

/// A registry holding one small unsigned image, `team/app:1`.
struct World {
    reg: Registry,
    tmp: tempfile::TempDir,
    image: Digest,
}

fn world(reg: Option<Registry>) -> Option<World> {
    let reg = reg?;
    let tmp = tempfile::tempdir().unwrap();
    let mut l = Layout::create(tmp.path().join("layout")).unwrap();
    let layer = l.add_random_layer(20_000, 7).unwrap();
    let m = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
        .unwrap();
    let dir = l.finish().unwrap();
    let image = reg
        .pusher()
        .push_layout(&dir, &m.digest, &m.media_type, "team/app", Some("1"));
    Some(World { reg, tmp, image })
}

impl World {
    fn reference(&self) -> String {
        format!("{}/team/app:1", self.reg.host)
    }

    fn out(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `airlock pack HOST/team/app:1 EXTRA… -o OUT` with a private cache
    /// and no docker config.
    fn pack(&self, extra: &[&str], out: &Path) -> cli::Airlock {
        cli::airlock(["pack", &self.reference()])
            .args(extra)
            .arg("--cache-dir")
            .arg(self.tmp.path().join("cache"))
            .arg("-o")
            .arg(out)
            .env("DOCKER_CONFIG", self.tmp.path().join("no-docker-config"))
    }

    /// A containers `auth.json` holding the test registry's credentials.
    fn auth_json(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
        cli::put(
            dir,
            "auth.json",
            format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, self.reg.host),
        )
    }
}

fn packed_digest(out: &Path) -> Digest {
    airlock::pipeline::inspect(out).unwrap().manifest.images[0].manifest_digest
}

#[test]
fn plain_http_registry_addressed_over_https_fails_at_once_with_the_flag_to_add() {
    let Some(w) = world(Registry::plain()) else {
        return;
    };
    let out = w.out("https.tar");
    let started = Instant::now();
    let r = w.pack(&[], &out).run();
    let took = started.elapsed();
    let err = failed(&r, 1);
    let host = &w.reg.host;
    let hint = format!(
        "{host} speaks plain HTTP, not HTTPS; if that is intended, add --insecure-registry {host}"
    );
    assert!(err.contains(&hint), "{err}");
    assert!(!err.contains("attempts"), "retried: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // Retries would take 250+500+1000+2000 ms of backoff alone.
    assert!(took < Duration::from_secs(2), "took {took:?}: {err}");
    eprintln!("plain HTTP over HTTPS refused after {took:?}");
    assert!(!out.exists());
    // The flag it names works.
    ok(&w.pack(&["--insecure-registry", host], &out).run());
    assert_eq!(packed_digest(&out), w.image);
}

#[test]
fn credentials_from_registry_auth_file() {
    let Some(w) = world(Registry::secure()) else {
        return;
    };
    let ca = w.reg.ca_file();
    let ca = ca.to_str().unwrap();
    let out = w.out("auth-file.tar");
    // Without it the registry refuses: the credentials come from the file.
    let err = failed(&w.pack(&["--ca-file", ca], &out).run(), 1);
    assert!(err.contains("refused access"), "{err}");
    let file = w.auth_json(&w.tmp.path().join("elsewhere"));
    ok(&w
        .pack(&["--ca-file", ca], &out)
        .env("REGISTRY_AUTH_FILE", &file)
        .run());
    assert_eq!(packed_digest(&out), w.image);
}

#[test]
fn credentials_from_xdg_runtime_dir_containers_auth_json() {
    let Some(w) = world(Registry::secure()) else {
        return;
    };
    let ca = w.reg.ca_file();
    let ca = ca.to_str().unwrap();
    let runtime = w.tmp.path().join("run");
    w.auth_json(&runtime.join("containers"));
    let out = w.out("xdg.tar");
    ok(&w
        .pack(&["--ca-file", ca], &out)
        .env("XDG_RUNTIME_DIR", &runtime)
        .run());
    assert_eq!(packed_digest(&out), w.image);
}

#[test]
fn docker_config_comes_before_containers_auth_json() {
    let Some(w) = world(Registry::secure()) else {
        return;
    };
    let ca = w.reg.ca_file();
    let ca = ca.to_str().unwrap();
    // A wrong password in the docker config wins over the right one in
    // auth.json: the docker lookup order is kept, auth.json comes after.
    let docker = w.tmp.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let bad = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:wrong"));
    cli::put(
        &docker,
        "config.json",
        format!(r#"{{"auths":{{"{}":{{"auth":"{bad}"}}}}}}"#, w.reg.host),
    );
    let file = w.auth_json(&w.tmp.path().join("elsewhere"));
    let out = w.out("order.tar");
    let r = w
        .pack(&["--ca-file", ca], &out)
        .env("DOCKER_CONFIG", &docker)
        .env("REGISTRY_AUTH_FILE", &file)
        .run();
    let err = failed(&r, 1);
    assert!(err.contains("refused access"), "{err}");
}
