//! Every case of `../shared/fixtures/conformance/` through
//! `airlock verify-bundle`, following the suite's directory semantics.

mod common;

use std::path::Path;
use std::process::Command;

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Run one case; return (exit code, stderr).
fn run_case(conformance: &Path, name: &str) -> (i32, String) {
    let dir = conformance.join(name);
    assert!(dir.is_dir(), "conformance case {name} is missing");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
    cmd.arg("verify-bundle")
        .arg("--bundle")
        .arg(dir.join("bundle.sigstore.json"));
    if dir.join("key.pub").is_file() {
        cmd.arg("--key").arg(dir.join("key.pub"));
    } else {
        let read = |f: &str, default: &str| {
            std::fs::read_to_string(dir.join(f))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| default.to_string())
        };
        cmd.arg("--certificate-identity")
            .arg(read("identity", DEFAULT_IDENTITY))
            .arg("--certificate-oidc-issuer")
            .arg(read("issuer", DEFAULT_ISSUER));
    }
    if dir.join("trusted_root.json").is_file() {
        cmd.arg("--trusted-root").arg(dir.join("trusted_root.json"));
    }
    let artifact = if dir.join("artifact").is_file() {
        dir.join("artifact")
    } else {
        conformance.join("a.txt")
    };
    cmd.arg(artifact);
    let out = cmd.output().expect("run airlock");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("verify-bundle")
        .arg("--bundle")
        .arg(conf.join("happy-path-v0.3/bundle.sigstore.json"))
        .args(["--certificate-identity", DEFAULT_IDENTITY])
        .args(["--certificate-oidc-issuer", DEFAULT_ISSUER])
        .arg(format!("sha256:{digest}"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wrong identity on a valid bundle: exit 4, not 0.
#[test]
fn cli_identity_mismatch_exits_4() {
    let fx = fixtures_or_skip!();
    let conf = fx.join("conformance");
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("verify-bundle")
        .arg("--bundle")
        .arg(conf.join("happy-path-v0.3/bundle.sigstore.json"))
        .args([
            "--certificate-identity",
            "https://github.com/evil/repo/.github/workflows/x.yml@refs/heads/main",
        ])
        .args(["--certificate-oidc-issuer", DEFAULT_ISSUER])
        .arg(conf.join("a.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("identity"));
}

/// Missing policy is a usage error (exit 2).
#[test]
fn cli_without_policy_is_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["verify-bundle", "--bundle", "x.json", "a.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
