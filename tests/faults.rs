//! Fault injection: each writer (pack, unpack into dir:, registry: and
//! podman, repair) is SIGKILLed at 20 moments, chosen by the bytes its
//! process tree has read and written (`/proc/PID/io`), not by sleeps; the
//! whole tree dies at once, as on a power cut or an OOM kill of the
//! service's cgroup. After each kill nothing partial may be visible under
//! an output name; then the same command runs again and must succeed with
//! the same result, and no temporary may be left behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use airlock::model::Digest;
use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, ok, s};
use common::registry::Registry;
use common::site::Site;

const REF: &str = "registry.example.org/team/app:1.0";
const MOMENTS: u64 = 20;

/// `pid` and all its descendants.
fn tree(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    let mut i = 0;
    while i < pids.len() {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", pids[i]));
        i += 1;
        for task in tasks.into_iter().flatten().flatten() {
            if let Ok(c) = std::fs::read_to_string(task.path().join("children")) {
                pids.extend(c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    pids
}

/// Progress of `pids` (those still running) in bytes: read, written, and
/// dirtied in the page cache.
fn moved(pids: &[u32]) -> u64 {
    let field = |io: &str, name: &str| -> u64 {
        io.lines()
            .find_map(|l| {
                l.strip_prefix(name)?
                    .strip_prefix(": ")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/io")).ok())
        // wchar misses copy_file_range(2); write_bytes (pages dirtied) sees it.
        .map(|io| field(&io, "rchar") + field(&io, "wchar") + field(&io, "write_bytes"))
        .sum()
}

fn signal(sig: &str, pids: &[u32]) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .args(pids.iter().map(u32::to_string))
        .stderr(std::process::Stdio::null())
        .status();
}

/// Runs `cmd` to the end; the most bytes its tree was seen to move.
fn calibrate(cmd: cli::Airlock) -> u64 {
    let mut run = cmd.spawn();
    let mut most = 0;
    while !run.exited() {
        most = most.max(moved(&tree(run.pid())));
        std::thread::sleep(Duration::from_micros(200));
    }
    ok(&run.wait());
    most
}

/// Runs `cmd` and SIGKILLs its whole tree once it has moved `at` bytes:
/// the bytes moved by then, or None when it finished first.
fn kill_at(cmd: cli::Airlock, at: u64) -> Option<u64> {
    let mut run = cmd.spawn();
    loop {
        if run.exited() {
            ok(&run.wait());
            return None;
        }
        let pids = tree(run.pid());
        let n = moved(&pids);
        if n >= at {
            if pids.len() == 1 {
                run.kill();
            } else {
                // Stop first so no child is forked between listing and killing.
                signal("STOP", &pids);
                let pids = tree(run.pid());
                signal("KILL", &pids);
            }
            let r = run.wait();
            return (r.code == -1).then_some(n);
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// `MOMENTS` points spread over a run that moves `total` bytes.
fn moments(total: u64) -> Vec<u64> {
    (1..=MOMENTS).map(|k| total * k / (MOMENTS + 1)).collect()
}

/// Asserts that (nearly) every kill landed before the run ended, at
/// several distinct points (a run that reads or writes 1 MiB at a time is
/// only seen between those calls, so close moments can share one point).
fn assert_landed(what: &str, landed: Vec<u64>) {
    let mut points = landed.clone();
    points.sort();
    points.dedup();
    eprintln!(
        "{what}: {} of {MOMENTS} kills landed, at {} points",
        landed.len(),
        points.len()
    );
    assert!(
        landed.len() as u64 >= MOMENTS * 3 / 4 && points.len() as u64 >= MOMENTS / 3,
        "{what}: {} of {MOMENTS} kills landed before the run ended, at {} points: {points:?}",
        landed.len(),
        points.len()
    );
}

/// Names of airlock temporaries (`.airlock-…`) in `dir`.
fn temporaries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".airlock-"))
        .collect();
    v.sort();
    v
}

/// Every file under `dir` as (relative path, sha256), sorted.
fn tree_digest(dir: &Path) -> Vec<(String, Digest)> {
    let mut v: Vec<(String, Digest)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            (rel, Digest::of(&std::fs::read(e.path()).unwrap()))
        })
        .collect();
    v.sort();
    v
}

struct World {
    site: Site,
    layout: PathBuf,
    archive: PathBuf,
}

/// A signed amd64 image of 3 × 1.5 MB layers, packed.
fn world() -> World {
    let site = Site::new();
    let mut l = Layout::create(site.path("src")).unwrap();
    let layers: Vec<_> = (0..3)
        .map(|seed| l.add_random_layer(1_500_000, seed).unwrap())
        .collect();
    let m = l
        .add_image(&ImageSpec::new(Platform::linux("amd64")), &layers)
        .unwrap();
    l.tag(REF, &m);
    site.sign(&mut l, &m.digest, REF, 3);
    let layout = l.finish().unwrap();
    let archive = site.path("app.tar");
    ok(&cli::pack(&layout, &archive, &["--no-rekor"]).run());
    World {
        site,
        layout,
        archive,
    }
}

impl World {
    fn unpack(&self, into: &str) -> cli::Airlock {
        cli::airlock(["unpack"])
            .arg(&self.archive)
            .args(["--into", into, "--key"])
            .arg(&self.site.key)
            .arg("--trusted-root")
            .arg(&self.site.root)
            .arg("--state-dir")
            .arg(&self.site.state)
    }

    /// The rollback state is whole: every file in it is JSON (a kill may
    /// leave a temporary, which the next run sweeps).
    fn assert_state_whole(&self, temporaries_allowed: bool) {
        for e in walkdir::WalkDir::new(&self.site.state)
            .into_iter()
            .filter_map(Result::ok)
        {
            let name = e.file_name().to_string_lossy();
            if name.starts_with(".airlock-") {
                assert!(temporaries_allowed, "left in state: {name}");
                continue;
            }
            if e.file_type().is_file() && name.ends_with(".json") {
                let bytes = std::fs::read(e.path()).unwrap();
                assert!(
                    serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
                    "{} is not whole",
                    e.path().display()
                );
            }
        }
    }
}

#[test]
fn pack_killed_at_twenty_moments_leaves_no_archive_and_packs_again() {
    let w = world();
    let dir = w.site.path("out");
    std::fs::create_dir(&dir).unwrap();
    let pack = |out: &Path| cli::pack(&w.layout, out, &["--no-rekor", "--force"]);
    let want = std::fs::read(&w.archive).unwrap();
    let out = dir.join("site.tar");
    let total = calibrate(pack(&out));
    let mut landed = Vec::new();
    for at in moments(total) {
        std::fs::remove_file(&out).unwrap();
        if let Some(n) = kill_at(pack(&out), at) {
            landed.push(n);
            // Renamed into place whole, or not there at all.
            if out.exists() {
                assert_eq!(std::fs::read(&out).unwrap(), want, "partial archive at {n}");
            }
        }
        ok(&pack(&out).run());
        assert_eq!(std::fs::read(&out).unwrap(), want);
        assert_eq!(
            temporaries(&dir),
            Vec::<String>::new(),
            "after a kill at {at}"
        );
    }
    assert_landed("pack", landed);
}

#[test]
fn unpack_into_dir_killed_at_twenty_moments_leaves_nothing_partial() {
    let w = world();
    let parent = w.site.path("site");
    std::fs::create_dir(&parent).unwrap();
    let reference = parent.join("reference");
    let total = calibrate(w.unpack(&format!("dir:{}", s(&reference))));
    let want = tree_digest(&reference);
    let target = parent.join("images");
    let into = format!("dir:{}", s(&target));
    let mut landed = Vec::new();
    for at in moments(total) {
        let _ = std::fs::remove_dir_all(&target);
        let whole = match kill_at(w.unpack(&into), at) {
            None => true,
            Some(n) => {
                landed.push(n);
                // One rename commits the layout: nothing, or all of it.
                let got = tree_digest(&target);
                assert!(got.is_empty() || got == want, "partial layout at {n}");
                !got.is_empty()
            }
        };
        w.assert_state_whole(true);
        if whole {
            // Killed after the commit: run it again into an empty target.
            std::fs::remove_dir_all(&target).unwrap();
        }
        ok(&w.unpack(&into).run());
        assert_eq!(tree_digest(&target), want);
        assert_eq!(
            temporaries(&parent),
            Vec::<String>::new(),
            "after a kill at {at}"
        );
        w.assert_state_whole(false);
    }
    assert_landed("unpack --into dir:", landed);
}

#[test]
fn unpack_into_registry_killed_at_twenty_moments_never_leaves_a_half_pushed_tag() {
    let Some(reg) = Registry::plain() else { return };
    let w = world();
    let unpack = |ns: &str| {
        w.unpack(&format!("registry:{}/{ns}", reg.host))
            .args(["--insecure-registry", &reg.host])
    };
    let tag = |ns: &str| -> Option<Digest> {
        let url = format!("http://{}/v2/{ns}/team/app/manifests/1.0", reg.host);
        let o = Command::new("curl")
            .args(["-sf", "-H", "Accept: application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json", &url])
            .output()
            .unwrap();
        o.status.success().then(|| Digest::of(&o.stdout))
    };
    let total = calibrate(unpack("reference"));
    let want = tag("reference").expect("the reference push is tagged");
    let mut landed = Vec::new();
    for (k, at) in moments(total).into_iter().enumerate() {
        let ns = format!("try{k}");
        if let Some(n) = kill_at(unpack(&ns), at) {
            landed.push(n);
            let got = tag(&ns);
            assert!(got.is_none() || got == Some(want), "tag at {n}: {got:?}");
        }
        w.assert_state_whole(true);
        ok(&unpack(&ns).run());
        assert_eq!(tag(&ns), Some(want));
        w.assert_state_whole(false);
    }
    assert_landed("unpack --into registry:", landed);
}

#[test]
fn unpack_into_podman_killed_at_twenty_moments_leaves_the_image_or_nothing() {
    if !common::registry::have_tools(&["podman"]) {
        return;
    }
    let w = world();
    let store = tempfile::tempdir().unwrap();
    let args = [
        format!("--root={}", store.path().join("root").display()),
        format!("--runroot={}", store.path().join("run").display()),
        "--storage-driver=vfs".to_string(),
    ];
    let podman = |extra: &[&str]| -> String {
        let o = Command::new("podman")
            .args(&args)
            .args(extra)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let image_id = || podman(&["image", "inspect", "--format", "{{.Id}}", REF]);
    // A temp dir of its own (lowercase, as podman staging needs) to see
    // that what a killed run staged is swept by the next.
    let tmp = PathBuf::from(format!("/tmp/airlock-faults-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let unpack = || {
        w.unpack("podman")
            .env("AIRLOCK_PODMAN_ARGS", args.join(" "))
            .env("TMPDIR", &tmp)
    };
    let total = calibrate(unpack());
    let want = image_id();
    assert!(!want.is_empty());
    let mut landed = Vec::new();
    for at in moments(total) {
        podman(&["rmi", "--all", "--force"]);
        if let Some(n) = kill_at(unpack(), at) {
            landed.push(n);
            let got = image_id();
            assert!(got.is_empty() || got == want, "image at {n}: {got}");
        }
        w.assert_state_whole(true);
        ok(&unpack().run());
        assert_eq!(image_id(), want);
        w.assert_state_whole(false);
        let staged: Vec<_> = std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("airlock-stage-"))
            .collect();
        assert!(
            staged.is_empty(),
            "staging left after a killed run and a whole one: {staged:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert_landed("unpack --into podman", landed);
}

#[test]
fn repair_killed_at_twenty_moments_rebuilds_whole_volumes_only() {
    let w = world();
    let dir = w.site.path("vols");
    std::fs::create_dir(&dir).unwrap();
    let base = dir.join("app.tar");
    ok(&cli::pack(
        &w.layout,
        &base,
        &["--no-rekor", "--volume-size", "1MiB", "--parity", "2"],
    )
    .run());
    let vol = |n: &str| PathBuf::from(format!("{}.{n}", base.display()));
    let lost = [vol("002"), vol("004")];
    let want: Vec<Vec<u8>> = lost.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let index = vol("volumes.json");
    let repair = || cli::airlock(["repair"]).arg(&index);
    let drop_volumes = || lost.iter().for_each(|p| std::fs::remove_file(p).unwrap());
    drop_volumes();
    let total = calibrate(repair());
    let mut landed = Vec::new();
    for at in moments(total) {
        drop_volumes();
        if let Some(n) = kill_at(repair(), at) {
            landed.push(n);
            for (p, good) in lost.iter().zip(&want) {
                if p.exists() {
                    assert_eq!(&std::fs::read(p).unwrap(), good, "partial volume at {n}");
                }
            }
        }
        ok(&repair().run());
        for (p, good) in lost.iter().zip(&want) {
            assert_eq!(&std::fs::read(p).unwrap(), good);
        }
        assert_eq!(
            temporaries(&dir),
            Vec::<String>::new(),
            "after a kill at {at}"
        );
    }
    assert_landed("repair", landed);
}

// ------------------------------------------------------------- full disks

/// Runs `script` in a private mount namespace with a tmpfs of `size` at
/// `mnt`; its stdout, or None (skip) when namespaces are not available.
fn on_small_tmpfs(mnt: &Path, size: &str, script: &str) -> Option<(String, String)> {
    std::fs::create_dir_all(mnt).unwrap();
    let script = format!(
        "mount -t tmpfs -o size={size} tmpfs {m} || {{ echo 'unshare failed' >&2; exit 99; }}; {script}",
        m = s(mnt)
    );
    let o = common::in_mount_namespace(&script)?;
    Some((
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ))
}

impl World {
    /// `airlock unpack … --into dir:TARGET` as a shell command line.
    fn unpack_line(&self, target: &Path, state: &Path) -> String {
        format!(
            "HOME={home} AIRLOCK_SITE_POLICY=/nonexistent {bin} unpack {a} --into dir:{t} --key {k} --trusted-root {r} --state-dir {st}",
            home = s(self.site.dir.path()),
            bin = common::airlock_bin(),
            a = s(&self.archive),
            t = s(target),
            k = s(&self.site.key),
            r = s(&self.site.root),
            st = s(state),
        )
    }
}

#[test]
fn pack_onto_a_full_disk_fails_clearly_and_leaves_nothing() {
    let w = world();
    let mnt = w.site.path("small");
    // 2 MiB of room for a 4.5 MB archive.
    let script = format!(
        "HOME={home} AIRLOCK_SITE_POLICY=/nonexistent {bin} pack --no-rekor --from-oci-layout {l} -o {m}/app.tar; echo \"exit=$?\"; ls -A {m}",
        home = s(w.site.dir.path()),
        bin = common::airlock_bin(),
        l = s(&w.layout),
        m = s(&mnt),
    );
    let Some((out, err)) = on_small_tmpfs(&mnt, "2m", &script) else {
        return;
    };
    assert_eq!(
        out.trim_end(),
        "exit=1",
        "exit code, or files left behind:\n{out}\n{err}"
    );
    assert!(err.contains("No space left"), "{err}");
}

#[test]
fn unpack_into_dir_on_a_full_disk_fails_clearly_and_leaves_nothing() {
    let w = world();
    let mnt = w.site.path("small");
    let script = format!(
        "{unpack}; echo \"exit=$?\"; ls -A {m}",
        unpack = w.unpack_line(&mnt.join("images"), &w.site.state),
        m = s(&mnt),
    );
    let Some((out, err)) = on_small_tmpfs(&mnt, "2m", &script) else {
        return;
    };
    let code = out.lines().next().unwrap_or_default();
    assert!(
        code != "exit=0" && code.starts_with("exit="),
        "{out}\n{err}"
    );
    assert_eq!(out.lines().count(), 1, "files left behind:\n{out}\n{err}");
    assert!(err.contains("No space left"), "{err}");
    assert!(
        !w.site.state.exists(),
        "rollback state written for a failed unpack"
    );
}

#[test]
fn a_full_state_directory_refuses_before_loading_and_the_state_is_unchanged() {
    let w = world();
    let mnt = w.site.path("small");
    let state = mnt.join("state");
    let (first, second) = (w.site.path("first"), w.site.path("second"));
    let snapshot = format!(
        "(cd {st} && find . -type f | sort | xargs sha256sum)",
        st = s(&state)
    );
    // A first unpack leaves marks and records; then the disk fills up.
    let script = format!(
        "{one} >/dev/null || exit 3; {snap} > {m}/../before; \
         dd if=/dev/zero of={m}/fill bs=64k 2>/dev/null; \
         {two}; echo \"exit=$?\"; {snap} | diff {m}/../before - && echo same-state; ls -A {m}",
        one = w.unpack_line(&first, &state),
        two = w.unpack_line(&second, &state),
        snap = snapshot,
        m = s(&mnt),
    );
    let Some((out, err)) = on_small_tmpfs(&mnt, "4m", &script) else {
        return;
    };
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("exit=") && *l != "exit=0"),
        "{out}\n{err}"
    );
    assert_eq!(lines.get(1), Some(&"same-state"), "{out}\n{err}");
    assert_eq!(&lines[2..], ["fill", "state"], "{out}\n{err}");
    assert!(
        err.contains("No space left") && err.contains("state"),
        "{err}"
    );
    assert!(first.join("index.json").exists());
    assert!(
        !second.exists(),
        "loaded although the state could not be written"
    );
}
