//! `airlock pack --set airlock-set.yaml` (issue 12): images with their own
//! platforms, charts and local files from one YAML file, per-entry
//! policies, and every bad set file refused before anything is contacted.

mod common;

use std::path::{Path, PathBuf};

use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, assert_code, assert_refused, run, s, Run};
use common::registry::Registry;
use p256::ecdsa::{signature::Signer as _, DerSignature, SigningKey};

fn pack_set(set: &Path, out: &Path, extra: &[String]) -> Run {
    let mut args: Vec<String> = vec![
        "pack".into(),
        "--no-rekor".into(),
        "--set".into(),
        s(set).into(),
        "-o".into(),
        s(out).into(),
    ];
    args.extend(extra.iter().cloned());
    cli::airlock(&args).run()
}

/// What a pack of `yaml` (in a fresh directory with `install.sh`) says.
fn refused(yaml: &str) -> (Run, PathBuf) {
    let tmp = tempfile::tempdir().unwrap().keep();
    std::fs::write(tmp.join("install.sh"), "echo hi\n").unwrap();
    let set = cli::put(&tmp, "airlock-set.yaml", yaml);
    let out = tmp.join("out.tar");
    let r = pack_set(&set, &out, &[]);
    assert!(!out.exists());
    (r, tmp)
}

#[test]
fn unknown_key_is_refused_with_its_line() {
    let (r, dir) = refused(
        "version: 1\nimages:\n  - ref: registry.example.org/team/app:1\n    platfroms: [linux/amd64]\n",
    );
    assert_code(&r, 2);
    assert!(r.stderr.contains("line 4"), "{}", r.stderr);
    assert!(r.stderr.contains("platfroms"), "{}", r.stderr);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Found by the `set_file` fuzz target: an entry's policy with an unknown
/// field was accepted by the set file and refused only as `rules[1]` when
/// the rules loaded.
#[test]
fn an_entry_policy_with_an_unknown_field_is_refused_with_its_line() {
    let (r, dir) = refused(
        "version: 1\nimages:\n  - ref: registry.example.org/team/app:1\n    policy:\n      identh:\n  - ref: registry.example.org/team/db:1\n",
    );
    assert_code(&r, 2);
    assert!(
        r.stderr.contains("line 3: policy") && r.stderr.contains("identh"),
        "{}",
        r.stderr
    );
    std::fs::remove_dir_all(dir).unwrap();
    let (r, dir) = refused("version: 1\npolicy:\n  threshold: many\nimages:\n  - ref: registry.example.org/team/app:1\n");
    assert_code(&r, 2);
    assert!(
        r.stderr.contains("the top-level policy: ") && r.stderr.contains("\"many\""),
        "{}",
        r.stderr
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Found by the `set_file` fuzz target: a rule whose meaning the policy
/// loader refuses (an identity without an issuer) is named by its entry.
#[test]
fn an_entry_policy_the_loader_refuses_names_the_entry() {
    let (r, dir) = refused(
        "version: 1\nimages:\n  - ref: registry.example.org/team/app:1\n    policy:\n      identities:\n        - identity: https://github.com/alice\n",
    );
    assert_code(&r, 2);
    assert!(
        r.stderr
            .contains("rule \"registry.example.org/team/app:1\"")
            && r.stderr.contains("issuer"),
        "{}",
        r.stderr
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn duplicate_entry_is_refused_naming_both_lines() {
    let (r, dir) = refused(
        "version: 1\nimages:\n  - ref: registry.example.org/team/app:1\ncharts:\n  - ref: registry.example.org/charts/c:1\n  - ref: registry.example.org/team/app:1\n",
    );
    assert_code(&r, 2);
    assert!(r.stderr.contains("listed twice"), "{}", r.stderr);
    assert!(
        r.stderr.contains("line 6") && r.stderr.contains("line 3"),
        "{}",
        r.stderr
    );
    // A key given twice in one mapping is refused by the parser.
    let (r, dir2) = refused("version: 1\nversion: 1\n");
    assert_code(&r, 2);
    assert!(r.stderr.contains("line 2"), "{}", r.stderr);
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(dir2).unwrap();
}

#[test]
fn missing_file_is_refused() {
    let (r, dir) = refused(
        "version: 1\nfiles:\n  - as: registry.example.org/files/install:1\n    paths: [install.sh, missing.yaml]\n",
    );
    assert_code(&r, 2);
    assert!(r.stderr.contains("missing.yaml"), "{}", r.stderr);
    assert!(r.stderr.contains("line 3"), "{}", r.stderr);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn oversized_document_is_refused() {
    // Over the byte limit: refused before parsing.
    let mut big = String::from("version: 1\nimages:\n");
    while big.len() <= 1024 * 1024 {
        big.push_str("  - ref: registry.example.org/team/app-with-a-long-name:1.0.0\n");
    }
    let (r, dir) = refused(&big);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("set file"), "{}", r.stderr);
    // Small but growing through aliases: anchors are refused outright.
    let (r, dir2) =
        refused("version: 1\nimages: &a\n  - ref: registry.example.org/team/app:1\ncharts: *a\n");
    assert_code(&r, 2);
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(dir2).unwrap();
}

#[test]
fn set_file_packs_images_with_their_platforms_charts_and_files() {
    let Some(reg) = Registry::plain() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut l = Layout::create(tmp.path().join("layout")).unwrap();
    let a = l.add_random_layer(3_000, 1).unwrap();
    let b = l.add_random_layer(3_000, 2).unwrap();
    let amd = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &[a])
        .unwrap();
    let arm = l
        .add_image(&ImageSpec::new(Platform::linux("arm64")), &[b])
        .unwrap();
    let index = l
        .add_index(&[
            (amd.clone(), Platform::linux("amd64")),
            (arm.clone(), Platform::linux("arm64")),
        ])
        .unwrap();
    let chart = l.add_helm_chart("app", "0.1.0", b"chart").unwrap();
    let layout = l.finish().unwrap();
    let p = reg.pusher();
    p.push_layout(
        &layout,
        &index.digest,
        &index.media_type,
        "team/multi",
        Some("1"),
    );
    p.push_layout(
        &layout,
        &chart.digest,
        &chart.media_type,
        "charts/app",
        Some("0.1.0"),
    );
    std::fs::write(tmp.path().join("install.sh"), "echo hi\n").unwrap();
    let host = &reg.host;
    let set = cli::put(
        tmp.path(),
        "airlock-set.yaml",
        format!(
            "# what the site needs\nversion: 1\nimages:\n  - ref: {host}/team/multi:1\n    platforms: [linux/arm64]\ncharts:\n  - ref: {host}/charts/app:0.1.0\nfiles:\n  - as: {host}/files/install:1\n    paths: [\"install.sh:text/x-shellscript\"]\n"
        ),
    );
    let out = tmp.path().join("set.tar");
    let r = pack_set(&set, &out, &reg.pack_flags());
    assert_code(&r, 0);
    let m = common::archive_json(&out);
    let mut got: Vec<(String, String, String)> = m["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["reference"].as_str().unwrap().to_string(),
                i["kind"].as_str().unwrap_or("image").to_string(),
                i["manifestDigest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want = vec![
        (
            format!("{host}/team/multi:1"),
            "image".to_string(),
            arm.digest.clone(),
        ),
        (
            format!("{host}/charts/app:0.1.0"),
            "helm-chart".to_string(),
            chart.digest.clone(),
        ),
        (
            format!("{host}/files/install:1"),
            "files".to_string(),
            got.iter()
                .find(|g| g.1 == "files")
                .map(|g| g.2.clone())
                .unwrap_or_default(),
        ),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn entry_policies_apply_at_pack() {
    let Some(reg) = Registry::plain() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut l = Layout::create(tmp.path().join("layout")).unwrap();
    let layer = l.add_random_layer(3_000, 1).unwrap();
    let img = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
        .unwrap();
    let chart = l.add_helm_chart("app", "0.1.0", b"chart").unwrap();
    let layout = l.finish().unwrap();
    let p = reg.pusher();
    let digest = p.push_layout(&layout, &img.digest, &img.media_type, "team/app", Some("1"));
    p.push_layout(
        &layout,
        &chart.digest,
        &chart.media_type,
        "charts/app",
        Some("0.1.0"),
    );
    let key = SigningKey::random(&mut rand_core::OsRng);
    cli::put(tmp.path(), "team.pub", common::forge::pem(&key));
    let sign = move |data: &[u8]| {
        let s: DerSignature = key.sign(data);
        s.as_bytes().to_vec()
    };
    p.cosign_signature("team/app", &digest, &sign);
    let host = &reg.host;
    let image_entry = format!(
        "images:\n  - ref: {host}/team/app:1\n    policy:\n      keys: [{{path: team.pub}}]\n      transparencyLog: insecure-ignore\n"
    );
    let set = cli::put(tmp.path(), "ok.yaml", format!("version: 1\n{image_entry}"));
    let out = tmp.path().join("ok.tar");
    let r = pack_set(&set, &out, &reg.pack_flags());
    assert_code(&r, 0);
    // Also with the chart, which no entry policy covers: refused.
    let set = cli::put(
        tmp.path(),
        "chart.yaml",
        format!("version: 1\n{image_entry}charts:\n  - ref: {host}/charts/app:0.1.0\n"),
    );
    let out = tmp.path().join("chart.tar");
    let mut flags = reg.pack_flags();
    flags.extend(["--output".to_string(), "json".to_string()]);
    let r = pack_set(&set, &out, &flags);
    assert_refused(&r, 4, "no-matching-rule");
    assert!(!out.exists());
    // A set file's policies and --policy do not mix.
    let r = run(&[
        "pack",
        "--set",
        s(&tmp.path().join("ok.yaml")),
        "--policy",
        s(&tmp.path().join("ok.yaml")),
        "-o",
        s(&tmp.path().join("x.tar")),
    ]);
    assert_code(&r, 2);
}

#[test]
fn example_set_file_matches_the_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("schema/set.schema.json")).unwrap())
            .unwrap();
    let schema = jsonschema::validator_for(&schema).unwrap();
    let text = std::fs::read_to_string(root.join("docs/examples/airlock-set.yaml")).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let errors: Vec<String> = schema.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let bad = serde_json::json!({"version": 1, "images": [{"ref": "a/b:1", "platfroms": []}]});
    assert!(!schema.is_valid(&bad));
}
