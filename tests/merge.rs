//! `airlock merge BASE… DELTA -o FULL` (issue 11): the proof that a delta
//! plus its base is the full archive is byte identity with a full `pack` of
//! the same source, for one image, several, zstd and volume sets.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{self, ok, s};

/// One image per layout; `week` 2 changes one layer of the first.
fn week(root: &Path, week: u8, images: usize) -> Vec<PathBuf> {
    (0..images)
        .map(|i| {
            let seed = 10 * i as u8;
            let last = if i == 0 && week == 2 { 200 } else { seed + 2 };
            common::layout_with_layers(
                &root.join(format!("w{week}-{i}")),
                &format!("localhost/site/app{i}:1"),
                &[(seed + 1, 40_000), (last, 900_000)],
            )
        })
        .collect()
}

fn pack(layouts: &[PathBuf], out: &Path, extra: &[&str]) {
    let mut a = cli::airlock(["pack"]);
    for l in layouts {
        a = a.arg("--from-oci-layout").arg(l);
    }
    ok(&a.arg("-o").arg(out).args(extra).run());
}

/// Full week 1, week 2 as a delta against it, merged; and full week 2.
/// Returns (merged, full).
fn merged_and_full(root: &Path, images: usize, name: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let (base, delta) = (
        root.join(format!("base-{name}")),
        root.join(format!("delta-{name}")),
    );
    let (merged, full) = (
        root.join(format!("merged-{name}")),
        root.join(format!("full-{name}")),
    );
    pack(&week(root, 1, images), &base, extra);
    pack(
        &week(root, 2, images),
        &delta,
        &[&["--base", s(&base)], extra].concat(),
    );
    pack(&week(root, 2, images), &full, extra);
    let m = common::archive_json_any(&delta);
    assert!(!m["external"].as_array().unwrap().is_empty(), "not a delta");
    let mut args = vec!["merge", s(&base), s(&delta), "-o", s(&merged)];
    args.extend(extra.iter().filter(|a| **a != "--zstd"));
    if extra.contains(&"--zstd") {
        args.push("--zstd");
    }
    ok(&cli::run(&args));
    (merged, full)
}

#[test]
fn merge_of_a_single_image_delta_is_byte_identical_to_a_full_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let (merged, full) = merged_and_full(tmp.path(), 1, "a.tar", &[]);
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&full).unwrap()
    );
    // The checksum file too.
    let sidecar = |p: &Path| std::fs::read_to_string(format!("{}.sha256", p.display())).unwrap();
    assert_eq!(
        sidecar(&merged).split_whitespace().next(),
        sidecar(&full).split_whitespace().next()
    );
}

#[test]
fn merge_of_a_multi_image_delta_is_byte_identical_to_a_full_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let (merged, full) = merged_and_full(tmp.path(), 3, "m.tar", &[]);
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&full).unwrap()
    );
    ok(&cli::run(&["verify", s(&merged)]));
}

#[test]
fn merge_of_a_zstd_delta_is_byte_identical_to_a_full_zstd_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let (merged, full) = merged_and_full(tmp.path(), 2, "z.tar.zst", &[]);
    let bytes = std::fs::read(&merged).unwrap();
    assert_eq!(&bytes[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
    assert_eq!(bytes, std::fs::read(&full).unwrap());
}

#[test]
fn merge_of_volume_sets_is_byte_identical_to_a_full_split_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let (merged, full) = merged_and_full(tmp.path(), 2, "v.tar", &["--volume-size", "1MiB"]);
    let files = |base: &Path| {
        let dir = base.parent().unwrap();
        let prefix = base.file_name().unwrap().to_str().unwrap().to_string();
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_str().unwrap();
                n.starts_with(&format!("{prefix}."))
            })
            .map(|p| {
                let n = p.file_name().unwrap().to_str().unwrap();
                (n[prefix.len()..].to_string(), std::fs::read(&p).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let (m, f) = (files(&merged), files(&full));
    assert!(
        m.len() >= 3,
        "{:?}",
        m.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    assert_eq!(m.len(), f.len());
    for ((mn, mb), (fnm, fb)) in m.iter().zip(&f) {
        assert_eq!(mn, fnm);
        assert!(mb == fb, "volume {mn} differs");
    }
}

#[test]
fn merge_refuses_a_full_archive_as_the_delta() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.tar");
    pack(&week(tmp.path(), 1, 1), &a, &[]);
    let out = tmp.path().join("out.tar");
    let r = cli::run(&["merge", s(&a), s(&a), "-o", s(&out)]);
    assert!(cli::failed(&r, 2).contains("not a delta"), "{}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn merge_with_several_bases_is_byte_identical_to_a_full_pack() {
    let tmp = tempfile::tempdir().unwrap();
    let w1 = week(tmp.path(), 1, 2);
    let (b0, b1) = (tmp.path().join("b0.tar"), tmp.path().join("b1.tar"));
    pack(&w1[..1], &b0, &[]);
    pack(&w1[1..], &b1, &[]);
    let (delta, full, merged) = (
        tmp.path().join("delta.tar"),
        tmp.path().join("full.tar"),
        tmp.path().join("merged.tar"),
    );
    let w2 = week(tmp.path(), 2, 2);
    pack(&w2, &delta, &["--base", s(&b0), "--base", s(&b1)]);
    pack(&w2, &full, &[]);
    let m = common::archive_json(&delta);
    assert_eq!(m["bases"].as_array().unwrap().len(), 2);
    let bases: Vec<u64> = m["external"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["base"].as_u64().unwrap())
        .collect();
    assert!(bases.contains(&0) && bases.contains(&1), "{bases:?}");
    ok(&cli::run(&[
        "merge",
        s(&b0),
        s(&b1),
        s(&delta),
        "-o",
        s(&merged),
    ]));
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&full).unwrap()
    );
}
