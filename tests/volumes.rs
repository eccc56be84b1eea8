//! Transfer media: `pack -o -` into a pipe, volume sets (`--volume-size`),
//! their index, reading them back, parity and `airlock repair`, and one
//! test per bad input of issue 10.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::cli::{self, assert_refused, ok, s};
use serde_json::Value;

const MIB: u64 = 1 << 20;

/// A small layout (≈3.1 MB archive) in `root`, seeded so two seeds give
/// two archives of the same size.
fn layout(root: &Path, seed: u8) -> PathBuf {
    common::layout_with_layers(
        &root.join(format!("src{seed}")),
        common::REF,
        &[(seed, 70_000), (seed.wrapping_add(100), 3_000_000)],
    )
}

/// `pack` of `layout` into `dir/NAME` split with `extra` flags; returns
/// `dir/NAME`.
fn pack_split(layout: &Path, dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    ok(&cli::pack(layout, &out, &["--volume-size", "1MiB"])
        .args(extra)
        .run());
    out
}

fn vol(base: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}.{suffix}", base.display()))
}

fn index_of(base: &Path) -> PathBuf {
    vol(base, "volumes.json")
}

fn read_index(base: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(index_of(base)).unwrap()).unwrap()
}

fn joined(base: &Path, n: usize) -> Vec<u8> {
    (1..=n)
        .flat_map(|i| std::fs::read(vol(base, &format!("{i:03}"))).unwrap())
        .collect()
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x40;
    std::fs::write(path, b).unwrap();
}

fn verify(target: &Path) -> cli::Run {
    cli::airlock(["--output", "json", "verify"])
        .arg(target)
        .run()
}

/// Asserts a refusal of kind bad-volume whose message names `name` and
/// says `what`.
fn refused_naming(r: &cli::Run, name: &str, what: &str) {
    assert_refused(r, 3, "bad-volume");
    assert!(r.stderr.contains(name), "{name} not named: {}", r.stderr);
    assert!(r.stderr.contains(what), "no {what:?} in: {}", r.stderr);
}

fn volumes_schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/volumes.schema.json");
    let schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

// ------------------------------------------------------------ streams

#[test]
fn pack_to_stdout_pipes_into_unpack() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = layout(tmp.path(), 1);
    let home = tempfile::tempdir().unwrap();
    let mut pack = Command::new(common::airlock_bin());
    pack.args(["--output", "json", "pack", "--from-oci-layout"])
        .arg(&layout)
        .args(["-o", "-"])
        .current_dir(tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cli::private_env(&mut pack, home.path());
    let mut pack = pack.spawn().unwrap();
    let target = tmp.path().join("site");
    let mut unpack = Command::new(common::airlock_bin());
    unpack
        .args(["unpack", "-", "--insecure-no-policy", "--into"])
        .arg(format!("dir:{}", target.display()))
        .stdin(pack.stdout.take().unwrap());
    cli::private_env(&mut unpack, home.path());
    let unpacked = unpack.output().unwrap();
    let packed = pack.wait_with_output().unwrap();
    assert!(
        packed.status.success(),
        "{}",
        String::from_utf8_lossy(&packed.stderr)
    );
    assert!(
        unpacked.status.success(),
        "{}",
        String::from_utf8_lossy(&unpacked.stderr)
    );
    // The JSON report went to stderr (stdout is the archive) and names the digest.
    let err = String::from_utf8_lossy(&packed.stderr);
    let start = err.find('{').expect("a JSON report on stderr");
    let report: Value = serde_json::Deserializer::from_str(&err[start..])
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(report["output"], "-");
    cli::assert_schema_valid(&cli::report_schema("pack"), &report);
    let sha = report["archive"]["sha256"].as_str().unwrap().to_string();
    assert!(target.join("index.json").is_file());
    // Nothing was written beside it: no file named `-`, no checksum file.
    assert!(!tmp.path().join("-").exists() && !tmp.path().join("-.sha256").exists());
    // The stream is the archive pack writes to a file, byte for byte.
    let file = tmp.path().join("a.tar");
    ok(&cli::pack(&layout, &file, &[]).run());
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(sha, airlock::model::Digest::of(&bytes).to_string());
}

#[test]
fn pack_to_a_terminal_is_refused() {
    // `script` gives the command a pseudo-terminal as stdout.
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "script (util-linux) is required when CI is set"
        );
        eprintln!("SKIPPED: script is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layout = layout(tmp.path(), 1);
    let cmd = format!(
        "{} -q pack --from-oci-layout {} -o -",
        common::airlock_bin(),
        s(&layout)
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("stdout, which is a terminal"), "{out}");
}

#[test]
fn volume_flags_are_checked_before_packing() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = layout(tmp.path(), 1);
    let out = tmp.path().join("a.tar");
    let small = cli::pack(&layout, &out, &["--volume-size", "1048575"]).run();
    cli::assert_code(&small, 2);
    assert!(small.stderr.contains("at least 1 MiB"), "{}", small.stderr);
    cli::assert_code(&cli::pack(&layout, &out, &["--parity", "1"]).run(), 2);
    let stdout = cli::pack(&layout, Path::new("-"), &["--volume-size", "4G"]).run();
    cli::assert_code(&stdout, 2);
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "only the layout"
    );
}

// ------------------------------------------------------------ volumes

#[test]
fn volumes_join_into_the_unsplit_archive_and_are_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = layout(tmp.path(), 1);
    let whole = tmp.path().join("a.tar");
    ok(&cli::pack(&layout, &whole, &[]).run());
    let base = tmp.path().join("b.tar");
    let packed = cli::pack(
        &layout,
        &base,
        &["--volume-size", "1MiB", "--output", "json"],
    )
    .run();
    ok(&packed);
    cli::assert_schema_valid(&cli::report_schema("pack"), &packed.json());
    let index = read_index(&base);
    assert_eq!(packed.json()["volumes"]["volumes"], index["volumes"]);
    cli::assert_schema_valid(&volumes_schema(), &index);
    let n = index["volumes"].as_array().unwrap().len();
    assert_eq!(n, 3, "{index:#}");
    assert_eq!(joined(&base, n), std::fs::read(&whole).unwrap());
    assert_eq!(index["volumes"][0]["size"], MIB);
    assert!(!base.exists(), "only volumes and the index are written");
    assert!(!vol(&base, "sha256").exists());
    // Packed again (with --force): the same bytes.
    let first: Vec<Vec<u8>> = (1..=n)
        .map(|i| std::fs::read(vol(&base, &format!("{i:03}"))).unwrap())
        .collect();
    let again = cli::pack(&layout, &base, &["--volume-size", "1MiB"]).run();
    cli::assert_code(&again, 2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    pack_split(&layout, tmp.path(), "b.tar", &["--force"]);
    for (i, bytes) in first.iter().enumerate() {
        assert_eq!(
            &std::fs::read(vol(&base, &format!("{:03}", i + 1))).unwrap(),
            bytes
        );
    }
    assert_eq!(read_index(&base), index);
}

#[test]
fn verify_inspect_and_unpack_read_a_volume_set() {
    let tmp = tempfile::tempdir().unwrap();
    let base = pack_split(&layout(tmp.path(), 1), tmp.path(), "b.tar.zst", &[]);
    let v = verify(&index_of(&base));
    ok(&v);
    let report = v.json();
    cli::assert_schema_valid(&cli::report_schema("verify"), &report);
    assert_eq!(report["volumes"]["volumes"].as_array().unwrap().len(), 3);
    // Any volume's name finds the set, and so does the unsplit name.
    ok(&verify(&vol(&base, "002")));
    ok(&verify(&base));
    let i = cli::airlock(["--output", "json", "inspect"])
        .arg(vol(&base, "001"))
        .run();
    ok(&i);
    let i = i.json();
    cli::assert_schema_valid(&cli::report_schema("inspect"), &i);
    assert_eq!(i["volumes"]["volumeSize"], MIB);
    let target = tmp.path().join("site");
    let u = cli::airlock(["unpack", "--insecure-no-policy", "--into"])
        .arg(format!("dir:{}", target.display()))
        .arg(index_of(&base))
        .run();
    ok(&u);
    assert!(target.join("index.json").is_file());
    // `verify -` reads the concatenated volumes.
    let all = joined(&base, 3);
    ok(&cli::airlock(["verify", "-"]).stdin(all).run());
}

#[test]
fn one_volume_is_checked_alone_against_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let base = pack_split(
        &layout(tmp.path(), 1),
        tmp.path(),
        "b.tar",
        &["--parity", "1"],
    );
    std::fs::remove_file(vol(&base, "001")).unwrap();
    std::fs::remove_file(vol(&base, "002")).unwrap();
    let r = cli::airlock(["--output", "json", "verify", "--volume"])
        .arg(vol(&base, "003"))
        .run();
    ok(&r);
    assert_eq!(r.json()["volume"]["index"], 3);
    cli::assert_schema_valid(&cli::report_schema("verify"), &r.json());
    ok(&cli::airlock(["verify", "--volume"])
        .arg(vol(&base, "p01"))
        .run());
    flip(&vol(&base, "003"), 10);
    let bad = cli::airlock(["--output", "json", "verify", "--volume"])
        .arg(vol(&base, "003"))
        .run();
    refused_naming(&bad, "b.tar.003", "damaged or from another archive");
}

// ------------------------------------------------------------ bad input

#[test]
fn a_missing_volume_is_named_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let base = pack_split(&layout(tmp.path(), 1), tmp.path(), "b.tar", &[]);
    std::fs::remove_file(vol(&base, "002")).unwrap();
    let r = verify(&index_of(&base));
    refused_naming(&r, "b.tar.002", "is missing");
    assert!(r.stderr.contains("no parity"), "{}", r.stderr);
    // unpack refuses the same way and loads nothing.
    let target = tmp.path().join("site");
    let u = cli::airlock(["unpack", "--insecure-no-policy", "--into"])
        .arg(format!("dir:{}", target.display()))
        .arg(vol(&base, "001"))
        .run();
    cli::assert_code(&u, 3);
    assert!(u.stderr.contains("b.tar.002"), "{}", u.stderr);
    assert!(!target.exists());
}

#[test]
fn a_flipped_byte_in_a_middle_volume_names_that_volume() {
    // A plain tar set is read by offset (every volume hashed first), a
    // compressed one as a stream (each volume hashed as it ends).
    for name in ["b.tar", "b.tar.zst"] {
        let tmp = tempfile::tempdir().unwrap();
        let base = pack_split(&layout(tmp.path(), 1), tmp.path(), name, &["--parity", "1"]);
        let vol2 = format!("{name}.002");
        flip(&vol(&base, "002"), 500_000);
        let r = verify(&index_of(&base));
        refused_naming(&r, &vol2, "damaged");
        assert!(
            r.stderr.contains("repairable with `airlock repair"),
            "{}",
            r.stderr
        );
        let target = tmp.path().join("site");
        let u = cli::airlock(["unpack", "--insecure-no-policy", "--into"])
            .arg(format!("dir:{}", target.display()))
            .arg(index_of(&base))
            .run();
        cli::assert_code(&u, 3);
        assert!(u.stderr.contains(&vol2), "{}", u.stderr);
        assert!(!target.exists(), "nothing is loaded");
    }
}

#[test]
fn two_damaged_volumes_with_one_parity_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let base = pack_split(
        &layout(tmp.path(), 1),
        tmp.path(),
        "b.tar",
        &["--parity", "1"],
    );
    flip(&vol(&base, "001"), 100_000);
    flip(&vol(&base, "003"), 100_000);
    let r = verify(&index_of(&base));
    refused_naming(&r, "b.tar.001", "damaged");
    assert!(
        r.stderr
            .contains("2 volumes are lost or damaged, more than the 1 parity"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_truncated_volume_is_named_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let base = pack_split(&layout(tmp.path(), 1), tmp.path(), "b.tar", &[]);
    let p = vol(&base, "003");
    let b = std::fs::read(&p).unwrap();
    std::fs::write(&p, &b[..b.len() - 1000]).unwrap();
    refused_naming(&verify(&index_of(&base)), "b.tar.003", "is truncated");
}

#[test]
fn a_volume_of_another_archive_with_the_same_size_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let base = pack_split(&layout(tmp.path(), 1), tmp.path(), "b.tar", &[]);
    let other_dir = tmp.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = pack_split(&layout(tmp.path(), 2), &other_dir, "b.tar", &[]);
    std::fs::copy(vol(&other, "002"), vol(&base, "002")).unwrap();
    refused_naming(
        &verify(&index_of(&base)),
        "b.tar.002",
        "damaged or from another archive",
    );
    // The other archive's index with this archive's volumes.
    std::fs::copy(index_of(&other), index_of(&base)).unwrap();
    std::fs::copy(vol(&other, "002"), vol(&base, "002")).unwrap();
    let r = verify(&index_of(&base));
    assert_refused(&r, 3, "bad-volume");
    assert!(r.stderr.contains("b.tar.001"), "{}", r.stderr);
}

#[test]
fn two_swapped_volumes_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let base = pack_split(&layout(tmp.path(), 1), tmp.path(), "b.tar", &[]);
    let (a, b) = (vol(&base, "001"), vol(&base, "002"));
    let tmpname = tmp.path().join("swap");
    std::fs::rename(&a, &tmpname).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::rename(&tmpname, &b).unwrap();
    refused_naming(
        &verify(&index_of(&base)),
        "b.tar.001",
        "holds the content of b.tar.002",
    );
    // A duplicated volume: .001 copied over .002 (same size).
    std::fs::rename(&a, &tmpname).unwrap();
    std::fs::rename(&b, &a).unwrap();
    std::fs::copy(&a, &b).unwrap();
    refused_naming(
        &verify(&index_of(&base)),
        "b.tar.002",
        "holds the content of b.tar.001",
    );
}

#[test]
fn an_edited_index_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let base = pack_split(&layout(tmp.path(), 1), tmp.path(), "b.tar", &[]);
    let original = read_index(&base);
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = original.clone();
        f(&mut v);
        std::fs::write(index_of(&base), serde_json::to_vec(&v).unwrap()).unwrap();
        verify(&index_of(&base))
    };
    // A size: the last volume one byte shorter (the totals kept consistent).
    let r = edit(&|v| {
        let n = v["volumes"][2]["size"].as_u64().unwrap();
        v["volumes"][2]["size"] = (n - 1).into();
        v["archive"]["size"] = (v["archive"]["size"].as_u64().unwrap() - 1).into();
    });
    refused_naming(&r, "b.tar.003", "too long");
    // A size that contradicts the others.
    let r = edit(&|v| v["volumes"][1]["size"] = 5.into());
    refused_naming(&r, "b.tar.volumes.json", "volumeSize");
    // A hash.
    let r = edit(&|v| v["volumes"][1]["sha256"] = original["volumes"][0]["sha256"].clone());
    refused_naming(&r, "b.tar.002", "not the index's");
    // The count: the last volume dropped from the list.
    let r = edit(&|v| {
        let last = v["volumes"].as_array_mut().unwrap().pop().unwrap();
        let size = v["archive"]["size"].as_u64().unwrap() - last["size"].as_u64().unwrap();
        v["archive"]["size"] = size.into();
    });
    refused_naming(&r, "b.tar.003", "not listed");
}

#[test]
fn a_damaged_parity_volume_is_found_and_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let base = pack_split(
        &layout(tmp.path(), 1),
        tmp.path(),
        "b.tar",
        &["--parity", "1"],
    );
    let p01 = vol(&base, "p01");
    let good = std::fs::read(&p01).unwrap();
    flip(&p01, 1234);
    // The data volumes are intact, so the archive still verifies.
    ok(&verify(&index_of(&base)));
    let one = cli::airlock(["--output", "json", "verify", "--volume"])
        .arg(&p01)
        .run();
    refused_naming(&one, "b.tar.p01", "damaged");
    let r = cli::airlock(["repair"]).arg(index_of(&base)).run();
    ok(&r);
    assert!(r.stdout.contains("rebuilt b.tar.p01"), "{}", r.stdout);
    assert_eq!(std::fs::read(&p01).unwrap(), good);
    // A lost parity volume does not stop reading; it is a warning.
    std::fs::remove_file(&p01).unwrap();
    let v = verify(&index_of(&base));
    ok(&v);
    let warnings = v.json()["warnings"].to_string();
    assert!(warnings.contains("b.tar.p01 is missing"), "{warnings}");
}

#[test]
fn repair_rebuilds_lost_and_damaged_data_volumes_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let base = pack_split(
        &layout(tmp.path(), 1),
        tmp.path(),
        "b.tar",
        &["--parity", "2"],
    );
    let all = joined(&base, 3);
    std::fs::remove_file(vol(&base, "001")).unwrap();
    flip(&vol(&base, "003"), 77);
    let r = verify(&index_of(&base));
    refused_naming(&r, "b.tar.001", "repairable with `airlock repair");
    let r = cli::airlock(["--output", "json", "repair", "--timings"])
        .arg(vol(&base, "002"))
        .run();
    ok(&r);
    let report = r.json();
    cli::assert_schema_valid(&cli::report_schema("repair"), &report);
    // Time in the Reed-Solomon code and in hashing is reported.
    assert!(
        report["timings"]["parity"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(
        report["timings"]["hash"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    let names: Vec<&str> = report["rebuilt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b.tar.001", "b.tar.003"]);
    assert_eq!(joined(&base, 3), all);
    ok(&verify(&index_of(&base)));
    let again = cli::airlock(["repair"]).arg(index_of(&base)).run();
    assert!(ok(&again).is_empty() && again.stdout.contains("nothing to repair"));
}

#[test]
fn pack_reports_the_time_spent_on_parity() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b.tar");
    let r = cli::pack(&layout(tmp.path(), 1), &out, &["--volume-size", "1MiB"])
        .args(["--parity", "2", "--timings", "--output", "json"])
        .run();
    ok(&r);
    let report = r.json();
    cli::assert_schema_valid(&cli::report_schema("pack"), &report);
    assert!(
        report["timings"]["parity"].as_f64().unwrap() > 0.0,
        "{report}"
    );
}

#[test]
fn more_volumes_lost_than_parity_covers_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let base = pack_split(
        &layout(tmp.path(), 1),
        tmp.path(),
        "b.tar",
        &["--parity", "1"],
    );
    std::fs::remove_file(vol(&base, "001")).unwrap();
    std::fs::remove_file(vol(&base, "003")).unwrap();
    let r = verify(&index_of(&base));
    refused_naming(&r, "b.tar.001", "more than the 1 parity");
    let before = std::fs::read_dir(tmp.path()).unwrap().count();
    let r = cli::airlock(["--output", "json", "repair"])
        .arg(index_of(&base))
        .run();
    refused_naming(&r, "b.tar.001", "can rebuild at most 1");
    cli::assert_schema_valid(&cli::report_schema("repair"), &r.json());
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    let after = std::fs::read_dir(tmp.path()).unwrap().count();
    assert_eq!(before, after);
    assert!(!vol(&base, "001").exists());
}

#[test]
fn parity_over_a_single_data_volume_repairs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let lay = layout(tmp.path(), 1);
    let out = tmp.path().join("b.tar");
    ok(&cli::pack(&lay, &out, &["--volume-size", "8MiB", "--parity", "1"]).run());
    let index = read_index(&out);
    assert_eq!(index["volumes"].as_array().unwrap().len(), 1);
    let size = index["volumes"][0]["size"].as_u64().unwrap();
    // The parity volume covers the one volume, not the 8 MiB volume size.
    assert_eq!(index["parity"]["volumes"][0]["size"], size + (size & 1));
    let data = std::fs::read(vol(&out, "001")).unwrap();
    std::fs::remove_file(vol(&out, "001")).unwrap();
    ok(&cli::airlock(["repair"]).arg(index_of(&out)).run());
    assert_eq!(std::fs::read(vol(&out, "001")).unwrap(), data);
    ok(&verify(&index_of(&out)));
}

#[test]
fn a_full_disk_while_writing_volumes_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let lay = layout(tmp.path(), 1);
    let small = tmp.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    // 2 MiB of room for a 3 MiB archive (+ 1 parity volume).
    let script = format!(
        "mount -t tmpfs -o size=2m tmpfs {dir} || {{ echo 'unshare failed' >&2; exit 99; }}; \
         HOME={home} AIRLOCK_SITE_POLICY=/nonexistent {bin} pack --from-oci-layout {lay} -o {dir}/b.tar --volume-size 1MiB --parity 1; \
         echo \"exit=$?\"; ls -A {dir}",
        dir = s(&small),
        home = s(&home),
        bin = common::airlock_bin(),
        lay = s(&lay),
    );
    let Some(o) = common::in_mount_namespace(&script) else {
        return;
    };
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(out.starts_with("exit=1\n"), "{out}\n{err}");
    assert_eq!(
        out.trim_end(),
        "exit=1",
        "files were left behind:\n{out}\n{err}"
    );
    assert!(err.contains("No space left"), "{err}");
}

#[test]
fn verify_unpack_and_repair_of_volumes_open_no_socket() {
    let tmp = tempfile::tempdir().unwrap();
    if !common::trace::tracing_works(tmp.path()) {
        return;
    }
    let base = pack_split(
        &layout(tmp.path(), 1),
        tmp.path(),
        "b.tar",
        &["--parity", "1"],
    );
    let index = index_of(&base);
    std::fs::remove_file(vol(&base, "002")).unwrap();
    let target = format!("dir:{}", tmp.path().join("site").display());
    let one = vol(&base, "001");
    let runs: [(Vec<&str>, i32); 4] = [
        (vec!["repair", s(&index)], 0),
        (vec!["verify", s(&index)], 0),
        (vec!["verify", "--volume", s(&one)], 0),
        (
            vec![
                "unpack",
                "--insecure-no-policy",
                "--into",
                &target,
                s(&index),
            ],
            0,
        ),
    ];
    for (i, (args, code)) in runs.iter().enumerate() {
        let out = tmp.path().join(format!("trace{i}.txt"));
        common::trace::assert_offline(args, *code, &out, &args.join(" "));
    }
}

#[test]
fn sigint_while_writing_volumes_leaves_nothing() {
    use airlock_testkit::{ImageSpec, Layout, Platform};
    let tmp = tempfile::tempdir().unwrap();
    let mut l = Layout::create(tmp.path().join("layout")).unwrap();
    let layers: Vec<_> = (0..4)
        .map(|i| l.add_random_layer(48 << 20, i).unwrap())
        .collect();
    let m = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &layers)
        .unwrap();
    l.tag("example.com/big:1", &m);
    let layout = l.finish().unwrap();
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let running = cli::pack(
        &layout,
        &out_dir.join("big.tar"),
        &["--volume-size", "1MiB", "--parity", "1"],
    )
    .spawn();
    cli::wait_until(
        std::time::Duration::from_secs(60),
        "three volumes being written",
        || std::fs::read_dir(&out_dir).unwrap().count() >= 3,
    );
    running.signal("INT");
    let r = running.wait();
    cli::assert_code(&r, 130);
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_rename_failing_half_way_leaves_no_volumes_and_no_index() {
    let tmp = tempfile::tempdir().unwrap();
    let base = pack_split(&layout(tmp.path(), 1), tmp.path(), "b.tar", &[]);
    assert!(index_of(&base).exists() && vol(&base, "003").exists());
    // The third volume's name is taken by a directory: its rename fails
    // after the first two are in place.
    std::fs::remove_file(vol(&base, "003")).unwrap();
    std::fs::create_dir_all(vol(&base, "003").join("x")).unwrap();
    let r = cli::pack(
        &layout(tmp.path(), 2),
        &base,
        &["--volume-size", "1MiB", "--force"],
    )
    .run();
    assert!(r.code == 1, "{}", r.stderr);
    assert!(r.stderr.contains("b.tar.003"), "{}", r.stderr);
    let mut left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("b.tar") || n.starts_with(".airlock-"))
        .collect();
    left.sort();
    // The replaced set lost its index before any volume was renamed, and
    // the new volumes renamed so far were removed again.
    assert_eq!(left, ["b.tar.003"], "left behind: {left:?}");
}

#[test]
fn policy_flags_with_one_volume_are_refused_not_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let base = pack_split(&layout(tmp.path(), 1), tmp.path(), "b.tar", &[]);
    let key = cli::put(tmp.path(), "k.pub", "not read");
    for flags in [
        vec!["--key", cli::s(&key)],
        vec![
            "--certificate-identity",
            "a@example.org",
            "--certificate-oidc-issuer",
            "https://x",
        ],
        vec!["--record"],
    ] {
        let r = cli::airlock(["verify", "--volume"])
            .arg(vol(&base, "002"))
            .args(&flags)
            .run();
        assert_eq!(r.code, 2, "{flags:?}: {}", r.stderr);
        assert!(r.stderr.contains("whole set"), "{}", r.stderr);
    }
    ok(&cli::airlock(["verify", "--volume"])
        .arg(vol(&base, "002"))
        .run());
}
