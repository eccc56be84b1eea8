//! What an operator who knows cosign, skopeo and podman expects around the
//! binary: completions, a man page, `version`, help texts that say what a
//! command does, and `--platform os/arch[/variant]` on pack as on unpack.

mod common;

use common::cli::{self, s, Run};

/// stdout of a run that must succeed.
fn stdout(r: &Run) -> String {
    cli::ok(r);
    r.stdout.clone()
}

#[test]
fn completions_are_valid_scripts_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = stdout(&cli::run(&["completions", shell]));
        for sub in ["pack", "verify", "unpack", "inspect"] {
            assert!(out.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let bash = cli::put(
        tmp.path(),
        "airlock.bash",
        stdout(&cli::run(&["completions", "bash"])),
    );
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&bash)
        .status()
        .unwrap();
    assert!(syntax.success(), "bash -n rejects the completion script");
    cli::assert_code(&cli::run(&["completions", "tcsh"]), 2);
}

#[test]
fn the_man_page_documents_every_command() {
    let man = stdout(&cli::run(&["man"]));
    assert!(
        man.contains(".TH airlock 1"),
        "{}",
        &man[..man.len().min(300)]
    );
    for sub in [
        "pack",
        "verify",
        "inspect",
        "unpack",
        "verify\\-bundle",
        "version",
    ] {
        assert!(man.contains(sub), "man page lacks {sub}");
    }
}

#[test]
fn version_names_the_embedded_trust_roots() {
    let text = stdout(&cli::run(&["version"]));
    assert!(
        text.starts_with(&format!("airlock {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains("trusted root: sha256:"), "{text}");
    assert!(text.contains("TUF root: version "), "{text}");
    let v = cli::run(&["--output", "json", "version"]).json();
    assert!(v["tufRoot"]["version"].as_u64().unwrap() >= 1, "{v:#}");
    assert!(v["trustedRoot"]["newestKeyFrom"].is_string(), "{v:#}");
}

#[test]
fn command_summaries_say_what_each_command_does() {
    let help = stdout(&cli::run(&["--help"]));
    let line = |cmd: &str| {
        help.lines()
            .find(|l| l.trim_start().starts_with(&format!("{cmd} ")))
            .unwrap_or_else(|| panic!("no {cmd} line in\n{help}"))
            .to_string()
    };
    assert!(line("unpack").contains("registry"), "{}", line("unpack"));
    assert!(line("verify").contains("signature"), "{}", line("verify"));
}

#[test]
fn every_attestation_type_name_is_listed_and_accepted() {
    let help = stdout(&cli::run(&["verify", "--help"]));
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a.tar");
    cli::ok(&cli::pack(&common::small_layout(tmp.path()), &archive, &[]).run());
    let key = common::site::Site::new();
    for name in [
        "slsaprovenance",
        "slsaprovenance02",
        "slsaprovenance1",
        "spdx",
        "spdxjson",
        "cyclonedx",
        "vuln",
        "link",
    ] {
        assert!(help.contains(name), "verify --help does not list {name}");
        // Accepted: the run fails on the missing signature (4), not on usage (2).
        let r = cli::airlock(["verify", s(&archive), "--attestation-type", name, "--key"])
            .arg(&key.key)
            .run();
        cli::assert_code(&r, 4);
    }
    let r = cli::airlock([
        "verify",
        s(&archive),
        "--attestation-type",
        "nonsense",
        "--key",
    ])
    .arg(&key.key)
    .run();
    cli::assert_code(&r, 2);
    assert!(
        r.stderr.contains("vuln") && r.stderr.contains("link"),
        "{}",
        r.stderr
    );
}

#[test]
fn pack_takes_platform_as_os_arch_variant() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::multiarch_layout(&tmp.path().join("multi"));
    let out = tmp.path().join("arm.tar");
    let r = cli::pack(
        &dir,
        &out,
        &["--platform", "linux/arm64/v8", "--output", "json"],
    )
    .run();
    stdout(&r);
    let v = r.json();
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["platform"], "linux/arm64/v8");
    let bad = cli::pack(&dir, &tmp.path().join("b.tar"), &["--platform", "arm64"]).run();
    cli::assert_code(&bad, 2);
    let both = cli::pack(
        &dir,
        &tmp.path().join("c.tar"),
        &["--platform", "linux/amd64", "--arch", "arm64"],
    )
    .run();
    cli::assert_code(&both, 2);
}

/// "One JSON document on failure", argument errors included.
#[test]
fn one_json_document_on_failure_even_for_argument_errors() {
    for args in [
        &["--output", "json", "pack", "--bogus"][..],
        &["pack", "--output=json", "-o"][..],
        &["--output", "json", "verify"][..],
    ] {
        let r = cli::run(args);
        cli::assert_code(&r, 2);
        let v = r.json();
        assert_eq!(v["ok"], false, "{v:#}");
        assert_eq!(v["error"]["kind"], "usage", "{v:#}");
        assert_eq!(v["error"]["exitCode"], 2, "{v:#}");
        assert_eq!(r.stdout.lines().count(), 1, "one document: {}", r.stdout);
    }
    // Help stays text.
    assert!(cli::run(&["--output", "json", "pack", "--help"])
        .stdout
        .starts_with("Pack"));
}

/// `pack --help` offers no flag pack refuses (rollback is the receiving
/// host's business); verify and unpack offer them.
#[test]
fn pack_help_lists_no_flag_pack_refuses() {
    let pack = stdout(&cli::run(&["pack", "--help"]));
    for flag in [
        "--state-dir",
        "--allow-downgrade",
        "--record",
        "--insecure-no-policy",
    ] {
        assert!(!pack.contains(flag), "pack --help lists {flag}");
    }
    for cmd in ["verify", "unpack"] {
        let help = stdout(&cli::run(&[cmd, "--help"]));
        assert!(
            help.contains("--state-dir") && help.contains("--allow-downgrade"),
            "{cmd}"
        );
    }
}
