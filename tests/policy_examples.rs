//! The example policies in docs/examples/ are valid under the schema, load
//! in `airlock` (keys named by paths relative to the policy file), and mean
//! what docs/examples/README.md says.

mod common;

use std::path::{Path, PathBuf};

use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, Run};
use common::forge::{self, add_sig_manifest, sig_layer};
use common::site::{Site, T0};
use p256::ecdsa::SigningKey;
use serde_json::Value;

const REF: &str = "registry.example.org/team/app:3.0";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples")
}

fn example(name: &str) -> PathBuf {
    examples().join(name)
}

/// The fixed test key of docs/examples/keys/NAME.pub (README: scalars 0x11…, 0x22…, 0x33…).
fn test_key(name: &str) -> SigningKey {
    let byte = match name {
        "publisher" => 0x11,
        "alice" => 0x22,
        "bob" => 0x33,
        other => panic!("no test key {other}"),
    };
    SigningKey::from_slice(&[byte; 32]).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An archive of one image with one `.sig` manifest holding a signature by
/// each of `signers` (SETs by the site's Rekor key).
fn archive(site: &Site, name: &str, signers: &[SigningKey]) -> PathBuf {
    let mut l = Layout::create(site.path(name)).unwrap();
    let layer = l.add_random_layer(10_000, 9).unwrap();
    let m = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
        .unwrap();
    l.tag(REF, &m);
    let sigs: Vec<_> = signers
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let i = i as i64 + 1;
            sig_layer(k, &site.rekor, &m.digest, REF, Some((i, T0 + i)))
        })
        .collect();
    if !sigs.is_empty() {
        add_sig_manifest(&mut l, &m.digest, &sigs);
    }
    let layout = l.finish().unwrap();
    let out = site.path(&format!("{name}.tar"));
    let o = cli::pack(&layout, &out, &["--no-rekor", "--arch", "amd64"]).run();
    cli::assert_code(&o, 0);
    out
}

/// `airlock verify ARCHIVE --policy EXAMPLE` from an unrelated working
/// directory, so a key path can only resolve against the policy's own.
fn verify(site: &Site, archive: &Path, policy: &str) -> Run {
    cli::airlock([
        "verify",
        s(archive),
        "--policy",
        s(&example(policy)),
        "--trusted-root",
        s(&site.root),
    ])
    .current_dir(site.dir.path())
    .run()
}

fn example_files() -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_example_is_valid_under_the_schema() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/policy.schema.json"),
    )
    .unwrap();
    let schema = jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap();
    let files = example_files();
    assert_eq!(files.len(), 7, "{files:?}");
    for f in files {
        let doc: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let errors: Vec<String> = schema.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", f.display());
    }
}

#[test]
fn example_test_keys_are_the_documented_ones() {
    for name in ["publisher", "alice", "bob"] {
        let file = example(&format!("keys/{name}.pub"));
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            forge::pem(&test_key(name)),
            "{}",
            file.display()
        );
    }
}

#[test]
fn one_key_example_accepts_its_key_only() {
    let site = Site::new();
    let good = archive(&site, "good", &[test_key("publisher")]);
    let other = archive(&site, "other", &[forge::key()]);
    cli::ok(&verify(&site, &good, "policy-key.json"));
    cli::assert_code(&verify(&site, &other, "policy-key.json"), 4);
}

#[test]
fn maintainer_examples_any_of_and_threshold() {
    let site = Site::new();
    let alice = archive(&site, "alice", &[test_key("alice")]);
    let both = archive(&site, "both", &[test_key("alice"), test_key("bob")]);
    cli::ok(&verify(&site, &alice, "policy-maintainers-any-of.json"));
    let o = verify(&site, &alice, "policy-maintainers-both.json");
    cli::assert_code(&o, 4);
    assert!(
        o.stderr.contains("threshold") || o.stderr.contains("2"),
        "{}",
        o.stderr
    );
    cli::ok(&verify(&site, &both, "policy-maintainers-both.json"));
}

#[test]
fn two_publishers_example_scopes_each_key() {
    let site = Site::new();
    // REF is under registry.example.org/team/: alice's rule, not bob's.
    let alice = archive(&site, "alice", &[test_key("alice")]);
    let bob = archive(&site, "bob", &[test_key("bob"), test_key("publisher")]);
    cli::ok(&verify(&site, &alice, "policy-two-publishers.json"));
    cli::assert_code(&verify(&site, &bob, "policy-two-publishers.json"), 4);
}

#[test]
fn keyless_examples_load_and_refuse_a_key_signature() {
    // No Fulcio here: loading is the point (a bad file is exit 2, before the
    // archive is read); a key signature is not the workflow's.
    let site = Site::new();
    let signed = archive(&site, "signed", &[test_key("publisher")]);
    for policy in ["policy-github-actions.json", "policy-slsa-provenance.json"] {
        let o = verify(&site, &signed, policy);
        cli::assert_code(&o, 4);
    }
}

#[test]
fn docker_content_trust_example_loads_and_needs_notary_metadata() {
    // Loading is the point here (tests/content_trust.rs runs a real Notary):
    // a cosign signature does not stand in for content trust.
    let site = Site::new();
    let signed = archive(&site, "signed", &[test_key("publisher")]);
    let o = verify(&site, &signed, "policy-docker-content-trust.json");
    cli::assert_code(&o, 4);
    assert!(
        o.stderr.contains("no Notary metadata carried"),
        "{}",
        o.stderr
    );
}
