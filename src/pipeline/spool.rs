//! Unpacking from stdin: the single verify pass tees the raw input into a
//! file in a private (0700) temporary directory, so the blobs can be handed
//! to the sink afterwards without reading stdin twice. The spool is removed
//! when the unpack ends, whatever the outcome. It is re-hashed on the second
//! pass like any archive file (cheap, and it keeps one code path).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, IoContext};

pub struct Spool {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Spool {
    /// A private directory `airlock-spool-<pid>-…` in the temp dir; what a
    /// killed run left there is removed first (`scratch::sweep_named`).
    pub fn create() -> Result<Self, Error> {
        crate::scratch::sweep_named(&std::env::temp_dir(), "airlock-spool-");
        let dir = tempfile::Builder::new()
            .prefix(&format!("airlock-spool-{}-", std::process::id()))
            .tempdir()
            .map_err(|e| Error::io("create a spool directory", e))?;
        // tempfile creates 0700 directories; say so explicitly anyway.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
                .at("restrict", dir.path())?;
        }
        let path = dir.path().join("archive");
        Ok(Spool { dir, path })
    }

    /// A reader that copies everything read from `input` into the spool,
    /// and fails once `stop` is set (SIGINT during the verify pass).
    pub fn tee<'a, R: Read>(&self, input: R, stop: &'a AtomicBool) -> Result<Tee<'a, R>, Error> {
        let file = File::create(&self.path).at("create", &self.path)?;
        Ok(Tee {
            input,
            out: BufWriter::with_capacity(1 << 20, file),
            stop,
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

pub struct Tee<'a, R> {
    input: R,
    out: BufWriter<File>,
    stop: &'a AtomicBool,
}

impl<R> Tee<'_, R> {
    pub fn finish(mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("interrupted by the operator"));
        }
        let n = self.input.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}
