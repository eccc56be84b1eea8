//! Unpacking from stdin: the single verify pass tees the raw input into a
//! file in a private (0700) temporary directory, so the blobs can be handed
//! to the sink afterwards without reading stdin twice. The spool is removed
//! when the unpack ends, whatever the outcome. It is re-hashed on the second
//! pass like any archive file (cheap, and it keeps one code path).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use crate::error::{Error, IoContext};

pub struct Spool {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Spool {
    pub fn create() -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("airlock-spool-")
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

    /// A reader that copies everything read from `input` into the spool.
    pub fn tee<R: Read>(&self, input: R) -> Result<Tee<R>, Error> {
        let file = File::create(&self.path).at("create", &self.path)?;
        Ok(Tee {
            input,
            out: BufWriter::with_capacity(1 << 20, file),
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

pub struct Tee<R> {
    input: R,
    out: BufWriter<File>,
}

impl<R> Tee<R> {
    pub fn finish(mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}
