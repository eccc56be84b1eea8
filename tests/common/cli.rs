//! Running the `airlock` binary as a user does, and reading what it said:
//! exit code, stdout and stderr as text, the JSON report.
//!
//! Every run gets a private, throwaway HOME and XDG directories (data,
//! state, cache, config), so the default state directory (rollback marks),
//! the blob cache and any configuration land there and never in the
//! developer's own home; the inherited `AIRLOCK_*` settings and registry
//! credentials (`REGISTRY_AUTH_FILE`, `DOCKER_CONFIG`) are removed, and the
//! site policy file (`AIRLOCK_SITE_POLICY`) points at nothing. A test
//! that needs one of them sets it with `.env()`; a test that needs state
//! across runs passes `--state-dir`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Inherited variables that would point a run at the developer's own
/// state, policy, registry credentials or Notary server (besides every
/// `AIRLOCK_*`).
const SCRUBBED: &[&str] = &[
    "REGISTRY_AUTH_FILE",
    "DOCKER_CONFIG",
    "DOCKER_CONTENT_TRUST_SERVER",
];

/// The XDG base directories a run gets, all set to its private home.
pub const XDG_DIRS: &[&str] = &[
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
];

/// Gives `cmd` the private environment of a test run: HOME and every XDG
/// base directory at `home`, no inherited `AIRLOCK_*`, `REGISTRY_AUTH_FILE`,
/// `DOCKER_CONFIG` or `DOCKER_CONTENT_TRUST_SERVER`. Later `.env()` calls on
/// `cmd` still win.
pub fn private_env(cmd: &mut Command, home: &Path) {
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("AIRLOCK_")) {
            cmd.env_remove(&key);
        }
    }
    for key in SCRUBBED {
        cmd.env_remove(key);
    }
    cmd.env("HOME", home);
    for key in XDG_DIRS {
        cmd.env(key, home);
    }
    // A site-wide policy on the machine running the tests
    // (/etc/airlock/policy.json) must not decide a test: the site file is
    // moved to a path that does not exist. A test that wants one sets it.
    cmd.env("AIRLOCK_SITE_POLICY", home.join("no-site-policy.json"));
}

/// Polls `done` every 20 ms until it holds; panics naming `what` when it
/// does not within `limit`.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What one run of the binary returned.
pub struct Run {
    /// Exit code; -1 when killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as JSON (the report of `--output json`); panics showing both
    /// streams when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr))
    }

    /// The JSON report's `error.kind` ("none" when it names none).
    pub fn error_kind(&self) -> String {
        self.json()["error"]["kind"]
            .as_str()
            .unwrap_or("none")
            .to_string()
    }
}

/// What a run reads on stdin.
enum Input {
    /// Nothing: stdin is empty and closed.
    Empty,
    /// These bytes, through a pipe.
    Bytes(Vec<u8>),
    /// This file, as stdin itself (seekable, like `< FILE` in a shell).
    File(PathBuf),
}

/// One `airlock` invocation being put together.
pub struct Airlock {
    cmd: Command,
    input: Input,
    home: tempfile::TempDir,
}

/// `airlock ARGS…`; add to it, then `.run()` (or `.spawn()`).
pub fn airlock<I, S>(args: I) -> Airlock
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(super::airlock_bin());
    cmd.args(args);
    private_env(&mut cmd, home.path());
    Airlock {
        cmd,
        input: Input::Empty,
        home,
    }
}

/// `airlock ARGS…` started by `sh` under `umask MASK` (std cannot set a
/// child's umask without unsafe code; a shell can).
pub fn airlock_with_umask<I, S>(mask: &str, args: I) -> Airlock
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {mask} && exec \"$0\" \"$@\""))
        .arg(super::airlock_bin())
        .args(args);
    private_env(&mut cmd, home.path());
    Airlock {
        cmd,
        input: Input::Empty,
        home,
    }
}

impl Airlock {
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Each `(key, value)` as by [`Airlock::env`].
    pub fn envs<K: AsRef<str>, V: AsRef<OsStr>>(mut self, vars: &[(K, V)]) -> Self {
        for (k, v) in vars {
            self.cmd.env(k.as_ref(), v);
        }
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Feed `data` on stdin (otherwise stdin is empty and closed).
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.input = Input::Bytes(data.into());
        self
    }

    /// The file at `path` is stdin.
    pub fn stdin_file(mut self, path: &Path) -> Self {
        self.input = Input::File(path.to_path_buf());
        self
    }

    pub fn run(mut self) -> Run {
        let o = match std::mem::replace(&mut self.input, Input::Empty) {
            Input::Empty => self.cmd.stdin(Stdio::null()).output().unwrap(),
            Input::File(path) => self
                .cmd
                .stdin(std::fs::File::open(&path).unwrap())
                .output()
                .unwrap(),
            Input::Bytes(data) => {
                use std::io::Write as _;
                let mut child = self
                    .cmd
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut stdin = child.stdin.take().unwrap();
                // From a thread: airlock may refuse the input and exit before
                // reading it all, and must not deadlock on a full pipe.
                let writer = std::thread::spawn(move || {
                    let _ = stdin.write_all(&data);
                });
                let out = child.wait_with_output().unwrap();
                writer.join().unwrap();
                out
            }
        };
        drop(self.home);
        Run::from(o)
    }

    /// Starts the run with stdin, stdout and stderr piped; the test writes
    /// stdin itself (`Running::stdin`) and may signal the process. Any input
    /// set with `.stdin*()` is ignored.
    pub fn spawn(mut self) -> Running {
        let child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Running {
            child: Some(child),
            home: self.home,
        }
    }
}

/// A run in progress (from [`Airlock::spawn`]); killed if dropped
/// without [`Running::wait`] (a failing test leaves no process behind).
pub struct Running {
    child: Option<Child>,
    home: tempfile::TempDir,
}

impl Running {
    fn child(&mut self) -> &mut Child {
        self.child.as_mut().unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The write end of its stdin (once; None after that).
    pub fn stdin(&mut self) -> Option<ChildStdin> {
        self.child().stdin.take()
    }

    /// The read end of its stdout (once; None after that).
    pub fn stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child().stdout.take()
    }

    /// The read end of its stderr (once; None after that).
    pub fn stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child().stderr.take()
    }

    /// The private home (HOME and the XDG directories) of this run.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Whether it has exited (without collecting its output).
    pub fn exited(&mut self) -> bool {
        self.child().try_wait().unwrap().is_some()
    }

    /// Sends `signal` (e.g. "INT") with kill(1); panics when it fails.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal} {} failed", self.pid());
    }

    /// SIGKILL, sent directly (no kill(1) to start first).
    pub fn kill(&mut self) {
        let _ = self.child().kill();
    }

    /// Closes stdin if still open and waits for the exit.
    pub fn wait(mut self) -> Run {
        let mut child = self.child.take().unwrap();
        drop(child.stdin.take());
        Run::from(child.wait_with_output().unwrap())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl From<std::process::Output> for Run {
    fn from(o: std::process::Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// The checks of a text report (`verify`, `unpack`), in order: each
/// image's `      ✓ name: detail` lines as (mark, name, detail), the mark
/// one of ✓ (pass), ✗ (fail), – (not checked).
pub fn report_checks(r: &Run) -> Vec<(char, String, String)> {
    r.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("      "))
        .filter_map(|l| {
            let mut chars = l.chars();
            let mark = chars.next().filter(|c| "✓✗–".contains(*c))?;
            let (name, detail) = chars.as_str().strip_prefix(' ')?.split_once(": ")?;
            Some((mark, name.to_string(), detail.to_string()))
        })
        .collect()
}

/// The (mark, name) of each check of a text report, in order.
pub fn report_marks(r: &Run) -> Vec<(char, String)> {
    report_checks(r)
        .into_iter()
        .map(|(mark, name, _)| (mark, name))
        .collect()
}

/// `airlock ARGS…`, run.
pub fn run(args: &[&str]) -> Run {
    airlock(args).run()
}

/// `airlock pack --from-oci-layout LAYOUT -o OUT EXTRA…`; add to it, then
/// `.run()`.
pub fn pack(layout: &Path, out: &Path, extra: &[&str]) -> Airlock {
    airlock(["pack", "--from-oci-layout"])
        .arg(layout)
        .arg("-o")
        .arg(out)
        .args(extra)
}

/// Asserts the exit code, showing both streams when it differs.
pub fn assert_code(r: &Run, code: i32) {
    assert_eq!(
        r.code, code,
        "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
}

/// Asserts exit `code` and that the JSON report names the error `kind`.
pub fn assert_refused(r: &Run, code: i32, kind: &str) {
    assert_code(r, code);
    assert_eq!(r.error_kind(), kind, "stderr: {}", r.stderr);
}

/// Asserts success; returns stderr (where warnings are checked).
pub fn ok(r: &Run) -> String {
    assert_code(r, 0);
    r.stderr.clone()
}

/// Asserts exit `code`; returns stderr (where the reason is checked).
pub fn failed(r: &Run, code: i32) -> String {
    assert_code(r, code);
    r.stderr.clone()
}

/// A path as an argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes `data` to `dir/name` and returns the path.
pub fn put(dir: &Path, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// The published schema of `airlock.json`, compiled.
pub fn archive_schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/archive-manifest.schema.json");
    let schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

/// Asserts `doc` is valid under the archive schema.
/// The schema of one command's `--output json` report (`schema/report-CMD.schema.json`).
pub fn report_schema(command: &str) -> jsonschema::Validator {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schema/report-{command}.schema.json"));
    let schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

pub fn assert_schema_valid(schema: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = schema.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}
