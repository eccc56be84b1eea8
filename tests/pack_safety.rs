//! What pack promises an operator about the files around it: an
//! interrupted pack leaves nothing behind.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, s, wait_until};

/// A layout whose pack takes long enough to interrupt: `layers` random
/// layers of `size` bytes.
fn big_layout(root: &Path, layers: u64, size: u64) -> PathBuf {
    let mut l = Layout::create(root.join("layout")).unwrap();
    let ls: Vec<_> = (0..layers)
        .map(|i| l.add_random_layer(size, i).unwrap())
        .collect();
    let m = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &ls)
        .unwrap();
    l.tag("example.com/big:1", &m);
    l.finish().unwrap()
}

/// The temporary archives pack keeps beside its output while writing.
fn temp_archives(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| s(p).contains(".airlock-pack-"))
        .collect()
}

/// Start a pack into an empty directory, wait until its temporary archive
/// exists, send `signal`, and return the run and the output directory.
fn interrupted_pack(tmp: &Path, signal: &str) -> (cli::Run, PathBuf) {
    let layout = big_layout(tmp, 6, 64 << 20);
    let out_dir = tmp.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("big.tar");
    let running = cli::pack(&layout, &out, &[]).spawn();
    wait_until(Duration::from_secs(60), "pack's temporary archive", || {
        !temp_archives(&out_dir).is_empty()
    });
    running.signal(signal);
    (running.wait(), out_dir)
}

#[test]
fn sigint_during_pack_exits_130_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let (r, out_dir) = interrupted_pack(tmp.path(), "INT");
    cli::assert_code(&r, 130);
    assert!(r.stderr.contains("interrupted"), "{}", r.stderr);
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn sigterm_during_pack_exits_130_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let (r, out_dir) = interrupted_pack(tmp.path(), "TERM");
    cli::assert_code(&r, 130);
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A small one-image layout.
fn small(root: &Path) -> PathBuf {
    common::small_layout(root)
}

#[test]
fn an_existing_output_is_only_replaced_with_force() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = small(tmp.path());
    let out = tmp.path().join("a.tar");
    std::fs::write(&out, b"precious").unwrap();
    let r = cli::pack(&layout, &out, &[]).run();
    cli::assert_code(&r, 2);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    cli::ok(&cli::pack(&layout, &out, &["--force"]).run());
    assert_ne!(std::fs::read(&out).unwrap(), b"precious");
}

#[test]
fn an_output_inside_the_source_layout_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = small(tmp.path());
    let index = std::fs::read(layout.join("index.json")).unwrap();
    for target in [layout.join("index.json"), layout.join("blobs/x.tar")] {
        let r = cli::pack(&layout, &target, &["--force"]).run();
        cli::assert_code(&r, 2);
        assert!(
            r.stderr.contains("inside the source layout"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(std::fs::read(layout.join("index.json")).unwrap(), index);
    assert!(!layout.join("blobs/x.tar").exists());
}

#[test]
fn a_missing_output_directory_is_refused_before_reading_sources() {
    let tmp = tempfile::tempdir().unwrap();
    // The layout does not exist either: the output is checked first.
    let r = cli::pack(
        &tmp.path().join("no-layout"),
        &tmp.path().join("no/such/dir/a.tar"),
        &[],
    )
    .run();
    cli::assert_code(&r, 2);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
}

#[test]
fn a_registry_pack_into_a_missing_directory_contacts_no_registry() {
    let tmp = tempfile::tempdir().unwrap();
    // 127.0.0.1:9 (discard) answers nothing; a connection attempt would be
    // retried for seconds and end in a registry error, not a usage error.
    let r = cli::airlock([
        "pack",
        "127.0.0.1:9/app:1",
        "--insecure-registry",
        "127.0.0.1:9",
    ])
    .arg("-o")
    .arg(tmp.path().join("missing/a.tar"))
    .run();
    cli::assert_code(&r, 2);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
}

#[test]
fn the_name_and_the_compression_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = small(tmp.path());
    for (name, extra) in [
        ("a.tar.gz", &[][..]),
        ("a.tgz", &[][..]),
        ("b.tar", &["--zstd"][..]),
    ] {
        let r = cli::pack(&layout, &tmp.path().join(name), extra).run();
        cli::assert_code(&r, 2);
        assert!(!tmp.path().join(name).exists(), "{name}");
    }
}

#[test]
fn archives_and_checksums_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let layout = small(tmp.path());
    let out = tmp.path().join("a.tar");
    let r = cli::airlock_with_umask("022", ["pack", "--from-oci-layout"])
        .arg(&layout)
        .arg("-o")
        .arg(&out)
        .run();
    cli::ok(&r);
    for f in [out.clone(), tmp.path().join("a.tar.sha256")] {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{}", f.display());
    }
}

/// Same content, same bytes: however the layout path is spelt and
/// wherever pack runs from, the archive is identical (and records no
/// local path).
#[test]
fn the_layout_path_spelling_does_not_change_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let layout = small(&root);
    let name = layout.file_name().unwrap().to_str().unwrap().to_string();
    let sub = root.join("elsewhere");
    std::fs::create_dir(&sub).unwrap();
    let spellings: [(PathBuf, String); 4] = [
        (root.clone(), name.clone()),
        (root.clone(), format!("./{name}")),
        (sub.clone(), format!("../{name}")),
        (sub.clone(), s(&layout).to_string()),
    ];
    let mut archives = Vec::new();
    for (i, (cwd, spelt)) in spellings.iter().enumerate() {
        let out = root.join(format!("a{i}.tar"));
        let r = cli::airlock(["pack", "--from-oci-layout", spelt.as_str(), "-o"])
            .arg(&out)
            .env("SOURCE_DATE_EPOCH", "0")
            .current_dir(cwd)
            .run();
        cli::ok(&r);
        archives.push(std::fs::read(&out).unwrap());
    }
    assert!(archives.windows(2).all(|w| w[0] == w[1]), "archives differ");
    let text = String::from_utf8_lossy(&archives[0]);
    assert!(!text.contains(s(&root)), "the archive records a local path");
}
