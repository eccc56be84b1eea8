//! What was typed: clap derive structs, no logic.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "airlock",
    version,
    about = "Move signed container images into air-gapped sites and prove, offline, that they are what the publisher signed"
)]
pub struct Cli {
    /// Report format on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

// Parsed once per run: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pack images and their evidence into one deterministic archive.
    Pack(PackArgs),
    /// Check an archive's integrity in one streaming pass (`-` reads stdin), and with a policy every signature, attestation and Rekor proof, offline.
    Verify(VerifyArgs),
    /// Show what an archive holds (reads only its manifest; verifies nothing).
    Inspect(InspectArgs),
    /// Verify a Sigstore bundle for a file or digest (sigstore-conformance protocol).
    VerifyBundle(VerifyBundleArgs),
    /// Verify an archive offline, then load it into docker, podman, an OCI layout dir or the site registry.
    Unpack(UnpackArgs),
    /// Re-verify an installed image offline against the evidence that admitted it at unpack.
    VerifyLocal(VerifyLocalArgs),
    /// Compare two images file by file, ignoring timestamps: exit 0 when identical or equivalent, 1 when different.
    Diff(DiffArgs),
    /// Rebuild lost or damaged volumes of a split archive from its parity volumes.
    Repair(RepairArgs),
    /// Write the full archive from base archive(s) and a delta: byte for byte what a full pack writes.
    Merge(MergeArgs),
    /// List the blobs and image manifests a site already holds (inventory.json, for pack --base).
    Inventory(InventoryArgs),
    /// Verify an archive offline, then serve it read-only as an OCI registry (pull only) until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on stdout, e.g. `airlock man > airlock.1`.
    Man,
    /// Print airlock's version and the embedded Sigstore trust roots'.
    Version,
}

#[derive(Debug, Args)]
pub struct PackArgs {
    /// An OCI image layout directory to pack from (repeatable).
    #[arg(long = "from-oci-layout", value_name = "DIR")]
    pub from_oci_layout: Vec<PathBuf>,
    /// An oci-archive file (a tar of an OCI layout: `skopeo copy … oci-archive:`,
    /// `podman save --format oci-archive`) to pack from (repeatable).
    #[arg(long = "from-oci-archive", value_name = "FILE")]
    pub from_oci_archive: Vec<PathBuf>,
    /// A docker-archive file (`docker save`, `podman save`) to pack from (repeatable).
    #[arg(long = "from-docker-archive", value_name = "FILE")]
    pub from_docker_archive: Vec<PathBuf>,
    /// Registry images and how to reach them.
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// A local file to pack as an artifact in the ORAS convention (one
    /// layer per file, titled with its name), `PATH[:MEDIATYPE]`
    /// (repeatable; needs --as).
    #[arg(long = "file", value_name = "PATH[:MEDIATYPE]")]
    pub files: Vec<crate::source::files::FileArg>,
    /// The reference of the artifact the --file(s) make: one --as for all
    /// files, or one per --file, paired in order.
    #[arg(long = "as", value_name = "REF")]
    pub file_as: Vec<String>,
    /// A set file (YAML, `schema/set.schema.json`): images, charts,
    /// artifacts and local files to pack, with per-entry platforms and
    /// policies.
    #[arg(long = "set", value_name = "FILE")]
    pub set: Option<PathBuf>,
    /// Image ref name in the layout (repeatable; default: every image).
    #[arg(long = "ref", value_name = "NAME")]
    pub refs: Vec<String>,
    /// Architecture to take from multi-platform images (repeatable; default: all).
    #[arg(long, value_name = "ARCH")]
    pub arch: Vec<String>,
    /// Operating system to take from multi-platform images.
    #[arg(long, default_value = "linux")]
    pub os: String,
    /// Platform variant, e.g. v8 for arm64 or v7 for arm.
    #[arg(long)]
    pub variant: Option<String>,
    /// The platform to take, `os/arch[/variant]` as for unpack (instead of
    /// --os/--arch/--variant).
    #[arg(long, value_name = "PLATFORM", conflicts_with_all = ["arch", "os", "variant", "all_platforms"])]
    pub platform: Option<String>,
    /// Output archive; `.tar.zst` implies --zstd; `-` writes it to stdout
    /// (the report then goes to stderr).
    #[arg(short = 'o', long = "output-file", value_name = "OUT")]
    pub out: PathBuf,
    /// Split the archive into volumes OUT.001, OUT.002… of SIZE bytes
    /// (`4G`, `4GiB`, `700M`, plain bytes; at least 1 MiB) plus the index
    /// OUT.volumes.json; `cat OUT.0?? > OUT` joins them.
    #[arg(long, value_name = "SIZE", value_parser = crate::archive::volumes::parse_size)]
    pub volume_size: Option<u64>,
    /// Add N Reed–Solomon parity volumes OUT.p01… so any N lost or damaged
    /// volumes can be rebuilt with `airlock repair`.
    #[arg(long, value_name = "N", requires = "volume_size",
          value_parser = clap::value_parser!(u8).range(1..=99))]
    pub parity: Option<u8>,
    /// Compress the archive with zstd.
    #[arg(long)]
    pub zstd: bool,
    /// Replace OUT (and OUT.sha256) if it exists.
    #[arg(long)]
    pub force: bool,
    /// Write the archive even though a policy was given, without checking
    /// it (loudly reported).
    #[arg(long)]
    pub no_verify: bool,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Rekor instance to fetch inclusion proofs and checkpoints from, for
    /// cosign signatures that carry only a Signed Entry Timestamp.
    #[arg(long, value_name = "URL", default_value = crate::source::rekor::DEFAULT_REKOR_URL)]
    pub rekor_url: String,
    /// Do not contact Rekor; the archive manifest records that proofs were omitted.
    #[arg(long, conflicts_with = "rekor_url")]
    pub no_rekor: bool,
    /// Fetch Rekor entries anew instead of reusing those kept in the pack
    /// cache (a re-pack of unchanged inputs then differs in its proofs).
    #[arg(long, conflicts_with = "no_rekor")]
    pub refresh_proofs: bool,
    /// TUF metadata directory (N.root.json, timestamp.json, snapshot.json,
    /// targets.json and the trusted_root.json target) to carry in the archive,
    /// so a receiving host can accept its trusted root via TUF chaining.
    #[arg(long, value_name = "DIR")]
    pub tuf_metadata: Option<PathBuf>,
    /// What the site already has (repeatable): an earlier archive or volume
    /// set, its airlock.json, or an inventory.json. Image layers it holds
    /// are left out and listed as external: a delta archive.
    #[arg(long, value_name = "BASE")]
    pub base: Vec<PathBuf>,
    /// Docker Content Trust: fetch each tagged image's Notary metadata from
    /// this server, carry it, and check the tag's signed target is the
    /// image (default: $DOCKER_CONTENT_TRUST_SERVER when set).
    #[arg(long, value_name = "URL")]
    pub notary_server: Option<String>,
    /// CA certificate (PEM) to trust for --notary-server.
    #[arg(long, value_name = "PEM")]
    pub notary_ca: Option<PathBuf>,
    /// Also report where the time went: seconds spent resolving,
    /// downloading, hashing and writing (text and JSON `timings`).
    #[arg(long)]
    pub timings: bool,
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// dir:PATH (an OCI layout), an archive or volume set, the unpack
    /// state directory, or registry:HOST[/NAMESPACE] (repeatable: the
    /// inventory is their union).
    #[arg(required = true, value_name = "FROM")]
    pub from: Vec<String>,
    /// Where to write inventory.json; `-` for stdout.
    #[arg(short = 'o', long = "output-file", value_name = "OUT")]
    pub out: PathBuf,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// How to reach a `registry:` source.
    #[command(flatten)]
    pub access: AccessArgs,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The base archive(s) or volume set(s), then the delta, last.
    #[arg(required = true, num_args = 2.., value_name = "ARCHIVE")]
    pub archives: Vec<PathBuf>,
    /// The full archive to write; `.tar.zst` implies --zstd.
    #[arg(short = 'o', long = "output-file", value_name = "OUT")]
    pub out: PathBuf,
    /// Split the full archive into volumes of SIZE bytes (as pack does).
    #[arg(long, value_name = "SIZE", value_parser = crate::archive::volumes::parse_size)]
    pub volume_size: Option<u64>,
    /// Parity volumes, as for pack.
    #[arg(long, value_name = "N", requires = "volume_size",
          value_parser = clap::value_parser!(u8).range(1..=99))]
    pub parity: Option<u8>,
    /// Compress the full archive with zstd.
    #[arg(long)]
    pub zstd: bool,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The archive, `-` for stdin, or a volume set (its NAME.volumes.json
    /// or any of its volumes).
    #[arg(required_unless_present = "volume", conflicts_with = "volume")]
    pub archive: Option<PathBuf>,
    /// Check this one volume (NAME.003, NAME.p01) on its own against the
    /// index beside it; the other volumes need not be present.
    #[arg(long, value_name = "VOLUME")]
    pub volume: Option<PathBuf>,
    /// Write the rollback marks of the accepted images into the state
    /// directory (as unpack does). Without it verify only reads them, so a
    /// check at a transfer station changes nothing on the host.
    #[arg(long)]
    pub record: bool,
    /// For a delta archive: the base archive(s) or volume set(s) holding
    /// its external blobs, each re-hashed (repeatable).
    #[arg(long, value_name = "BASE")]
    pub base: Vec<PathBuf>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub rollback: RollbackArgs,
}

/// A version-2 policy document built from a set file, and the set file
/// (its key paths are relative to the set file's directory).
#[derive(Debug, Clone)]
pub struct SetPolicy {
    pub file: PathBuf,
    pub json: Vec<u8>,
}

/// Trust policy flags shared by `verify` and `pack` (validated by
/// `cli::config` before any input is read). None given = integrity only.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Trust policy")]
pub struct PolicyArgs {
    /// The policy a `--set` file's entries give (not a flag).
    #[arg(skip)]
    pub set_policy: Option<SetPolicy>,
    /// PEM public key whose signatures are accepted (repeatable).
    #[arg(long = "key", value_name = "PEM")]
    pub keys: Vec<PathBuf>,
    /// Exact SAN (email or URI) of a keyless signer's certificate.
    #[arg(long, value_name = "IDENTITY")]
    pub certificate_identity: Option<String>,
    /// Anchored regular expression for the certificate SAN.
    #[arg(long, value_name = "REGEXP")]
    pub certificate_identity_regexp: Option<String>,
    /// Exact OIDC issuer of the signing certificate.
    #[arg(long, value_name = "URL")]
    pub certificate_oidc_issuer: Option<String>,
    /// Anchored regular expression for the OIDC issuer.
    #[arg(long, value_name = "REGEXP")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// Valid signatures from N distinct signers required (default 1).
    #[arg(long, value_name = "N")]
    pub threshold: Option<usize>,
    /// INSECURE: accept key-based signatures without a Rekor entry.
    #[arg(long)]
    pub insecure_ignore_tlog: bool,
    /// Require a Rekor inclusion proof and signed checkpoint for every signature.
    #[arg(long)]
    pub require_inclusion_proof: bool,
    /// Do not compare the signed docker-reference with the image name.
    #[arg(long)]
    pub ignore_reference: bool,
    /// Required attestation (repeatable): slsaprovenance (= slsaprovenance02), slsaprovenance1, spdx (= spdxjson), cyclonedx, vuln, link, or a predicate type URI.
    #[arg(long = "attestation-type", value_name = "TYPE")]
    pub attestation_types: Vec<String>,
    /// SLSA provenance: source repository (e.g. https://github.com/org/repo).
    #[arg(long, value_name = "URL")]
    pub source_repository: Option<String>,
    /// SLSA provenance: branch or tag (`main`, `refs/tags/v1`).
    #[arg(long, value_name = "REF")]
    pub source_ref: Option<String>,
    /// SLSA provenance: full source commit hash.
    #[arg(long, value_name = "SHA")]
    pub source_commit: Option<String>,
    /// SLSA provenance: builder id.
    #[arg(long, value_name = "ID")]
    pub builder_id: Option<String>,
    /// SLSA provenance: workflow path (e.g. .github/workflows/release.yml).
    #[arg(long, value_name = "PATH")]
    pub workflow: Option<String>,
    /// Policy file (schema/policy.schema.json) instead of signer flags
    /// (verify/unpack default: $AIRLOCK_POLICY, else /etc/airlock/policy.json
    /// if it exists).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// trusted_root.json to use instead of the embedded Sigstore public-good
    /// root (pack: the root written into the archive).
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// TUF root.json this site trusts, from which a trusted root carried in
    /// an archive must chain (default: the embedded Sigstore public-good TUF root).
    #[arg(long, value_name = "FILE")]
    pub tuf_root: Option<PathBuf>,
    /// Docker Content Trust: a Notary root.json to trust (as docker keeps
    /// under ~/.docker/trust/tuf/<GUN>/metadata/), or a directory searched
    /// for root.json files; repeatable. Each image's tag must then be signed
    /// in its repository's carried Notary metadata. Alone, it is the policy.
    #[arg(long = "notary-root", value_name = "FILE|DIR")]
    pub notary_roots: Vec<PathBuf>,
    /// Set from [`RollbackArgs`] (verify, unpack); pack has no such flags.
    #[arg(skip)]
    pub state_dir: Option<PathBuf>,
    /// Set from [`RollbackArgs`].
    #[arg(skip)]
    pub allow_downgrade: bool,
}

impl PolicyArgs {
    /// These flags plus the receiving host's rollback flags.
    pub fn with_rollback(&self, r: &RollbackArgs) -> PolicyArgs {
        PolicyArgs {
            state_dir: r.state_dir.clone(),
            allow_downgrade: r.allow_downgrade,
            ..self.clone()
        }
    }
}

/// Rollback flags: a property of the receiving host (verify, unpack), so
/// pack does not offer them.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Rollback")]
pub struct RollbackArgs {
    /// State directory: rollback marks (default: $AIRLOCK_STATE_DIR, else
    /// $XDG_STATE_HOME/airlock, else ~/.local/state/airlock).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Accept evidence older than what this host accepted before (logged).
    #[arg(long)]
    pub allow_downgrade: bool,
}

#[derive(Debug, Args)]
pub struct VerifyLocalArgs {
    /// The image's name in the target, as `unpack` reported it.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Where it is installed: podman, docker, dir:PATH, registry:HOST[/NS],
    /// or auto (docker if a daemon answers, else podman).
    #[arg(long = "in", value_name = "TARGET", default_value = "auto")]
    pub target: String,
    /// Global argument for podman (repeatable; also AIRLOCK_PODMAN_ARGS).
    #[arg(long = "podman-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub podman_args: Vec<String>,
    /// Docker daemon to ask (default: DOCKER_HOST, else docker's default).
    #[arg(long, value_name = "HOST")]
    pub docker_host: Option<String>,
    /// How to reach a `registry:` target (as for unpack).
    #[command(flatten)]
    pub access: AccessArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub rollback: RollbackArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// First image: ARCHIVE[:REF] (verified whole first), oci:DIR[:REF], or a registry reference.
    #[arg(value_name = "A")]
    pub a: String,
    /// Second image, in the same forms.
    #[arg(value_name = "B")]
    pub b: String,
    /// Also compare timestamps (file mtimes, config `created`, history dates).
    #[arg(long)]
    pub strict: bool,
    /// The platform to take from multi-platform images, `os/arch[/variant]`
    /// (default: this host's).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// How to reach registries (for registry references).
    #[command(flatten)]
    pub access: AccessArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The archive, `-` for stdin, or a volume set (index or any volume).
    pub archive: PathBuf,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The volume set: its NAME.volumes.json, or any of its volumes.
    pub volumes: PathBuf,
    /// Also report where the time went: seconds spent hashing volumes and
    /// in the Reed–Solomon code (text and JSON `timings`).
    #[arg(long)]
    pub timings: bool,
}

#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// The archive, `-` for stdin (spooled to a private temp dir while
    /// verifying), or a volume set (index or any volume).
    pub archive: PathBuf,
    /// docker, podman, dir:PATH, registry:HOST[:PORT][/NAMESPACE], or auto
    /// (docker if a daemon answers, else podman).
    #[arg(long, value_name = "TARGET")]
    pub into: String,
    /// Image reference to unpack (repeatable; default: every image).
    #[arg(long = "image", value_name = "NAME")]
    pub images: Vec<String>,
    /// os/arch[/variant] to unpack (default: this host's platform).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Name to give the image in the target (one image only; for a registry,
    /// the repository path and tag under HOST[/NAMESPACE]).
    #[arg(long, value_name = "REF")]
    pub tag: Option<String>,
    /// Verify and print what would be loaded; touch no target.
    #[arg(long)]
    pub dry_run: bool,
    /// Global argument for podman, e.g. --podman-arg=--root=/srv/store (repeatable;
    /// also AIRLOCK_PODMAN_ARGS, whitespace-separated).
    #[arg(long = "podman-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub podman_args: Vec<String>,
    /// Docker daemon to load into (default: DOCKER_HOST, else docker's default).
    #[arg(long, value_name = "HOST")]
    pub docker_host: Option<String>,
    /// How to reach a `registry:` target (as for pack).
    #[command(flatten)]
    pub access: AccessArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub rollback: RollbackArgs,
    /// INSECURE: load without any signature policy (integrity only) when no
    /// policy is given anywhere; reported as INSECURE.
    #[arg(long)]
    pub insecure_no_policy: bool,
    /// For a delta archive: an archive, volume set or OCI layout directory
    /// holding its external layers (repeatable; each re-hashed). Not
    /// needed for registry:, which must already hold them.
    #[arg(long, value_name = "BASE")]
    pub base: Vec<PathBuf>,
    /// Also report where the time went: seconds spent verifying, loading
    /// and hashing (text and JSON `timings`).
    #[arg(long)]
    pub timings: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The archive file (`.tar` served in place, `.tar.zst` through a private spool).
    pub archive: PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5000")]
    pub listen: std::net::SocketAddr,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Repository path prefix: `src.example/team/app:1` is served as
    /// `NAMESPACE/team/app:1` (as for `unpack --into registry:HOST/NAMESPACE`).
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Log one line per request on stderr.
    #[arg(long)]
    pub log_requests: bool,
    /// Connections served at once (more wait in the listen backlog).
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_connections: u16,
    /// Also print a registries.conf mirror stanza and containerd hosts.toml
    /// pointing the original registries at this server.
    #[arg(long)]
    pub print_mirror_config: bool,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub rollback: RollbackArgs,
    /// INSECURE: serve without any signature policy (integrity only) when no
    /// policy is given anywhere; reported as INSECURE.
    #[arg(long)]
    pub insecure_no_policy: bool,
}

#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Image references to pack from their registries (tag or digest;
    /// `busybox` means `docker.io/library/busybox:latest`).
    #[arg(value_name = "IMAGE")]
    pub images: Vec<String>,
    /// File of image references, one a line (`#` starts a comment).
    #[arg(short = 'f', long = "image-list", value_name = "FILE")]
    pub image_list: Vec<PathBuf>,
    /// Take every platform of multi-platform images (no --arch/--os filter).
    #[arg(long, conflicts_with_all = ["arch", "variant"])]
    pub all_platforms: bool,
    #[command(flatten)]
    pub access: AccessArgs,
    /// Blob download cache (default: $XDG_CACHE_HOME/airlock or ~/.cache/airlock).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Download layers into the cache before writing the archive, so a
    /// re-pack or a pack that was killed fetches only what is missing
    /// (costs a second write of every layer; by default layers stream
    /// straight into the archive, and only those already cached are reused).
    #[arg(long)]
    pub cache_layers: bool,
    /// Only take OCI 1.1 referrers of this artifact type (repeatable; default: all).
    #[arg(long = "artifact-type", value_name = "TYPE")]
    pub artifact_type: Vec<String>,
    /// Parallel blob downloads (and layers fetched ahead of the archive writer,
    /// each holding at most 2 MiB not yet written).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

/// Transport and credentials for registries.
#[derive(Debug, Args)]
pub struct AccessArgs {
    /// Registry user name (password from --password-stdin).
    #[arg(long, requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password from stdin (one line).
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// PEM file of CA certificates to trust for registries (private CA).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Speak plain HTTP to this registry, `host[:port]` as in the reference (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registry: Vec<String>,
}

/// Arguments of `verify-bundle`.
#[derive(Debug, Clone, Args)]
pub struct VerifyBundleArgs {
    /// The Sigstore bundle (v0.1–v0.3) or cosign legacy `verify-blob --bundle` file.
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// PEM public key the bundle must be signed with (managed-key bundles).
    #[arg(
        long,
        value_name = "PEM",
        conflicts_with_all = ["certificate_identity", "certificate_oidc_issuer"],
        required_unless_present = "certificate_identity"
    )]
    pub key: Option<PathBuf>,
    /// Exact SAN (email or URI) of the signing certificate.
    #[arg(long, value_name = "IDENTITY", requires = "certificate_oidc_issuer")]
    pub certificate_identity: Option<String>,
    /// Exact OIDC issuer of the signing certificate.
    #[arg(long, value_name = "URL", requires = "certificate_identity")]
    pub certificate_oidc_issuer: Option<String>,
    /// trusted_root.json to use instead of the embedded Sigstore public-good root.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// The signed file, or its digest as `sha256:<hex>`.
    #[arg(value_name = "FILE_OR_DIGEST")]
    pub file_or_digest: String,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
