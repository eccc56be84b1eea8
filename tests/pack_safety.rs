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
