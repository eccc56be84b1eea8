//! Builds deterministic OCI image layouts for tests, the demo and the benchmark.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use airlock_testkit::publish::RegistryTarget;
use airlock_testkit::signed::{self, PublishRequest};
use airlock_testkit::{many, FileEntry, ImageSpec, Layout, Platform};
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
        /// Build it a day later (file mtimes and config `created`): the
        /// same content with other digests, as a rebuild gives.
        #[arg(long)]
        rebuilt: bool,
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
    /// N small distinct images (one tiny layer each), for scale benchmarks;
    /// with --evidence also cosign .sig/.att/.sbom tags and SPDX referrers
    /// (pack such a layout with --ref per image: referrers are tagged too).
    Many {
        #[arg(long)]
        out: PathBuf,
        /// Image i is tagged `REF-i` (or `REF:i` without a tag).
        #[arg(long = "ref")]
        reference: String,
        #[arg(long)]
        images: u64,
        #[arg(long)]
        evidence: bool,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Write a P-256 cosign-style key pair: PREFIX.key (PKCS#8) and PREFIX.pub.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Publish a signed multi-arch busybox to a registry, as a publisher's
    /// CI would: push the index (amd64 busybox + arm64/v8 placeholder), sign
    /// the index and each manifest with a cosign `.sig`, log every signature
    /// in a Rekor v1 log, attach an SBOM. Prints what was pushed as JSON.
    Publish {
        /// Registry `host[:port]`.
        #[arg(long)]
        registry: String,
        /// Repository inside the registry, e.g. `demo/busybox`.
        #[arg(long)]
        repo: String,
        #[arg(long, default_value = "latest")]
        tag: String,
        /// Signing key (P-256 PEM), e.g. from `keygen`.
        #[arg(long)]
        key: PathBuf,
        /// Rekor v1 API to log signatures in (e.g. airlock-test-rekor).
        #[arg(long)]
        rekor_url: Option<String>,
        /// Speak plain HTTP to the registry.
        #[arg(long)]
        insecure: bool,
        /// Extra CA certificate (PEM) for the registry's TLS.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Basic-auth user; the password comes from AIRLOCK_PUBLISH_PASSWORD.
        #[arg(long)]
        username: Option<String>,
        #[arg(long, default_value = "/bin/busybox")]
        busybox: PathBuf,
        /// Scratch directory for the layout built before pushing.
        #[arg(long)]
        work_dir: PathBuf,
    },
    /// A signed Helm chart (plain HTTP registry): push it, sign its digest
    /// with the key, log the signature in Rekor; prints the digest.
    PublishChart {
        #[arg(long)]
        registry: String,
        #[arg(long)]
        repo: String,
        #[arg(long)]
        tag: String,
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        rekor_url: Option<String>,
        #[arg(long)]
        work_dir: PathBuf,
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
            rebuilt,
        } => {
            let mut l = Layout::create(out)?;
            if rebuilt {
                l.set_build_time(86_400, "1970-01-02T00:00:00Z");
            }
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
                    many::numbered(&reference, i)
                };
                l.tag(&name, &m);
                tagged.push((name, m.digest));
            }
            let dir = l.finish()?;
            for (name, digest) in tagged {
                report(&name, &digest, dir.clone());
            }
        }
        Cmd::Many {
            out,
            reference,
            images,
            evidence,
            seed,
        } => {
            let spec = many::ManySpec {
                reference,
                images,
                evidence,
                seed,
            };
            let (dir, tagged) = many::write(&out, &spec)?;
            for (name, digest) in tagged {
                report(&name, &digest, dir.clone());
            }
        }
        Cmd::Keygen { out } => {
            let (k, p) = signed::generate_key(&out)?;
            println!("{} {}", k.display(), p.display());
        }
        Cmd::Publish {
            registry,
            repo,
            tag,
            key,
            rekor_url,
            insecure,
            ca_file,
            username,
            busybox,
            work_dir,
        } => {
            let credentials = match username {
                Some(u) => Some((
                    u,
                    std::env::var("AIRLOCK_PUBLISH_PASSWORD").map_err(|_| {
                        io::Error::other("--username needs AIRLOCK_PUBLISH_PASSWORD")
                    })?,
                )),
                None => None,
            };
            let req = PublishRequest {
                target: RegistryTarget {
                    host: registry,
                    insecure,
                    ca_pem: ca_file.map(std::fs::read).transpose()?,
                    credentials,
                },
                repo,
                tag,
                busybox,
                rekor_url,
                work_dir,
            };
            let published = signed::publish_signed_busybox(&req, &signed::load_key(&key)?)?;
            let text = serde_json::to_string_pretty(&published).map_err(io::Error::other)?;
            println!("{text}");
        }
        Cmd::PublishChart {
            registry,
            repo,
            tag,
            key,
            rekor_url,
            work_dir,
        } => {
            let target = RegistryTarget {
                host: registry,
                insecure: true,
                ca_pem: None,
                credentials: None,
            };
            let digest = signed::publish_signed_chart(
                &target,
                &repo,
                &tag,
                &signed::load_key(&key)?,
                rekor_url.as_deref(),
                &work_dir,
            )?;
            println!("{digest}");
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

fn report(reference: &str, digest: &str, dir: PathBuf) {
    println!("{} {reference} {digest}", dir.display());
}
