//! The policy file: `schema/policy.schema.json` and `TrustPolicy::from_json`
//! must agree on every example, valid or not.

use airlock::trust::{TrustError, TrustPolicy};
use serde_json::{json, Value};

const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEoE0CXLGff79fR8KyPnSvOY74UBkt\n2sLi+aVFUzS1Qwt4wosxHhcDN2B6QSsLlvgsH82q6qcA6PL2SdS/p4jWGA==\n-----END PUBLIC KEY-----\n";
const GH: &str = "https://token.actions.githubusercontent.com";

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/policy.schema.json"
    ))
    .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn valid_examples() -> Vec<Value> {
    vec![
        json!({ "version": 1, "keys": [KEY] }),
        json!({ "version": 1, "keys": [KEY], "transparencyLog": "insecure-ignore", "ignoreReference": true }),
        json!({ "version": 1, "keys": [KEY], "requireInclusionProof": true }),
        json!({ "version": 1, "identities": [{ "identity": "a@example.com", "issuer": "https://accounts.google.com" }] }),
        json!({
            "version": 1,
            "identities": [{ "identityRegexp": "https://github\\.com/org/.*", "issuerRegexp": "https://token\\.actions\\..*" }],
            "threshold": 2,
            "provenance": { "sourceRepository": "https://github.com/org/repo", "sourceRef": "refs/heads/main",
                            "sourceCommit": "7d2900eca1c22b3f87c13987c8d4b7c9a29b733a" }
        }),
    ]
}

fn invalid_examples() -> Vec<(Value, &'static str)> {
    vec![
        (json!({ "version": 2, "keys": [KEY] }), "unknown version"),
        (json!({ "version": 1 }), "no signer"),
        (json!({ "version": 1, "keys": [] }), "empty key list"),
        (
            json!({ "version": 1, "keys": [KEY], "threshold": 0 }),
            "threshold 0",
        ),
        (
            json!({ "version": 1, "keys": [KEY], "colour": "blue" }),
            "unknown field",
        ),
        (
            json!({ "version": 1, "identities": [{ "identity": "a", "identityRegexp": "a", "issuer": GH }] }),
            "identity twice",
        ),
        (
            json!({ "version": 1, "identities": [{ "identity": "a" }] }),
            "no issuer",
        ),
        (
            json!({ "version": 1, "keys": [KEY], "transparencyLog": "sometimes" }),
            "bad tlog mode",
        ),
        (
            json!({ "version": 1, "keys": [KEY], "provenance": {} }),
            "empty provenance",
        ),
        (
            json!({ "version": 1, "keys": [KEY], "provenance": { "branch": "main" } }),
            "unknown provenance field",
        ),
    ]
}

#[test]
fn valid_examples_pass_schema_and_parser() {
    let schema = schema();
    for doc in valid_examples() {
        assert!(schema.is_valid(&doc), "schema refused {doc}");
        TrustPolicy::from_json(doc.to_string().as_bytes()).unwrap_or_else(|e| panic!("{doc}: {e}"));
    }
}

#[test]
fn invalid_examples_fail_schema_and_parser() {
    let schema = schema();
    for (doc, why) in invalid_examples() {
        assert!(!schema.is_valid(&doc), "schema accepted ({why}) {doc}");
        assert!(
            TrustPolicy::from_json(doc.to_string().as_bytes()).is_err(),
            "parser accepted ({why}) {doc}"
        );
    }
}

#[test]
fn incoherent_policies_are_refused_by_the_parser() {
    // Valid JSON shape, refused on meaning.
    for (doc, why) in [
        (
            json!({ "version": 1, "identities": [{ "identity": "a@example.com", "issuer": GH }], "transparencyLog": "insecure-ignore" }),
            "ignore tlog with identities",
        ),
        (
            json!({ "version": 1, "keys": [KEY], "threshold": 2 }),
            "threshold above key count",
        ),
        (
            json!({ "version": 1, "identities": [{ "identityRegexp": "(", "issuer": GH }] }),
            "bad regexp",
        ),
    ] {
        let err = TrustPolicy::from_json(doc.to_string().as_bytes()).unwrap_err();
        assert!(matches!(err, TrustError::InvalidPolicy(_)), "{why}: {err}");
    }
    let err = TrustPolicy::from_json(
        br#"{"version":1,"keys":["-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----"]}"#,
    )
    .unwrap_err();
    assert!(matches!(err, TrustError::MalformedPem { .. }), "{err}");
    let err = TrustPolicy::from_json(b"{\"version\":").unwrap_err();
    assert!(matches!(err, TrustError::MalformedJson { .. }), "{err}");
}

#[test]
fn parsed_policy_carries_its_settings() {
    let doc = json!({ "version": 1, "keys": [KEY], "transparencyLog": "insecure-ignore", "ignoreReference": true,
                      "provenance": { "workflow": ".github/workflows/release.yml" } });
    let p = TrustPolicy::from_json(doc.to_string().as_bytes()).unwrap();
    assert!(p.signatures().unwrap().ignores_tlog());
    assert!(p.ignores_reference());
    assert_eq!(p.signatures().unwrap().threshold(), 1);
    assert_eq!(
        p.provenance().unwrap().workflow.as_deref(),
        Some(".github/workflows/release.yml")
    );
}

#[test]
fn keys_by_path_are_listed_and_read_by_the_caller() {
    let schema = schema();
    let doc =
        json!({ "version": 1, "keys": [KEY, { "path": "keys/release.pub" }], "threshold": 2 });
    assert!(schema.is_valid(&doc), "schema refused {doc}");
    let bytes = doc.to_string();
    assert_eq!(
        TrustPolicy::key_paths(bytes.as_bytes()).unwrap(),
        ["keys/release.pub"]
    );
    // The trust core opens no file: a path nobody read is refused.
    let err = TrustPolicy::from_json(bytes.as_bytes()).unwrap_err();
    assert!(matches!(err, TrustError::InvalidPolicy(_)), "{err}");
    assert!(err.to_string().contains("keys/release.pub"), "{err}");
    let other = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAhfmF/C2RDkoJ4+WmZ5pojpPLBUr\n321s32bluAKC1O0ZSn3ry5dxLS3aPKhaqHZaVvRfx1hZllLyiXxlMG5XlA==\n-----END PUBLIC KEY-----\n";
    let files = [("keys/release.pub".to_string(), other.as_bytes().to_vec())]
        .into_iter()
        .collect();
    let p = TrustPolicy::from_json_with_key_files(bytes.as_bytes(), &files).unwrap();
    assert_eq!(p.signatures().unwrap().signers().len(), 2);
    assert_eq!(p.signatures().unwrap().threshold(), 2);
    // A bad PEM in a key file is named by its path.
    let files = [("keys/release.pub".to_string(), b"not a key".to_vec())]
        .into_iter()
        .collect();
    let err = TrustPolicy::from_json_with_key_files(bytes.as_bytes(), &files).unwrap_err();
    assert!(err.to_string().contains("keys/release.pub"), "{err}");
}

#[test]
fn malformed_key_paths_fail_schema_and_parser() {
    let schema = schema();
    for (doc, why) in [
        (
            json!({ "version": 1, "keys": [{ "path": "" }] }),
            "empty path",
        ),
        (
            json!({ "version": 1, "keys": [{ "path": "a.pub", "pem": "x" }] }),
            "unknown key field",
        ),
        (json!({ "version": 1, "keys": [{}] }), "no path"),
        (json!({ "version": 1, "keys": [42] }), "not a key"),
    ] {
        assert!(!schema.is_valid(&doc), "schema accepted ({why}) {doc}");
        assert!(
            TrustPolicy::key_paths(doc.to_string().as_bytes()).is_err(),
            "parser accepted ({why}) {doc}"
        );
    }
}
