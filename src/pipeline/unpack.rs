//! `airlock unpack`: verify, gate, then load.
//!
//! 1. Open the target (a docker daemon that does not answer fails here,
//!    before any work).
//! 2. Verify the whole archive (`read_archive_file`, a volume set across
//!    its volumes, or for stdin a single streaming pass that also spools
//!    the input into a private 0700 dir).
//! 3. Choose the images ([`select`](super::select); a registry target takes
//!    a complete image index whole), check the target can name them, and
//!    run the [`Gate`]; only then does a [`VerifiedArchive`] exist.
//! 4. Second pass: copy the selected blobs into the sink's private staging,
//!    re-hashing every byte (the file may have changed since step 2); or,
//!    for a sink that loads straight from the archive (docker, podman), hand
//!    it the same re-hashing reader ([`ArchiveFeed`]) and, when the plan is
//!    the whole uncompressed file, the file with its verified identity.
//! 5. `Sink::finish` commits. Any error, or SIGINT (the `stop` flag), before
//!    that calls `Sink::abort`, which removes what was staged.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use super::copy;
use super::feed::ArchiveFeed;
use super::input::ArchiveInput;
use super::select::{self, Selection};
use super::spool::Spool;
use crate::archive::compress::Compression;
use crate::archive::volumes::VolumeReader;
use crate::archive::{self, ReadOptions, ReadOutcome};
use crate::error::{Error, IoContext};
use crate::gate::{admitted, pass_gate, reserve, Gate, Plan, SelectedImage};
use crate::model::progress::Progress;
use crate::model::timings;
use crate::model::{Digest, EntryKind};
use crate::sink::feed::VerifiedFile;
use crate::sink::{self, Loaded, SinkOptions, Target};

#[derive(Debug, Clone)]
pub struct UnpackRequest {
    /// The archive, or `-` for stdin.
    pub archive: PathBuf,
    pub target: Target,
    pub selection: Selection,
    /// Verify and plan, load nothing.
    pub dry_run: bool,
    pub sink: SinkOptions,
    /// `--base`: for a delta archive, the archive(s), volume set(s) or OCI
    /// layout(s) its external layers are taken from (each re-hashed).
    pub bases: Vec<PathBuf>,
}

/// What happened, for the text and JSON reports.
#[derive(Debug)]
pub struct UnpackReport {
    pub archive_manifest_digest: Digest,
    pub gate: String,
    pub plan: Plan,
    /// The name each planned image gets in the target (plan order).
    pub names: Vec<String>,
    pub target: String,
    pub dry_run: bool,
    pub loaded: Option<Loaded>,
    pub blob_bytes: u64,
    /// Artifacts selected but not loaded, because the target (docker,
    /// podman) holds images only.
    pub skipped: Vec<SelectedImage>,
}

/// Makes a progress bar for a phase (`None` total = unknown); the CLI hides
/// them off a TTY. Generic in the bar type so the CLI hands in its own.
pub type ProgressFactory<'a, P> = &'a dyn Fn(Option<u64>, &'static str) -> P;

fn check_stop(req: &UnpackRequest) -> Result<(), Error> {
    if req.sink.stop.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    Ok(())
}

/// Verify the input fully; for stdin, also leave a spool to copy from.
/// A regular file (or the spool) comes back with the identity it had when
/// verified, for a loader that may read it whole.
fn verify_input<P: Progress>(
    req: &UnpackRequest,
    progress: ProgressFactory<'_, P>,
) -> Result<(ReadOutcome, Option<Spool>, Option<VerifiedFile>), Error> {
    let opts = ReadOptions::default();
    let input = ArchiveInput::open(&req.archive)?;
    if let ArchiveInput::Stdin = input {
        let spool = Spool::create()?;
        let bar = progress(None, "verify");
        let mut tee = spool.tee(io::stdin().lock(), &req.sink.stop)?;
        let outcome = archive::read_archive(&mut tee, &opts, &bar);
        check_stop(req)?;
        let outcome = outcome?;
        tee.finish().at("write spool in", spool.dir())?;
        bar.finish();
        let file = VerifiedFile::capture(spool.path())?;
        return Ok((outcome, Some(spool), Some(file)));
    }
    let file = match &input {
        ArchiveInput::File(path) => VerifiedFile::capture(path).ok(),
        _ => None,
    };
    let bar = progress(input.size(), "verify");
    let outcome = input.read(&opts, &bar);
    check_stop(req)?;
    let outcome = outcome?;
    bar.finish();
    // Written to while it was read: what was verified is not on disk.
    let file = file.filter(|f| f.check_unchanged().is_ok());
    Ok((outcome, None, file))
}

pub fn unpack<P: Progress>(
    req: &UnpackRequest,
    gate: &dyn Gate,
    progress: ProgressFactory<'_, P>,
) -> Result<UnpackReport, Error> {
    let sink = if req.dry_run {
        None
    } else {
        Some(sink::open(&req.target, &req.sink)?)
    };
    let (outcome, spool, verified_file) = timings::time("verify", || verify_input(req, progress))?;
    check_stop(req)?;
    let mut selection = req.selection.clone();
    // A registry stores images rather than running them.
    selection.whole_index |= matches!(req.target, Target::Registry(_));
    let mut plan = select::plan(&outcome, &selection)?;
    let mut skipped = Vec::new();
    let target = sink::describe(&req.target);
    match req.target {
        Target::Docker | Target::Podman | Target::Auto => {
            (plan, skipped) = select::only_kinds(&outcome, plan, |k| k.is_image(), &target)?;
        }
        Target::Files(_) => {
            (plan, skipped) =
                select::only_kinds(&outcome, plan, |k| k == EntryKind::Files, &target)?;
        }
        Target::Dir(_) | Target::Registry(_) => {}
    }
    let names = sink::target_names(&req.target, &plan)?;
    let (carried, external) = super::delta_unpack::split(&outcome.manifest, &plan.blobs);
    let bases = super::delta_unpack::bases_for(&req.target, &external, &req.bases)?;
    super::delta_unpack::check_target(&req.target, &external, &bases)?;
    let verified = pass_gate(gate, &outcome, &plan)?;
    let mut report = UnpackReport {
        archive_manifest_digest: outcome.manifest_digest,
        gate: gate.describe(),
        plan: plan.clone(),
        names,
        target: sink::describe(&req.target),
        dry_run: req.dry_run,
        loaded: None,
        blob_bytes: plan.blobs.iter().map(|b| b.size).sum(),
        skipped,
    };
    let Some(mut sink) = sink else {
        return Ok(report);
    };
    let source = spool
        .as_ref()
        .map(|s| s.path().to_path_buf())
        .unwrap_or_else(|| req.archive.clone());
    let volumes = match &spool {
        Some(_) => None,
        None => ArchiveInput::open(&source)?.volumes().cloned(),
    };
    // The loader may read the file itself only when it holds exactly what
    // is to be loaded: every image, nothing else selected away, no zstd.
    let plain = outcome.compression == Compression::None && volumes.is_none();
    let whole_archive = plain
        && external.is_empty()
        && plan.images.len() == outcome.manifest.images.len()
        && report.skipped.is_empty();
    let loading = std::time::Instant::now();
    let bar = progress(Some(report.blob_bytes), "unpack");
    let staged = (|| {
        let feed = ArchiveFeed {
            path: source.clone(),
            volumes: volumes.clone(),
            whole: verified_file.filter(|_| whole_archive),
            offsets: plain.then(|| outcome.blob_offsets.clone()),
            stop: req.sink.stop.clone(),
            progress: bar.share(),
        };
        // A delta's external layers are not in the archive: only a registry
        // (which must already hold them) may read the rest from it directly.
        let direct = (external.is_empty() || matches!(req.target, Target::Registry(_)))
            && sink.load_from(Box::new(feed));
        sink.begin(&plan)?;
        if direct {
            // The sink reads (and re-hashes) the blobs while it loads.
            return check_stop(req);
        }
        let (blobs, stop) = (&carried, &req.sink.stop);
        match &volumes {
            Some(set) => {
                // Verified just now; the copy re-hashes every blob it takes.
                let input = VolumeReader::sizes_only(set);
                copy::copy_blobs_from(input, blobs, sink.as_mut(), stop, &bar)?
            }
            None => copy::copy_blobs(&source, blobs, sink.as_mut(), stop, &bar)?,
        }
        // A registry target already holds them (its sink checks that
        // before pushing anything); other targets take them from a base.
        if !matches!(req.target, Target::Registry(_)) {
            super::delta_unpack::copy_external(&external, &bases, sink.as_mut(), stop, &bar)?;
        }
        bar.finish();
        check_stop(req)
    })();
    if let Err(e) = staged {
        sink.abort();
        return Err(e);
    }
    // A SIGINT arriving during `finish` is handled there (the load is
    // killed and rolled back); one arriving after it lost the race.
    let room = match &req.sink.state_dir {
        Some(dir) => match reserve::reserve(dir, state_room(&outcome)) {
            Ok(r) => Some(r),
            Err(e) => {
                sink.abort();
                return Err(e);
            }
        },
        None => None,
    };
    let loaded = sink.finish(&verified);
    // A sink loading from the archive counted on the bar until now.
    bar.finish();
    timings::add("load", loading.elapsed());
    let loaded = loaded?;
    if let Some(room) = room {
        room.release_for_writing();
    }
    gate.committed(&outcome, &plan)?;
    if let Some(state) = &req.sink.state_dir {
        // What admitted each image, for `verify-local` (after the commit:
        // only what was really loaded is recorded).
        let target = admitted::target_id(&loaded.target);
        let now = jiff::Timestamp::now();
        for (img, name) in plan.images.iter().zip(&report.names) {
            admitted::record(state, &target, name, img, &outcome, now)?;
        }
    }
    report.target = loaded.target.clone();
    report.loaded = Some(loaded);
    drop(spool);
    Ok(report)
}

/// What the state directory receives after the load, at most: the rollback
/// marks and admission records, and the documents they keep (the archive
/// manifest and the metadata read while verifying; ones kept before are
/// not written again, so this overestimates).
fn state_room(outcome: &ReadOutcome) -> u64 {
    let documents: u64 = outcome.metadata.values().map(|d| d.len() as u64).sum();
    let manifest = serde_json::to_vec(&outcome.manifest).map_or(0, |m| m.len() as u64);
    reserve::STATE_FILES_BYTES + documents + manifest
}
