//! Running the podman / docker CLIs: fixed global arguments, captured
//! output, and a stdin that a tar stream is written into. Failures become
//! `Error::Sink` with the tool's own stderr, trimmed to one line.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread::JoinHandle;

use crate::error::Error;

#[derive(Debug, Clone)]
pub struct Tool {
    pub program: OsString,
    pub global_args: Vec<String>,
    /// For messages: "podman", "docker".
    pub name: &'static str,
}

/// What a finished command said.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn stderr_line(&self) -> String {
        let s = self.stderr.trim();
        let s = if s.is_empty() { self.stdout.trim() } else { s };
        s.lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .chars()
            .take(400)
            .collect()
    }
}

/// Bounded capture of a child's pipe on its own thread.
fn capture<R: Read + Send + 'static>(r: Option<R>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(r) = r {
            let _ = r.take(1 << 20).read_to_end(&mut s);
        }
        String::from_utf8_lossy(&s).into_owned()
    })
}

impl Tool {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.global_args).args(args);
        c
    }

    fn spawn_error(&self, e: io::Error) -> Error {
        Error::Sink(format!(
            "cannot run {} ({}): {e}",
            self.name,
            self.program.to_string_lossy()
        ))
    }

    /// Run to completion without stdin.
    pub fn run(&self, args: &[&str]) -> Result<Output, Error> {
        let out = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.spawn_error(e))?;
        Ok(Output {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Run, failing with the tool's message when it exits non-zero.
    pub fn run_ok(&self, args: &[&str], what: &str) -> Result<Output, Error> {
        self.ok(self.run(args)?, what)
    }

    /// `out` if the command succeeded, else the tool's message as an error.
    pub fn ok(&self, out: Output, what: &str) -> Result<Output, Error> {
        if !out.success {
            return Err(Error::Sink(format!(
                "{} {what} failed: {}",
                self.name,
                out.stderr_line()
            )));
        }
        Ok(out)
    }

    /// Spawn with stdout and stderr captured.
    fn spawn(&self, args: &[&str], stdin: Stdio) -> Result<Started, Error> {
        let mut child = self
            .command(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        Ok(Started {
            out: capture(child.stdout.take()),
            err: capture(child.stderr.take()),
            child,
            name: self.name,
        })
    }

    /// Run with `feed` writing the child's stdin; the child's exit status
    /// decides, and a feed error (e.g. the child died) is reported with it.
    pub fn run_with_stdin(
        &self,
        args: &[&str],
        feed: impl FnOnce(&mut ChildStdin) -> io::Result<()>,
    ) -> Result<(Output, io::Result<()>), Error> {
        let mut started = self.spawn(args, Stdio::piped())?;
        let fed = match started.child.stdin.take() {
            Some(mut stdin) => {
                let r = feed(&mut stdin).and_then(|()| stdin.flush());
                if r.is_err() {
                    // Do not let the tool commit a stream we could not finish.
                    let _ = started.child.kill();
                }
                drop(stdin);
                r
            }
            None => Err(io::Error::other("no stdin")),
        };
        let mut out = started.wait()?;
        out.success &= fed.is_ok();
        Ok((out, fed))
    }

    /// Start without stdin and without waiting: the caller does other work
    /// (verifying the archive) while the tool runs, then [`Started::wait`]s.
    pub fn start(&self, args: &[&str]) -> Result<Started, Error> {
        self.spawn(args, Stdio::null())
    }

    /// Every `(image ID, name)` the tool lists with `list` (a format of
    /// `{{ID}} {{.Repository}}:{{.Tag}}`), read from `early` when that list
    /// was started before, else run now. Fails rather than answer
    /// "nothing": a roll back would take a present image for a new one.
    pub fn id_names(
        &self,
        early: Option<Started>,
        list: &[&str],
    ) -> Result<Vec<(String, String)>, Error> {
        let out = match early {
            Some(started) => started.wait()?,
            None => self.run(list)?,
        };
        let command: Vec<&str> = list
            .iter()
            .copied()
            .take_while(|a| !a.starts_with('-'))
            .collect();
        Ok(self
            .ok(out, &command.join(" "))?
            .stdout
            .lines()
            .filter_map(|l| l.trim().split_once(' '))
            .map(|(id, name)| (id.to_string(), name.to_string()))
            .collect())
    }
}

/// A command running in the background (see [`Tool::start`]).
#[derive(Debug)]
pub struct Started {
    child: Child,
    out: JoinHandle<String>,
    err: JoinHandle<String>,
    name: &'static str,
}

impl Started {
    pub fn wait(mut self) -> Result<Output, Error> {
        let status = self
            .child
            .wait()
            .map_err(|e| Error::Sink(format!("waiting for {}: {e}", self.name)))?;
        Ok(Output {
            success: status.success(),
            stdout: self.out.join().unwrap_or_default(),
            stderr: self.err.join().unwrap_or_default(),
        })
    }
}
