//! `airlock pack` from a live registry (Debian's docker-registry on
//! loopback): platform selection, tag vs digest, auth, TLS, evidence
//! discovery, failure modes, caching and determinism. See
//! tests/common/registry.rs for the registry harness.

mod common;

use std::path::{Path, PathBuf};

use airlock::model::manifest::{ArchiveManifest, EvidenceRole};
use airlock::model::Digest;
use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, failed, ok, s, Run};
use common::registry::{Fault, FaultyProxy, FlakyProxy, Registry, PASSWORD, USER};
use p256::ecdsa::{signature::Signer as _, DerSignature, SigningKey};

const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

struct World {
    reg: Registry,
    tmp: tempfile::TempDir,
    index: Digest,
    amd64: Digest,
    arm64: Digest,
    plain: Digest,
    shared_layer: Digest,
    amd64_layer: Digest,
    signature: Digest,
    sbom: Digest,
    attestation: Digest,
    bundle: Digest,
}

fn dg(s: &str) -> Digest {
    s.parse().unwrap()
}

/// multi:1 = index(amd64, arm64/v8) sharing a layer; a cosign signature on
/// the index; an SBOM, an `.att` (DSSE SLSA provenance) and a bundle
/// referrer on the amd64 manifest.
/// plain:1 = unsigned single-platform amd64 image sharing that layer.
fn world(reg: Registry) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let mut l = Layout::create(tmp.path().join("layout")).unwrap();
    let shared = l.add_random_layer(300_000, 1).unwrap();
    let a = l.add_random_layer(2_000_000, 2).unwrap();
    let b = l.add_random_layer(200_000, 3).unwrap();
    let c = l.add_random_layer(100_000, 4).unwrap();
    let amd = l
        .add_image(
            &ImageSpec::new(Platform::linux("amd64")),
            &[shared.clone(), a.clone()],
        )
        .unwrap();
    let arm = l
        .add_image(
            &ImageSpec::new(Platform::linux("arm64/v8")),
            &[shared.clone(), b],
        )
        .unwrap();
    let idx = l
        .add_index(&[
            (amd.clone(), Platform::linux("amd64")),
            (arm.clone(), Platform::linux("arm64/v8")),
        ])
        .unwrap();
    let plain = l
        .add_image(
            &ImageSpec::new(Platform::linux("amd64")),
            &[shared.clone(), c],
        )
        .unwrap();
    let dir = l.finish().unwrap();
    let p = reg.pusher();
    let index = p.push_layout(&dir, &idx.digest, &idx.media_type, "team/multi", Some("1"));
    let plain = p.push_layout(
        &dir,
        &plain.digest,
        &plain.media_type,
        "team/plain",
        Some("1"),
    );
    let key = SigningKey::random(&mut rand_core::OsRng);
    let attestation = p.cosign_attestation("team/multi", &dg(&amd.digest), &key);
    let sign = move |data: &[u8]| {
        let s: DerSignature = key.sign(data);
        s.as_bytes().to_vec()
    };
    let signature = p.cosign_signature("team/multi", &index, &sign);
    let amd64 = dg(&amd.digest);
    let sbom = p.cosign_sbom("team/multi", &amd64);
    let mut listed = Vec::new();
    let bundle = p.referrer(
        "team/multi",
        (&amd64, &amd.media_type, amd.size),
        BUNDLE_TYPE,
        br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#,
        &mut listed,
    );
    World {
        reg,
        tmp,
        index,
        amd64,
        arm64: dg(&arm.digest),
        plain,
        shared_layer: dg(&shared.descriptor.digest),
        amd64_layer: dg(&a.descriptor.digest),
        signature,
        sbom,
        attestation,
        bundle,
    }
}

fn plain_world() -> Option<World> {
    Registry::plain().map(world)
}

/// `airlock ARGS…` that finds no docker config and, without
/// `--cache-dir`, caches under a throwaway directory, never the user's.
fn airlock<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> cli::Airlock {
    cli::airlock(args)
        .env("DOCKER_CONFIG", "/nonexistent-airlock-test")
        .env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join("airlock-test-cache"),
        )
}

impl World {
    fn image(&self, repo_tag: &str) -> String {
        format!("{}/team/{repo_tag}", self.reg.host)
    }

    fn out(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn cache(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }

    /// `airlock pack` with the registry flags, a private cache and `extra`.
    fn pack(&self, extra: &[&str], out: &Path) -> Run {
        self.pack_with_cache(extra, out, &self.cache()).run()
    }

    fn pack_with_cache(&self, extra: &[&str], out: &Path, cache: &Path) -> cli::Airlock {
        airlock(&["pack"])
            .args(self.reg.pack_flags())
            .args(extra)
            .arg("--cache-dir")
            .arg(cache)
            .arg("-o")
            .arg(out)
    }

    /// `airlock pack HOST/team/multi:1` through `host` (a proxy, or nothing
    /// at all) as an insecure registry, with the private cache.
    fn pack_via(&self, host: &str, extra: &[&str], out: &Path) -> Run {
        airlock(&[
            "pack",
            &format!("{host}/team/multi:1"),
            "--insecure-registry",
            host,
        ])
        .args(extra)
        .arg("--cache-dir")
        .arg(self.cache())
        .arg("-o")
        .arg(out)
        .run()
    }

    /// A docker config directory holding `config` as config.json.
    fn docker_config(&self, config: &str) -> PathBuf {
        let cfg = self.tmp.path().join("docker");
        std::fs::create_dir_all(&cfg).unwrap();
        cli::put(&cfg, "config.json", config);
        cfg
    }

    /// `airlock pack plain:1` over TLS with the test CA and no credential
    /// flags: what the docker config in `cfg` provides is all it has.
    fn pack_with_docker_config(&self, cfg: &Path, out: &Path) -> cli::Airlock {
        airlock(&["pack", &self.image("plain:1"), "--ca-file"])
            .arg(self.reg.ca_file())
            .arg("--cache-dir")
            .arg(self.cache())
            .arg("-o")
            .arg(out)
            .env("DOCKER_CONFIG", cfg)
    }
}

/// Whether the amd64 layer is a finished blob of the cache at `cache`.
fn layer_cached(w: &World, cache: &Path) -> bool {
    cache
        .join("blobs/sha256")
        .join(w.amd64_layer.hex())
        .exists()
}

/// The digests an archive lists, in its order.
fn blob_digests(archive: &Path) -> Vec<Digest> {
    manifest_of(archive)
        .blobs
        .iter()
        .map(|b| b.digest)
        .collect()
}

fn manifest_of(archive: &Path) -> ArchiveManifest {
    airlock::pipeline::inspect(archive).unwrap().manifest
}

fn verifies(archive: &Path) {
    ok(&cli::run(&["verify", s(archive)]));
}

#[test]
fn picks_amd64_from_the_index_with_its_evidence() {
    let Some(w) = plain_world() else { return };
    let out = w.out("a.tar");
    let err = ok(&w.pack(&[&w.image("multi:1"), "--arch", "x86_64"], &out));
    assert!(!err.contains("no signatures"), "{err}");
    verifies(&out);
    let m = manifest_of(&out);
    assert_eq!(m.images.len(), 1);
    let i = &m.images[0];
    assert_eq!(i.source, "registry");
    assert_eq!(i.platform.as_ref().unwrap().architecture, "amd64");
    assert_eq!(i.manifest_digest, w.amd64);
    assert_eq!(i.index_digest, Some(w.index));
    assert_eq!(i.reference, w.image("multi:1"));
    let ev: Vec<(EvidenceRole, Digest, Digest)> = i
        .evidence
        .iter()
        .map(|e| (e.role, e.digest, e.subject))
        .collect();
    assert!(
        ev.contains(&(EvidenceRole::Signature, w.signature, w.index)),
        "{ev:?}"
    );
    assert!(
        ev.contains(&(EvidenceRole::Sbom, w.sbom, w.amd64)),
        "{ev:?}"
    );
    assert!(
        ev.contains(&(EvidenceRole::Attestation, w.attestation, w.amd64)),
        "{ev:?}"
    );
    assert!(
        ev.contains(&(EvidenceRole::Bundle, w.bundle, w.amd64)),
        "{ev:?}"
    );
    let sig = i
        .evidence
        .iter()
        .find(|e| e.role == EvidenceRole::Signature)
        .unwrap();
    assert_eq!(
        sig.tag.as_deref(),
        Some(format!("sha256-{}.sig", w.index.hex()).as_str())
    );
    // the index, the evidence manifests and their blobs are all in the archive
    for d in [
        w.index,
        w.signature,
        w.sbom,
        w.attestation,
        w.bundle,
        w.amd64_layer,
    ] {
        assert!(m.blob(&d).is_some(), "{d} missing");
    }
}

#[test]
fn picks_arm64_v8() {
    let Some(w) = plain_world() else { return };
    let out = w.out("b.tar");
    ok(&w.pack(
        &[&w.image("multi:1"), "--arch", "aarch64", "--variant", "v8"],
        &out,
    ));
    verifies(&out);
    let m = manifest_of(&out);
    assert_eq!(m.images.len(), 1);
    assert_eq!(m.images[0].manifest_digest, w.arm64);
    assert_eq!(
        m.images[0].platform.as_ref().unwrap().variant.as_deref(),
        Some("v8")
    );
    assert!(m.blob(&w.amd64_layer).is_none());
    // the index signature applies to every platform
    assert!(m.images[0].evidence.iter().any(|e| e.digest == w.signature));
}

#[test]
fn all_platforms_takes_both() {
    let Some(w) = plain_world() else { return };
    let out = w.out("all.tar");
    ok(&w.pack(&[&w.image("multi:1"), "--all-platforms"], &out));
    let m = manifest_of(&out);
    let got: Vec<Digest> = m.images.iter().map(|i| i.manifest_digest).collect();
    assert!(got.contains(&w.amd64) && got.contains(&w.arm64), "{got:?}");
}

#[test]
fn missing_platform_names_the_platforms_that_exist() {
    let Some(w) = plain_world() else { return };
    let out = w.out("c.tar");
    let err = failed(&w.pack(&[&w.image("multi:1"), "--arch", "s390x"], &out), 1);
    assert!(
        err.contains("linux/amd64") && err.contains("linux/arm64/v8"),
        "{err}"
    );
    assert!(!out.exists());
    // a single-platform image for another platform is refused too
    let err = failed(&w.pack(&[&w.image("plain:1"), "--arch", "arm64"], &out), 1);
    assert!(err.contains("linux/amd64"), "{err}");
}

#[test]
fn tag_and_digest_give_the_same_image() {
    let Some(w) = plain_world() else { return };
    let (a, b) = (w.out("tag.tar"), w.out("digest.tar"));
    ok(&w.pack(&[&w.image("plain:1")], &a));
    let by_digest = format!("{}/team/plain@{}", w.reg.host, w.plain);
    ok(&w.pack(&[&by_digest], &b));
    let (ma, mb) = (manifest_of(&a), manifest_of(&b));
    assert_eq!(ma.images[0].manifest_digest, w.plain);
    assert_eq!(mb.images[0].manifest_digest, w.plain);
    assert_eq!(mb.images[0].reference, by_digest);
    assert_eq!(ma.blobs, mb.blobs);
    // a digest the registry does not have
    let missing = format!("{}/team/plain@sha256:{}", w.reg.host, "0".repeat(64));
    let err = failed(&w.pack(&[&missing], &w.out("m.tar")), 1);
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn unsigned_image_warns_and_records_no_evidence() {
    let Some(w) = plain_world() else { return };
    let out = w.out("u.tar");
    let err = ok(&w.pack(&[&w.image("plain:1")], &out));
    assert!(
        err.contains("warning") && err.contains("no signatures"),
        "{err}"
    );
    let m = manifest_of(&out);
    assert!(m.images[0].evidence.is_empty());
    verifies(&out);
}

#[test]
fn shared_layers_are_stored_once_and_lists_are_read() {
    let Some(w) = plain_world() else { return };
    let list = w.out("images.txt");
    std::fs::write(
        &list,
        format!(
            "# two images\n{}  # multi\n\n{}\n",
            w.image("multi:1"),
            w.image("plain:1")
        ),
    )
    .unwrap();
    let out = w.out("s.tar");
    ok(&w.pack(&["-f", list.to_str().unwrap(), "--arch", "amd64"], &out));
    verifies(&out);
    let m = manifest_of(&out);
    assert_eq!(m.images.len(), 2);
    assert_eq!(
        m.blobs
            .iter()
            .filter(|b| b.digest == w.shared_layer)
            .count(),
        1
    );
    let bytes = std::fs::read(&out).unwrap();
    let name = format!("blobs/sha256/{}", w.shared_layer.hex());
    let mut ar = tar::Archive::new(&bytes[..]);
    let n = ar
        .entries()
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().unwrap().to_str() == Some(name.as_str()))
        .count();
    assert_eq!(n, 1);
}

#[test]
fn same_registry_state_packs_byte_identical_archives() {
    let Some(w) = plain_world() else { return };
    let (a, b) = (w.out("d1.tar"), w.out("d2.tar"));
    let args = [w.image("multi:1"), w.image("plain:1")];
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .chain(["--arch", "amd64"])
        .collect();
    ok(&w.pack(&args, &a));
    // second run: cold cache, so nothing is shared between the runs but the registry
    ok(&w
        .pack_with_cache(&args, &b, &w.tmp.path().join("cache2"))
        .run());
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn finished_blobs_come_from_the_cache() {
    let Some(w) = plain_world() else { return };
    let out = w.out("c1.tar");
    ok(&w.pack(
        &[&w.image("multi:1"), "--arch", "amd64", "--cache-layers"],
        &out,
    ));
    // the registry loses the big layer; the cached copy is used, not re-fetched
    std::fs::remove_file(w.reg.blob_data_path(&w.amd64_layer)).unwrap();
    let again = w.out("c2.tar");
    ok(&w.pack(&[&w.image("multi:1"), "--arch", "amd64"], &again));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
}

/// By default layers stream from the registry into the archive (written
/// once): the cache does not get them, and the archive is byte for byte
/// the one a `--cache-layers` pack (download, then copy) writes.
#[test]
fn layers_stream_into_the_archive_and_match_a_cached_pack() {
    let Some(w) = plain_world() else { return };
    let args = [w.image("multi:1"), w.image("plain:1")];
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .chain(["--arch", "amd64"])
        .collect();
    let streamed = w.out("streamed.tar");
    ok(&w.pack(&args, &streamed));
    verifies(&streamed);
    assert!(
        !layer_cached(&w, &w.cache()),
        "a streamed layer is not cached"
    );
    let cached = w.out("cached.tar");
    let cache2 = w.out("cache2");
    ok(&w
        .pack_with_cache(&[&args[..], &["--cache-layers"]].concat(), &cached, &cache2)
        .run());
    assert!(layer_cached(&w, &cache2), "--cache-layers keeps the layer");
    assert_eq!(
        std::fs::read(&streamed).unwrap(),
        std::fs::read(&cached).unwrap()
    );
}

/// `pack -o -` streams registry layers through to stdout the same way: the
/// bytes equal those of the same pack to a file, and nothing is cached.
#[test]
fn layers_stream_through_to_stdout() {
    let Some(w) = plain_world() else { return };
    let file = w.out("file.tar");
    ok(&w.pack(&[&w.image("multi:1"), "--arch", "amd64"], &file));
    let piped = w.out("piped.tar");
    let cache = w.out("stdout-cache");
    let home = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(common::airlock_bin());
    cli::private_env(&mut cmd, home.path());
    let status = cmd
        .env("DOCKER_CONFIG", "/nonexistent-airlock-test")
        .arg("pack")
        .arg(w.image("multi:1"))
        .args(w.reg.pack_flags())
        .args(["--arch", "amd64", "-q", "--cache-dir", s(&cache), "-o", "-"])
        .stdout(std::fs::File::create(&piped).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read(&piped).unwrap(),
        std::fs::read(&file).unwrap()
    );
    assert!(!layer_cached(&w, &cache));
}

/// A registry that ignores Range answers a resumed download with the whole
/// blob: the stream skips what the archive already has and goes on.
#[test]
fn a_broken_stream_resumes_even_when_the_registry_ignores_range() {
    let Some(w) = plain_world() else { return };
    let direct = w.out("direct.tar");
    ok(&w.pack(&[&w.image("multi:1"), "--arch", "amd64"], &direct));
    let proxy = FlakyProxy::start_without_range(w.reg.port, 600_000);
    let host = format!("127.0.0.1:{}", proxy.port);
    let out = w.out("restarted.tar");
    ok(&w.pack_via(&host, &["--arch", "amd64", "--jobs", "1"], &out));
    assert_eq!(proxy.cuts.load(std::sync::atomic::Ordering::SeqCst), 1);
    verifies(&out);
    let m = manifest_of(&out);
    let blob_bytes: u64 = m.blobs.iter().map(|b| b.size).sum();
    let relayed = proxy.relayed.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        relayed > blob_bytes + 200_000,
        "relayed {relayed} bytes for {blob_bytes}: the blob was not sent again"
    );
    assert_eq!(blob_digests(&out), blob_digests(&direct));
}

/// A delta pack never downloads the layers its base already holds.
#[test]
fn a_delta_pack_does_not_download_what_the_base_has() {
    let Some(w) = plain_world() else { return };
    let base = w.out("base.tar");
    ok(&w.pack(&[&w.image("multi:1"), "--arch", "amd64"], &base));
    let proxy = FlakyProxy::start(w.reg.port, u64::MAX);
    let host = format!("127.0.0.1:{}", proxy.port);
    let delta = w.out("delta.tar");
    ok(&w.pack_via(&host, &["--arch", "amd64", "--base", s(&base)], &delta));
    let m = manifest_of(&delta);
    assert!(
        m.external.iter().any(|e| e.digest == w.amd64_layer),
        "{m:?}"
    );
    let relayed = proxy.relayed.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        relayed < 1_000_000,
        "relayed {relayed} bytes: the 2 MB layer in the base was downloaded"
    );
}

#[test]
fn blob_with_wrong_content_is_refused_and_nothing_written() {
    let Some(w) = plain_world() else { return };
    let path = w.reg.blob_data_path(&w.amd64_layer);
    let mut data = std::fs::read(&path).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&path, data).unwrap();
    let out = w.out("bad.tar");
    let err = failed(&w.pack(&[&w.image("multi:1"), "--arch", "amd64"], &out), 1);
    assert!(
        err.contains(&w.amd64_layer.to_string()) && err.contains("refused"),
        "{err}"
    );
    assert!(!out.exists());
    assert!(
        !layer_cached(&w, &w.cache()),
        "a bad blob must not enter the cache"
    );
}

/// The registry sends more bytes than the manifest's descriptor says
/// (here: the stored layer grew by a few bytes): refused while the bytes
/// arrive, nothing under the output name, nothing in the cache.
#[test]
fn blob_larger_than_its_descriptor_is_refused_and_nothing_written() {
    let Some(w) = plain_world() else { return };
    let path = w.reg.blob_data_path(&w.amd64_layer);
    let mut data = std::fs::read(&path).unwrap();
    data.extend_from_slice(b"trailing bytes");
    std::fs::write(&path, data).unwrap();
    let out = w.out("big.tar");
    let err = failed(&w.pack(&[&w.image("multi:1"), "--arch", "amd64"], &out), 1);
    assert!(err.contains(&w.amd64_layer.to_string()), "{err}");
    assert!(
        err.contains("bytes") && err.contains("expected"),
        "names the size: {err}"
    );
    assert!(!out.exists());
    assert!(
        !layer_cached(&w, &w.cache()),
        "a bad blob must not enter the cache"
    );
}

#[test]
fn dropped_connection_mid_blob_is_retried_and_the_archive_verifies() {
    let Some(w) = plain_world() else { return };
    let proxy = FlakyProxy::start(w.reg.port, 600_000);
    let host = format!("127.0.0.1:{}", proxy.port);
    let out = w.out("flaky.tar");
    ok(&w.pack_via(&host, &["--arch", "amd64", "--jobs", "1"], &out));
    assert_eq!(proxy.cuts.load(std::sync::atomic::Ordering::SeqCst), 1);
    verifies(&out);
    let m = manifest_of(&out);
    assert!(m.blob(&w.amd64_layer).is_some());
    // The broken blob was resumed with a Range request, not fetched again:
    // the cut came ~300 kB into the 2 MB layer, so a restart from zero would
    // relay that much twice; HTTP headers and manifests are a few kB.
    let blob_bytes: u64 = m.blobs.iter().map(|b| b.size).sum();
    let relayed = proxy.relayed.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        relayed < blob_bytes + 100_000,
        "relayed {relayed} bytes for {blob_bytes} bytes of blobs: not resumed"
    );
}

#[test]
fn answers_503_and_429_are_retried_and_the_archive_verifies() {
    let Some(w) = plain_world() else { return };
    let direct = w.out("direct.tar");
    ok(&w.pack(&[&w.image("multi:1"), "--arch", "amd64"], &direct));
    let proxy = FaultyProxy::start(
        w.reg.port,
        vec![
            Fault {
                method: "GET",
                path_part: "/blobs/",
                status: 503,
                times: 2,
            },
            Fault {
                method: "GET",
                path_part: "/manifests/",
                status: 429,
                times: 1,
            },
            Fault {
                method: "HEAD",
                path_part: "/manifests/",
                status: 502,
                times: 1,
            },
        ],
    );
    let host = format!("127.0.0.1:{}", proxy.port);
    let out = w.out("retried.tar");
    let cold = w.out("cold-cache");
    let r = airlock(&[
        "pack",
        &format!("{host}/team/multi:1"),
        "--insecure-registry",
        &host,
    ])
    .args(["--arch", "amd64", "--cache-dir", s(&cold), "-o", s(&out)])
    .run();
    ok(&r);
    let injected = proxy.injected.load(std::sync::atomic::Ordering::SeqCst);
    assert!((3..=4).contains(&injected), "{injected} faults injected");
    verifies(&out);
    assert_eq!(blob_digests(&out), blob_digests(&direct));
}

#[test]
fn a_registry_answering_500_gives_up_after_bounded_retries_and_caches_nothing() {
    let Some(w) = plain_world() else { return };
    let proxy = FaultyProxy::start(
        w.reg.port,
        vec![Fault {
            method: "GET",
            path_part: "/blobs/",
            status: 500,
            times: u64::MAX,
        }],
    );
    let host = format!("127.0.0.1:{}", proxy.port);
    let out = w.out("gave-up.tar");
    let started = std::time::Instant::now();
    let err = failed(
        &w.pack_via(&host, &["--arch", "amd64", "--jobs", "1"], &out),
        1,
    );
    assert!(
        err.contains("HTTP 500") && err.contains("gave up after 5 attempts"),
        "{err}"
    );
    // 4 retries after the first attempt, with a bounded backoff (0.25 + 0.5 + 1 + 2 s).
    assert_eq!(proxy.injected.load(std::sync::atomic::Ordering::SeqCst), 5);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(!out.exists());
    // Whatever is cached (manifests came through) hashes to its name; the
    // layer that never arrived is not there.
    for e in walkdir::WalkDir::new(w.cache().join("blobs"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
    {
        let name = e.file_name().to_string_lossy().into_owned();
        assert_eq!(Digest::of(&std::fs::read(e.path()).unwrap()).hex(), name);
    }
    assert!(!layer_cached(&w, &w.cache()));
}

#[test]
fn registry_down_is_a_clear_error() {
    let Some(w) = plain_world() else { return };
    let port = common::registry::free_port();
    let host = format!("127.0.0.1:{port}");
    let out = w.out("down.tar");
    let err = failed(&w.pack_via(&host, &[], &out), 1);
    assert!(err.contains(&host) && err.contains("reachable"), "{err}");
    assert!(!out.exists());
}

fn secure_world() -> Option<World> {
    Registry::secure().map(world)
}

#[test]
fn tls_and_basic_auth_with_password_stdin() {
    let Some(w) = secure_world() else { return };
    let out = w.out("tls.tar");
    let image = w.image("multi:1");
    let args = [
        &image,
        "--arch",
        "amd64",
        "--username",
        USER,
        "--password-stdin",
    ];
    let o = w
        .pack_with_cache(&args, &out, &w.cache())
        .stdin(format!("{PASSWORD}\n"))
        .run();
    ok(&o);
    verifies(&out);
    let m = manifest_of(&out);
    assert_eq!(m.images[0].manifest_digest, w.amd64);
    assert!(m.images[0].evidence.iter().any(|e| e.digest == w.signature));
}

#[test]
fn basic_auth_from_docker_config() {
    use base64::Engine as _;
    let Some(w) = secure_world() else { return };
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let cfg = w.docker_config(&format!(
        r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
        w.reg.host
    ));
    let out = w.out("cfg.tar");
    ok(&w.pack_with_docker_config(&cfg, &out).run());
    assert_eq!(manifest_of(&out).images[0].manifest_digest, w.plain);
}

#[test]
fn wrong_password_is_a_clear_auth_error() {
    let Some(w) = secure_world() else { return };
    let out = w.out("auth.tar");
    let image = w.image("plain:1");
    let o = w
        .pack_with_cache(
            &[&image, "--username", USER, "--password-stdin"],
            &out,
            &w.cache(),
        )
        .stdin("wrong\n")
        .run();
    let err = failed(&o, 1);
    assert!(err.contains("refused access"), "{err}");
    assert!(!out.exists());
    // no credentials at all
    let err = failed(&w.pack(&[&image], &out), 1);
    assert!(err.contains("refused access"), "{err}");
}

#[test]
fn unknown_ca_is_refused() {
    let Some(w) = secure_world() else { return };
    let out = w.out("ca.tar");
    let image = w.image("plain:1");
    let args = ["pack", &image, "--username", USER, "--password-stdin"];
    let o = airlock(&args).arg("-o").arg(&out).stdin(PASSWORD).run();
    let err = failed(&o, 1);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn artifact_type_filter_keeps_cosign_tags_and_drops_other_referrers() {
    let Some(w) = plain_world() else { return };
    let out = w.out("at.tar");
    ok(&w.pack(
        &[
            &w.image("multi:1"),
            "--arch",
            "amd64",
            "--artifact-type",
            "application/example",
        ],
        &out,
    ));
    let m = manifest_of(&out);
    let ev: Vec<Digest> = m.images[0].evidence.iter().map(|e| e.digest).collect();
    assert!(ev.contains(&w.signature) && ev.contains(&w.sbom), "{ev:?}");
    assert!(!ev.contains(&w.bundle), "{ev:?}");
    assert!(m.blob(&w.bundle).is_none());
}

#[test]
fn credential_helper_from_docker_config() {
    use std::os::unix::fs::PermissionsExt as _;
    let Some(w) = secure_world() else { return };
    let bin = w.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-airlocktest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\n[ \"$1\" = get ] && [ \"$server\" = \"{}\" ] || exit 1\necho '{{\"ServerURL\":\"'$server'\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n",
            w.reg.host
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = w.docker_config(&format!(
        r#"{{"credHelpers":{{"{}":"airlocktest"}}}}"#,
        w.reg.host
    ));
    let out = w.out("helper.tar");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    ok(&w
        .pack_with_docker_config(&cfg, &out)
        .env("PATH", path)
        .run());
    assert_eq!(manifest_of(&out).images[0].manifest_digest, w.plain);
}
