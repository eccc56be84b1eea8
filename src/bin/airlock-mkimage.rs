//! Builds deterministic OCI image layouts for tests, the demo and the benchmark.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use airlock::testkit::{FileEntry, ImageSpec, Layout, Platform};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "airlock-mkimage",
    about = "Write deterministic test images into an OCI layout"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One-layer image with a static busybox as /bin/busybox and /bin/sh.
    Busybox {
        #[arg(long)]
        out: PathBuf,
        #[arg(long = "ref")]
        reference: String,
        /// Platform recorded in the config, `arch[/variant]`.
        #[arg(long, default_value = "amd64")]
        arch: String,
        /// Static busybox binary for that platform.
        #[arg(long, default_value = "/bin/busybox")]
        busybox: PathBuf,
    },
    /// K images of N pseudo-random layers each (benchmark data).
    Random {
        #[arg(long)]
        out: PathBuf,
        /// With --images > 1, image i is tagged `REF-i` (or `REF:i` without a tag).
        #[arg(long = "ref")]
        reference: String,
        #[arg(long, default_value_t = 1)]
        layers: u64,
        /// Bytes of random data per layer.
        #[arg(long)]
        layer_size: u64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 1)]
        images: u64,
    },
    /// An index with linux/amd64 and linux/arm64/v8 images sharing one layer.
    Multiarch {
        #[arg(long)]
        out: PathBuf,
        #[arg(long = "ref")]
        reference: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("airlock-mkimage: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Cmd) -> io::Result<()> {
    match cmd {
        Cmd::Busybox {
            out,
            reference,
            arch,
            busybox,
        } => {
            let mut l = Layout::create(out)?;
            // /bin/sh is a second copy, not a link: archives must stay link-free.
            let layer = l.add_layer(&[
                FileEntry::file("/bin/busybox", &busybox, 0o755),
                FileEntry::file("/bin/sh", &busybox, 0o755),
            ])?;
            let mut spec = ImageSpec::new(Platform::linux(&arch));
            spec.entrypoint = Some(vec!["/bin/busybox".into()]);
            spec.cmd = Some(vec!["sh".into()]);
            let m = l.add_image(&spec, &[layer])?;
            l.tag(&reference, &m);
            report(&reference, &m.digest, l.finish()?);
        }
        Cmd::Random {
            out,
            reference,
            layers,
            layer_size,
            seed,
            images,
        } => {
            let mut l = Layout::create(out)?;
            let mut tagged = Vec::new();
            for i in 0..images {
                let mut ls = Vec::new();
                for j in 0..layers {
                    // Distinct seeds per layer so no two layers dedupe.
                    ls.push(l.add_random_layer(layer_size, seed.wrapping_add(i * layers + j))?);
                }
                let mut spec = ImageSpec::new(Platform::linux("amd64"));
                spec.cmd = Some(vec!["/bin/true".into()]);
                let m = l.add_image(&spec, &ls)?;
                let name = if images == 1 {
                    reference.clone()
                } else {
                    numbered(&reference, i)
                };
                l.tag(&name, &m);
                tagged.push((name, m.digest));
            }
            let dir = l.finish()?;
            for (name, digest) in tagged {
                report(&name, &digest, dir.clone());
            }
        }
        Cmd::Multiarch { out, reference } => {
            let mut l = Layout::create(out)?;
            let shared = l.add_layer(&[FileEntry::bytes(
                "/etc/airlock-demo",
                "shared by all platforms\n",
                0o644,
            )])?;
            let mut manifests = Vec::new();
            for arch in ["amd64", "arm64/v8"] {
                let own = l.add_layer(&[FileEntry::bytes(
                    "/etc/airlock-arch",
                    format!("{arch}\n"),
                    0o644,
                )])?;
                let mut spec = ImageSpec::new(Platform::linux(arch));
                spec.cmd = Some(vec!["/bin/sh".into()]);
                manifests.push((l.add_image(&spec, &[shared.clone(), own])?, spec.platform));
            }
            let index = l.add_index(&manifests)?;
            l.tag(&reference, &index);
            report(&reference, &index.digest, l.finish()?);
        }
    }
    Ok(())
}

/// `repo:tag` → `repo:tag-i`; `repo` → `repo:i` (a `:` before the last `/` is a port).
fn numbered(reference: &str, i: u64) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') {
        format!("{reference}-{i}")
    } else {
        format!("{reference}:{i}")
    }
}

fn report(reference: &str, digest: &str, dir: PathBuf) {
    println!("{} {reference} {digest}", dir.display());
}
