//! Any OCI artifact beside the images (issue 12): Helm charts, ORAS-style
//! files, an OCI 1.1 artifact with an empty config, a WASM module and an
//! index of artifacts, built with the testkit, packed from a layout and
//! from a registry, verified, inspected (each entry's kind) and unpacked
//! (dir: and registry: keep exact digests; podman loads the image and names
//! every skipped artifact).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use airlock::model::Digest;
use airlock_testkit::{Descriptor, ImageSpec, Layout, Platform};
use common::cli::{self, assert_code, run, s, Run};
use common::forge::{self, add_sig_manifest, sig_layer};
use common::registry::{have_tools, Registry};
use serde_json::{json, Value};

const IMAGE: &str = "registry.example.org/team/app:1.0";
const CHART: &str = "registry.example.org/charts/app:0.1.0";
const FILES: &str = "registry.example.org/files/install:1";
const WASM: &str = "registry.example.org/wasm/filter:1";
const POLICY: &str = "registry.example.org/policy/bundle:1";
const BUNDLE: &str = "registry.example.org/bundles/all:1";

const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
const POLICY_TYPE: &str = "application/vnd.example.policy.v1";

/// What the site layout holds, by kind.
struct Site {
    layout: PathBuf,
    image: Descriptor,
    chart: Descriptor,
    files: Descriptor,
    wasm: Descriptor,
    policy: Descriptor,
    bundle: Descriptor,
}

fn chart_layer(l: &Layout, d: &Descriptor) -> PathBuf {
    let m: Value = serde_json::from_slice(&std::fs::read(l.blob_path(d)).unwrap()).unwrap();
    let hex = m["layers"][0]["digest"].as_str().unwrap();
    l.dir()
        .join("blobs/sha256")
        .join(hex.trim_start_matches("sha256:"))
}

/// An image, a chart, files, a WASM module, an empty-config artifact and an
/// index of two artifacts; `edit` may change the layout before `index.json`.
fn site_layout(dir: &Path, edit: impl FnOnce(&mut Layout, &Descriptor)) -> Site {
    let mut l = Layout::create(dir.join("layout")).unwrap();
    let layer = l.add_random_layer(20_000, 3).unwrap();
    let image = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
        .unwrap();
    let chart = l
        .add_helm_chart("app", "0.1.0", b"chart-tgz-bytes")
        .unwrap();
    let files = l
        .add_artifact(
            Some("application/vnd.example.files"),
            (airlock::model::media::OCI_EMPTY, b"{}"),
            &[
                (
                    "text/x-shellscript",
                    b"#!/bin/sh\necho hi\n",
                    Some("install.sh"),
                ),
                (
                    "application/yaml",
                    b"kind: CustomResourceDefinition\n",
                    Some("crd.yaml"),
                ),
            ],
        )
        .unwrap();
    let wasm = l
        .add_artifact(
            None,
            (WASM_CONFIG, br#"{"created":"1970-01-01T00:00:00Z"}"#),
            &[("application/wasm", b"\0asm\x01\0\0\0", None)],
        )
        .unwrap();
    let policy = l
        .add_artifact(
            Some(POLICY_TYPE),
            (airlock::model::media::OCI_EMPTY, b"{}"),
            &[(
                "application/vnd.example.policy.layer.v1+tar",
                b"rules",
                None,
            )],
        )
        .unwrap();
    // An index of artifacts: no platforms.
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": chart.media_type, "digest": chart.digest, "size": chart.size},
            {"mediaType": policy.media_type, "digest": policy.digest, "size": policy.size},
        ],
    });
    let bundle = l
        .add_blob(
            "application/vnd.oci.image.index.v1+json",
            &serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    l.tag(IMAGE, &image);
    l.tag(CHART, &chart);
    l.tag(FILES, &files);
    l.tag(WASM, &wasm);
    l.tag(POLICY, &policy);
    l.tag(BUNDLE, &bundle);
    edit(&mut l, &chart);
    let layout = l.finish().unwrap();
    Site {
        layout,
        image,
        chart,
        files,
        wasm,
        policy,
        bundle,
    }
}

fn pack(layout: &Path, out: &Path) -> Run {
    cli::pack(layout, out, &["--no-rekor"]).run()
}

/// reference → (kind, artifactType, manifest digest) from a report's images.
fn kinds(report: &Value) -> Vec<(String, String, String, String)> {
    let mut v: Vec<_> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["reference"].as_str().unwrap().to_string(),
                i["kind"].as_str().unwrap().to_string(),
                i["artifactType"].to_string(),
                i["manifestDigest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_artifact_kind_packs_verifies_and_inspects_with_its_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_layout(tmp.path(), |_, _| {});
    let out = tmp.path().join("a.tar");
    let r = pack(&site.layout, &out);
    assert_code(&r, 0);

    // Deterministic: the same layout packs to the same bytes.
    let again = tmp.path().join("b.tar");
    assert_code(&pack(&site.layout, &again), 0);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());

    let m = common::archive_json(&out);
    cli::assert_schema_valid(&cli::archive_schema(), &m);

    assert_code(&run(&["verify", s(&out)]), 0);
    let r = run(&["inspect", s(&out), "--output", "json"]);
    assert_code(&r, 0);
    let report = r.json();
    cli::assert_schema_valid(&cli::report_schema("inspect"), &report);
    let d = |x: &Descriptor| x.digest.clone();
    let t = |x: &str| json!(x).to_string();
    let mut want: Vec<(String, String, String, String)> = vec![
        (
            BUNDLE.into(),
            "helm-chart".into(),
            t(airlock_testkit::HELM_CONFIG),
            d(&site.chart),
        ),
        (
            BUNDLE.into(),
            "artifact".into(),
            t(POLICY_TYPE),
            d(&site.policy),
        ),
        (
            CHART.into(),
            "helm-chart".into(),
            t(airlock_testkit::HELM_CONFIG),
            d(&site.chart),
        ),
        (
            FILES.into(),
            "files".into(),
            t("application/vnd.example.files"),
            d(&site.files),
        ),
        (
            POLICY.into(),
            "artifact".into(),
            t(POLICY_TYPE),
            d(&site.policy),
        ),
        (IMAGE.into(), "image".into(), "null".into(), d(&site.image)),
        (
            WASM.into(),
            "artifact".into(),
            t(WASM_CONFIG),
            d(&site.wasm),
        ),
    ];
    want.sort();
    assert_eq!(kinds(&report), want);
    // Only the image has a platform; the bundle's entries name their index.
    for i in report["images"].as_array().unwrap() {
        let is_image = i["kind"] == "image";
        assert_eq!(i["platform"].is_string(), is_image, "{i}");
        assert_eq!(
            i["indexDigest"] == json!(site.bundle.digest),
            i["reference"] == BUNDLE,
            "{i}"
        );
    }

    let text = run(&["inspect", s(&out)]);
    assert_code(&text, 0);
    let chart_line = text
        .stdout
        .lines()
        .find(|l| l.starts_with(CHART))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    assert!(chart_line.contains("helm-chart"), "{chart_line}");
    assert!(
        text.stdout
            .contains(&format!("artifact type {WASM_CONFIG}")),
        "{}",
        text.stdout
    );
    // docker's manifest.json names only the runnable image.
    let es = common::entries(&std::fs::read(&out).unwrap());
    let docker: Value =
        serde_json::from_slice(&es[common::position(&es, "manifest.json")].data).unwrap();
    assert_eq!(docker.as_array().unwrap().len(), 1, "{docker}");
}

#[test]
fn chart_with_a_tampered_layer_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // In the layout: same size, other bytes; pack refuses to carry it.
    let bad_src = site_layout(&tmp.path().join("src"), |l, chart| {
        let p = chart_layer(l, chart);
        std::fs::write(&p, b"chart-tgz-BYTES").unwrap();
    });
    let r = pack(&bad_src.layout, &tmp.path().join("bad.tar"));
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("sha256:"), "{}", r.stderr);
    assert!(!tmp.path().join("bad.tar").exists());

    // In the archive: one flipped byte in the chart layer.
    let site = site_layout(&tmp.path().join("ok"), |_, _| {});
    let out = tmp.path().join("a.tar");
    assert_code(&pack(&site.layout, &out), 0);
    let chart_layer_digest = {
        let m = common::archive_json(&out);
        let chart = m["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["reference"] == CHART)
            .unwrap()
            .clone();
        let es = common::entries(&std::fs::read(&out).unwrap());
        let name = format!(
            "blobs/sha256/{}",
            chart["manifestDigest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:")
        );
        let man: Value = serde_json::from_slice(&es[common::position(&es, &name)].data).unwrap();
        man["layers"][0]["digest"].as_str().unwrap().to_string()
    };
    let mut es = common::entries(&std::fs::read(&out).unwrap());
    let i = common::position(
        &es,
        &format!(
            "blobs/sha256/{}",
            chart_layer_digest.trim_start_matches("sha256:")
        ),
    );
    es[i].data[3] ^= 0x01;
    let bad = common::build(&es);
    assert_eq!(common::verdict(&bad), "digest-mismatch");
    let bad_file = tmp.path().join("tampered.tar");
    std::fs::write(&bad_file, bad).unwrap();
    let r = run(&["verify", s(&bad_file)]);
    assert_code(&r, 3);
    assert!(r.stderr.contains(&chart_layer_digest), "{}", r.stderr);
}

#[test]
fn signature_on_a_chart_is_checked_like_an_image() {
    let tmp = tempfile::tempdir().unwrap();
    let signer = forge::key();
    let rekor = forge::key();
    let root = cli::put(
        tmp.path(),
        "trusted_root.json",
        forge::trust_root_json(&rekor),
    );
    let key = cli::put(tmp.path(), "cosign.pub", forge::pem(&signer));
    let other = cli::put(tmp.path(), "other.pub", forge::pem(&forge::key()));
    let mut l = Layout::create(tmp.path().join("layout")).unwrap();
    let chart = l.add_helm_chart("app", "0.1.0", b"chart").unwrap();
    l.tag(CHART, &chart);
    let sig = sig_layer(
        &signer,
        &rekor,
        &chart.digest,
        CHART,
        Some((5, 1_700_000_000)),
    );
    add_sig_manifest(&mut l, &chart.digest, &[sig]);
    let layout = l.finish().unwrap();
    let out = tmp.path().join("chart.tar");
    // Checked at pack time, under the key.
    let r = cli::pack(&layout, &out, &["--no-rekor"])
        .args(["--key", s(&key), "--trusted-root", s(&root)])
        .run();
    assert_code(&r, 0);
    let m = common::archive_json(&out);
    assert_eq!(m["images"][0]["kind"], "helm-chart");
    assert_eq!(m["images"][0]["evidence"][0]["role"], "signature");

    let verify = |k: &Path| {
        run(&[
            "verify",
            s(&out),
            "--key",
            s(k),
            "--trusted-root",
            s(&root),
            "--state-dir",
            s(&tmp.path().join("state")),
        ])
    };
    let r = verify(&key);
    assert_code(&r, 0);
    assert!(r.stdout.contains(CHART), "{}", r.stdout);
    let r = verify(&other);
    assert_code(&r, 4);
    assert!(r.stdout.contains("✗ signatures"), "{}", r.stdout);
}

/// Digests in a layout `index.json` by ref name.
fn layout_index(dir: &Path) -> Vec<(String, String)> {
    let ix: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut v: Vec<(String, String)> = ix["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| {
            let name = m["annotations"]["org.opencontainers.image.ref.name"].as_str()?;
            Some((name.to_string(), m["digest"].as_str()?.to_string()))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn unpack_into_dir_keeps_every_kind_with_exact_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_layout(tmp.path(), |_, _| {});
    let out = tmp.path().join("a.tar");
    assert_code(&pack(&site.layout, &out), 0);
    let dir = tmp.path().join("site-layout");
    let r = run(&[
        "unpack",
        s(&out),
        "--insecure-no-policy",
        "--into",
        &format!("dir:{}", dir.display()),
        "--platform",
        "linux/amd64",
    ]);
    assert_code(&r, 0);
    let got = layout_index(&dir);
    for (name, d) in [
        (IMAGE, &site.image),
        (CHART, &site.chart),
        (FILES, &site.files),
        (WASM, &site.wasm),
        (POLICY, &site.policy),
    ] {
        assert!(
            got.contains(&(name.to_string(), d.digest.clone())),
            "{name} {} not in {got:?}",
            d.digest
        );
    }
    // Every blob is there under its own digest.
    for e in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        let hex = p.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(Digest::of(&std::fs::read(&p).unwrap()).hex(), hex);
    }
    // The result is itself a source: it packs again.
    assert_code(&pack(&dir, &tmp.path().join("again.tar")), 0);
}

#[test]
fn runtime_targets_name_each_skipped_artifact() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_layout(tmp.path(), |_, _| {});
    let out = tmp.path().join("a.tar");
    assert_code(&pack(&site.layout, &out), 0);
    let r = run(&[
        "unpack",
        s(&out),
        "--insecure-no-policy",
        "--into",
        "docker",
        "--dry-run",
        "--platform",
        "linux/amd64",
        "--output",
        "json",
    ]);
    assert_code(&r, 0);
    let v = r.json();
    cli::assert_schema_valid(&cli::report_schema("unpack"), &v);
    let planned: Vec<&str> = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["packedReference"].as_str().unwrap())
        .collect();
    assert_eq!(planned, [IMAGE]);
    let mut skipped: Vec<String> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["reference"].as_str().unwrap(),
                i["kind"].as_str().unwrap()
            )
        })
        .collect();
    skipped.sort();
    let mut want = vec![
        format!("{BUNDLE} artifact"),
        format!("{BUNDLE} helm-chart"),
        format!("{CHART} helm-chart"),
        format!("{FILES} files"),
        format!("{POLICY} artifact"),
        format!("{WASM} artifact"),
    ];
    want.sort();
    assert_eq!(skipped, want);
    assert!(
        r.stderr.contains(CHART) && r.stderr.contains("skipped"),
        "{}",
        r.stderr
    );

    // Only artifacts selected: nothing a runtime can load, said up front.
    let r = run(&[
        "unpack",
        s(&out),
        "--insecure-no-policy",
        "--into",
        "podman",
        "--image",
        CHART,
        "--dry-run",
    ]);
    assert_code(&r, 2);
    assert!(r.stderr.contains("not a container image"), "{}", r.stderr);
}

#[test]
fn podman_loads_the_image_and_reports_the_chart_it_skipped() {
    if !have_tools(&["podman"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut l = Layout::create(tmp.path().join("layout")).unwrap();
    let layer = l
        .add_layer(&[airlock_testkit::FileEntry::bytes("hello", "hi", 0o644)])
        .unwrap();
    let image = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
        .unwrap();
    let chart = l.add_helm_chart("app", "0.1.0", b"chart").unwrap();
    l.tag("localhost/airlock-test/app:1.0", &image);
    l.tag(CHART, &chart);
    let layout = l.finish().unwrap();
    let out = tmp.path().join("a.tar");
    assert_code(&pack(&layout, &out), 0);
    let store = tmp.path().join("store");
    let podman_args = format!(
        "--root={} --runroot={} --storage-driver=vfs",
        store.join("root").display(),
        store.join("run").display()
    );
    let r = cli::airlock([
        "unpack",
        s(&out),
        "--insecure-no-policy",
        "--into",
        "podman",
        "--platform",
        "linux/amd64",
        "--output",
        "json",
    ])
    .env("AIRLOCK_PODMAN_ARGS", &podman_args)
    .run();
    assert_code(&r, 0);
    let v = r.json();
    assert_eq!(v["loaded"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["skipped"][0]["reference"], CHART);
    assert!(
        v["warnings"].to_string().contains(CHART),
        "the skipped chart is a warning too: {v}"
    );
    let images = Command::new("podman")
        .args(podman_args.split(' '))
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&images.stdout);
    assert!(
        listed.contains("localhost/airlock-test/app:1.0"),
        "{listed}"
    );
    assert!(!listed.contains("charts"), "{listed}");
}

#[test]
fn artifacts_from_a_registry_pack_and_unpack_into_a_registry_with_exact_digests() {
    let Some(reg) = Registry::plain() else { return };
    if !have_tools(&["skopeo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let site = site_layout(tmp.path(), |_, _| {});
    let push = reg.pusher();
    for (repo, d) in [
        ("charts/app", &site.chart),
        ("files/install", &site.files),
        ("bundles/all", &site.bundle),
    ] {
        push.push_layout(&site.layout, &d.digest, &d.media_type, repo, Some("1"));
    }
    let out = tmp.path().join("reg.tar");
    let refs: Vec<String> = ["charts/app:1", "files/install:1", "bundles/all:1"]
        .iter()
        .map(|r| format!("{}/{r}", reg.host))
        .collect();
    let mut args: Vec<String> = vec![
        "pack".into(),
        "--no-rekor".into(),
        "-o".into(),
        s(&out).into(),
    ];
    args.extend(reg.pack_flags());
    args.extend(refs.iter().cloned());
    let r = cli::airlock(&args).run();
    assert_code(&r, 0);
    let m = common::archive_json(&out);
    let kinds_by_ref: Vec<(String, String)> = m["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["reference"].as_str().unwrap().to_string(),
                i["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        kinds_by_ref.contains(&(refs[0].clone(), "helm-chart".into())),
        "{kinds_by_ref:?}"
    );
    assert!(
        kinds_by_ref.contains(&(refs[1].clone(), "files".into())),
        "{kinds_by_ref:?}"
    );
    assert!(
        kinds_by_ref.contains(&(refs[2].clone(), "artifact".into())),
        "{kinds_by_ref:?}"
    );

    // Into the site registry: the chart keeps its digest (`helm pull` works).
    let r = cli::airlock([
        "unpack",
        s(&out),
        "--insecure-no-policy",
        "--into",
        &format!("registry:{}/site", reg.host),
        "--insecure-registry",
        &reg.host,
    ])
    .run();
    assert_code(&r, 0);
    let inspect = |r: &str| {
        let o = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw"])
            .arg(format!("docker://{}/site/{r}", reg.host))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Digest::of(&o.stdout).to_string()
    };
    assert_eq!(inspect("charts/app:1"), site.chart.digest);
    assert_eq!(inspect("files/install:1"), site.files.digest);
    assert_eq!(inspect("bundles/all:1"), site.bundle.digest);
}

// ---------------------------------------------------------- files

const INSTALL: &str = "registry.example.org/files/install:1";

/// `airlock pack --no-rekor ARGS… -o OUT`.
fn pack_files(out: &Path, args: &[&str]) -> Run {
    let mut all = vec!["pack", "--no-rekor", "-o", s(out)];
    all.extend_from_slice(args);
    run(&all)
}

#[test]
fn local_files_pack_as_a_deterministic_oras_artifact_and_unpack_into_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("install.sh"), "#!/bin/sh\necho hi\n").unwrap();
        std::fs::write(d.join("crd.yaml"), "kind: CustomResourceDefinition\n").unwrap();
    }
    let packed = |dir: &Path, out: &Path| {
        let script = format!("{}:text/x-shellscript", dir.join("install.sh").display());
        let crd = dir.join("crd.yaml");
        pack_files(
            out,
            &["--file", &script, "--file", s(&crd), "--as", INSTALL],
        )
    };
    let (out_a, out_b) = (tmp.path().join("a.tar"), tmp.path().join("b.tar"));
    assert_code(&packed(&a, &out_a), 0);
    assert_code(&packed(&b, &out_b), 0);
    // Same files, other directories: the same bytes (no path travels).
    assert_eq!(
        std::fs::read(&out_a).unwrap(),
        std::fs::read(&out_b).unwrap()
    );

    let m = common::archive_json(&out_a);
    cli::assert_schema_valid(&cli::archive_schema(), &m);
    assert_eq!(m["images"][0]["kind"], "files");
    assert_eq!(m["images"][0]["source"], "file");
    let es = common::entries(&std::fs::read(&out_a).unwrap());
    let hex = m["images"][0]["manifestDigest"].as_str().unwrap();
    let name = format!("blobs/sha256/{}", hex.trim_start_matches("sha256:"));
    let man: Value = serde_json::from_slice(&es[common::position(&es, &name)].data).unwrap();
    let titles: Vec<(&str, &str)> = man["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["annotations"]["org.opencontainers.image.title"]
                    .as_str()
                    .unwrap(),
                l["mediaType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        titles,
        [
            ("install.sh", "text/x-shellscript"),
            ("crd.yaml", "application/vnd.oci.image.layer.v1.tar")
        ]
    );
    assert_eq!(
        man["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );

    let dir = tmp.path().join("site-files");
    let r = run(&[
        "unpack",
        s(&out_a),
        "--insecure-no-policy",
        "--into",
        &format!("files:{}", dir.display()),
        "--output",
        "json",
    ]);
    assert_code(&r, 0);
    cli::assert_schema_valid(&cli::report_schema("unpack"), &r.json());
    assert_eq!(
        std::fs::read_to_string(dir.join("install.sh")).unwrap(),
        "#!/bin/sh\necho hi\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("crd.yaml")).unwrap(),
        "kind: CustomResourceDefinition\n"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
}

#[test]
fn files_target_writes_file_artifacts_and_names_what_it_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_layout(tmp.path(), |_, _| {});
    let out = tmp.path().join("a.tar");
    assert_code(&pack(&site.layout, &out), 0);
    let dir = tmp.path().join("files");
    let r = run(&[
        "unpack",
        s(&out),
        "--insecure-no-policy",
        "--platform",
        "linux/amd64",
        "--into",
        &format!("files:{}", dir.display()),
        "--output",
        "json",
    ]);
    assert_code(&r, 0);
    let v = r.json();
    let skipped: Vec<&str> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference"].as_str().unwrap())
        .collect();
    assert!(skipped.contains(&IMAGE) && skipped.contains(&CHART), "{v}");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["crd.yaml", "install.sh"]);
}

/// An archive holding one file artifact whose layers carry `titles`.
fn titled_archive(dir: &Path, titles: &[&str]) -> PathBuf {
    let mut l = Layout::create(dir.join("layout")).unwrap();
    let layers: Vec<(&str, Vec<u8>, Option<&str>)> = titles
        .iter()
        .enumerate()
        .map(|(i, t)| ("text/plain", format!("file {i}\n").into_bytes(), Some(*t)))
        .collect();
    let refs: Vec<(&str, &[u8], Option<&str>)> = layers
        .iter()
        .map(|(m, b, t)| (*m, b.as_slice(), *t))
        .collect();
    let d = l
        .add_artifact(
            Some("application/vnd.example.files"),
            (airlock::model::media::OCI_EMPTY, b"{}"),
            &refs,
        )
        .unwrap();
    l.tag(INSTALL, &d);
    let layout = l.finish().unwrap();
    let out = dir.join("t.tar");
    assert_code(&pack(&layout, &out), 0);
    out
}

fn unpack_files(archive: &Path, dir: &Path) -> Run {
    run(&[
        "unpack",
        s(archive),
        "--insecure-no-policy",
        "--into",
        &format!("files:{}", dir.display()),
    ])
}

#[test]
fn file_title_with_traversal_or_absolute_is_refused() {
    for (i, title) in ["../../etc/passwd", "/etc/passwd", "..", "a/b"]
        .iter()
        .enumerate()
    {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join(format!("w{i}/x/y"));
        std::fs::create_dir_all(&work).unwrap();
        let archive = titled_archive(&work, &["ok.txt", title]);
        let dir = work.join("out");
        let r = unpack_files(&archive, &dir);
        assert_code(&r, 6);
        assert!(
            r.stderr.contains("not a plain file name") || r.stderr.contains("not a file name"),
            "{title}: {}",
            r.stderr
        );
        assert!(!dir.exists(), "{title}: nothing written");
        assert!(!work.join("../../etc").exists());
        // Only the layout and the archive are left: no staging, no files.
        let mut left: Vec<String> = std::fs::read_dir(&work)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["layout", "t.tar", "t.tar.sha256"], "{title}");
    }
}

#[test]
fn two_files_with_the_same_title_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // At pack: two --file with one name.
    for d in ["one", "two"] {
        std::fs::create_dir_all(tmp.path().join(d)).unwrap();
        std::fs::write(tmp.path().join(d).join("same.txt"), d).unwrap();
    }
    let out = tmp.path().join("dup.tar");
    let r = pack_files(
        &out,
        &[
            "--file",
            s(&tmp.path().join("one/same.txt")),
            "--file",
            s(&tmp.path().join("two/same.txt")),
            "--as",
            INSTALL,
        ],
    );
    assert_code(&r, 2);
    assert!(r.stderr.contains("same.txt"), "{}", r.stderr);
    assert!(!out.exists());

    // In an archive made elsewhere: refused at unpack, nothing written.
    let archive = titled_archive(tmp.path(), &["same.txt", "same.txt"]);
    let dir = tmp.path().join("out");
    let r = unpack_files(&archive, &dir);
    assert_code(&r, 6);
    assert!(r.stderr.contains("same.txt"), "{}", r.stderr);
    assert!(!dir.exists());
}

#[test]
fn file_flags_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let f = cli::put(tmp.path(), "x.txt", "x");
    let out = tmp.path().join("o.tar");
    // A missing file, a directory, --file without --as, a digest as name.
    let missing = tmp.path().join("missing.txt");
    assert_ne!(
        pack_files(&out, &["--file", s(&missing), "--as", INSTALL]).code,
        0
    );
    assert_code(
        &pack_files(&out, &["--file", s(tmp.path()), "--as", INSTALL]),
        2,
    );
    assert_code(&pack_files(&out, &["--file", s(&f)]), 2);
    let by_digest = format!("registry.example.org/x@sha256:{}", "0".repeat(64));
    assert_code(&pack_files(&out, &["--file", s(&f), "--as", &by_digest]), 2);
    assert!(!out.exists());
}

#[test]
fn airlock_json_cannot_relabel_an_entrys_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let site = site_layout(tmp.path(), |_, _| {});
    let out = tmp.path().join("a.tar");
    assert_code(&pack(&site.layout, &out), 0);
    let es = common::entries(&std::fs::read(&out).unwrap());
    let m = common::airlock_json(&es);
    let pos = |r: &str| {
        m["images"]
            .as_array()
            .unwrap()
            .iter()
            .position(|i| i["reference"] == r)
            .unwrap()
    };
    let (chart, image) = (pos(CHART), pos(IMAGE));
    let relabel: [&dyn Fn(&mut Value); 4] = [
        // The chart presented as a runnable image.
        &|v| {
            let c = &mut v["images"][chart];
            c.as_object_mut().unwrap().remove("kind");
            c.as_object_mut().unwrap().remove("artifactType");
            c["platform"] = json!({"os": "linux", "architecture": "amd64"});
        },
        // The chart presented as files.
        &|v| v["images"][chart]["kind"] = json!("files"),
        // Its artifact type changed.
        &|v| v["images"][chart]["artifactType"] = json!("application/vnd.other"),
        // The image presented as an artifact.
        &|v| {
            let i = &mut v["images"][image];
            i["kind"] = json!("artifact");
            i["artifactType"] = json!(airlock::model::media::OCI_CONFIG);
        },
    ];
    for (n, edit) in relabel.iter().enumerate() {
        let mut es = es.clone();
        let mut v = m.clone();
        edit(&mut v);
        common::set_airlock_json(&mut es, &v);
        assert_eq!(
            common::verdict(&common::build(&es)),
            "contradiction",
            "edit {n}"
        );
    }
}
