//! `verify-bundle`, `verify` and `unpack` open no socket (also not while
//! chaining an archive's trust root via TUF): every run is traced with strace
//! (`-e trace=%network`) and the trace must hold no network system call
//! (tests/common/trace.rs). A control run (bash opening a TCP socket) proves
//! the tracing works; without strace the tests skip with a message, and fail
//! when `CI` is set.

mod common;

use common::cli::s;
use common::trace::{assert_offline, tracing_works};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// `verify-bundle` of a keyless conformance bundle under the beacon identity.
fn keyless<'a>(bundle: &'a str, artifact: &'a str) -> Vec<&'a str> {
    vec![
        "verify-bundle",
        "--bundle",
        bundle,
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
        artifact,
    ]
}

#[test]
fn verify_bundle_opens_no_socket() {
    let fx = fixtures_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    if !tracing_works(dir.path()) {
        return;
    }
    let conf = fx.join("conformance");
    let artifact = conf.join("a.txt");
    let happy = conf.join("happy-path-v0.3/bundle.sigstore.json");
    let managed = conf.join("managed-key-happy-path/bundle.sigstore.json");
    let managed_key = conf.join("managed-key-happy-path/key.pub");
    let bad_set = conf.join("set-invalid-signature_fail/bundle.sigstore.json");
    let cases: [(Vec<&str>, i32); 3] = [
        (keyless(s(&happy), s(&artifact)), 0),
        (
            vec![
                "verify-bundle",
                "--bundle",
                s(&managed),
                "--key",
                s(&managed_key),
                s(&artifact),
            ],
            0,
        ),
        (keyless(s(&bad_set), s(&artifact)), 4),
    ];
    for (i, (args, expected)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("run{i}.txt"));
        assert_offline(args, *expected, &out, &format!("case {i}"));
    }
}

/// verify and unpack of an archive whose trusted root chains via TUF (and
/// of one whose chain is refused) stay offline: the TUF client code of
/// sigstore-tuf is not even compiled in (`default-features = false`).
#[test]
fn verify_and_unpack_with_tuf_chain_open_no_socket() {
    let site = common::tuf::Site::new();
    if !tracing_works(site.dir.path()) {
        return;
    }
    let archive = site.good_archive("a.tar");
    let other = common::cli::put(
        site.dir.path(),
        "other-v1.json",
        common::tuf::TufRepo::new().v1(),
    );
    let state = site.path("state");
    let into = format!("dir:{}", site.path("out").display());
    let key_and_state = |anchor| {
        [
            "--key",
            s(&site.key),
            "--tuf-root",
            anchor,
            "--state-dir",
            s(&state),
        ]
    };
    let verify = |anchor| [&["verify", s(&archive)][..], &key_and_state(anchor)].concat();
    let unpack = [
        &[
            "unpack",
            s(&archive),
            "--into",
            &into,
            "--platform",
            "linux/amd64",
        ][..],
        &key_and_state(s(&site.anchor)),
    ]
    .concat();
    let cases: [(Vec<&str>, i32); 3] = [
        // Chains: accepted.
        (verify(s(&site.anchor)), 0),
        // Another anchor: ignored, refused.
        (verify(s(&other)), 4),
        (unpack, 0),
    ];
    for (i, (args, expected)) in cases.iter().enumerate() {
        let out = site.path(&format!("tuf{i}.txt"));
        assert_offline(args, *expected, &out, &format!("case {i}"));
    }
}
