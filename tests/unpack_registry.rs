//! `airlock unpack --into registry:HOST[/NAMESPACE]` against the real
//! `docker-registry` (distribution 2.8: no referrers API, so the tag-schema
//! fallback is exercised): TLS + htpasswd with `--ca-file`/`--username`,
//! and plain HTTP with `--insecure-registry`. Digests are read back with
//! skopeo and with raw `/v2/` requests (curl); "nothing left behind" is
//! checked on the catalog, the tag lists and the registry's blob storage.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use airlock::model::Digest;
use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, Run};
use common::forge;
use common::registry::{have_tools, Fault, FaultyProxy, Registry, PASSWORD, USER};
use common::site::Site;
use serde_json::{json, Value};

const REF: &str = "registry.example.org/team/app:1.0";
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.docker.distribution.manifest.list.v2+json";

/// What pack recorded for the archive's first image.
struct Packed {
    archive: PathBuf,
    manifest: Digest,
    index: Option<Digest>,
    /// (digest, tag) of each evidence record.
    evidence: Vec<(Digest, Option<String>)>,
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn code(o: &Run) -> i32 {
    o.code
}

fn stderr(o: &Run) -> String {
    o.stderr.clone()
}

/// `airlock ARGS…` through the shared harness, `stdin` (text) on stdin.
fn run(args: &[&str], stdin: Option<&str>) -> Run {
    let a = cli::airlock(args);
    match stdin {
        Some(text) => a.stdin(text),
        None => a,
    }
    .run()
}

fn tools() -> bool {
    have_tools(&["skopeo", "curl"])
}

/// A TLS + htpasswd registry and a site, or None (skip) without the tools.
fn secure_world() -> Option<(Registry, Site)> {
    let reg = Registry::secure()?;
    tools().then(|| (reg, Site::new()))
}

/// A plain-HTTP registry and a site, or None (skip) without the tools.
fn plain_world() -> Option<(Registry, Site)> {
    let reg = Registry::plain()?;
    tools().then(|| (reg, Site::new()))
}

/// What these tests build and run on the shared site (`common::site::Site`
/// is this test crate's own type, so it takes methods here).
impl Site {
    /// One amd64 image under REF, signed at `log_index` (None: unsigned),
    /// optionally with an SPDX referrer (OCI 1.1, `subject` = the image).
    fn archive(&self, name: &str, seed: u64, log_index: Option<i64>, referrer: bool) -> Packed {
        let mut l = Layout::create(self.path(name)).unwrap();
        let layer = l.add_random_layer(300_000, seed).unwrap();
        let m = l
            .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
            .unwrap();
        l.tag(REF, &m);
        if let Some(i) = log_index {
            self.sign(&mut l, &m.digest, REF, i);
        }
        if referrer {
            add_referrer(&mut l, &m);
        }
        let layout = l.finish().unwrap();
        self.pack(name, &layout, &["--arch", "amd64"])
    }

    /// REF as an index over amd64 and arm64, signed on the index digest.
    fn multiarch(&self, name: &str, pack_args: &[&str]) -> (Packed, Vec<Digest>) {
        let mut l = Layout::create(self.path(name)).unwrap();
        let mut children = Vec::new();
        for (i, a) in ["amd64", "arm64"].iter().enumerate() {
            let layer = l.add_random_layer(100_000, 40 + i as u64).unwrap();
            let m = l
                .add_image(&ImageSpec::new(Platform::linux(a)), &[layer])
                .unwrap();
            children.push((m, Platform::linux(a)));
        }
        let ix = l.add_index(&children).unwrap();
        l.tag(REF, &ix);
        self.sign(&mut l, &ix.digest, REF, 12);
        let layout = l.finish().unwrap();
        let digests = children
            .iter()
            .map(|(m, _)| m.digest.parse().unwrap())
            .collect();
        (self.pack(name, &layout, pack_args), digests)
    }

    fn pack(&self, name: &str, layout: &Path, extra: &[&str]) -> Packed {
        let out = self.path(&format!("{name}.tar"));
        let mut args = vec!["pack", "--no-rekor", "--ref", REF];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--from-oci-layout", s(layout), "-o", s(&out)]);
        let o = run(&args, None);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let m = common::airlock_json(&common::entries(&std::fs::read(&out).unwrap()));
        let img = &m["images"][0];
        Packed {
            archive: out,
            manifest: img["manifestDigest"].as_str().unwrap().parse().unwrap(),
            index: img["indexDigest"].as_str().map(|d| d.parse().unwrap()),
            evidence: img["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["digest"].as_str().unwrap().parse().unwrap(),
                        e["tag"].as_str().map(str::to_string),
                    )
                })
                .collect(),
        }
    }

    /// `airlock unpack` under the publisher key policy.
    fn unpack(
        &self,
        archive: &Path,
        reg: &Registry,
        into: &str,
        key: &Path,
        extra: &[&str],
    ) -> Run {
        let mut args = vec![
            "unpack".to_string(),
            s(archive).into(),
            "--into".into(),
            into.into(),
            "--key".into(),
            s(key).into(),
            "--trusted-root".into(),
            s(&self.root).into(),
            "--state-dir".into(),
            s(&self.state).into(),
        ];
        args.extend(access_flags(reg));
        args.extend(extra.iter().map(|x| x.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, reg.tls.then(|| format!("{PASSWORD}\n")).as_deref())
    }
}

/// An SPDX referrer of `m` (artifact manifest with `subject`).
fn add_referrer(l: &mut Layout, m: &airlock_testkit::Descriptor) {
    const SPDX: &str = "application/spdx+json";
    let doc = l
        .add_blob(
            SPDX,
            json!({"spdxVersion": "SPDX-2.3", "name": m.digest})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let empty = l
        .add_blob("application/vnd.oci.empty.v1+json", b"{}")
        .unwrap();
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": SPDX,
        "config": {"mediaType": empty.media_type, "digest": empty.digest, "size": empty.size},
        "layers": [{"mediaType": SPDX, "digest": doc.digest, "size": doc.size}],
        "subject": {"mediaType": m.media_type, "digest": m.digest, "size": m.size},
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    }))
    .unwrap();
    let r = l
        .add_blob("application/vnd.oci.image.manifest.v1+json", &referrer)
        .unwrap();
    l.tag("sbom-referrer", &r);
}

/// Flags that let airlock reach (and push to) `reg`.
fn access_flags(reg: &Registry) -> Vec<String> {
    if reg.tls {
        vec![
            "--ca-file".into(),
            s(&reg.ca_file()).into(),
            "--username".into(),
            USER.into(),
            "--password-stdin".into(),
        ]
    } else {
        vec!["--insecure-registry".into(), reg.host.clone()]
    }
}

/// `curl` a registry path; None on an HTTP error.
fn get(reg: &Registry, path: &str) -> Option<Vec<u8>> {
    let mut c = Command::new("curl");
    c.args(["-sf", "-H", &format!("Accept: {ACCEPT}")]);
    if reg.tls {
        c.args([
            "--cacert",
            s(&reg.ca_file()),
            "-u",
            &format!("{USER}:{PASSWORD}"),
        ]);
    }
    let scheme = if reg.tls { "https" } else { "http" };
    let o = c
        .arg(format!("{scheme}://{}{path}", reg.host))
        .output()
        .unwrap();
    o.status.success().then_some(o.stdout)
}

fn catalog(reg: &Registry) -> Vec<String> {
    let v: Value = serde_json::from_slice(&get(reg, "/v2/_catalog").unwrap()).unwrap();
    let mut r: Vec<String> = v["repositories"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    r.sort();
    r
}

fn tags(reg: &Registry, repo: &str) -> Vec<String> {
    let Some(b) = get(reg, &format!("/v2/{repo}/tags/list")) else {
        return Vec::new();
    };
    let v: Value = serde_json::from_slice(&b).unwrap();
    let mut t: Vec<String> = v["tags"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    t.sort();
    t
}

/// The digest of the manifest bytes `repo:reference` serves (computed here).
fn served(reg: &Registry, repo: &str, reference: &str) -> Option<Digest> {
    get(reg, &format!("/v2/{repo}/manifests/{reference}")).map(|b| Digest::of(&b))
}

/// Every blob file in the registry's storage.
fn stored_blobs(reg: &Registry) -> Vec<PathBuf> {
    let probe = reg.blob_data_path(&Digest::of(b""));
    let root = probe.ancestors().nth(3).unwrap().to_path_buf();
    if !root.exists() {
        return Vec::new();
    }
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect();
    v.sort();
    v
}

/// Catalog, every repository's tags, and the stored blobs.
fn snapshot(reg: &Registry) -> (Vec<(String, Vec<String>)>, Vec<PathBuf>) {
    let repos = catalog(reg)
        .into_iter()
        .map(|r| {
            let t = tags(reg, &r);
            (r, t)
        })
        .collect();
    (repos, stored_blobs(reg))
}

/// `skopeo inspect` of `HOST/name`: the digest it reports.
fn skopeo_digest(reg: &Registry, name: &str) -> String {
    let certs = tempfile::tempdir().unwrap();
    let mut c = Command::new("skopeo");
    c.arg("inspect");
    if reg.tls {
        std::fs::copy(reg.ca_file(), certs.path().join("ca.crt")).unwrap();
        c.args([
            "--cert-dir",
            s(certs.path()),
            "--creds",
            &format!("{USER}:{PASSWORD}"),
        ]);
    } else {
        c.arg("--tls-verify=false");
    }
    let o = c
        .args(["--format", "{{.Digest}}"])
        .arg(format!("docker://{}/{name}", reg.host))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn json_out(o: &Run) -> Value {
    o.json()
}

fn sig_of(p: &Packed) -> (Digest, String) {
    p.evidence
        .iter()
        .find_map(|(d, t)| {
            t.as_ref()
                .filter(|t| t.ends_with(".sig"))
                .map(|t| (*d, t.clone()))
        })
        .expect("a .sig in the archive")
}

#[test]
fn secure_registry_receives_image_and_signature_with_their_digests() {
    let Some((reg, site)) = secure_world() else {
        return;
    };
    let p = site.archive("signed", 1, Some(10), false);
    let into = format!("registry:{}/mirror", reg.host);
    let o = site.unpack(&p.archive, &reg, &into, &site.key, &["--output", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_out(&o);
    assert_eq!(v["target"], format!("registry:{}/mirror", reg.host));
    let loaded = &v["loaded"][0];
    assert_eq!(
        loaded["reference"],
        format!("{}/mirror/team/app:1.0", reg.host)
    );
    // Digest round trip: what pack recorded is what the target reports.
    assert_eq!(loaded["targetDigest"], p.manifest.to_string());
    assert_eq!(
        skopeo_digest(&reg, "mirror/team/app:1.0"),
        p.manifest.to_string()
    );

    let (sig, sig_tag) = sig_of(&p);
    assert_eq!(sig_tag, format!("sha256-{}.sig", p.manifest.hex()));
    assert_eq!(catalog(&reg), vec!["mirror/team/app".to_string()]);
    let mut want = vec!["1.0".to_string(), sig_tag.clone()];
    want.sort();
    assert_eq!(tags(&reg, "mirror/team/app"), want);
    assert_eq!(served(&reg, "mirror/team/app", &sig_tag), Some(sig));
    assert_eq!(
        skopeo_digest(&reg, &format!("mirror/team/app:{sig_tag}")),
        sig.to_string()
    );
    // Every blob of the archive (image and signature) is stored byte for
    // byte; archive-level trust material (the trusted root) has no registry
    // form and is not pushed.
    let m = common::airlock_json(&common::entries(&std::fs::read(&p.archive).unwrap()));
    let archive_level: Vec<&str> = m["evidence"]
        .as_array()
        .map(|ev| ev.iter().filter_map(|e| e["digest"].as_str()).collect())
        .unwrap_or_default();
    assert!(!archive_level.is_empty(), "pack records the trust root");
    for b in m["blobs"].as_array().unwrap() {
        if archive_level.contains(&b["digest"].as_str().unwrap()) {
            continue;
        }
        let d: Digest = b["digest"].as_str().unwrap().parse().unwrap();
        let stored = std::fs::read(reg.blob_data_path(&d)).unwrap();
        assert_eq!(Digest::of(&stored), d);
    }
    assert!(
        std::fs::read_dir(&site.state).is_ok(),
        "rollback mark written"
    );

    // Again: nothing changes, nothing is reported as moved.
    let before = snapshot(&reg);
    let o = site.unpack(&p.archive, &reg, &into, &site.key, &["--output", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // No notes is an empty list (one report shape: "none" is []).
    assert_eq!(json_out(&o)["notes"], serde_json::json!([]));
    assert_eq!(snapshot(&reg), before);
}

#[test]
fn refusals_push_nothing() {
    let Some((reg, site)) = plain_world() else {
        return;
    };
    let signed = site.archive("signed", 2, Some(10), false);
    let older = site.archive("older", 3, Some(5), false);
    let unsigned = site.archive("unsigned", 4, None, false);
    let tampered = {
        let mut es = common::entries(&std::fs::read(&signed.archive).unwrap());
        let i = common::largest_blob(&es);
        let n = es[i].data.len();
        es[i].data[n / 2] ^= 1;
        let out = site.path("tampered.tar");
        std::fs::write(&out, common::build(&es)).unwrap();
        out
    };
    let other = site.path("other.pub");
    std::fs::write(&other, forge::pem(&forge::key())).unwrap();
    let into = format!("registry:{}/refused", reg.host);
    let empty = snapshot(&reg);
    assert!(empty.0.is_empty() && empty.1.is_empty());

    for (what, archive, key, want) in [
        ("tampered blob", &tampered, &site.key, 3),
        ("wrong key", &signed.archive, &other, 4),
        ("missing signature", &unsigned.archive, &site.key, 4),
    ] {
        let o = site.unpack(archive, &reg, &into, key, &[]);
        assert_eq!(code(&o), want, "{what}: {}", stderr(&o));
        assert_eq!(snapshot(&reg), empty, "{what} left something behind");
    }

    // Accept log index 10 into one namespace, then an older archive (5)
    // into another: a rollback, refused with nothing pushed there.
    let ok = format!("registry:{}/accepted", reg.host);
    let o = site.unpack(&signed.archive, &reg, &ok, &site.key, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let after_accept = snapshot(&reg);
    let o = site.unpack(&older.archive, &reg, &into, &site.key, &[]);
    assert_eq!(code(&o), 5, "rollback: {}", stderr(&o));
    assert_eq!(snapshot(&reg), after_accept, "a rollback pushed something");
    assert!(!catalog(&reg).iter().any(|r| r.starts_with("refused/")));
}

#[test]
fn referrers_get_the_tag_schema_index_and_tag_overrides_the_name() {
    let Some((reg, site)) = plain_world() else {
        return;
    };
    let p = site.archive("with-sbom", 5, Some(10), true);
    let referrer = p
        .evidence
        .iter()
        .find(|(_, t)| t.is_none())
        .map(|(d, _)| *d)
        .expect("the referrer is evidence");
    let into = format!("registry:{}", reg.host);
    let o = site.unpack(&p.archive, &reg, &into, &site.key, &["--tag", "ops/app:7"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(skopeo_digest(&reg, "ops/app:7"), p.manifest.to_string());
    let (sig, sig_tag) = sig_of(&p);
    assert_eq!(served(&reg, "ops/app", &sig_tag), Some(sig));

    // distribution 2.8 has no referrers API: the fallback index lists it.
    assert!(get(&reg, &format!("/v2/ops/app/referrers/{}", p.manifest)).is_none());
    let fallback = format!("sha256-{}", p.manifest.hex());
    let index: Value =
        serde_json::from_slice(&get(&reg, &format!("/v2/ops/app/manifests/{fallback}")).unwrap())
            .unwrap();
    let listed: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![referrer.to_string().as_str()]);
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/spdx+json"
    );
    assert_eq!(
        served(&reg, "ops/app", &referrer.to_string()),
        Some(referrer)
    );

    // The same again: the index is not rewritten, no duplicate entry.
    let before = snapshot(&reg);
    let o = site.unpack(&p.archive, &reg, &into, &site.key, &["--tag", "ops/app:7"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(snapshot(&reg), before);
}

#[test]
fn a_complete_index_is_pushed_whole_and_a_partial_one_is_not() {
    let Some((reg, site)) = plain_world() else {
        return;
    };
    let (all, children) = site.multiarch("all", &[]);
    let index = all.index.expect("packed from an index");
    let o = site.unpack(
        &all.archive,
        &reg,
        &format!("registry:{}/whole", reg.host),
        &site.key,
        &["--output", "json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_out(&o);
    assert_eq!(v["loaded"].as_array().unwrap().len(), 2, "both platforms");
    for l in v["loaded"].as_array().unwrap() {
        assert_eq!(l["targetDigest"], index.to_string());
    }
    assert_eq!(served(&reg, "whole/team/app", "1.0"), Some(index));
    for c in &children {
        assert_eq!(served(&reg, "whole/team/app", &c.to_string()), Some(*c));
    }
    let sig_tag = format!("sha256-{}.sig", index.hex());
    assert!(tags(&reg, "whole/team/app").contains(&sig_tag));

    // Packed for amd64 only: the index cannot be pushed (its arm64 manifest
    // is not in the archive), so the name points at the amd64 manifest and
    // the operator is told the index's signature will not be found by it.
    let (one, _) = site.multiarch("amd64-only", &["--arch", "amd64"]);
    let o = site.unpack(
        &one.archive,
        &reg,
        &format!("registry:{}/partial", reg.host),
        &site.key,
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(served(&reg, "partial/team/app", "1.0"), Some(one.manifest));
    assert!(served(&reg, "partial/team/app", &index.to_string()).is_none());
    let text = &o.stdout;
    assert!(
        text.contains("note:") && text.contains(&index.to_string()),
        "{text}"
    );
}

#[test]
fn a_moved_tag_is_reported() {
    let Some((reg, site)) = plain_world() else {
        return;
    };
    let first = site.archive("first", 6, Some(10), false);
    let second = site.archive("second", 7, Some(11), false);
    let into = format!("registry:{}", reg.host);
    let o = site.unpack(&first.archive, &reg, &into, &site.key, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = site.unpack(
        &second.archive,
        &reg,
        &into,
        &site.key,
        &["--output", "json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let notes = json_out(&o)["notes"].to_string();
    assert!(
        notes.contains(&format!("from {} to {}", first.manifest, second.manifest)),
        "{notes}"
    );
    assert_eq!(served(&reg, "team/app", "1.0"), Some(second.manifest));
    // The first image is still there by digest.
    assert_eq!(
        served(&reg, "team/app", &first.manifest.to_string()),
        Some(first.manifest)
    );
}

#[test]
fn registry_down_is_a_target_error_and_changes_nothing() {
    if !tools() {
        return;
    }
    let site = Site::new();
    let p = site.archive("down", 8, Some(10), false);
    let host = format!("127.0.0.1:{}", common::registry::free_port());
    let o = run(
        &[
            "unpack",
            s(&p.archive),
            "--into",
            &format!("registry:{host}"),
            "--insecure-registry",
            &host,
            "--key",
            s(&site.key),
            "--trusted-root",
            s(&site.root),
            "--state-dir",
            s(&site.state),
        ],
        None,
    );
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains(&host) && e.contains("registry"), "{e}");
    assert!(!site.state.exists(), "no rollback mark for a failed unpack");
}

/// `unpack` of `archive` into `registry:PROXY/ns` through a [`FaultyProxy`]
/// in front of `reg` injecting `faults`.
fn unpack_through_faults(
    site: &Site,
    reg: &Registry,
    archive: &Path,
    ns: &str,
    faults: Vec<Fault>,
) -> (Run, u64) {
    let proxy = FaultyProxy::start(reg.port, faults);
    let host = format!("127.0.0.1:{}", proxy.port);
    let o = run(
        &[
            "unpack",
            s(archive),
            "--into",
            &format!("registry:{host}/{ns}"),
            "--insecure-registry",
            &host,
            "--key",
            s(&site.key),
            "--trusted-root",
            s(&site.root),
            "--state-dir",
            s(&site.state),
        ],
        None,
    );
    (o, proxy.injected.load(std::sync::atomic::Ordering::SeqCst))
}

#[test]
fn transient_errors_while_pushing_are_retried() {
    let Some((reg, site)) = plain_world() else {
        return;
    };
    let p = site.archive("retried", 12, Some(10), false);
    let faults = vec![
        Fault {
            method: "POST",
            path_part: "/blobs/uploads/",
            status: 503,
            times: 2,
        },
        Fault {
            method: "HEAD",
            path_part: "/blobs/",
            status: 429,
            times: 1,
        },
        Fault {
            method: "PUT",
            path_part: "/manifests/",
            status: 502,
            times: 1,
        },
    ];
    let (o, injected) = unpack_through_faults(&site, &reg, &p.archive, "retried", faults);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(injected, 4);
    assert_eq!(served(&reg, "retried/team/app", "1.0"), Some(p.manifest));
}

#[test]
fn a_registry_refusing_every_manifest_push_is_a_target_error_and_no_tag() {
    let Some((reg, site)) = plain_world() else {
        return;
    };
    let p = site.archive("refused", 13, Some(10), false);
    let faults = vec![Fault {
        method: "PUT",
        path_part: "/manifests/",
        status: 500,
        times: u64::MAX,
    }];
    let (o, injected) = unpack_through_faults(&site, &reg, &p.archive, "refused", faults);
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("500") && e.contains("gave up"), "{e}");
    assert!(
        (2..=10).contains(&injected),
        "{injected} attempts: retries must be bounded"
    );
    assert_eq!(served(&reg, "refused/team/app", "1.0"), None);
    assert!(tags(&reg, "refused/team/app").is_empty());
    assert!(!site.state.exists(), "no rollback mark for a failed unpack");
}

#[test]
fn wrong_password_is_refused_before_anything_is_pushed() {
    let Some((reg, site)) = secure_world() else {
        return;
    };
    let p = site.archive("pw", 9, Some(10), false);
    let mut args: Vec<String> = [
        "unpack",
        s(&p.archive),
        "--into",
        &format!("registry:{}", reg.host),
        "--key",
        s(&site.key),
        "--trusted-root",
        s(&site.root),
        "--state-dir",
        s(&site.state),
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    args.extend(access_flags(&reg));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args, Some("not-the-password\n"));
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert!(stderr(&o).contains("refused access"), "{}", stderr(&o));
    assert!(stored_blobs(&reg).is_empty());
}

#[test]
fn dry_run_describes_the_registry_target() {
    let Some((reg, site)) = plain_world() else {
        return;
    };
    let p = site.archive("dry", 10, Some(10), false);
    let into = format!("registry:{}/ns", reg.host);
    let o = site.unpack(
        &p.archive,
        &reg,
        &into,
        &site.key,
        &["--dry-run", "--output", "json"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_out(&o);
    assert_eq!(v["dryRun"], true);
    assert_eq!(v["target"], into);
    assert_eq!(
        v["images"][0]["reference"],
        format!("{}/ns/team/app:1.0", reg.host)
    );
    assert_eq!(v["images"][0]["manifestDigest"], p.manifest.to_string());
    assert!(catalog(&reg).is_empty() && stored_blobs(&reg).is_empty());

    let o = site.unpack(&p.archive, &reg, &into, &site.key, &["--dry-run"]);
    let text = &o.stdout;
    assert!(text.contains(&format!("would load into {into}")), "{text}");
    assert!(
        text.contains(&format!("{}/ns/team/app:1.0", reg.host)),
        "{text}"
    );
}

#[test]
fn registry_usage_errors() {
    let site = Site::new();
    let p = site.archive("usage", 11, None, false);
    let a = s(&p.archive);
    for (args, why) in [
        (
            vec!["unpack", "--insecure-no-policy", a, "--into", "registry:"],
            "no host",
        ),
        (
            vec![
                "unpack",
                "--insecure-no-policy",
                a,
                "--into",
                "registry:reg.local/Upper",
            ],
            "bad namespace",
        ),
        (
            vec![
                "unpack",
                "--insecure-no-policy",
                a,
                "--into",
                "dir:/nonexistent-x",
                "--insecure-registry",
                "r",
            ],
            "registry flag for another target",
        ),
        (
            vec![
                "unpack",
                "--insecure-no-policy",
                "-",
                "--into",
                "registry:r",
                "--username",
                "u",
                "--password-stdin",
            ],
            "password and archive both on stdin",
        ),
        (
            vec![
                "unpack",
                "--insecure-no-policy",
                a,
                "--into",
                "registry:r",
                "--tag",
                "Bad/Name:1",
                "--dry-run",
            ],
            "unnameable --tag",
        ),
    ] {
        let o = run(&args, None);
        assert_eq!(code(&o), 2, "{why}: {}", stderr(&o));
    }
}

/// An HTTP relay to a registry that answers 500 to every request whose
/// request line starts with `fail` (e.g. `PUT /v2/team/other/manifests/1.0`)
/// and passes the rest, one request per connection (`Connection: close`).
struct FailingProxy {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for FailingProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl FailingProxy {
    fn start(upstream: u16, fail: &str) -> FailingProxy {
        use std::io::{BufRead, BufReader, Read};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s2, fail) = (stop.clone(), fail.to_string());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut client) = conn else { continue };
                let fail = fail.clone();
                std::thread::spawn(move || {
                    let mut r = BufReader::new(client.try_clone().unwrap());
                    let mut head = Vec::new();
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if lower.starts_with("connection:") {
                            continue;
                        }
                        if line == "\r\n" {
                            head.extend_from_slice(b"Connection: close\r\n\r\n");
                            break;
                        }
                        head.extend_from_slice(line.as_bytes());
                    }
                    let mut body = vec![0u8; length];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    if head.starts_with(fail.as_bytes()) {
                        let _ = client.write_all(
                            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        return;
                    }
                    let Ok(mut up) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                        return;
                    };
                    let _ = up.write_all(&head);
                    let _ = up.write_all(&body);
                    let _ = std::io::copy(&mut up, &mut client);
                });
            }
        });
        FailingProxy { port, stop }
    }
}

/// Two images in one archive (team/app and team/other), unsigned.
fn two_images(site: &Site, name: &str, seed: u64) -> (PathBuf, Vec<Digest>) {
    let mut l = Layout::create(site.path(name)).unwrap();
    let mut refs = Vec::new();
    for (i, r) in [
        "registry.example.org/team/app:1.0",
        "registry.example.org/team/other:1.0",
    ]
    .iter()
    .enumerate()
    {
        let layer = l.add_random_layer(80_000, seed + i as u64).unwrap();
        let m = l
            .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
            .unwrap();
        l.tag(r, &m);
        refs.push(m.digest.parse().unwrap());
    }
    let layout = l.finish().unwrap();
    let out = site.path(&format!("{name}.tar"));
    let o = run(
        &[
            "pack",
            "--no-rekor",
            "--from-oci-layout",
            s(&layout),
            "-o",
            s(&out),
        ],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    (out, refs)
}

#[test]
fn a_failed_tag_write_puts_moved_tags_back() {
    let Some((reg, site)) = plain_world() else {
        return;
    };
    let (old, old_digests) = two_images(&site, "old", 20);
    let (new, new_digests) = two_images(&site, "new", 30);
    assert_ne!(old_digests, new_digests);
    let unpack = |archive: &Path, host: &str| {
        run(
            &[
                "unpack",
                "--insecure-no-policy",
                s(archive),
                "--into",
                &format!("registry:{host}"),
                "--insecure-registry",
                host,
            ],
            None,
        )
    };
    let o = unpack(&old, &reg.host);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let tags_before = snapshot(&reg).0;

    // team/app:1.0 is moved first, then writing team/other:1.0 fails.
    let proxy = FailingProxy::start(reg.port, "PUT /v2/team/other/manifests/1.0 ");
    let via = format!("127.0.0.1:{}", proxy.port);
    let o = unpack(&new, &via);
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 moved tag(s) put back"),
        "{}",
        stderr(&o)
    );
    assert_eq!(snapshot(&reg).0, tags_before, "tags as they were");
    assert_eq!(served(&reg, "team/app", "1.0"), Some(old_digests[0]));
    assert_eq!(served(&reg, "team/other", "1.0"), Some(old_digests[1]));
    drop(proxy);

    // Without the fault the same archive goes in.
    let o = unpack(&new, &reg.host);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(served(&reg, "team/app", "1.0"), Some(new_digests[0]));
    assert_eq!(served(&reg, "team/other", "1.0"), Some(new_digests[1]));
}

/// verify-local asks the site registry what the pushed name resolves to now:
/// the admitted image verifies; once the tag is moved by another load (whose
/// admission is kept elsewhere), the name is refused as retagged.
#[test]
fn verify_local_asks_the_registry_and_refuses_a_moved_tag() {
    let Some((reg, site)) = plain_world() else {
        return;
    };
    let first = site.archive("vl-first", 8, Some(10), false);
    let second = site.archive("vl-second", 9, Some(11), false);
    let into = format!("registry:{}", reg.host);
    let o = site.unpack(&first.archive, &reg, &into, &site.key, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let name = format!("{}/team/app:1.0", reg.host);
    let check = || {
        let mut args = vec![
            "verify-local".to_string(),
            name.clone(),
            "--in".into(),
            into.clone(),
            "--key".into(),
            s(&site.key).into(),
            "--trusted-root".into(),
            s(&site.root).into(),
            "--state-dir".into(),
            s(&site.state).into(),
        ];
        args.extend(access_flags(&reg));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, None)
    };
    let o = check();
    assert_eq!(code(&o), 0, "{}\n{}", o.stdout, stderr(&o));
    assert!(
        o.stdout.contains(&first.manifest.to_string()),
        "{}",
        o.stdout
    );

    // Another load moves the tag; its admission is kept elsewhere.
    let elsewhere = site.path("other-state");
    let mut args = vec![
        "unpack".to_string(),
        s(&second.archive).into(),
        "--into".into(),
        into.clone(),
        "--key".into(),
        s(&site.key).into(),
        "--trusted-root".into(),
        s(&site.root).into(),
        "--state-dir".into(),
        s(&elsewhere).into(),
    ];
    args.extend(access_flags(&reg));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args, None);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = check();
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("retagged or replaced"),
        "{}",
        stderr(&o)
    );
}

/// Passes the archive, then lets the test change the file (between the
/// verifying read and the push).
struct AfterVerify(Box<dyn Fn() + Send + Sync>);

impl airlock::gate::Gate for AfterVerify {
    fn admit(
        &self,
        _o: &airlock::archive::ReadOutcome,
        _p: &airlock::gate::Plan,
    ) -> Result<(), airlock::Error> {
        (self.0)();
        Ok(())
    }
    fn describe(&self) -> String {
        "test hook".into()
    }
}

/// Blobs are pushed straight from the archive file by offset, re-hashed on
/// the way: a blob rewritten after verification is refused as an
/// integrity failure, the registry keeps no blob of the changed content
/// and no tag.
#[test]
fn archive_changed_between_verify_and_push_is_refused() {
    use airlock::pipeline::select::Selection;
    use airlock::pipeline::unpack::{unpack, UnpackRequest};
    use airlock::sink::{registry::naming::RegistryTarget, SinkOptions, Target};

    let Some((reg, site)) = plain_world() else {
        return;
    };
    let good = site.archive("changing", 6, None, false);
    let mut es = common::entries(&std::fs::read(&good.archive).unwrap());
    let i = common::largest_blob(&es);
    let n = es[i].data.len();
    es[i].data[n / 2] ^= 1;
    let changed_digest = Digest::of(&es[i].data);
    let bad = common::build(&es);
    let path = good.archive.clone();
    let gate = AfterVerify(Box::new(move || std::fs::write(&path, &bad).unwrap()));
    let req = UnpackRequest {
        archive: good.archive.clone(),
        target: Target::Registry(RegistryTarget::parse(&format!("{}/changed", reg.host)).unwrap()),
        selection: Selection::default(),
        dry_run: false,
        bases: Vec::new(),
        sink: SinkOptions {
            registry: airlock::registry_client::AccessOptions {
                insecure: vec![reg.host.clone()],
                ..Default::default()
            },
            ..SinkOptions::default()
        },
    };
    let bars = |_: Option<u64>, _: &'static str| indicatif::ProgressBar::hidden();
    let err = unpack(&req, &gate, &bars).unwrap_err();
    assert_eq!(err.kind(), "digest-mismatch", "{err}");
    assert!(tags(&reg, "changed/team/app").is_empty());
    assert!(!reg.blob_data_path(&changed_digest).exists());
}
