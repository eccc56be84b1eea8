//! `airlock serve` end to end: the binary verifies a signed archive under
//! the publisher key policy, listens on a free port (`--listen
//! 127.0.0.1:0`, the address read from its start-up report), and real
//! clients pull from it: curl for every endpoint's status codes and
//! headers, skopeo (inspect, copy to an OCI dir), podman (vfs store) and
//! containerd's ctr. Pulled digests must be the ones the publisher signed.
//! Each server is killed by pid when its guard drops.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock::model::Digest;
use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, Running};
use common::registry::have_tools;
use common::site::Site;
use serde_json::{json, Value};

const REF: &str = "registry.example.org/team/app:1.0";
const REPO: &str = "team/app";
const SPDX: &str = "application/spdx+json";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What pack recorded for the archive's first image.
struct Packed {
    archive: PathBuf,
    manifest: Digest,
    index: Option<Digest>,
    /// (digest, tag) of each evidence record.
    evidence: Vec<(Digest, Option<String>)>,
}

fn pack(site: &Site, name: &str, layout: &Path, extra: &[&str]) -> Packed {
    let out = site.path(&format!("{name}.tar"));
    let mut args = vec!["pack", "--no-rekor", "--ref", REF];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--from-oci-layout", s(layout), "-o"]);
    let out = if extra.contains(&"--zstd") {
        out.with_extension("tar.zst")
    } else {
        out
    };
    args.push(s(&out));
    let o = cli::airlock(&args).run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    let tar = if extra.contains(&"--zstd") {
        let raw = std::fs::read(&out).unwrap();
        zstd::decode_all(&raw[..]).unwrap()
    } else {
        std::fs::read(&out).unwrap()
    };
    let m = common::airlock_json(&common::entries(&tar));
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

/// An SPDX referrer of `m` (artifact manifest with `subject`).
fn add_referrer(l: &mut Layout, m: &airlock_testkit::Descriptor) {
    let doc = l
        .add_blob(
            SPDX,
            json!({"spdxVersion": "SPDX-2.3"}).to_string().as_bytes(),
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
    }))
    .unwrap();
    let r = l
        .add_blob("application/vnd.oci.image.manifest.v1+json", &referrer)
        .unwrap();
    l.tag("sbom-referrer", &r);
}

/// One signed amd64 image under REF with an SPDX referrer.
fn single(site: &Site, name: &str, extra: &[&str]) -> Packed {
    let mut l = Layout::create(site.path(name)).unwrap();
    let layer = l.add_random_layer(200_000, 7).unwrap();
    let m = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
        .unwrap();
    l.tag(REF, &m);
    site.sign(&mut l, &m.digest, REF, 3);
    add_referrer(&mut l, &m);
    let layout = l.finish().unwrap();
    let mut args = vec!["--arch", "amd64"];
    args.extend_from_slice(extra);
    pack(site, name, &layout, &args)
}

/// REF as an index over amd64 and arm64, signed on the index digest.
fn multiarch(site: &Site, name: &str) -> (Packed, Vec<Digest>) {
    let mut l = Layout::create(site.path(name)).unwrap();
    let mut children = Vec::new();
    for (i, a) in ["amd64", "arm64"].iter().enumerate() {
        let layer = l.add_random_layer(50_000, 40 + i as u64).unwrap();
        let m = l
            .add_image(&ImageSpec::new(Platform::linux(a)), &[layer])
            .unwrap();
        children.push((m, Platform::linux(a)));
    }
    let ix = l.add_index(&children).unwrap();
    l.tag(REF, &ix);
    site.sign(&mut l, &ix.digest, REF, 12);
    let layout = l.finish().unwrap();
    let digests = children
        .iter()
        .map(|(m, _)| m.digest.parse().unwrap())
        .collect();
    (pack(site, name, &layout, &["--all-platforms"]), digests)
}

/// A running `airlock serve`, killed by pid when dropped.
struct Serve {
    run: Running,
    addr: String,
    report: String,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// The policy flags of the site's publisher key.
fn policy(site: &Site) -> Vec<String> {
    [
        "--key",
        s(&site.key),
        "--trusted-root",
        s(&site.root),
        "--state-dir",
        s(&site.state),
    ]
    .iter()
    .map(|x| x.to_string())
    .collect()
}

/// Start `airlock serve ARCHIVE --listen 127.0.0.1:0 EXTRA…` and wait for
/// its report; Err(stderr, exit code) when it exits instead.
fn start(
    site: &Site,
    archive: &Path,
    extra: &[&str],
    envs: &[(&str, &Path)],
) -> Result<Serve, (String, i32)> {
    let mut args = vec![
        "serve".to_string(),
        s(archive).into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    args.extend(policy(site));
    args.extend(extra.iter().map(|x| x.to_string()));
    let mut a = cli::airlock(&args);
    for (k, v) in envs {
        a = a.env(k, v);
    }
    let mut run = a.spawn();
    let stdout = run.stdout().unwrap();
    let mut err = run.stderr().unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    // Drained all along: a full pipe would stall the server.
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut report = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            report.push_str(&line);
            report.push('\n');
            if let Some(at) = line.split(" read-only on http://").nth(1) {
                let _ = tx.send(Some((at.trim().to_string(), report.clone())));
            }
            // --output json: one line with the address.
            let json: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if let Some(at) = json["address"].as_str() {
                let _ = tx.send(Some((at.to_string(), report.clone())));
            }
        }
        let _ = tx.send(None);
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Some((addr, report))) => Ok(Serve {
            run,
            addr,
            report,
            stderr,
        }),
        _ => {
            let out = run.wait();
            Err((
                format!("{}{}", stderr.lock().unwrap(), out.stderr),
                out.code,
            ))
        }
    }
}

fn serve(site: &Site, archive: &Path, extra: &[&str]) -> Serve {
    start(site, archive, extra, &[]).unwrap_or_else(|(e, c)| panic!("serve exited {c}: {e}"))
}

/// One curl request: (status, headers lowercased, body).
fn curl(method: &str, url: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let (hfile, bfile) = (dir.path().join("h"), dir.path().join("b"));
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", s(&bfile), "-D", s(&hfile), "-w", "%{http_code}"]);
    if method == "HEAD" {
        cmd.arg("-I");
    } else {
        cmd.args(["-X", method]);
    }
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().unwrap();
    let code = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let head = std::fs::read_to_string(&hfile)
        .unwrap_or_default()
        .to_lowercase();
    // With -I curl writes the headers where the body would go.
    let body = match method {
        "HEAD" => Vec::new(),
        _ => std::fs::read(&bfile).unwrap_or_default(),
    };
    (code, head, body)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

fn error_code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    v["errors"][0]["code"].as_str().unwrap_or("").to_string()
}

#[test]
fn curl_sees_every_endpoint_answer_as_the_distribution_spec_says() {
    if !have_tools(&["curl"]) {
        return;
    }
    let site = Site::new();
    let p = single(&site, "one", &[]);
    let srv = serve(&site, &p.archive, &["--log-requests"]);
    assert!(
        srv.report.contains(&format!("  {REPO}: 1.0")),
        "{}",
        srv.report
    );

    let (code, head, body) = curl("GET", &srv.url("/v2/"), &[]);
    assert_eq!(code, 200);
    assert_eq!(
        header(&head, "docker-distribution-api-version"),
        Some("registry/2.0")
    );
    assert_eq!(body, b"{}");

    // Manifest by tag and by digest: the exact signed bytes.
    for reference in ["1.0".to_string(), p.manifest.to_string()] {
        let (code, head, body) = curl(
            "GET",
            &srv.url(&format!("/v2/{REPO}/manifests/{reference}")),
            &[],
        );
        assert_eq!(code, 200, "{reference}");
        assert_eq!(Digest::of(&body), p.manifest);
        assert_eq!(
            header(&head, "docker-content-digest"),
            Some(p.manifest.to_string().as_str())
        );
        assert_eq!(
            header(&head, "content-type"),
            Some("application/vnd.oci.image.manifest.v1+json")
        );
        let (code, head, body) = curl(
            "HEAD",
            &srv.url(&format!("/v2/{REPO}/manifests/{reference}")),
            &[],
        );
        assert_eq!(code, 200);
        assert!(body.is_empty());
        assert_eq!(
            header(&head, "content-length").map(|l| l.to_string()),
            Some(manifest_len(&srv, &p).to_string())
        );
    }

    // A layer: whole, a range, a bad range.
    let m: Value =
        serde_json::from_slice(&curl("GET", &srv.url(&format!("/v2/{REPO}/manifests/1.0")), &[]).2)
            .unwrap();
    let layer: Digest = m["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
    let size = m["layers"][0]["size"].as_u64().unwrap();
    let blob_url = srv.url(&format!("/v2/{REPO}/blobs/{layer}"));
    let (code, head, body) = curl("GET", &blob_url, &[]);
    assert_eq!(code, 200);
    assert_eq!(Digest::of(&body), layer);
    assert_eq!(header(&head, "accept-ranges"), Some("bytes"));
    assert_eq!(
        header(&head, "docker-content-digest"),
        Some(layer.to_string().as_str())
    );
    let whole = body;
    let (code, head, body) = curl("GET", &blob_url, &["Range: bytes=10-19"]);
    assert_eq!(code, 206);
    assert_eq!(body, whole[10..20]);
    assert_eq!(
        header(&head, "content-range"),
        Some(format!("bytes 10-19/{size}").as_str())
    );
    let (code, _, body) = curl("GET", &blob_url, &["Range: bytes=-5"]);
    assert_eq!((code, body.as_slice()), (206, &whole[whole.len() - 5..]));
    let (code, head, _) = curl("GET", &blob_url, &[&format!("Range: bytes={size}-")]);
    assert_eq!(code, 416);
    assert_eq!(
        header(&head, "content-range"),
        Some(format!("bytes */{size}").as_str())
    );
    assert_eq!(curl("GET", &blob_url, &["Range: bytes=9-3"]).0, 416);

    // Unknown name, tag, digest: 404 with the spec's error codes.
    let zero = Digest::of(b"not here");
    for (path, want) in [
        ("/v2/nope/manifests/1.0".to_string(), "NAME_UNKNOWN"),
        (format!("/v2/{REPO}/manifests/2.0"), "MANIFEST_UNKNOWN"),
        (format!("/v2/{REPO}/manifests/{zero}"), "MANIFEST_UNKNOWN"),
        (format!("/v2/{REPO}/blobs/{zero}"), "BLOB_UNKNOWN"),
        ("/v2/nope/tags/list".to_string(), "NAME_UNKNOWN"),
    ] {
        let (code, head, body) = curl("GET", &srv.url(&path), &[]);
        assert_eq!((code, error_code(&body).as_str()), (404, want), "{path}");
        assert_eq!(header(&head, "content-type"), Some("application/json"));
    }
    assert_eq!(
        curl(
            "GET",
            &srv.url(&format!("/v2/{REPO}/blobs/sha256:xyz")),
            &[]
        )
        .0,
        400
    );

    // Push and delete: 405 with an OCI error body.
    for (method, path) in [
        ("POST", format!("/v2/{REPO}/blobs/uploads/")),
        ("PUT", format!("/v2/{REPO}/manifests/2.0")),
        ("PATCH", format!("/v2/{REPO}/blobs/uploads/x")),
        ("DELETE", format!("/v2/{REPO}/manifests/{}", p.manifest)),
        ("DELETE", format!("/v2/{REPO}/blobs/{layer}")),
    ] {
        let (code, head, body) = curl(method, &srv.url(&path), &[]);
        assert_eq!(
            (code, error_code(&body).as_str()),
            (405, "UNSUPPORTED"),
            "{method} {path}"
        );
        assert_eq!(header(&head, "allow"), Some("get, head"));
    }

    // Tags with paging, the catalog, the cosign tag.
    let sig_tag = format!("sha256-{}.sig", p.manifest.hex());
    let (code, _, body) = curl("GET", &srv.url(&format!("/v2/{REPO}/tags/list")), &[]);
    assert_eq!(code, 200);
    let tags: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(tags, json!({"name": REPO, "tags": ["1.0", sig_tag]}));
    let (code, head, body) = curl("GET", &srv.url(&format!("/v2/{REPO}/tags/list?n=1")), &[]);
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["tags"],
        json!(["1.0"])
    );
    assert_eq!(
        header(&head, "link"),
        Some(format!("</v2/{REPO}/tags/list?n=1&last=1.0>; rel=\"next\"").as_str())
    );
    let (_, head, body) = curl(
        "GET",
        &srv.url(&format!("/v2/{REPO}/tags/list?n=1&last=1.0")),
        &[],
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["tags"],
        json!([sig_tag])
    );
    assert_eq!(header(&head, "link"), None);
    let (_, _, body) = curl("GET", &srv.url("/v2/_catalog"), &[]);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"repositories": [REPO]})
    );
    let sig = p
        .evidence
        .iter()
        .find(|(_, t)| t.as_deref() == Some(sig_tag.as_str()))
        .unwrap()
        .0;
    let (code, head, _) = curl(
        "GET",
        &srv.url(&format!("/v2/{REPO}/manifests/{sig_tag}")),
        &[],
    );
    assert_eq!(code, 200);
    assert_eq!(
        header(&head, "docker-content-digest"),
        Some(sig.to_string().as_str())
    );

    // Referrers, with and without the artifactType filter.
    let referrers = srv.url(&format!("/v2/{REPO}/referrers/{}", p.manifest));
    let (code, head, body) = curl("GET", &referrers, &[]);
    assert_eq!(code, 200);
    assert_eq!(
        header(&head, "content-type"),
        Some("application/vnd.oci.image.index.v1+json")
    );
    let ix: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ix["manifests"].as_array().unwrap().len(), 1, "{ix}");
    assert_eq!(ix["manifests"][0]["artifactType"], SPDX);
    let (_, head, body) = curl(
        "GET",
        &format!("{referrers}?artifactType=application%2Fspdx%2Bjson"),
        &[],
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["manifests"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(header(&head, "oci-filters-applied"), Some("artifacttype"));
    let (_, _, body) = curl("GET", &format!("{referrers}?artifactType=text/plain"), &[]);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["manifests"],
        json!([])
    );

    // One log line per request.
    let log = srv.stderr();
    assert!(
        log.contains(&format!("\"GET /v2/{REPO}/manifests/1.0\" 200")),
        "{log}"
    );
    assert!(log.contains("\"DELETE "), "{log}");
}

fn manifest_len(srv: &Serve, p: &Packed) -> usize {
    curl(
        "GET",
        &srv.url(&format!("/v2/{REPO}/manifests/{}", p.manifest)),
        &[],
    )
    .2
    .len()
}

#[test]
fn skopeo_and_podman_pull_the_digests_the_publisher_signed() {
    if !have_tools(&["skopeo", "podman"]) {
        return;
    }
    let site = Site::new();
    let p = single(&site, "one", &[]);
    let srv = serve(&site, &p.archive, &[]);
    let src = format!("docker://{}/{REPO}:1.0", srv.addr);
    let o = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", &src])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["Digest"], p.manifest.to_string());

    let dir = tempfile::tempdir().unwrap();
    let oci = dir.path().join("oci");
    let o = Command::new("skopeo")
        .args(["copy", "--preserve-digests", "--src-tls-verify=false", &src])
        .arg(format!("oci:{}:copy", s(&oci)))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let index: Value =
        serde_json::from_slice(&std::fs::read(oci.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], p.manifest.to_string());

    let root = dir.path().join("podman");
    let podman = |args: &[&str]| {
        Command::new("podman")
            .args([
                "--root",
                s(&root.join("root")),
                "--runroot",
                s(&root.join("run")),
                "--storage-driver",
                "vfs",
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let image = format!("{}/{REPO}:1.0", srv.addr);
    let o = podman(&["pull", "--tls-verify=false", &image]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = podman(&["image", "inspect", "--format", "{{.Digest}}", &image]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        p.manifest.to_string()
    );
    let _ = podman(&["rmi", "-a", "-f"]);
}

/// A private containerd (its own root, state and socket), killed on drop.
struct Containerd {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn containerd() -> Containerd {
    let dir = tempfile::Builder::new()
        .prefix("ctd")
        .tempdir_in("/tmp")
        .unwrap();
    let d = dir.path();
    let socket = d.join("c.sock");
    let config = format!(
        "version = 2\nroot = \"{}\"\nstate = \"{}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{}\"\n[ttrpc]\n  address = \"{}.ttrpc\"\n",
        s(&d.join("root")),
        s(&d.join("state")),
        s(&socket),
        s(&socket)
    );
    std::fs::write(d.join("config.toml"), config).unwrap();
    let child = Command::new("containerd")
        .args(["--config", s(&d.join("config.toml"))])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let c = Containerd {
        child,
        socket,
        _dir: dir,
    };
    cli::wait_until(Duration::from_secs(30), "containerd answers", || {
        Command::new("ctr")
            .args(["--address", s(&c.socket), "version"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    c
}

#[test]
fn ctr_pulls_over_plain_http_with_the_signed_digest() {
    if !have_tools(&["ctr", "containerd"]) {
        return;
    }
    let site = Site::new();
    let p = single(&site, "one", &[]);
    let srv = serve(&site, &p.archive, &[]);
    let ctd = containerd();
    let image = format!("{}/{REPO}:1.0", srv.addr);
    let o = Command::new("ctr")
        .args([
            "--address",
            s(&ctd.socket),
            "images",
            "pull",
            "--plain-http",
            "--snapshotter",
            "native",
            "--platform",
            "linux/amd64",
            &image,
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new("ctr")
        .args(["--address", s(&ctd.socket), "images", "ls"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&o.stdout);
    let line = list
        .lines()
        .find(|l| l.starts_with(&image))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(line.contains(&p.manifest.to_string()), "{line}");
}

#[test]
fn a_multi_platform_index_is_served_whole() {
    if !have_tools(&["skopeo"]) {
        return;
    }
    let site = Site::new();
    let (p, children) = multiarch(&site, "multi");
    let index = p.index.unwrap();
    let srv = serve(&site, &p.archive, &[]);
    let src = format!("docker://{}/{REPO}:1.0", srv.addr);
    let o = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &src])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(Digest::of(&o.stdout), index);
    let dir = tempfile::tempdir().unwrap();
    let oci = dir.path().join("oci");
    let o = Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            &src,
        ])
        .arg(format!("oci:{}:copy", s(&oci)))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ix: Value =
        serde_json::from_slice(&std::fs::read(oci.join("index.json")).unwrap()).unwrap();
    assert_eq!(ix["manifests"][0]["digest"], index.to_string());
    for c in children {
        assert!(oci.join("blobs/sha256").join(c.hex()).exists(), "{c}");
    }
}

#[test]
fn a_tampered_archive_never_starts_serving() {
    let site = Site::new();
    let p = single(&site, "one", &[]);
    let mut es = common::entries(&std::fs::read(&p.archive).unwrap());
    let i = common::largest_blob(&es);
    es[i].data[1000] ^= 1;
    std::fs::write(&p.archive, common::build(&es)).unwrap();
    let (stderr, code) = start(&site, &p.archive, &[], &[])
        .err()
        .expect("served a tampered archive");
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("airlock serve: "), "{stderr}");
}

#[test]
fn without_a_policy_serve_refuses_unless_told_insecure() {
    let site = Site::new();
    let p = single(&site, "one", &[]);
    let o = cli::airlock(["serve", s(&p.archive), "--listen", "127.0.0.1:0"]).run();
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("no trust policy"), "{}", o.stderr);
}

#[test]
fn a_compressed_archive_is_served_from_a_spool_removed_on_stop() {
    if !have_tools(&["skopeo"]) {
        return;
    }
    let site = Site::new();
    let p = single(&site, "zst", &["--zstd"]);
    let tmp = tempfile::tempdir().unwrap();
    let srv = start(&site, &p.archive, &[], &[("TMPDIR", tmp.path())])
        .unwrap_or_else(|(e, c)| panic!("serve exited {c}: {e}"));
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "one spool"
    );
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new("skopeo")
        .args(["copy", "--preserve-digests", "--src-tls-verify=false"])
        .arg(format!("docker://{}/{REPO}:1.0", srv.addr))
        .arg(format!("oci:{}:copy", s(&dir.path().join("oci"))))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    srv.run.signal("TERM");
    let Serve { run, .. } = srv;
    let out = run.wait();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "spool removed"
    );
}

#[test]
fn an_archive_changed_while_served_gets_503() {
    let site = Site::new();
    let p = single(&site, "one", &[]);
    let srv = serve(&site, &p.archive, &[]);
    assert_eq!(curl("GET", &srv.url("/v2/"), &[]).0, 200);
    // Same size, new mtime: an in-place edit.
    let bytes = std::fs::read(&p.archive).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&p.archive, &bytes).unwrap();
    let (code, _, body) = curl("GET", &srv.url(&format!("/v2/{REPO}/manifests/1.0")), &[]);
    assert_eq!((code, error_code(&body).as_str()), (503, "UNAVAILABLE"));
    assert_eq!(curl("GET", &srv.url("/v2/"), &[]).0, 503);
}

#[test]
fn a_blob_changed_in_place_with_size_and_mtime_kept_is_never_completed() {
    if !have_tools(&["curl", "touch"]) {
        return;
    }
    let site = Site::new();
    let p = single(&site, "one", &[]);
    let srv = serve(&site, &p.archive, &[]);
    let m: Value =
        serde_json::from_slice(&curl("GET", &srv.url(&format!("/v2/{REPO}/manifests/1.0")), &[]).2)
            .unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap().to_string();
    let whole = curl("GET", &srv.url(&format!("/v2/{REPO}/blobs/{layer}")), &[]).2;
    // Flip one byte of the layer inside the archive, then put the mtime back.
    let stamp = site.path("stamp");
    std::fs::write(&stamp, b"").unwrap();
    assert!(Command::new("touch")
        .args(["-r", s(&p.archive), s(&stamp)])
        .status()
        .unwrap()
        .success());
    let mut bytes = std::fs::read(&p.archive).unwrap();
    let at = bytes.windows(64).position(|w| w == &whole[..64]).unwrap() + whole.len() / 2;
    bytes[at] ^= 1;
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&p.archive)
            .unwrap();
        f.seek(SeekFrom::Start(at as u64)).unwrap();
        f.write_all(&bytes[at..at + 1]).unwrap();
    }
    assert!(Command::new("touch")
        .args(["-r", s(&stamp), s(&p.archive)])
        .status()
        .unwrap()
        .success());
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{size_download}"])
        .arg(srv.url(&format!("/v2/{REPO}/blobs/{layer}")))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the changed blob downloaded completely"
    );
    let got: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(got < whole.len(), "{got} of {} bytes", whole.len());
    // From then on nothing is served.
    assert_eq!(curl("GET", &srv.url("/v2/"), &[]).0, 503);
}

#[test]
fn https_with_the_given_certificate_and_mirror_config() {
    if !have_tools(&["curl", "openssl"]) {
        return;
    }
    let site = Site::new();
    let p = single(&site, "one", &[]);
    let (cert, key) = (site.path("cert.pem"), site.path("key.pem"));
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            s(&key),
            "-out",
            s(&cert),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut args = vec![
        "serve".to_string(),
        s(&p.archive).into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--tls-cert".into(),
        s(&cert).into(),
        "--tls-key".into(),
        s(&key).into(),
        "--namespace".into(),
        "mirror".into(),
        "--print-mirror-config".into(),
    ];
    args.extend(policy(&site));
    let mut run = cli::airlock(&args).spawn();
    let mut lines = BufReader::new(run.stdout().unwrap()).lines();
    let mut report = String::new();
    let addr = loop {
        let line = lines.next().expect("serve exited").unwrap();
        report += &line;
        report.push('\n');
        if let Some(a) = line.split(" read-only on https://").nth(1) {
            break a.trim().to_string();
        }
    };
    assert!(
        report.contains("location = \"registry.example.org\""),
        "{report}"
    );
    assert!(
        report.contains(&format!("location = \"{addr}/mirror\"\ninsecure = false")),
        "{report}"
    );
    assert!(
        report.contains(&format!("[host.\"https://{addr}/v2/mirror\"]")),
        "{report}"
    );
    let o = Command::new("curl")
        .args(["-sf", "--cacert", s(&cert)])
        .arg(format!("https://{addr}/v2/mirror/{REPO}/manifests/1.0"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(Digest::of(&o.stdout), p.manifest);
    // Plain HTTP to the TLS port gets nothing.
    let plain = Command::new("curl")
        .args(["-sf", "-m", "5"])
        .arg(format!("http://{addr}/v2/"))
        .output()
        .unwrap();
    assert!(!plain.status.success());
    drop(run);
}

/// `airlock serve` with `args` (plus the site policy) that must refuse to start.
fn refused(site: &Site, args: &[&str]) -> cli::Run {
    let mut all: Vec<String> = std::iter::once("serve".to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .collect();
    all.extend(policy(site));
    cli::airlock(&all).run()
}

#[test]
fn a_busy_address_fails_before_anything_is_served() {
    let site = Site::new();
    let p = single(&site, "one", &[]);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let o = refused(&site, &[s(&p.archive), "--listen", &addr]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!("listen on {addr}")),
        "{}",
        o.stderr
    );
    assert!(o.stdout.is_empty(), "{}", o.stdout);
}

#[test]
fn unusable_tls_files_are_a_usage_error() {
    let site = Site::new();
    let p = single(&site, "one", &[]);
    let junk = site.path("junk.pem");
    std::fs::write(&junk, "not a pem\n").unwrap();
    let o = refused(
        &site,
        &[
            s(&p.archive),
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            s(&junk),
            "--tls-key",
            s(&junk),
        ],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("--tls-cert"), "{}", o.stderr);
    let o = refused(&site, &[s(&p.archive), "--tls-cert", s(&junk)]);
    assert_eq!(o.code, 2, "--tls-cert needs --tls-key: {}", o.stderr);
}

#[test]
fn a_bad_namespace_is_a_usage_error() {
    let site = Site::new();
    let p = single(&site, "one", &[]);
    let o = refused(
        &site,
        &[
            s(&p.archive),
            "--listen",
            "127.0.0.1:0",
            "--namespace",
            "Bad/NS",
        ],
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("--namespace"), "{}", o.stderr);
}

#[test]
fn stdin_cannot_be_served() {
    let site = Site::new();
    let o = refused(&site, &["-", "--listen", "127.0.0.1:0"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("not stdin"), "{}", o.stderr);
}

#[test]
fn the_json_reports_match_their_schema() {
    let site = Site::new();
    let p = single(&site, "one", &[]);
    let srv = serve(
        &site,
        &p.archive,
        &["--output", "json", "--print-mirror-config"],
    );
    let schema = cli::report_schema("serve");
    let v: Value = serde_json::from_str(srv.report.trim()).unwrap();
    cli::assert_schema_valid(&schema, &v);
    assert_eq!(v["repositories"][0]["name"], REPO);
    assert_eq!(v["url"], format!("http://{}", srv.addr));
    assert!(
        v["mirrorConfig"]["containerdHosts"]["registry.example.org"].is_string(),
        "{v}"
    );
    assert_eq!(curl("GET", &srv.url("/v2/"), &[]).0, 200);
    // A refusal (no policy) and an argument error are reports too.
    let r = cli::airlock([
        "--output",
        "json",
        "serve",
        s(&p.archive),
        "--listen",
        "127.0.0.1:0",
    ])
    .run();
    assert_eq!(r.code, 2);
    cli::assert_schema_valid(&schema, &r.json());
    assert_eq!(r.json()["error"]["kind"], "no-policy");
    let r = cli::airlock(["--output", "json", "serve", "--no-such-flag"]).run();
    assert_eq!(r.code, 2);
    cli::assert_schema_valid(&schema, &r.json());
}

#[test]
fn sigint_stops_serving_gracefully() {
    let site = Site::new();
    let p = single(&site, "one", &[]);
    let srv = serve(&site, &p.archive, &[]);
    assert_eq!(curl("GET", &srv.url("/v2/"), &[]).0, 200);
    srv.run.signal("INT");
    let stderr = srv.stderr.clone();
    let out = srv.run.wait();
    assert_eq!(out.code, 0, "{}", stderr.lock().unwrap());
    // The drain thread may still be reading the last line.
    cli::wait_until(Duration::from_secs(5), "the stop is logged", || {
        stderr.lock().unwrap().contains("airlock serve: stopped")
    });
}

/// A volume set is verified across its volumes (a missing volume refuses to
/// start, exit 3) and served from a spool of its tar.
#[test]
fn a_volume_set_is_verified_and_served() {
    if !have_tools(&["curl"]) {
        return;
    }
    let site = Site::new();
    let p = single(&site, "vol", &[]);
    let out = site.path("vol-split.tar");
    let o = cli::airlock([
        "pack",
        "--no-rekor",
        "--ref",
        REF,
        "--arch",
        "amd64",
        "--from-oci-layout",
        s(&site.path("vol")),
        "-o",
        s(&out),
        "--volume-size",
        "1MiB",
    ])
    .run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    let index = site.path("vol-split.tar.volumes.json");
    let srv = serve(&site, &index, &[]);
    let (code, head, body) = curl("GET", &srv.url(&format!("/v2/{REPO}/manifests/1.0")), &[]);
    assert_eq!(code, 200);
    assert_eq!(Digest::of(&body), p.manifest);
    assert_eq!(
        header(&head, "docker-content-digest"),
        Some(p.manifest.to_string().as_str())
    );
    srv.run.signal("TERM");
    let Serve { run, .. } = srv;
    assert_eq!(run.wait().code, 0);

    std::fs::remove_file(site.path("vol-split.tar.001")).unwrap();
    let (err, code) = start(&site, &index, &[], &[]).err().expect("refused");
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("vol-split.tar.001"), "{err}");
}
