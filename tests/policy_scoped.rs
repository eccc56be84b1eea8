//! Policy files of version 2 (issue 12): rules scoped to images by glob,
//! the most specific rule deciding, refusal of an image no rule covers,
//! the report naming each image's rule; in pack, verify and unpack. The
//! entries are images and Helm charts signed with forged cosign `.sig`
//! evidence (tests/common/forge.rs) under a test trusted root.

mod common;

use std::path::{Path, PathBuf};

use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, assert_code, assert_refused, run, s, Run};
use common::forge::{self, add_sig_manifest, sig_layer};
use common::fulcio::{add_keyless_sig_manifest, keyless_layer, Fulcio, Leaf};
use p256::ecdsa::SigningKey;
use serde_json::{json, Value};

const APP: &str = "registry.example.org/team/app:1.0";
const WEB: &str = "registry.example.org/team/web:2.0";
const CHART: &str = "charts.example.org/infra/app:0.1.0";
const T0: i64 = 1_700_000_000;

struct World {
    dir: tempfile::TempDir,
    rekor: SigningKey,
    root: PathBuf,
}

/// Who signs one entry of a layout.
enum Sig<'a> {
    Keys(Vec<&'a SigningKey>),
    Keyless(&'a Fulcio, &'a str),
}

const ISSUER: &str = "https://token.actions.githubusercontent.com";

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rekor = forge::key();
        let root = cli::put(
            dir.path(),
            "trusted_root.json",
            forge::trust_root_json(&rekor),
        );
        World { dir, rekor, root }
    }

    fn keyless() -> (World, Fulcio) {
        let w = World::new();
        let fulcio = Fulcio::new();
        std::fs::write(&w.root, fulcio.trust_root_json(&w.rekor)).unwrap();
        (w, fulcio)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn pem(&self, name: &str, k: &SigningKey) -> String {
        let _ = name;
        forge::pem(k)
    }

    /// A layout holding `entries` (reference, is_chart, who signs it).
    fn layout(&self, name: &str, entries: &[(&str, bool, Sig<'_>)]) -> PathBuf {
        let mut l = Layout::create(self.path(name)).unwrap();
        for (i, (reference, chart, sig)) in entries.iter().enumerate() {
            let d = if *chart {
                l.add_helm_chart("app", "0.1.0", format!("chart {i}").as_bytes())
                    .unwrap()
            } else {
                let layer = l.add_random_layer(4_000, i as u64 + 1).unwrap();
                l.add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
                    .unwrap()
            };
            l.tag(reference, &d);
            let log = (10 + i as i64, T0);
            match sig {
                Sig::Keys(keys) => {
                    let layers: Vec<_> = keys
                        .iter()
                        .map(|k| sig_layer(k, &self.rekor, &d.digest, reference, Some(log)))
                        .collect();
                    add_sig_manifest(&mut l, &d.digest, &layers);
                }
                Sig::Keyless(fulcio, identity) => {
                    let signer = forge::key();
                    let leaf = Leaf {
                        identity,
                        issuer: ISSUER,
                        not_before: T0 - 60,
                        not_after: T0 + 540,
                    };
                    let layer = keyless_layer(
                        fulcio,
                        &signer,
                        &leaf,
                        &self.rekor,
                        (&d.digest, reference),
                        log,
                    );
                    add_keyless_sig_manifest(&mut l, &d.digest, &[layer]);
                }
            }
        }
        l.finish().unwrap()
    }

    fn archive(&self, name: &str, entries: &[(&str, bool, Sig<'_>)]) -> PathBuf {
        let layout = self.layout(name, entries);
        let out = self.path(&format!("{name}.tar"));
        assert_code(&cli::pack(&layout, &out, &["--no-rekor"]).run(), 0);
        out
    }

    fn policy(&self, name: &str, doc: Value) -> PathBuf {
        cli::put(self.dir.path(), name, doc.to_string())
    }

    fn verify(&self, archive: &Path, policy: &Path) -> Run {
        run(&[
            "verify",
            s(archive),
            "--policy",
            s(policy),
            "--trusted-root",
            s(&self.root),
            "--state-dir",
            s(&self.path("state")),
            "--output",
            "json",
        ])
    }
}

/// reference → rule name from a report's trust verdicts.
fn rules(report: &Value) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = report["trust"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["reference"].as_str().unwrap().to_string(),
                i["rule"].clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn two_publishers(w: &World, team: &SigningKey, infra: &SigningKey) -> Value {
    json!({"version": 2, "rules": [
        {"name": "team", "images": ["registry.example.org/team/*"], "keys": [w.pem("team", team)]},
        {"name": "infra charts", "images": ["charts.example.org/**"], "keys": [w.pem("infra", infra)]},
    ]})
}

#[test]
fn each_publisher_rule_admits_its_own_images_and_the_report_names_it() {
    let w = World::new();
    let (team, infra) = (forge::key(), forge::key());
    let a = w.archive(
        "ok",
        &[
            (APP, false, Sig::Keys(vec![&team])),
            (CHART, true, Sig::Keys(vec![&infra])),
        ],
    );
    let policy = w.policy("p.json", two_publishers(&w, &team, &infra));
    let r = w.verify(&a, &policy);
    assert_code(&r, 0);
    let report = r.json();
    cli::assert_schema_valid(&cli::report_schema("verify"), &report);
    assert_eq!(
        rules(&report),
        [
            (CHART.to_string(), json!("infra charts")),
            (APP.to_string(), json!("team")),
        ]
    );
    // Text names the rule too.
    let text = run(&[
        "verify",
        s(&a),
        "--policy",
        s(&policy),
        "--trusted-root",
        s(&w.root),
        "--state-dir",
        s(&w.path("state2")),
    ]);
    assert_code(&text, 0);
    assert!(
        text.stdout.contains("rule: infra charts"),
        "{}",
        text.stdout
    );
}

#[test]
fn artifact_signed_by_another_rules_publisher_is_refused() {
    let w = World::new();
    let (team, infra) = (forge::key(), forge::key());
    // The chart carries a valid signature, but by the team's key: a key
    // the policy trusts, for other images.
    let a = w.archive(
        "cross",
        &[
            (APP, false, Sig::Keys(vec![&team])),
            (CHART, true, Sig::Keys(vec![&team])),
        ],
    );
    let policy = w.policy("p.json", two_publishers(&w, &team, &infra));
    let r = w.verify(&a, &policy);
    assert_refused(&r, 4, "signature-invalid");
    let report = r.json();
    let chart = report["trust"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["reference"] == CHART)
        .unwrap()
        .clone();
    assert_eq!(chart["ok"], false);
    assert_eq!(chart["rule"], "infra charts");
}

#[test]
fn image_matching_no_rule_is_refused() {
    let w = World::new();
    let team = forge::key();
    let a = w.archive(
        "norule",
        &[
            (APP, false, Sig::Keys(vec![&team])),
            (CHART, true, Sig::Keys(vec![&team])),
        ],
    );
    let policy = w.policy(
        "p.json",
        json!({"version": 2, "rules": [
            {"name": "team", "images": ["registry.example.org/team/*"], "keys": [w.pem("team", &team)]},
        ]}),
    );
    let r = w.verify(&a, &policy);
    assert_refused(&r, 4, "no-matching-rule");
    let message = r.json()["error"]["message"].to_string();
    assert!(message.contains(CHART), "{message}");

    // Unpack refuses the same archive before loading anything.
    let out = w.path("site");
    let r = run(&[
        "unpack",
        s(&a),
        "--policy",
        s(&policy),
        "--trusted-root",
        s(&w.root),
        "--state-dir",
        s(&w.path("state")),
        "--into",
        &format!("dir:{}", out.display()),
        "--output",
        "json",
    ]);
    assert_refused(&r, 4, "no-matching-rule");
    assert!(!out.exists());

    // An explicit default rule covers it.
    let policy = w.policy(
        "p2.json",
        json!({"version": 2, "rules": [
            {"name": "team", "images": ["registry.example.org/team/*"], "keys": [w.pem("team", &team)]},
            {"name": "default", "images": ["**"], "keys": [w.pem("team", &team)]},
        ]}),
    );
    let r = w.verify(&a, &policy);
    assert_code(&r, 0);
    assert_eq!(
        rules(&r.json()),
        [
            (CHART.to_string(), json!("default")),
            (APP.to_string(), json!("team")),
        ]
    );
}

#[test]
fn the_most_specific_rule_decides() {
    let w = World::new();
    let (team, app_key) = (forge::key(), forge::key());
    // app is signed only by its own key; web by the team key.
    let a = w.archive(
        "specific",
        &[
            (APP, false, Sig::Keys(vec![&app_key])),
            (WEB, false, Sig::Keys(vec![&team])),
        ],
    );
    let policy = w.policy(
        "p.json",
        json!({"version": 2, "rules": [
            {"name": "default", "images": ["**"], "keys": [w.pem("team", &team)]},
            {"name": "org", "images": ["registry.example.org/**"], "keys": [w.pem("team", &team)]},
            {"name": "app", "images": ["registry.example.org/team/app"], "keys": [w.pem("app", &app_key)]},
        ]}),
    );
    let r = w.verify(&a, &policy);
    assert_code(&r, 0);
    assert_eq!(
        rules(&r.json()),
        [
            (APP.to_string(), json!("app")),
            (WEB.to_string(), json!("org")),
        ]
    );
    // Two rules equally specific for one image (here: the same pattern,
    // pasted twice): refused, not guessed.
    let policy = w.policy(
        "tie.json",
        json!({"version": 2, "rules": [
            {"name": "a", "images": ["registry.example.org/team/*"], "keys": [w.pem("app", &app_key)]},
            {"name": "b", "images": ["registry.example.org/team/*"], "keys": [w.pem("team", &team)]},
        ]}),
    );
    let r = w.verify(&a, &policy);
    assert_refused(&r, 4, "ambiguous-rules");
}

#[test]
fn malformed_rule_glob_is_refused_before_reading_the_archive() {
    let w = World::new();
    let key = forge::key();
    for bad in [
        "registry.example.org/[team]/*",
        "registry.example.org/te**",
        "a//b",
        "app:1.0",
    ] {
        let policy = w.policy(
            "bad.json",
            json!({"version": 2, "rules": [
                {"images": [bad], "keys": [w.pem("k", &key)]},
            ]}),
        );
        let r = w.verify(&w.path("does-not-exist.tar"), &policy);
        assert_code(&r, 2);
        let said = format!("{}{}", r.stdout, r.stderr);
        assert!(said.contains("malformed"), "{bad}: {said}");
        assert!(said.contains("rules[1]"), "{bad}: {said}");
    }
    // Unknown rule fields are refused too.
    let policy = w.policy(
        "unknown.json",
        json!({"version": 2, "rules": [
            {"images": ["**"], "keys": [w.pem("k", &key)], "keyz": []},
        ]}),
    );
    let r = w.verify(&w.path("does-not-exist.tar"), &policy);
    assert_code(&r, 2);
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(said.contains("keyz"), "{said}");
}

#[test]
fn two_of_three_keys_is_a_threshold_rule() {
    let w = World::new();
    let (k1, k2, k3) = (forge::key(), forge::key(), forge::key());
    let a = w.archive("two", &[(APP, false, Sig::Keys(vec![&k1, &k3]))]);
    let one = w.archive("one", &[(APP, false, Sig::Keys(vec![&k2]))]);
    let policy = w.policy(
        "p.json",
        json!({"version": 2, "rules": [
            {"name": "release", "images": ["registry.example.org/**"], "threshold": 2,
             "keys": [w.pem("1", &k1), w.pem("2", &k2), w.pem("3", &k3)]},
        ]}),
    );
    assert_code(&w.verify(&a, &policy), 0);
    assert_refused(&w.verify(&one, &policy), 4, "threshold-not-met");
}

#[test]
fn either_of_two_maintainers_is_one_rule_with_two_identities() {
    let (w, fulcio) = World::keyless();
    let alice = "https://github.com/alice";
    let bob = "https://github.com/bob";
    let by_alice = w.archive("alice", &[(APP, false, Sig::Keyless(&fulcio, alice))]);
    let by_bob = w.archive("bob", &[(WEB, false, Sig::Keyless(&fulcio, bob))]);
    let by_mallory = w.archive(
        "mallory",
        &[(
            APP,
            false,
            Sig::Keyless(&fulcio, "https://github.com/mallory"),
        )],
    );
    let policy = w.policy(
        "p.json",
        json!({"version": 2, "rules": [
            {"name": "maintainers", "images": ["registry.example.org/team/*"], "identities": [
                {"identity": alice, "issuer": ISSUER},
                {"identity": bob, "issuer": ISSUER},
            ]},
        ]}),
    );
    assert_code(&w.verify(&by_alice, &policy), 0);
    assert_code(&w.verify(&by_bob, &policy), 0);
    assert_refused(&w.verify(&by_mallory, &policy), 4, "identity-mismatch");
}

#[test]
fn pack_applies_the_scoped_rules_too() {
    let w = World::new();
    let (team, infra) = (forge::key(), forge::key());
    let layout = w.layout(
        "pack",
        &[
            (APP, false, Sig::Keys(vec![&team])),
            (CHART, true, Sig::Keys(vec![&team])),
        ],
    );
    let policy = w.policy("p.json", two_publishers(&w, &team, &infra));
    let out = w.path("refused.tar");
    let r = cli::pack(&layout, &out, &["--no-rekor"])
        .args(["--policy", s(&policy), "--trusted-root", s(&w.root)])
        .run();
    assert_code(&r, 4);
    assert!(!out.exists());
}

#[test]
fn version_one_files_keep_working() {
    let w = World::new();
    let key = forge::key();
    let a = w.archive("v1", &[(APP, false, Sig::Keys(vec![&key]))]);
    let policy = w.policy("v1.json", json!({"version": 1, "keys": [w.pem("k", &key)]}));
    let r = w.verify(&a, &policy);
    assert_code(&r, 0);
    assert_eq!(rules(&r.json()), [(APP.to_string(), Value::Null)]);
}

#[test]
fn tag_cannot_move_an_image_under_another_publishers_name() {
    let w = World::new();
    let (team, infra) = (forge::key(), forge::key());
    let a = w.archive("tag", &[(APP, false, Sig::Keys(vec![&team]))]);
    let policy = w.policy("p.json", two_publishers(&w, &team, &infra));
    let unpack = |tag: &str, name: &str| {
        let out = w.path(name);
        let r = run(&[
            "unpack",
            s(&a),
            "--policy",
            s(&policy),
            "--trusted-root",
            s(&w.root),
            "--state-dir",
            s(&w.path("state")),
            "--into",
            &format!("dir:{}", out.display()),
            "--tag",
            tag,
            "--output",
            "json",
        ]);
        (r, out)
    };
    // Renamed into the chart publisher's namespace: refused, nothing written.
    let (r, out) = unpack("charts.example.org/infra/app:1.0", "moved");
    assert_refused(&r, 4, "no-matching-rule");
    assert!(r.json()["error"]["message"]
        .to_string()
        .contains("infra charts"));
    assert!(!out.exists());
    // Renamed within its own rule: fine.
    let (r, out) = unpack("registry.example.org/team/other:2", "same-rule");
    assert_code(&r, 0);
    assert!(out.join("index.json").exists());
}
