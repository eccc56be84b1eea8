//! The commands, composed from source → archive writer, and archive reader.
//! Library code: returns results, never prints or exits.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub mod copy;
pub mod delta;
pub mod delta_unpack;
pub mod diff;
pub mod feed;
pub mod input;
pub mod inventory;
pub mod merge;
pub mod output;
pub mod outputs;
pub mod pack;
pub mod repair;
pub mod select;
pub mod serve;
pub mod split;
pub mod spool;
pub mod unpack;
pub mod verify_local;

use crate::model::progress::{NoProgress, Progress};

use crate::archive::stream_hash::HashingWriter;
use crate::archive::{self, ReadOptions, ReadOutcome, WriteOptions, WriteOutcome};
use crate::error::{Error, IoContext};
use crate::model::Digest;
use crate::source::layout::LayoutSource;
use crate::source::{ImageSet, PlatformFilter};

#[derive(Debug, Clone)]
pub struct PackRequest {
    /// Local files to pack as artifacts (`--file … --as REF`).
    pub files: Vec<crate::source::files::FileArtifact>,
    pub layouts: Vec<PathBuf>,
    /// oci-archive files (tars of OCI layouts) to pack from.
    pub oci_archives: Vec<PathBuf>,
    /// docker-archive files (`docker save`, `podman save`) to pack from.
    pub docker_archives: Vec<PathBuf>,
    pub refs: Vec<String>,
    /// Registry image references (see `source::registry`).
    pub images: Vec<String>,
    /// More registry references, each group with its own platforms (a
    /// set file's per-image platforms).
    pub image_groups: Vec<(Vec<String>, PlatformFilter)>,
    pub registry: crate::source::registry::RegistryOptions,
    pub platforms: PlatformFilter,
    pub output: PathBuf,
    pub zstd: bool,
    /// Replace an existing output file (`--force`).
    pub force: bool,
    /// `--volume-size` (and `--parity`): write a volume set instead of one
    /// file. `None` with `output` `-`: write to stdout.
    pub split: Option<split::Split>,
    /// The trust material to carry: the trusted root (embedded public-good
    /// one by default) and optional TUF metadata vouching for it.
    pub trust: crate::source::trust::PackTrust,
    /// `--base`: earlier archives, volume sets, their `airlock.json` or
    /// inventories; blobs they hold are left out (a delta archive).
    pub bases: Vec<PathBuf>,
}

#[derive(Debug)]
pub struct PackResult {
    pub written: WriteOutcome,
    /// sha256 of the archive file as written (also in `<output>.sha256`).
    pub archive_sha256: Digest,
    pub archive_bytes: u64,
    /// `-` for stdout.
    pub output: PathBuf,
    /// `OUT.sha256`; none for stdout or a volume set (its index has it).
    pub checksum_file: Option<PathBuf>,
    /// The volume set, when split.
    pub volumes: Option<split::WrittenSet>,
    /// Carried vs external blobs, when packed with `--base`.
    pub delta: Option<delta::DeltaStats>,
}

/// Whether pack writes to stdout (`-o -`).
pub fn is_stdout(output: &Path) -> bool {
    output.as_os_str() == "-"
}

/// Resolve the sources without writing anything (for sizing progress).
pub fn resolve(req: &PackRequest) -> Result<ImageSet, Error> {
    if req.layouts.is_empty()
        && req.files.is_empty()
        && req.image_groups.is_empty()
        && req.images.is_empty()
        && req.oci_archives.is_empty()
        && req.docker_archives.is_empty()
    {
        return Err(Error::Usage(
            "nothing to pack: give IMAGE references, -f FILE, --from-oci-layout DIR, --from-oci-archive FILE, --from-docker-archive FILE --file PATH --as REF or --set FILE".into(),
        ));
    }
    // Trust material first: a bad --trusted-root or TUF directory fails
    // before any registry is contacted. TUF expiry is judged now.
    let trust = crate::source::trust::load(&req.trust, jiff::Timestamp::now())?;
    let mut set = ImageSet::default();
    if !req.images.is_empty() {
        set.extend(crate::source::registry::resolve(
            &req.images,
            &req.platforms,
            &req.registry,
        )?);
    }
    for dir in &req.layouts {
        let src = LayoutSource::open(dir)?;
        set.extend(src.resolve(&req.refs, &req.platforms)?);
    }
    for file in &req.docker_archives {
        set.extend(crate::source::docker_archive::resolve(
            file,
            &req.refs,
            &req.platforms,
        )?);
    }
    for (refs, platforms) in &req.image_groups {
        set.extend(crate::source::registry::resolve(
            refs,
            platforms,
            &req.registry,
        )?);
    }
    set.extend(crate::source::files::resolve(&req.files)?);
    for file in &req.oci_archives {
        set.extend(crate::source::oci_archive::resolve(
            file,
            &req.refs,
            &req.platforms,
        )?);
    }
    // The same image named twice is packed once.
    let mut seen = std::collections::BTreeSet::new();
    set.images
        .retain(|i| seen.insert((i.reference.clone(), i.manifest_digest)));
    set.trust = Some(trust);
    Ok(set)
}

/// Write the archive to a temp file beside the output, then rename it into
/// place, so a failed pack never leaves a partial archive under the name.
pub fn pack(
    req: &PackRequest,
    set: &ImageSet,
    progress: &dyn Progress,
) -> Result<PackResult, Error> {
    let bases = delta::load_bases(&req.bases)?;
    pack_against(req, set, &bases, progress)
}

/// [`pack`] with its `--base`s already loaded: blobs they hold are left out.
pub fn pack_against(
    req: &PackRequest,
    set: &ImageSet,
    bases: &[delta::Base],
    progress: &dyn Progress,
) -> Result<PackResult, Error> {
    let zstd = output::compression(&req.output, req.zstd)?;
    let opts = WriteOptions {
        zstd,
        ..WriteOptions::default()
    };
    let mut plan = archive::writer::plan(set)?;
    let stats = match bases.is_empty() {
        true => None,
        false => {
            let stats = delta::leave_out(&mut plan, bases)?;
            // Only what is carried is written.
            progress.set_total(stats.carried_bytes);
            Some(stats)
        }
    };
    let mut result = write_plan(&req.output, req.split, &plan, &opts, progress)?;
    result.delta = stats;
    Ok(result)
}

/// Write `plan` to `output`: stdout, a volume set, or a file (atomically,
/// with its `.sha256`). Shared by pack and merge, so their bytes agree.
pub fn write_plan(
    output: &Path,
    split: Option<split::Split>,
    plan: &archive::writer::Plan,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<PackResult, Error> {
    if is_stdout(output) {
        return pack_to_stdout(plan, opts, progress);
    }
    if let Some(split) = split {
        return split::pack_volumes(output, split, plan, opts, progress);
    }
    let dir = output::parent_dir(output);
    crate::scratch::sweep(&dir, "pack");
    let tmp = tempfile::Builder::new()
        .prefix(&crate::scratch::prefix("pack"))
        .permissions(public_file())
        .tempfile_in(&dir)
        .at("create a temporary file in", &dir)?;
    let _pending = outputs::register(tmp.path());
    let file = tmp.as_file().try_clone().at("open", tmp.path())?;
    let sink = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let (written, sink) = archive::writer::write_plan(plan, sink, opts, progress)?;
    let (out, archive_bytes, archive_sha256) = sink.finish().at("write", tmp.path())?;
    out.get_ref().sync_all().at("sync", tmp.path())?;
    tmp.persist(output)
        .map_err(|e| Error::io_path("rename into", output, e.error))?;

    let checksum_file = sidecar_path(output);
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    write_atomic(
        &checksum_file,
        format!("{}  {name}\n", archive_sha256.hex()).as_bytes(),
    )?;
    Ok(PackResult {
        written,
        archive_sha256,
        archive_bytes,
        output: output.to_path_buf(),
        checksum_file: Some(checksum_file),
        volumes: None,
        delta: None,
    })
}

/// `-o -`: the archive on stdout as it is written (flat memory, nothing
/// on disk); its sha256 is only reported.
fn pack_to_stdout(
    plan: &archive::writer::Plan,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<PackResult, Error> {
    let sink = HashingWriter::new(BufWriter::with_capacity(1 << 20, io::stdout().lock()));
    let (written, sink) = archive::writer::write_plan(plan, sink, opts, progress)?;
    let (_, archive_bytes, archive_sha256) = sink
        .finish()
        .map_err(|e| Error::io("writing archive to stdout", e))?;
    Ok(PackResult {
        written,
        archive_sha256,
        archive_bytes,
        output: PathBuf::from("-"),
        checksum_file: None,
        volumes: None,
        delta: None,
    })
}

fn sidecar_path(output: &Path) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// Archives and checksums are public content: created 0666 less the
/// umask, like any file the user writes (a temp file alone would be 0600).
pub(crate) fn public_file() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::Permissions::from_mode(0o666)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .permissions(public_file())
        .tempfile_in(dir)
        .at("create a temporary file in", dir)?;
    let _pending = outputs::register(tmp.path());
    tmp.write_all(bytes).at("write", tmp.path())?;
    tmp.persist(path)
        .map_err(|e| Error::io_path("rename into", path, e.error))?;
    Ok(())
}

/// Length of the archive (a file, or a volume set's whole), when known
/// before reading (for progress).
pub fn input_len(path: &Path) -> Option<u64> {
    input::ArchiveInput::open(path).ok()?.size()
}

/// Check an archive's integrity in one pass; `-` reads stdin, a volume
/// index or volume name reads the volume set.
pub fn verify(path: &Path, progress: &dyn Progress) -> Result<ReadOutcome, Error> {
    input::ArchiveInput::open(path)?.read(&ReadOptions::default(), progress)
}

/// Read just the archive manifest (fast; checks nothing beyond it).
pub fn inspect(path: &Path) -> Result<ReadOutcome, Error> {
    let opts = ReadOptions {
        manifest_only: true,
        ..ReadOptions::default()
    };
    input::ArchiveInput::open(path)?.read(&opts, &NoProgress)
}
