//! `airlock unpack` on real parts: an OCI layout directory (read back with
//! skopeo), real podman with a private vfs store, and one real dockerd
//! (vfs, private socket) shared by the docker scenarios. Every refusal is
//! checked for what it leaves behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock::archive::ReadOutcome;
use airlock::gate::{Gate, Plan};
use airlock::pipeline::select::Selection;
use airlock::pipeline::unpack::{unpack, UnpackRequest};
use airlock::sink::{SinkOptions, Target};
use airlock::Error;
use airlock_testkit::{ImageSpec, Layout, Platform};
use common::cli::{self, Run};
use indicatif::ProgressBar;
use serde_json::Value;

const REF: &str = "localhost/airlock-unpack/app:1.0";

/// A real image (tar layer) in an OCI layout, packed into `dir/a.tar`.
/// Returns (archive, manifest digest, config digest).
fn packed(dir: &Path, reference: &str, seed: u64, arches: &[&str]) -> (PathBuf, String, String) {
    let mut l = Layout::create(dir.join("layout")).unwrap();
    let shared = l.add_random_layer(200_000, seed).unwrap();
    let mut per_arch = Vec::new();
    for a in arches {
        let own = l
            .add_random_layer(50_000, seed + 1 + per_arch.len() as u64)
            .unwrap();
        let m = l
            .add_image(&ImageSpec::new(Platform::linux(a)), &[shared.clone(), own])
            .unwrap();
        per_arch.push((m, Platform::linux(a)));
    }
    if per_arch.len() == 1 {
        l.tag(reference, &per_arch[0].0);
    } else {
        let ix = l.add_index(&per_arch).unwrap();
        l.tag(reference, &ix);
    }
    let layout = l.finish().unwrap();
    let out = dir.join("a.tar");
    let r = common::pack_to(&layout, &out);
    let _ = r;
    let m: Value = serde_json::from_slice(
        &common::entries(&std::fs::read(&out).unwrap())
            .into_iter()
            .find(|e| e.name == "airlock.json")
            .unwrap()
            .data,
    )
    .unwrap();
    let img = &m["images"][0];
    (
        out,
        img["manifestDigest"].as_str().unwrap().to_string(),
        img["configDigest"].as_str().unwrap().to_string(),
    )
}

/// The same archive with one byte of its largest layer flipped.
fn tampered(archive: &Path) -> PathBuf {
    let mut es = common::entries(&std::fs::read(archive).unwrap());
    let i = common::largest_blob(&es);
    let n = es[i].data.len();
    es[i].data[n / 2] ^= 1;
    let out = archive.with_file_name("tampered.tar");
    std::fs::write(&out, common::build(&es)).unwrap();
    out
}

/// An archive packed in `dir` (seed `seed`) and a wrapper for `tool` that,
/// when asked to `load`, first `cp`s another valid archive over it (same
/// inode, new content) and then runs the real tool.
fn swapped_on_load(dir: &Path, tool: &str, seed: u64) -> (PathBuf, PathBuf) {
    let (archive, _, _) = packed(dir, REF, seed, &["amd64"]);
    let other_dir = dir.join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let (other, _, _) = packed(
        &other_dir,
        "localhost/airlock-unpack/swapped:1",
        seed + 1,
        &["amd64"],
    );
    let wrapper = dir.join(format!("{tool}-swaps-on-load"));
    executable(&wrapper, format!(
        "#!/bin/sh\nfor a in \"$@\"; do if [ \"$a\" = load ]; then cp {} {}; fi; done\nexec {tool} \"$@\"\n",
        other.display(),
        archive.display()
    ));
    (archive, wrapper)
}

/// Write a shell script (a wrapper around docker or podman) at `path`.
fn executable(path: &Path, script: impl AsRef<[u8]>) {
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// `airlock ARGS…` through the shared harness (private HOME and XDG
/// directories), with `env` set and `stdin` (a file) as its stdin.
fn airlock(args: &[&str], env: &[(&str, &str)], stdin: Option<&Path>) -> Run {
    let a = cli::airlock(args).envs(env);
    match stdin {
        Some(p) => a.stdin_file(p),
        None => a,
    }
    .run()
}

fn code(o: &Run) -> i32 {
    o.code
}

fn stderr(o: &Run) -> String {
    o.stderr.clone()
}

/// Whether a host tool is installed; missing fails under CI, skips otherwise.
fn have(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is required when CI is set (scripts/ensure-deps.sh installs it)"
        );
        eprintln!("SKIPPED: {tool} not installed");
    }
    ok
}

/// Names in `parent` that a failed unpack could have left behind.
fn leftovers(parent: &Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".airlock-") || n == "out")
        .collect()
}

// ---------------------------------------------------------------- dir

#[test]
fn dir_target_round_trips_digests() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, manifest, _config) = packed(tmp.path(), REF, 1, &["amd64"]);
    let out = tmp.path().join("out");
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            &format!("dir:{}", out.display()),
            "--output",
            "json",
        ],
        &[],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let report: Value = o.json();
    assert_eq!(report["loaded"][0]["manifestDigest"], manifest.as_str());
    let index: Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], manifest.as_str());
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        REF
    );
    assert!(
        leftovers(tmp.path()) == ["out"],
        "{:?}",
        leftovers(tmp.path())
    );
    if have("skopeo") {
        let s = Command::new("skopeo")
            .args(["inspect", &format!("oci:{}:{REF}", out.display())])
            .output()
            .unwrap();
        assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
        let v: Value = serde_json::from_slice(&s.stdout).unwrap();
        assert_eq!(v["Digest"], manifest.as_str());
    }
}

#[test]
fn dir_target_refuses_tampered_blob_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _, _) = packed(tmp.path(), REF, 2, &["amd64"]);
    let bad = tampered(&archive);
    let out = tmp.path().join("out");
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            bad.to_str().unwrap(),
            "--into",
            &format!("dir:{}", out.display()),
        ],
        &[],
        None,
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(!out.exists());
    assert!(leftovers(tmp.path()).is_empty());
}

#[test]
fn dir_target_refuses_a_non_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _, _) = packed(tmp.path(), REF, 3, &["amd64"]);
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), b"mine").unwrap();
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            &format!("dir:{}", out.display()),
        ],
        &[],
        None,
    );
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert_eq!(std::fs::read(out.join("keep.txt")).unwrap(), b"mine");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
}

#[test]
fn dir_target_from_stdin() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, manifest, _) = packed(tmp.path(), REF, 4, &["amd64"]);
    let out = tmp.path().join("out");
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            "-",
            "--into",
            &format!("dir:{}", out.display()),
        ],
        &[],
        Some(&archive),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let index = std::fs::read_to_string(out.join("index.json")).unwrap();
    assert!(index.contains(&manifest));
}

#[test]
fn stdin_tampered_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _, _) = packed(tmp.path(), REF, 5, &["amd64"]);
    let bad = tampered(&archive);
    let out = tmp.path().join("out");
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            "-",
            "--into",
            &format!("dir:{}", out.display()),
        ],
        &[],
        Some(&bad),
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(!out.exists());
    assert!(leftovers(tmp.path()).is_empty());
}

#[test]
fn dry_run_verifies_and_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, manifest, _) = packed(tmp.path(), REF, 6, &["amd64"]);
    let out = tmp.path().join("out");
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            &format!("dir:{}", out.display()),
            "--dry-run",
        ],
        &[],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(o.stdout.contains(&manifest));
    assert!(!out.exists());
    let bad = tampered(&archive);
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            bad.to_str().unwrap(),
            "--into",
            "docker",
            "--dry-run",
        ],
        &[],
        None,
    );
    assert_eq!(code(&o), 3, "dry run must still verify: {}", stderr(&o));
}

#[test]
fn platform_defaults_to_the_host_and_can_be_chosen() {
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("SKIPPED: test assumes an amd64 host");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _, _) = packed(tmp.path(), REF, 7, &["amd64", "arm64/v8"]);
    let run = |extra: &[&str]| {
        let mut args = vec![
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            "podman",
            "--dry-run",
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        airlock(&args, &[], None)
    };
    let o = run(&[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = o.json();
    assert_eq!(v["images"].as_array().unwrap().len(), 1);
    assert_eq!(v["images"][0]["platform"], "linux/amd64");
    let o = run(&["--platform", "linux/arm64"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = o.json();
    assert_eq!(v["images"][0]["platform"], "linux/arm64/v8");
    let o = run(&["--platform", "linux/s390x"]);
    assert_eq!(code(&o), 2);

    // An archive with only a foreign platform is refused unless named.
    let tmp2 = tempfile::tempdir().unwrap();
    let (arm_only, _, _) = packed(tmp2.path(), REF, 8, &["arm64/v8"]);
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            arm_only.to_str().unwrap(),
            "--into",
            "podman",
            "--dry-run",
        ],
        &[],
        None,
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--platform"), "{}", stderr(&o));
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            arm_only.to_str().unwrap(),
            "--into",
            "podman",
            "--dry-run",
            "--platform",
            "linux/arm64",
        ],
        &[],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// A gate hook that runs between the passes, to change the world there.
struct Hook(Box<dyn Fn() + Send + Sync>);

impl Gate for Hook {
    fn admit(&self, _o: &ReadOutcome, _p: &Plan) -> Result<(), Error> {
        (self.0)();
        Ok(())
    }
    fn describe(&self) -> String {
        "test hook".into()
    }
}

fn request(archive: &Path, out: &Path, stop: Arc<AtomicBool>) -> UnpackRequest {
    UnpackRequest {
        archive: archive.to_path_buf(),
        target: Target::Dir(out.to_path_buf()),
        selection: Selection::default(),
        dry_run: false,
        sink: SinkOptions {
            stop,
            ..SinkOptions::default()
        },
        bases: vec![],
    }
}

#[test]
fn archive_changed_between_the_passes_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _, _) = packed(tmp.path(), REF, 9, &["amd64"]);
    let bad = std::fs::read(tampered(&archive)).unwrap();
    let target = archive.clone();
    // Passes verification, then is swapped for the tampered bytes.
    let gate = Hook(Box::new(move || std::fs::write(&target, &bad).unwrap()));
    let out = tmp.path().join("out");
    let bars = |_: Option<u64>, _: &'static str| ProgressBar::hidden();
    let err = unpack(&request(&archive, &out, Arc::default()), &gate, &bars).unwrap_err();
    assert_eq!(err.kind(), "digest-mismatch", "{err}");
    assert!(!out.exists());
    assert!(leftovers(tmp.path()).is_empty());
}

#[test]
fn interrupt_aborts_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _, _) = packed(tmp.path(), REF, 10, &["amd64"]);
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    // SIGINT arriving after verification, before the blobs are copied.
    let gate = Hook(Box::new(move || s.store(true, Ordering::SeqCst)));
    let out = tmp.path().join("out");
    let bars = |_: Option<u64>, _: &'static str| ProgressBar::hidden();
    let err = unpack(&request(&archive, &out, stop), &gate, &bars).unwrap_err();
    assert_eq!(err.exit_code(), 130);
    assert!(!out.exists());
    assert!(leftovers(tmp.path()).is_empty());
}

// ---------------------------------------------------------------- podman

struct Podman {
    _root: tempfile::TempDir,
    args: Vec<String>,
}

impl Podman {
    fn new() -> Option<Self> {
        if !have("podman") {
            return None;
        }
        let root = tempfile::tempdir().unwrap();
        let args = vec![
            format!("--root={}", root.path().join("root").display()),
            format!("--runroot={}", root.path().join("run").display()),
            "--storage-driver=vfs".to_string(),
        ];
        Some(Podman { _root: root, args })
    }

    fn env(&self) -> String {
        self.args.join(" ")
    }

    fn podman(&self, args: &[&str]) -> String {
        let o = Command::new("podman")
            .args(&self.args)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn image_ids(&self) -> String {
        sorted_lines(&self.podman(&["images", "--all", "--quiet", "--no-trunc"]))
    }
}

#[test]
fn podman_target_loads_checks_and_refuses() {
    let Some(p) = Podman::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (archive, manifest, config) = packed(tmp.path(), REF, 11, &["amd64"]);
    let env = [("AIRLOCK_PODMAN_ARGS", p.env())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // Tampered: refused, store untouched.
    let bad = tampered(&archive);
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            bad.to_str().unwrap(),
            "--into",
            "podman",
        ],
        &env,
        None,
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(p.image_ids(), "");

    // Happy path: ID == config digest, manifest digest round trips, tag present.
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            "podman",
            "--output",
            "json",
        ],
        &env,
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        p.podman(&["image", "inspect", "--format", "{{.Id}}", REF]),
        config.trim_start_matches("sha256:")
    );
    assert_eq!(
        p.podman(&["image", "inspect", "--format", "{{.Digest}}", REF]),
        manifest
    );
    let v: Value = o.json();
    assert_eq!(v["loaded"][0]["targetDigest"], manifest.as_str());

    // stdin, with --tag.
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            "-",
            "--into",
            "podman",
            "--tag",
            "localhost/other/name:2",
        ],
        &env,
        Some(&archive),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        p.podman(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            "localhost/other/name:2"
        ]),
        config.trim_start_matches("sha256:")
    );
}

#[test]
fn podman_load_failing_midway_leaves_no_image() {
    let Some(p) = Podman::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _, _) = packed(tmp.path(), REF, 12, &["amd64"]);
    // A podman whose `load` is killed (SIGKILL) right after it starts and
    // reports failure: whatever it committed must be rolled back.
    let wrapper = tmp.path().join("podman-dies");
    executable(&wrapper, "#!/bin/sh\nfor a in \"$@\"; do if [ \"$a\" = load ]; then\n  podman \"$@\" & pid=$!\n  sleep 0.1; kill -9 $pid 2>/dev/null; wait; exit 137\nfi; done\nexec podman \"$@\"\n");
    let args = p.env();
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            "podman",
        ],
        &[
            ("AIRLOCK_PODMAN_ARGS", &args),
            ("AIRLOCK_PODMAN", wrapper.to_str().unwrap()),
        ],
        None,
    );
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert_eq!(p.image_ids(), "");
}

/// Under another name (`--tag`) docker loads from a stream built straight
/// from the archive: a blob rewritten after verification breaks the stream
/// before its end, the unpack fails as an integrity error and docker holds
/// nothing. The rewrite happens in the `docker image ls` that unpack starts
/// when it opens the target and reads after verifying: the wrapper waits
/// until unpack has read the whole file (its `rchar`), then rewrites it.
/// (A step of `docker_target_loads_checks_and_refuses`: one dockerd per
/// test process.)
fn docker_archive_changed_between_verify_and_load_is_refused(d: &Dockerd) {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _, _) = packed(tmp.path(), REF, 22, &["amd64"]);
    let size = std::fs::metadata(&archive).unwrap().len();
    let bad = tampered(&archive);
    let marker = tmp.path().join("swapped");
    let wrapper = tmp.path().join("docker-swaps");
    executable(&wrapper, format!(
        "#!/bin/sh\ncase \"$*\" in *\"image ls\"*) [ -e {m} ] || {{\n  while [ \"$(awk '/^rchar/ {{print $2}}' /proc/$PPID/io)\" -lt {size} ]; do sleep 0.01; done\n  cp {bad} {a}; touch {m}; }};; esac\nexec docker \"$@\"\n",
        m = marker.display(),
        bad = bad.display(),
        a = archive.display()
    ));
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            "docker",
            "--tag",
            "localhost/airlock-unpack/renamed:1",
            "--output",
            "json",
        ],
        &[
            ("DOCKER_HOST", d.host.as_str()),
            ("AIRLOCK_DOCKER", wrapper.to_str().unwrap()),
        ],
        None,
    );
    assert!(marker.exists(), "the wrapper swapped the file");
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(o.error_kind(), "digest-mismatch", "{}", stderr(&o));
    assert_eq!(d.image_ids(), "");
}

/// The whole archive goes to `docker load -i` itself; the file is replaced
/// (rewritten in place with another valid archive) just as docker starts
/// reading it: the load is refused as an integrity failure and everything
/// docker loaded from the swapped file is removed again, its name too.
fn docker_archive_replaced_as_the_load_starts_is_refused(d: &Dockerd) {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, wrapper) = swapped_on_load(tmp.path(), "docker", 23);
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            "docker",
            "--output",
            "json",
        ],
        &[
            ("DOCKER_HOST", d.host.as_str()),
            ("AIRLOCK_DOCKER", wrapper.to_str().unwrap()),
        ],
        None,
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(o.error_kind(), "changed-since-verified", "{}", stderr(&o));
    assert_eq!(d.image_ids(), "", "nothing left in docker");
    assert_eq!(
        d.docker(&["images", "--all", "--format", "{{.Repository}}"])
            .1,
        ""
    );
}

/// The whole archive handed to `podman load -i`, from stdin (the spool),
/// under another name: podman first names it after the archive's
/// annotation; only the name asked for stays.
#[test]
fn podman_whole_archive_under_another_name_keeps_only_that_name() {
    let Some(p) = Podman::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (archive, manifest, config) = packed(tmp.path(), REF, 15, &["amd64"]);
    let args = p.env();
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            "-",
            "--into",
            "podman",
            "--tag",
            "localhost/renamed/app:3",
            "--output",
            "json",
        ],
        &[("AIRLOCK_PODMAN_ARGS", &args)],
        Some(&archive),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        p.podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "localhost/renamed/app:3"
    );
    assert_eq!(
        p.podman(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{.Digest}}",
            "localhost/renamed/app:3"
        ]),
        format!("{} {manifest}", config.trim_start_matches("sha256:"))
    );
    assert_eq!(o.json()["loaded"][0]["alreadyPresent"], Value::Null);
}

/// The archive file is replaced (rewritten in place with another valid
/// archive) after verification, just as podman starts reading it: the load
/// is refused as an integrity failure and everything podman loaded from the
/// swapped file is removed again.
#[test]
fn podman_archive_replaced_between_verify_and_load_is_refused() {
    let Some(p) = Podman::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (archive, wrapper) = swapped_on_load(tmp.path(), "podman", 13);
    let args = p.env();
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            "podman",
            "--output",
            "json",
        ],
        &[
            ("AIRLOCK_PODMAN_ARGS", &args),
            ("AIRLOCK_PODMAN", wrapper.to_str().unwrap()),
        ],
        None,
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(o.error_kind(), "changed-since-verified", "{}", stderr(&o));
    assert_eq!(p.image_ids(), "", "nothing left in the store");
    assert_eq!(
        p.podman(&["images", "--all", "--format", "{{.Repository}}"]),
        ""
    );
}

// ---------------------------------------------------------------- docker

/// One private dockerd (vfs, no networking), stopped by pid on drop.
struct Dockerd {
    dir: PathBuf,
    child: std::process::Child,
    host: String,
}

impl Dockerd {
    fn start() -> Option<Self> {
        if !have("dockerd") || !have("docker") {
            return None;
        }
        // Short path: unix socket names are limited to 108 bytes.
        let dir = PathBuf::from(format!("/tmp/airlock-dk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("docker.sock");
        let host = format!("unix://{}", sock.display());
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .args([
                "--storage-driver=vfs",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "-H",
                &host,
            ])
            .arg(format!("--data-root={}", dir.join("data").display()))
            .arg(format!("--exec-root={}", dir.join("exec").display()))
            .arg(format!("--pidfile={}", dir.join("docker.pid").display()))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Dockerd { dir, child, host };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !d.docker(&["version", "--format", "{{.Server.Version}}"]).0 {
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 30 s: {}",
                std::fs::read_to_string(d.dir.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        Some(d)
    }

    fn docker(&self, args: &[&str]) -> (bool, String) {
        let o = Command::new("docker")
            .args(["-H", &self.host])
            .args(args)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
    }

    fn image_ids(&self) -> String {
        sorted_lines(&self.docker(&["images", "--all", "--quiet", "--no-trunc"]).1)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        // Until it has exited, for at most 15 s (then SIGKILL); no panic
        // here, this runs while unwinding too.
        let deadline = Instant::now() + Duration::from_secs(15);
        while !matches!(self.child.try_wait(), Ok(Some(_))) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// All docker scenarios share one daemon (starting one costs seconds).
#[test]
fn docker_target_loads_checks_and_refuses() {
    let Some(d) = Dockerd::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (archive, manifest, config) = packed(tmp.path(), REF, 21, &["amd64"]);
    let state_s = state.to_str().unwrap().to_string();
    let env = [
        ("DOCKER_HOST", d.host.as_str()),
        ("AIRLOCK_STATE_DIR", state_s.as_str()),
    ];

    // Tampered: refused before docker sees anything.
    let bad = tampered(&archive);
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            bad.to_str().unwrap(),
            "--into",
            "docker",
        ],
        &env,
        None,
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(d.image_ids(), "");

    // A load that dies midway leaves no image.
    let wrapper = tmp.path().join("docker-dies");
    executable(&wrapper, "#!/bin/sh\nfor a in \"$@\"; do if [ \"$a\" = load ]; then\n  head -c 100000 | docker \"$@\"; cat >/dev/null; exit 1\nfi; done\nexec docker \"$@\"\n");
    let mut env_w = env.to_vec();
    env_w.push(("AIRLOCK_DOCKER", wrapper.to_str().unwrap()));
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            "docker",
        ],
        &env_w,
        None,
    );
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert_eq!(d.image_ids(), "");

    docker_archive_changed_between_verify_and_load_is_refused(&d);
    docker_archive_replaced_as_the_load_starts_is_refused(&d);

    // Happy path: ID == config digest, tag present, manifest digest recorded.
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            "docker",
            "--output",
            "json",
        ],
        &env,
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        d.docker(&["image", "inspect", "--format", "{{.Id}}", REF])
            .1,
        config
    );
    let v: Value = o.json();
    let record = v["loaded"][0]["recordFile"].as_str().unwrap();
    let rec: Value = serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
    assert_eq!(rec["manifestDigest"], manifest.as_str());
    assert_eq!(rec["reference"], REF);

    // stdin with --tag; auto picks docker when the daemon answers.
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            "-",
            "--into",
            "auto",
            "--tag",
            "localhost/x/y:3",
        ],
        &env,
        Some(&archive),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        d.docker(&["image", "inspect", "--format", "{{.Id}}", "localhost/x/y:3"])
            .1,
        config
    );
    assert!(o.stdout.contains("already held"), "{}", o.stdout);

    // Already held, and `docker tag` fails: exit 6, no name added.
    let no_tag = failing(tmp.path(), "docker", "tag");
    let mut env_t = env.to_vec();
    env_t.push(("AIRLOCK_DOCKER", no_tag.to_str().unwrap()));
    let names = || {
        let listed = d
            .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .1;
        sorted_lines(&listed)
    };
    let before = names();
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            "docker",
            "--tag",
            "localhost/x/z:9",
        ],
        &env_t,
        None,
    );
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert_eq!(names(), before);
    assert!(!before.contains("airlock-stage"), "{before}");

    // A daemon that does not answer: clear error, exit 6, nothing lost.
    let before = d.image_ids();
    let dead = format!("unix://{}/dead.sock", d.dir.display());
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            "docker",
            "--docker-host",
            &dead,
        ],
        &env,
        None,
    );
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no docker daemon answers"),
        "{}",
        stderr(&o)
    );
    assert_eq!(d.image_ids(), before);
    assert!(archive.exists());
}

/// The spool file (`airlock-spool-*/archive`) of an unpack from stdin
/// whose temporary directory is `tmpdir`, once it exists.
fn spool_file(tmpdir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(tmpdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("airlock-spool-"))
        })
        .map(|d| d.join("archive"))
        .find(|f| f.is_file())
}

#[test]
fn sigint_while_reading_stdin_exits_130_and_leaves_nothing() {
    use std::io::Write as _;
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _, _) = packed(tmp.path(), REF, 30, &["amd64"]);
    let bytes = std::fs::read(&archive).unwrap();
    let out = tmp.path().join("out");
    // Its own TMPDIR, so the spool it creates is seen here and its removal
    // checked.
    let tmpdir = tmp.path().join("tmpdir");
    std::fs::create_dir(&tmpdir).unwrap();
    let mut run = cli::airlock([
        "unpack",
        "--insecure-no-policy",
        "-",
        "--into",
        &format!("dir:{}", out.display()),
    ])
    .env("TMPDIR", &tmpdir)
    .spawn();
    let mut stdin = run.stdin().unwrap();
    // A third of the archive (more than a pipe holds, so returning means
    // airlock is reading), then wait until it is spooling: the SIGINT
    // handler is installed before the spool is created.
    let third = bytes.len() / 3;
    assert!(third > 65_536, "the first part must not fit in the pipe");
    stdin.write_all(&bytes[..third]).unwrap();
    cli::wait_until(Duration::from_secs(30), "airlock spools stdin", || {
        spool_file(&tmpdir).is_some()
    });
    run.signal("INT");
    // The flag is seen on airlock's next read of stdin. Feed the rest in
    // small pieces (each wakes a blocked read) until it exits; stdin is
    // closed only after the last piece (an EOF earlier would stop it for a
    // truncated archive instead). Should it ignore the signal, it reads
    // the whole archive and exits 0.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut rest = bytes[third..].chunks(256);
    let mut stdin = Some(stdin);
    while !run.exited() {
        assert!(
            Instant::now() < deadline,
            "airlock did not exit within 30 s of SIGINT"
        );
        match rest.next() {
            // Fails once airlock has exited and closed the pipe.
            Some(piece) => drop(stdin.as_mut().map(|w| w.write_all(piece))),
            None => drop(stdin.take()),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(stdin);
    let o = run.wait();
    assert_eq!(code(&o), 130, "{}", stderr(&o));
    assert!(!out.exists());
    assert!(leftovers(tmp.path()).is_empty());
    assert_eq!(
        std::fs::read_dir(&tmpdir).unwrap().count(),
        0,
        "the spool is removed"
    );
}

/// `unpack --into dir:` opens no socket (traced with strace, like verify).
#[test]
fn unpack_into_dir_opens_no_socket() {
    let tmp = tempfile::tempdir().unwrap();
    if !common::trace::tracing_works(tmp.path()) {
        return;
    }
    let (archive, _, _) = packed(tmp.path(), REF, 31, &["amd64"]);
    let out = tmp.path().join("out");
    let into = format!("dir:{}", out.display());
    let (code, calls) = common::trace::traced_airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            archive.to_str().unwrap(),
            "--into",
            &into,
        ],
        &tmp.path().join("trace"),
    )
    .expect("strace ran");
    assert_eq!(code, 0);
    assert!(calls.is_empty(), "network system calls: {calls:?}");
    assert!(out.join("index.json").exists());
}

// ---------------------------------------------------------------- names and stores

/// `tool` in a wrapper script whose `sub` subcommand fails (exit 1) without
/// running; every other call goes to the real tool.
fn failing(dir: &Path, tool: &str, sub: &str) -> PathBuf {
    let wrapper = dir.join(format!("{tool}-no-{sub}"));
    executable(&wrapper, format!(
        "#!/bin/sh\nfor a in \"$@\"; do if [ \"$a\" = {sub} ]; then echo \"Error: {sub} refused by the test\" >&2; exit 1; fi; done\nexec {tool} \"$@\"\n"
    ));
    wrapper
}

/// A bad `--tag` for `into`: exit 2 naming --tag. The archive path does not
/// exist, so a refusal that came from reading it would say so instead.
fn bad_tag_refused(into: &str, env: &[(&str, &str)]) {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("never-read.tar");
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            missing.to_str().unwrap(),
            "--into",
            into,
            "--tag",
            "Bad Tag",
        ],
        env,
        None,
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--tag \"Bad Tag\""), "{}", stderr(&o));
}

#[test]
fn bad_tag_is_a_usage_error_for_podman_and_the_store_is_untouched() {
    let Some(p) = Podman::new() else { return };
    bad_tag_refused("podman", &[("AIRLOCK_PODMAN_ARGS", &p.env())]);
    assert_eq!(p.podman(&["images", "--all", "--format", "{{.Id}}"]), "");
}

#[test]
fn bad_tag_is_a_usage_error_for_docker_before_the_daemon_is_asked() {
    // Nobody answers there: reaching the target would be exit 6.
    let dead = std::env::temp_dir().join("airlock-no-docker.sock");
    bad_tag_refused(
        "docker",
        &[("DOCKER_HOST", &format!("unix://{}", dead.display()))],
    );
}

#[test]
fn bad_tag_is_a_usage_error_for_dir_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    bad_tag_refused(&format!("dir:{}", out.display()), &[]);
    assert!(leftovers(tmp.path()).is_empty());
    // A name skopeo's oci: transport would reject is refused the same way.
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            "missing.tar",
            "--into",
            &format!("dir:{}", out.display()),
            "--tag",
            "a//b",
        ],
        &[],
        None,
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
}

#[test]
fn bad_tag_is_a_usage_error_for_registry_before_it_is_contacted() {
    // Port 1 answers nothing: contacting it would be exit 6.
    bad_tag_refused("registry:127.0.0.1:1/ns", &[]);
}

/// The README's "the archive loads with podman directly": after `podman
/// load -i ARCHIVE`, unpack names the image podman holds (same config
/// digest) instead of refusing podman's own manifest digest.
#[test]
fn podman_already_holding_the_image_tags_it() {
    let Some(p) = Podman::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // An index: podman stores it too and reports its digest for the image,
    // not the platform manifest's (the refusal the issue reported).
    let (archive, _, _) = packed(tmp.path(), REF, 31, &["amd64", "arm64"]);
    let config = host_config(&archive);
    let loaded = Command::new("podman")
        .args(&p.args)
        .args(["load", "-i", archive.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let ids = p.image_ids();
    let env = [("AIRLOCK_PODMAN_ARGS", p.env())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for name in [REF, "localhost/present/again:2"] {
        let o = airlock(
            &[
                "unpack",
                "--insecure-no-policy",
                archive.to_str().unwrap(),
                "--into",
                "podman",
                "--image",
                REF,
                "--tag",
                name,
                "--output",
                "json",
            ],
            &env,
            None,
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let v = o.json();
        assert_eq!(v["loaded"][0]["alreadyPresent"], true, "{v}");
        assert!(v["notes"][0].as_str().unwrap().contains("already held"));
        assert_eq!(
            p.podman(&["image", "inspect", "--format", "{{.Id}}", name]),
            config.trim_start_matches("sha256:")
        );
    }
    assert_eq!(p.image_ids(), ids, "no second image");
    assert!(!p
        .podman(&["images", "--format", "{{.Repository}}"])
        .contains("airlock-stage"));
}

/// The config digest of the host-platform image in `archive`.
fn host_config(archive: &Path) -> String {
    let es = common::entries(&std::fs::read(archive).unwrap());
    let m: Value =
        serde_json::from_slice(&es.iter().find(|e| e.name == "airlock.json").unwrap().data)
            .unwrap();
    m["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["platform"]["architecture"] == "amd64")
        .unwrap()["configDigest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// verify-local asks podman which image a name points at (its image ID is
/// the config digest) and refuses a name retagged to another image.
#[test]
fn verify_local_reads_podman_and_refuses_a_retagged_name() {
    let Some(p) = Podman::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _, _) = packed(tmp.path(), REF, 12, &["amd64"]);
    let other_ref = "localhost/other/app:2";
    let other_dir = tmp.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let (other, _, _) = packed(&other_dir, other_ref, 13, &["amd64"]);
    let env = [("AIRLOCK_PODMAN_ARGS", p.env())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let state = tmp.path().join("state");
    let key = tmp.path().join("k.pub");
    std::fs::write(&key, common::forge::pem(&common::forge::key())).unwrap();
    let load = |archive: &Path, state: &Path| {
        let o = airlock(
            &[
                "unpack",
                "--insecure-no-policy",
                archive.to_str().unwrap(),
                "--into",
                "podman",
                "--state-dir",
                state.to_str().unwrap(),
            ],
            &env,
            None,
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    };
    let check = || {
        airlock(
            &[
                "verify-local",
                REF,
                "--in",
                "podman",
                "--key",
                key.to_str().unwrap(),
                "--state-dir",
                state.to_str().unwrap(),
            ],
            &env,
            None,
        )
    };
    load(&archive, &state);
    // Found and matched: the (unsigned) image then fails the key policy.
    let o = check();
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(o.stdout.starts_with("REFUSED"), "{}", o.stdout);
    assert!(!stderr(&o).contains("retagged"), "{}", stderr(&o));

    load(&other, &tmp.path().join("state-other"));
    p.podman(&["tag", other_ref, REF]);
    let o = check();
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("retagged or replaced"),
        "{}",
        stderr(&o)
    );
}

/// Names podman holds (repository:tag), one per line.
fn podman_names(p: &Podman) -> String {
    sorted_lines(&p.podman(&["images", "--all", "--format", "{{.Repository}}:{{.Tag}}"]))
}

/// Image stores list images created in the same second in no fixed order,
/// so listings are compared sorted.
fn sorted_lines(listed: &str) -> String {
    let mut lines: Vec<&str> = listed.lines().collect();
    lines.sort_unstable();
    lines.join("\n")
}

/// A failure after the staged layout was loaded (here `podman tag`) leaves
/// no `airlock-stage` name, whether podman held the image before or not.
#[test]
fn podman_failure_after_the_staging_load_leaves_no_staging_name() {
    let Some(p) = Podman::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _, config) = packed(tmp.path(), REF, 32, &["amd64"]);
    let wrapper = failing(tmp.path(), "podman", "tag");
    let args = p.env();
    let env = [
        ("AIRLOCK_PODMAN_ARGS", args.as_str()),
        ("AIRLOCK_PODMAN", wrapper.to_str().unwrap()),
    ];
    let unpack = |tag: &str| {
        airlock(
            &[
                "unpack",
                "--insecure-no-policy",
                archive.to_str().unwrap(),
                "--into",
                "podman",
                "--tag",
                tag,
            ],
            &env,
            None,
        )
    };
    // Fresh store: the loaded image is removed again.
    let o = unpack("localhost/fresh/app:1");
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert_eq!(p.image_ids(), "");

    // The image already held under another name: it stays, unchanged.
    let o = airlock(
        &[
            "unpack",
            archive.to_str().unwrap(),
            "--into",
            "podman",
            "--insecure-no-policy",
        ],
        &[("AIRLOCK_PODMAN_ARGS", args.as_str())],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let names = podman_names(&p);
    let o = unpack("localhost/beta/app:1");
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    assert!(
        !podman_names(&p).contains("airlock-stage"),
        "{}",
        podman_names(&p)
    );
    assert_eq!(podman_names(&p), names);
    assert_eq!(
        p.podman(&["image", "inspect", "--format", "{{.Id}}", REF]),
        config.trim_start_matches("sha256:")
    );

    // The name belongs to another image and cannot be moved: the error
    // says which image holds it and what to run.
    let other_dir = tmp.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let (other, _, other_config) = packed(&other_dir, REF, 33, &["amd64"]);
    let o = airlock(
        &[
            "unpack",
            "--insecure-no-policy",
            other.to_str().unwrap(),
            "--into",
            "podman",
            "--tag",
            "localhost/beta/app:1",
        ],
        &[("AIRLOCK_PODMAN_ARGS", args.as_str())],
        None,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = unpack("localhost/beta/app:1");
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    let hint = format!("podman untag {other_config} localhost/beta/app:1");
    assert!(stderr(&o).contains(&hint), "{}", stderr(&o));
    assert!(!podman_names(&p).contains("airlock-stage"));
}

#[test]
fn a_spool_left_by_a_killed_run_is_removed_by_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let (archive, _, _) = packed(tmp.path(), REF, 31, &["amd64"]);
    let tmpdir = tmp.path().join("tmpdir");
    // pid 4194305 is above the kernel's pid_max: no process has it; pid 1
    // always runs, so its spool may still be in use.
    let dead = tmpdir.join("airlock-spool-4194305-abc");
    let live = tmpdir.join("airlock-spool-1-def");
    for d in [&dead, &live] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("archive"), b"partial").unwrap();
    }
    let out = tmp.path().join("out");
    let r = cli::airlock(["unpack", "--insecure-no-policy", "-", "--into"])
        .arg(format!("dir:{}", out.display()))
        .env("TMPDIR", &tmpdir)
        .stdin_file(&archive)
        .run();
    cli::ok(&r);
    assert!(!dead.exists(), "a dead run's spool is swept");
    assert!(live.exists(), "a live run's spool is left alone");
    assert!(spool_file(&tmpdir).is_some_and(|f| f.starts_with(&live)));
}
