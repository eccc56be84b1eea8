//! `airlock inventory` (issue 11): what a site holds, from an OCI layout,
//! an archive or volume set, and the unpack state directory; deterministic,
//! valid under schema/inventory.schema.json, no host data, no socket.

mod common;

use std::path::Path;

use common::cli::{self, assert_schema_valid, ok, s};
use common::trace::{assert_offline, tracing_works};
use serde_json::Value;

fn inventory_schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/inventory.schema.json");
    let schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn inventory_of_an_archive_and_its_layout_agree_and_are_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = common::small_layout(tmp.path());
    let archive = tmp.path().join("a.tar");
    ok(&cli::pack(&layout, &archive, &[]).run());
    let (a1, a2, d) = (
        tmp.path().join("a1.json"),
        tmp.path().join("a2.json"),
        tmp.path().join("d.json"),
    );
    let r = cli::run(&["--output", "json", "inventory", s(&archive), "-o", s(&a1)]);
    ok(&r);
    assert_schema_valid(&cli::report_schema("inventory"), &r.json());
    ok(&cli::run(&["inventory", s(&archive), "-o", s(&a2)]));
    let from_dir = format!("dir:{}", layout.display());
    ok(&cli::run(&["inventory", &from_dir, "-o", s(&d)]));
    let bytes = std::fs::read(&a1).unwrap();
    assert_eq!(bytes, std::fs::read(&a2).unwrap(), "deterministic");
    let inv = read_json(&a1);
    assert_schema_valid(&inventory_schema(), &inv);
    // Manifest, config, two layers and the trusted root; one image manifest.
    assert_eq!(inv["blobs"].as_array().unwrap().len(), 5, "{inv:#}");
    assert_eq!(inv["manifests"].as_array().unwrap().len(), 1);
    // The layout holds the same image blobs (the archive adds only trust material).
    let dir = read_json(&d);
    assert_schema_valid(&inventory_schema(), &dir);
    assert_eq!(dir["manifests"], inv["manifests"]);
    for b in dir["blobs"].as_array().unwrap() {
        assert!(inv["blobs"].as_array().unwrap().contains(b), "{b}");
    }
    // No host data: no path, no user name.
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.contains(tmp.path().to_str().unwrap()));
    assert!(!text.contains("localhost"), "no references either: {text}");
}

#[test]
fn inventory_of_the_state_directory_lists_what_unpack_admitted() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = common::small_layout(tmp.path());
    let archive = tmp.path().join("a.tar");
    ok(&cli::pack(&layout, &archive, &[]).run());
    let state = tmp.path().join("state");
    let out = tmp.path().join("out");
    ok(
        &cli::airlock(["unpack", "--insecure-no-policy", s(&archive)])
            .arg("--into")
            .arg(format!("dir:{}", out.display()))
            .args(["--state-dir", s(&state)])
            .run(),
    );
    let inv = tmp.path().join("inv.json");
    ok(&cli::run(&["inventory", s(&state), "-o", s(&inv)]));
    let v = read_json(&inv);
    assert_schema_valid(&inventory_schema(), &v);
    assert_eq!(v["blobs"].as_array().unwrap().len(), 4, "{v:#}");

    // A pack against that inventory leaves every layer out.
    let delta = tmp.path().join("d.tar");
    ok(&cli::pack(&layout, &delta, &["--base", s(&inv)]).run());
    let m = common::archive_json(&delta);
    assert_eq!(m["external"].as_array().unwrap().len(), 2);
}

#[test]
fn inventory_refuses_a_directory_that_is_neither_layout_nor_state() {
    let tmp = tempfile::tempdir().unwrap();
    let r = cli::run(&["inventory", s(tmp.path()), "-o", "-"]);
    cli::failed(&r, 2);
}

#[test]
fn merge_and_inventory_reports_match_their_schemas() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base.tar");
    let l1 =
        common::layout_with_layers(&tmp.path().join("1"), common::REF, &[(1, 1000), (2, 3000)]);
    let l2 =
        common::layout_with_layers(&tmp.path().join("2"), common::REF, &[(1, 1000), (3, 3000)]);
    ok(&cli::pack(&l1, &base, &[]).run());
    let delta = tmp.path().join("delta.tar");
    let r = cli::airlock(["--output", "json"])
        .arg("pack")
        .arg("--from-oci-layout")
        .arg(&l2)
        .args(["-o", s(&delta), "--base", s(&base)])
        .run();
    ok(&r);
    assert_schema_valid(&cli::report_schema("pack"), &r.json());
    for cmd in ["inspect", "verify"] {
        let r = cli::run(&["--output", "json", cmd, s(&delta)]);
        ok(&r);
        let v = r.json();
        assert_schema_valid(&cli::report_schema(cmd), &v);
        assert_eq!(v["archive"]["delta"]["externalBlobs"], 1, "{cmd}");
    }
    let full = tmp.path().join("full.tar");
    let r = cli::run(&[
        "--output",
        "json",
        "merge",
        s(&base),
        s(&delta),
        "-o",
        s(&full),
    ]);
    ok(&r);
    let v = r.json();
    assert_schema_valid(&cli::report_schema("merge"), &v);
    assert_eq!(v["delta"]["fromBases"], 1);
}

#[test]
fn inventory_of_offline_sources_opens_no_socket() {
    let tmp = tempfile::tempdir().unwrap();
    if !tracing_works(tmp.path()) {
        return;
    }
    let layout = common::small_layout(tmp.path());
    let archive = tmp.path().join("a.tar");
    ok(&cli::pack(&layout, &archive, &[]).run());
    let from_dir = format!("dir:{}", layout.display());
    let out = tmp.path().join("inv.json");
    let args = ["inventory", from_dir.as_str(), s(&archive), "-o", s(&out)];
    assert_offline(&args, 0, &tmp.path().join("trace.txt"), "inventory");
}
