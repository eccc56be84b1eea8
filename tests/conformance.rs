//! Every case of `../shared/fixtures/conformance/` through
//! `airlock verify-bundle`, following the suite's directory semantics.

mod common;

use std::ffi::OsString;
use std::path::Path;

use common::cli;

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Run one case; return (exit code, stderr).
fn run_case(conformance: &Path, name: &str) -> (i32, String) {
    let dir = conformance.join(name);
    assert!(dir.is_dir(), "conformance case {name} is missing");
    let mut args: Vec<OsString> = vec![
        "verify-bundle".into(),
        "--bundle".into(),
        dir.join("bundle.sigstore.json").into(),
    ];
    if dir.join("key.pub").is_file() {
        args.extend(["--key".into(), dir.join("key.pub").into()]);
    } else {
        let read = |f: &str, default: &str| {
            std::fs::read_to_string(dir.join(f))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| default.to_string())
        };
        args.extend([
            "--certificate-identity".into(),
            read("identity", DEFAULT_IDENTITY).into(),
            "--certificate-oidc-issuer".into(),
            read("issuer", DEFAULT_ISSUER).into(),
        ]);
    }
    if dir.join("trusted_root.json").is_file() {
        args.extend([
            "--trusted-root".into(),
            dir.join("trusted_root.json").into(),
        ]);
    }
    let artifact = if dir.join("artifact").is_file() {
        dir.join("artifact")
    } else {
        conformance.join("a.txt")
    };
    args.push(artifact.into());
    let out = cli::airlock(args).run();
    (out.code, out.stderr)
}

fn check(name: &str) {
    let fx = fixtures_or_skip!();
    let (code, stderr) = run_case(&fx.join("conformance"), name);
    if name.ends_with("_fail") {
        assert_eq!(
            code, 4,
            "conformance case {name} must be refused as a trust failure (exit 4); stderr: {stderr}"
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "case {name}: expected one line on stderr, got {stderr:?}"
        );
    } else {
        assert_eq!(
            code, 0,
            "conformance case {name} must verify; stderr: {stderr}"
        );
    }
}

macro_rules! cases {
    ($($test:ident => $dir:literal,)*) => {
        $( #[test] fn $test() { check($dir); } )*

        /// Every folder of the suite has a test above.
        #[test]
        fn every_case_is_listed() {
            let fx = fixtures_or_skip!();
            let listed = [$($dir),*];
            for entry in std::fs::read_dir(fx.join("conformance")).unwrap() {
                let entry = entry.unwrap();
                if entry.file_type().unwrap().is_dir() {
                    let name = entry.file_name().into_string().unwrap();
                    assert!(listed.contains(&name.as_str()), "conformance case {name} has no test");
                }
            }
        }
    };
}

cases! {
    bundle_malformed_json_fail => "bundle-malformed-json_fail",
    checkpoint_wrong_roothash_fail => "checkpoint-wrong-roothash_fail",
    dsse_invalid_sig_fail => "dsse-invalid-sig_fail",
    happy_path_intoto_in_dsse_v3 => "happy-path-intoto-in-dsse-v3",
    happy_path_v0_1 => "happy-path-v0.1",
    happy_path_v0_2 => "happy-path-v0.2",
    happy_path_v0_3 => "happy-path-v0.3",
    integrated_time_in_future_fail => "integrated-time-in-future_fail",
    invalid_inclusion_proof_fail => "invalid-inclusion-proof_fail",
    managed_key_happy_path => "managed-key-happy-path",
    managed_key_wrong_key_fail => "managed-key-wrong-key_fail",
    rekor2_happy_path => "rekor2-happy-path",
    set_invalid_signature_fail => "set-invalid-signature_fail",
    wrong_hashedrekord_artifact_fail => "wrong-hashedrekord-artifact_fail",
}

/// The protocol's digest form of FILE_OR_DIGEST verifies like the file.
#[test]
fn digest_form_of_artifact_verifies() {
    use sha2::Digest as _;
    let fx = fixtures_or_skip!();
    let conf = fx.join("conformance");
    let digest = hex::encode(sha2::Sha256::digest(
        std::fs::read(conf.join("a.txt")).unwrap(),
    ));
    let out = cli::airlock(["verify-bundle", "--bundle"])
        .arg(conf.join("happy-path-v0.3/bundle.sigstore.json"))
        .args(["--certificate-identity", DEFAULT_IDENTITY])
        .args(["--certificate-oidc-issuer", DEFAULT_ISSUER])
        .arg(format!("sha256:{digest}"))
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// Wrong identity on a valid bundle: exit 4, not 0.
#[test]
fn cli_identity_mismatch_exits_4() {
    let fx = fixtures_or_skip!();
    let conf = fx.join("conformance");
    let out = cli::airlock(["verify-bundle", "--bundle"])
        .arg(conf.join("happy-path-v0.3/bundle.sigstore.json"))
        .args([
            "--certificate-identity",
            "https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main",
        ])
        .args(["--certificate-oidc-issuer", DEFAULT_ISSUER])
        .arg(conf.join("a.txt"))
        .run();
    assert_eq!(out.code, 4);
    assert!(out.stderr.contains("identity"));
}

/// Missing policy is a usage error (exit 2).
#[test]
fn cli_without_policy_is_usage_error() {
    let out = cli::run(&["verify-bundle", "--bundle", "x.json", "a.txt"]);
    assert_eq!(out.code, 2);
}
