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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pack images and their evidence into one deterministic archive.
    Pack(PackArgs),
    /// Check an archive's integrity in one streaming pass (`-` reads stdin).
    Verify(VerifyArgs),
    /// Show what an archive holds (reads only its manifest; verifies nothing).
    Inspect(InspectArgs),
    /// Verify a Sigstore bundle for a file or digest (sigstore-conformance protocol).
    VerifyBundle(super::verify_bundle::VerifyBundleArgs),
    /// Verify an archive offline, then load it into docker, podman or an OCI layout dir.
    Unpack(super::unpack::UnpackArgs),
}

#[derive(Debug, Args)]
pub struct PackArgs {
    /// An OCI image layout directory to pack from (repeatable).
    #[arg(long = "from-oci-layout", value_name = "DIR", required = true)]
    pub from_oci_layout: Vec<PathBuf>,
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
    /// Output archive; `.tar.zst` implies --zstd.
    #[arg(short = 'o', long = "output-file", value_name = "OUT")]
    pub out: PathBuf,
    /// Compress the archive with zstd.
    #[arg(long)]
    pub zstd: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The archive, or `-` for stdin.
    pub archive: PathBuf,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The archive, or `-` for stdin.
    pub archive: PathBuf,
}
