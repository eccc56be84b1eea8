//! `airlock serve`: verify, gate, index, bind; then serve until stopped.
//!
//! 1. [`open_archive`]: verify the whole archive once. A plain tar is read
//!    in place and served by the blob offsets learnt while verifying; a
//!    `.tar.zst` is decompressed once into a private 0600 spool file (its
//!    tar, so the same offsets work) and served from there.
//! 2. Every image, an index taken whole (as for a registry target), through
//!    the [`Gate`]; only then is there a [`crate::gate::VerifiedArchive`] to
//!    build the served [`Index`] from.
//! 3. Bind the address (a busy port fails here, before anything is served),
//!    then record the rollback marks (the images are now published).
//! 4. [`Prepared::run`]: serve until SIGINT/SIGTERM; the spool goes with it.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write as _};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tempfile::NamedTempFile;

use super::outputs::{self, Pending};
use super::select::{self, Selection};
use crate::archive::compress::{self, Compression};
use crate::archive::{self, ReadOptions, ReadOutcome};
use crate::error::{Error, IntegrityError, IoContext};
use crate::gate::{pass_gate, Gate, Plan};
use crate::model::progress::Progress;
use crate::model::Digest;
use crate::serve::index::{parse_namespace, Index};
use crate::serve::{Served, Server, Settings, Stamp};

#[derive(Clone)]
pub struct ServeRequest {
    pub archive: PathBuf,
    pub namespace: Option<String>,
    pub settings: Settings,
    /// Set by SIGINT/SIGTERM.
    pub stop: Arc<AtomicBool>,
}

/// The verified archive as it will be served.
pub struct OpenedArchive {
    pub outcome: ReadOutcome,
    /// The tar the outcome's blob offsets point into, and its stamp.
    pub tar: File,
    pub tar_stamp: Stamp,
    /// The archive by name, and its stamp before verifying.
    pub archive_stamp: Stamp,
    /// The spool of a compressed archive (removed when dropped).
    pub spool: Option<(NamedTempFile, Pending)>,
}

/// What the start-up report says.
#[derive(Debug, Clone)]
pub struct ServeReport {
    pub archive_manifest_digest: Digest,
    pub gate: String,
    pub address: SocketAddr,
    pub tls: bool,
    /// (repository, tags)
    pub repositories: Vec<(String, Vec<String>)>,
    /// Packed references of the served images.
    pub references: Vec<String>,
    pub blobs: usize,
    pub blob_bytes: u64,
    pub spooled: bool,
}

pub struct Prepared {
    pub report: ServeReport,
    server: Server,
    served: Arc<Served>,
    stop: Arc<AtomicBool>,
    _spool: Option<(NamedTempFile, Pending)>,
}

/// The uncompressed tar of an opened archive, by name (the single place
/// that knows archive kinds: a volume set plugs in here, via the spool).
fn kind_of(file: &mut File, path: &Path) -> Result<Compression, Error> {
    let mut head = [0u8; 4];
    let n = file.read(&mut head).at("read", path)?;
    file.seek(SeekFrom::Start(0)).at("read", path)?;
    let (kind, _) = compress::sniff(&head[..n]).at("read", path)?;
    Ok(kind)
}

/// Verify the whole archive at `path` and leave a tar to serve from.
pub fn open_archive(path: &Path, progress: &dyn Progress) -> Result<OpenedArchive, Error> {
    if path.as_os_str() == "-" {
        return Err(Error::Usage(
            "serve needs an archive file (it is re-read for every download), not stdin".into(),
        ));
    }
    let input = super::input::ArchiveInput::open(path)?;
    let mut file = File::open(path).at("open", path)?;
    let archive_stamp = Stamp::of(&file.metadata().at("stat", path)?);
    let opts = ReadOptions::default();
    // A compressed archive, or a volume set (read across its volumes), is
    // served from a spool of its tar; a plain tar file from itself.
    let in_place = input.volumes().is_none() && kind_of(&mut file, path)? == Compression::None;
    let (outcome, tar, spool) = match in_place {
        true => {
            let tar = file.try_clone().at("open", path)?;
            (
                archive::read_archive_file(file, &opts, progress)?,
                tar,
                None,
            )
        }
        false => {
            // A private (0600) file in $TMPDIR, listed so that an interrupt
            // during verification removes it; dropped (removed) on exit.
            let spool = tempfile::Builder::new()
                .prefix("airlock-serve-")
                .suffix(".tar")
                .tempfile()
                .map_err(|e| Error::io("create a spool file", e))?;
            let pending = outputs::register(spool.path());
            let out = spool.as_file().try_clone().at("open", spool.path())?;
            let mut w = BufWriter::with_capacity(1 << 20, out);
            let outcome = match input.volumes() {
                Some(set) => super::input::read_volumes_with(set, &opts, |reader| {
                    archive::read_archive_copying_tar(reader, &opts, progress, &mut w)
                })?,
                None => archive::read_archive_copying_tar(file, &opts, progress, &mut w)?,
            };
            w.flush().at("write", spool.path())?;
            let tar = File::open(spool.path()).at("open", spool.path())?;
            (outcome, tar, Some((spool, pending)))
        }
    };
    let now = Stamp::of(&std::fs::metadata(path).at("stat", path)?);
    if now != archive_stamp {
        return Err(IntegrityError::Corrupt(
            "the archive changed on disk while it was being verified".into(),
        )
        .into());
    }
    let tar_stamp = Stamp::of(&tar.metadata().at("stat", path)?);
    Ok(OpenedArchive {
        outcome,
        tar,
        tar_stamp,
        archive_stamp,
        spool,
    })
}

fn stopped(stop: &AtomicBool) -> Result<(), Error> {
    if stop.load(Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    Ok(())
}

/// Steps 1–3: after this the address is bound and the report known.
pub fn prepare(
    req: &ServeRequest,
    gate: &dyn Gate,
    progress: &dyn Progress,
) -> Result<Prepared, Error> {
    let target = parse_namespace(req.namespace.as_deref())?;
    let opened = open_archive(&req.archive, progress)?;
    stopped(&req.stop)?;
    let outcome = &opened.outcome;
    if outcome.manifest.is_delta() {
        return Err(Error::Usage(
            "this is a delta archive (its external layers are elsewhere); serve the full archive `airlock merge` writes".into(),
        ));
    }
    // Every image; a reference packed with its whole index keeps it.
    let selection = Selection {
        whole_index: true,
        ..Selection::default()
    };
    let plan: Plan = select::plan(outcome, &selection)?;
    let verified = pass_gate(gate, outcome, &plan)?;
    let index = Index::build(&verified, &target, &outcome.blob_offsets)?;
    let server = Server::bind(req.settings.clone())?;
    let mut references: Vec<String> = plan.images.iter().map(|i| i.tag.clone()).collect();
    references.dedup();
    let report = ServeReport {
        archive_manifest_digest: outcome.manifest_digest,
        gate: gate.describe(),
        address: server.local_addr()?,
        tls: server.is_tls(),
        repositories: index.summary(),
        references,
        blobs: plan.blobs.len(),
        blob_bytes: plan.blobs.iter().map(|b| b.size).sum(),
        spooled: opened.spool.is_some(),
    };
    stopped(&req.stop)?;
    gate.committed(outcome, &plan)?;
    let served = Served {
        index,
        file: opened.tar,
        archive: req.archive.clone(),
        archive_stamp: opened.archive_stamp,
        file_stamp: opened.tar_stamp,
        stale: AtomicBool::new(false),
    };
    Ok(Prepared {
        report,
        server,
        served: Arc::new(served),
        stop: req.stop.clone(),
        _spool: opened.spool,
    })
}

impl Prepared {
    /// Serve until stopped; the spool (if any) is removed on return.
    pub fn run(self) -> Result<(), Error> {
        let r = self.server.run(self.served, self.stop);
        drop(self._spool);
        r
    }
}
