//! One JSON report shape: every `--output json` report of pack, verify,
//! inspect and unpack (success, refusal, argument error) validates against
//! its schema in schema/, always carries `warnings`, uses empty lists for
//! "none", and describes an image the same way in every command.

mod common;

use std::path::PathBuf;

use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, assert_schema_valid, report_schema, s, Run};
use serde_json::Value;

const REF: &str = "registry.example.org/team/app:1.0";

/// A signed one-image archive and the site that can check it.
fn signed_archive(site: &common::site::Site) -> PathBuf {
    let mut l = Layout::create(site.path("layout")).unwrap();
    let layer = l.add_random_layer(20_000, 1).unwrap();
    let m = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
        .unwrap();
    l.tag(REF, &m);
    site.sign(&mut l, &m.digest, REF, 10);
    let layout = l.finish().unwrap();
    let archive = site.path("a.tar");
    cli::ok(&cli::pack(&layout, &archive, &["--no-rekor"]).run());
    archive
}

fn json(command: &str, r: &Run) -> Value {
    let v = r.json();
    assert_schema_valid(&report_schema(command), &v);
    assert!(
        v["warnings"].is_array(),
        "{command}: warnings missing: {v:#}"
    );
    v
}

fn key_flags(site: &common::site::Site) -> Vec<String> {
    vec![
        "--key".into(),
        s(&site.key).into(),
        "--trusted-root".into(),
        s(&site.root).into(),
        "--insecure-ignore-tlog".into(),
    ]
}

#[test]
fn every_report_matches_its_schema() {
    let site = common::site::Site::new();
    let archive = signed_archive(&site);
    let a = s(&archive);
    let keys = key_flags(&site);
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();

    // pack: written, and refused by a stranger's key.
    let layout = site.path("layout");
    let v = json(
        "pack",
        &cli::pack(
            &layout,
            &site.path("b.tar"),
            &["--no-rekor", "--output", "json", "--timings"],
        )
        .run(),
    );
    assert!(v["archive"]["blobBytes"].as_u64().unwrap() > 0);
    // --timings: where the time went, per phase that ran.
    for phase in ["resolve", "write", "hash"] {
        assert!(
            v["timings"][phase].as_f64().is_some(),
            "pack {phase}: {v:#}"
        );
    }
    let stranger = common::site::Site::new();
    let sk = key_flags(&stranger);
    let mut args: Vec<&str> = vec!["--no-rekor", "--output", "json"];
    args.extend(sk.iter().map(String::as_str));
    let r = cli::pack(&layout, &site.path("c.tar"), &args).run();
    cli::assert_code(&r, 4);
    json("pack", &r);

    // verify: integrity only, with a policy, refused.
    let image_in_verify =
        json("verify", &cli::run(&["--output", "json", "verify", a]))["images"][0].clone();
    let mut args = vec!["--output", "json", "verify", a];
    args.extend(&keys);
    json("verify", &cli::run(&args));
    let mut args = vec!["--output", "json", "verify", a];
    args.extend(sk.iter().map(String::as_str));
    let r = cli::run(&args);
    cli::assert_code(&r, 4);
    json("verify", &r);

    // inspect.
    let inspected = json("inspect", &cli::run(&["--output", "json", "inspect", a]));
    assert_eq!(inspected["images"][0], image_in_verify, "one image shape");

    // unpack: dry run with a policy (checks per image), loaded, refused.
    let out = site.path("out");
    let into = format!("dir:{}", s(&out));
    let mut args = vec![
        "--output",
        "json",
        "unpack",
        a,
        "--into",
        &into,
        "--dry-run",
    ];
    args.extend(&keys);
    let v = json("unpack", &cli::run(&args));
    assert_eq!(v["loaded"], serde_json::json!([]), "nothing loaded is []");
    assert_eq!(v["notes"], serde_json::json!([]));
    let img = &v["images"][0];
    assert_eq!(img["packedReference"], REF);
    for field in [
        "platform",
        "manifestDigest",
        "configDigest",
        "indexDigest",
        "size",
        "evidence",
    ] {
        assert_eq!(img[field], image_in_verify[field], "unpack's {field}");
    }
    let checks = img["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "signatures" && c["status"] == "pass"),
        "{v:#}"
    );
    let mut args = vec![
        "--output",
        "json",
        "unpack",
        a,
        "--into",
        &into,
        "--timings",
    ];
    args.extend(&keys);
    let v = json("unpack", &cli::run(&args));
    assert_eq!(v["loaded"].as_array().unwrap().len(), 1, "{v:#}");
    for phase in ["verify", "load", "hash"] {
        assert!(
            v["timings"][phase].as_f64().is_some(),
            "unpack {phase}: {v:#}"
        );
    }
    let other = format!("dir:{}", s(&site.path("other")));
    let mut args = vec!["--output", "json", "unpack", a, "--into", &other];
    args.extend(sk.iter().map(String::as_str));
    let r = cli::run(&args);
    cli::assert_code(&r, 4);
    json("unpack", &r);

    // Argument errors are reports too.
    for cmd in ["pack", "verify", "inspect", "unpack"] {
        let r = cli::run(&["--output", "json", cmd, "--no-such-flag"]);
        cli::assert_code(&r, 2);
        json(cmd, &r);
    }
}
