//! The commands as a user runs them: exit codes, one-line errors, JSON
//! reports, stdin, determinism, and nothing written on failure.

mod common;

use std::path::Path;

use common::cli::{assert_code, ok, s, Run};
use common::*;
use serde_json::Value;

/// `airlock ARGS…` with `SOURCE_DATE_EPOCH=0` (deterministic archives).
fn airlock(args: &[&str]) -> Run {
    cli::airlock(args).env("SOURCE_DATE_EPOCH", "0").run()
}

/// `airlock ARGS…` reading `input` on stdin.
fn airlock_stdin(args: &[&str], input: &[u8]) -> Run {
    cli::airlock(args).stdin(input).run()
}

/// `airlock pack --from-oci-layout LAYOUT -o OUT EXTRA…`, with
/// `SOURCE_DATE_EPOCH=0`.
fn pack(layout: &Path, out: &Path, extra: &[&str]) -> Run {
    cli::pack(layout, out, extra)
        .env("SOURCE_DATE_EPOCH", "0")
        .run()
}

#[test]
fn pack_verify_inspect_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = small_layout(tmp.path());
    let out = tmp.path().join("a.tar");
    ok(&pack(&layout, &out, &[]));
    let sidecar = std::fs::read_to_string(tmp.path().join("a.tar.sha256")).unwrap();
    let file_digest = airlock::model::Digest::of(&std::fs::read(&out).unwrap());
    assert_eq!(sidecar, format!("{}  a.tar\n", file_digest.hex()));

    let o = airlock(&["verify", s(&out)]);
    assert_code(&o, 0);
    assert!(o.stdout.starts_with("OK archive sha256:"), "{}", o.stdout);

    let o = airlock(&["--output", "json", "inspect", s(&out)]);
    assert_code(&o, 0);
    let v = o.json();
    assert_eq!(v["images"][0]["reference"], REF);
    assert_eq!(v["images"][0]["platform"], "linux/amd64");
    assert_eq!(v["verified"], false);
}

#[test]
fn archive_manifest_matches_schema() {
    let validator = cli::archive_schema();
    let es = entries(&sample_archive());
    let doc = airlock_json(&es);
    cli::assert_schema_valid(&validator, &doc);
    // The schema is not vacuous: a broken document fails it.
    let mut bad = doc.clone();
    bad["blobs"][0]["digest"] = Value::from("sha256:XYZ");
    assert!(!validator.is_valid(&bad));
    let mut bad = doc;
    bad["formatVersion"] = Value::from(2);
    assert!(!validator.is_valid(&bad));
}

#[test]
fn pack_is_byte_identical_across_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = small_layout(tmp.path());
    for ext in ["tar", "tar.zst"] {
        let a = tmp.path().join(format!("one.{ext}"));
        let b = tmp.path().join(format!("two.{ext}"));
        ok(&pack(&layout, &a, &[]));
        ok(&pack(&layout, &b, &[]));
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{ext} differs"
        );
    }
}

#[test]
fn source_date_epoch_sets_mtimes_and_created() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = small_layout(tmp.path());
    let out = tmp.path().join("a.tar");
    let o = cli::pack(&layout, &out, &[])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run();
    ok(&o);
    let bytes = std::fs::read(&out).unwrap();
    let mut a = tar::Archive::new(&bytes[..]);
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        assert_eq!(e.header().mtime().unwrap(), 1_700_000_000);
        assert_eq!(e.header().uid().unwrap(), 0);
        assert_eq!(e.header().gid().unwrap(), 0);
    }
    assert_eq!(
        airlock_json(&entries(&bytes))["created"],
        "2023-11-14T22:13:20Z"
    );
}

#[test]
fn zstd_archive_from_extension_and_stdin_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = small_layout(tmp.path());
    let out = tmp.path().join("a.tar.zst");
    ok(&pack(&layout, &out, &[]));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    let o = airlock_stdin(&["--output", "json", "verify", "-"], &bytes);
    assert_code(&o, 0);
    let v = o.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["archive"]["compression"], "zstd");
}

#[test]
fn failures_are_one_line_with_documented_exit_codes() {
    let a = sample_archive();
    let mut es = entries(&a);
    let i = largest_blob(&es);
    es[i].data[10] ^= 1;
    let cases: Vec<(&str, Vec<u8>, i32)> = vec![
        ("tampered", build(&es), 3),
        ("truncated", a[..a.len() / 3].to_vec(), 3),
        ("not an archive", b"hello".to_vec(), 3),
    ];
    for (what, bytes, code) in cases {
        let o = airlock_stdin(&["verify", "-"], &bytes);
        assert_eq!(o.code, code, "{what}");
        let lines: Vec<&str> = o.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: {lines:?}");
        assert!(
            lines[0].starts_with("airlock verify: "),
            "{what}: {lines:?}"
        );
        assert!(
            o.stdout.is_empty(),
            "{what}: text mode prints the reason on stderr only"
        );
    }
}

#[test]
fn json_report_on_failure() {
    let mut es = entries(&sample_archive());
    let i = largest_blob(&es);
    es.remove(i);
    let o = airlock_stdin(&["--output", "json", "verify", "-"], &build(&es));
    assert_code(&o, 3);
    let v = o.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["kind"], "missing-blob");
    assert_eq!(v["error"]["exitCode"], 3);
    assert_eq!(v["mediaType"], "application/vnd.airlock.report.v1+json");
}

#[test]
fn unsupported_version_exit_code() {
    let mut es = entries(&sample_archive());
    let mut m = airlock_json(&es);
    m["formatVersion"] = Value::from(9);
    set_airlock_json(&mut es, &m);
    let o = airlock_stdin(&["verify", "-"], &build(&es));
    assert_code(&o, 7);
}

#[test]
fn usage_errors_exit_2() {
    assert_code(&airlock(&["verify"]), 2);
    assert_code(&airlock(&["pack", "-o", "x.tar"]), 2);
    assert_code(&airlock(&["frobnicate"]), 2);
}

#[test]
fn failed_verify_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let tmpdir = tempfile::tempdir().unwrap();
    let mut es = entries(&sample_archive());
    let i = largest_blob(&es);
    es[i].data[0] ^= 1;
    let archive = work.path().join("bad.tar");
    std::fs::write(&archive, build(&es)).unwrap();
    let before: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let o = cli::airlock(["verify", s(&archive)])
        .current_dir(work.path())
        .env("TMPDIR", tmpdir.path())
        .run();
    assert_code(&o, 3);
    let after: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    assert_eq!(std::fs::read_dir(tmpdir.path()).unwrap().count(), 0);
}

#[test]
fn pack_from_corrupt_layout_leaves_no_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = small_layout(tmp.path());
    // Corrupt the biggest layer in the source layout, keeping its size.
    let biggest = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut data = std::fs::read(&biggest).unwrap();
    data[100] ^= 1;
    std::fs::write(&biggest, data).unwrap();
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("a.tar");
    let err = cli::failed(&pack(&layout, &out, &[]), 1);
    assert!(err.contains("changed or is corrupt"), "{err}");
    assert_eq!(
        std::fs::read_dir(&out_dir).unwrap().count(),
        0,
        "no partial archive or temp file left"
    );
}

#[test]
fn shared_layers_are_stored_once() {
    let tmp = tempfile::tempdir().unwrap();
    let a = layout_with_layers(
        &tmp.path().join("a"),
        "localhost/x/a:1",
        &[(1, 10_000), (2, 20_000)],
    );
    let b = layout_with_layers(
        &tmp.path().join("b"),
        "localhost/x/b:1",
        &[(1, 10_000), (3, 30_000)],
    );
    let out = tmp.path().join("ab.tar");
    ok(&pack(&a, &out, &["--from-oci-layout", s(&b)]));
    let es = entries(&std::fs::read(&out).unwrap());
    let layer_entries = es.iter().filter(|e| e.data.len() == 10_000).count();
    assert_eq!(layer_entries, 1, "the shared layer is stored once");
    let m = airlock_json(&es);
    assert_eq!(m["images"].as_array().unwrap().len(), 2);
    // 2 manifests + 2 configs + 3 distinct layers + the trusted root.
    assert_eq!(m["blobs"].as_array().unwrap().len(), 8);
    assert_eq!(m["evidence"][0]["role"], "trust-root");
    ok(&airlock(&["verify", s(&out)]));
}

#[test]
fn multiarch_platform_selection() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::multiarch_layout(&tmp.path().join("multi"));

    let one = tmp.path().join("arm.tar");
    let o = pack(&dir, &one, &["--arch", "aarch64", "--output", "json"]);
    ok(&o);
    let v = o.json();
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["platform"], "linux/arm64/v8");
    assert!(
        images[0]["indexDigest"].is_string(),
        "the index digest is kept"
    );
    ok(&airlock(&["verify", s(&one)]));

    let missing = tmp.path().join("s390x.tar");
    let err = cli::failed(&pack(&dir, &missing, &["--arch", "s390x"]), 1);
    assert!(
        err.contains("linux/amd64") && err.contains("linux/arm64"),
        "names the platforms that exist: {err}"
    );
    assert!(!missing.exists());

    let all = tmp.path().join("all.tar");
    let v = pack(&dir, &all, &["--output", "json"]).json();
    assert_eq!(v["images"].as_array().unwrap().len(), 2);
}

/// The files under `dir`, relative to it, sorted (none when it is missing).
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    v.sort();
    v
}

/// One default state directory for every command: with no `--state-dir`,
/// `verify --record` and `unpack` both keep their rollback marks in
/// `$AIRLOCK_STATE_DIR`, else in `$XDG_STATE_HOME/airlock`, the same file
/// for the same image, and nothing under `$XDG_DATA_HOME`.
#[test]
fn verify_and_unpack_share_the_default_state_directory() {
    use airlock_testkit::{ImageSpec, Layout, Platform};
    let site = common::site::Site::new();
    let reference = "registry.example.org/team/app:1.0";
    let mut l = Layout::create(site.path("layout")).unwrap();
    let layer = l.add_random_layer(40_000, 1).unwrap();
    let m = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &[layer])
        .unwrap();
    l.tag(reference, &m);
    site.sign(&mut l, &m.digest, reference, 10);
    let layout = l.finish().unwrap();
    let archive = site.path("a.tar");
    ok(&pack(&layout, &archive, &["--no-rekor", "--arch", "amd64"]));

    let policy = ["--key", s(&site.key), "--trusted-root", s(&site.root)];
    let commands: [(&str, Vec<String>); 2] = [
        ("verify", vec!["--record".into()]),
        (
            "unpack",
            vec![
                "--into".into(),
                format!("dir:{}", site.path("out").display()),
            ],
        ),
    ];
    let mut marks = Vec::new();
    for (with_env, expected) in [
        (true, "AIRLOCK_STATE_DIR"),
        (false, "XDG_STATE_HOME/airlock"),
    ] {
        for (command, extra) in &commands {
            let _ = std::fs::remove_dir_all(site.path("out"));
            let home = tempfile::tempdir().unwrap();
            let dir = |n: &str| {
                let d = home.path().join(n);
                std::fs::create_dir_all(&d).unwrap();
                d
            };
            let (state, xdg_state, xdg_data) = (
                dir("AIRLOCK_STATE_DIR"),
                dir("XDG_STATE_HOME"),
                dir("XDG_DATA_HOME"),
            );
            let mut run = cli::airlock([*command, s(&archive)])
                .args(extra)
                .args(policy)
                .env("XDG_STATE_HOME", &xdg_state)
                .env("XDG_DATA_HOME", &xdg_data);
            if with_env {
                run = run.env("AIRLOCK_STATE_DIR", &state);
            }
            let what = format!("{command} (state expected in ${expected})");
            ok(&run.run());
            let all_in_expected = if with_env {
                files_under(&state)
            } else {
                files_under(&xdg_state.join("airlock"))
            };
            let everything: Vec<_> = files_under(home.path());
            let in_expected: Vec<_> = all_in_expected
                .iter()
                .filter(|f| f.starts_with("rollback"))
                .cloned()
                .collect();
            assert_eq!(
                in_expected.len(),
                1,
                "{what}: one rollback mark; written: {everything:?}"
            );
            // unpack also keeps what admitted the image (for verify-local).
            let admitted = all_in_expected.iter().any(|f| f.starts_with("admitted"));
            assert_eq!(admitted, *command == "unpack", "{what}: {everything:?}");
            assert_eq!(
                everything.len(),
                all_in_expected.len(),
                "{what}: nothing written anywhere else, e.g. $XDG_DATA_HOME: {everything:?}"
            );
            assert!(files_under(&xdg_data).is_empty(), "{what}: {everything:?}");
            marks.push((what, in_expected));
        }
    }
    for (what, files) in &marks {
        assert_eq!(
            files, &marks[0].1,
            "{what}: the same mark file as {}",
            marks[0].0
        );
    }
}

/// Evidence discovery over a layout of many images (each found once, by an
/// index of the layout): `.sig`, `.att`, `.sbom` tags and referrers land on
/// their own image only, and the images without any share one stderr line
/// while the JSON report lists each.
#[test]
fn many_images_find_their_own_evidence_and_warn_once() {
    use airlock_testkit::many::{self, ManySpec};
    const N: u64 = 40;
    let tmp = tempfile::tempdir().unwrap();
    let spec = ManySpec {
        reference: "localhost/many/img".into(),
        images: N,
        evidence: true,
        seed: 3,
    };
    let (layout, images) = many::write(&tmp.path().join("layout"), &spec).unwrap();
    let out = tmp.path().join("many.tar");
    // Referrers are tagged too, so name the images.
    let mut args = vec!["-q", "--output", "json"];
    for (name, _) in &images {
        args.extend(["--ref", name.as_str()]);
    }
    let r = pack(&layout, &out, &args);
    assert_code(&r, 0);
    let v = r.json();
    let packed = v["images"].as_array().unwrap();
    assert_eq!(packed.len(), images.len());
    for (i, ((name, digest), img)) in images.iter().zip(packed).enumerate() {
        assert_eq!(img["reference"], name.as_str());
        let ev = img["evidence"].as_array().unwrap();
        let roles: Vec<&str> = ev.iter().map(|e| e["role"].as_str().unwrap()).collect();
        let want: &[&str] = match i % 4 {
            0 => &["signature"],
            1 => &["signature", "attestation"],
            2 => &["sbom", "sbom"],
            _ => &[],
        };
        assert_eq!(roles, want, "{name}");
        let hex = digest.trim_start_matches("sha256:");
        for e in ev {
            assert_eq!(e["subject"], digest.as_str(), "{name}");
            match e.get("tag").and_then(Value::as_str) {
                Some(tag) => assert!(tag.starts_with(&format!("sha256-{hex}."))),
                // The one untagged piece is the SPDX referrer.
                None => assert_eq!(e["artifactType"], "application/spdx+json"),
            }
        }
    }
    let bare = N as usize / 4;
    let line = format!(
        "airlock pack: warning: no signatures or other evidence found for {bare} images: \
         localhost/many/img:3 (linux/amd64), localhost/many/img:7 (linux/amd64), \
         localhost/many/img:11 (linux/amd64) and {} more",
        bare - 3
    );
    let warned: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("evidence"))
        .collect();
    assert_eq!(warned, [line.as_str()], "{}", r.stderr);
    let listed = v["warnings"].as_array().unwrap();
    let about: Vec<&Value> = listed
        .iter()
        .filter(|w| w.as_str().unwrap().contains("no signatures"))
        .collect();
    assert_eq!(about.len(), bare, "{v:#}");
}
