//! Running the `airlock` binary as a user does, and reading what it said:
//! exit code, stdout and stderr as text, the JSON report.
//!
//! Every run gets a private, throwaway HOME and XDG_DATA_HOME, so the
//! default state directory (rollback marks) and any cache land there and
//! never in the developer's own home; a test that needs state across runs
//! passes `--state-dir`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

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

/// One `airlock` invocation being put together.
pub struct Airlock {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    home: tempfile::TempDir,
}

/// `airlock ARGS…`; add to it, then `.run()`.
pub fn airlock<I, S>(args: I) -> Airlock
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(super::airlock_bin());
    cmd.args(args)
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path());
    Airlock {
        cmd,
        stdin: None,
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

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Feed `data` on stdin (otherwise stdin is empty and closed).
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    pub fn run(mut self) -> Run {
        let o = match self.stdin.take() {
            None => self.cmd.output().unwrap(),
            Some(data) => {
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
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
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
pub fn assert_schema_valid(schema: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = schema.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}
