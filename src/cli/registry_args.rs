//! Registry flags: [`RegistryArgs`] for the registry source (flattened into
//! `PackArgs`), turned into a list of references plus [`RegistryOptions`];
//! [`AccessArgs`], how to reach a registry, shared by `pack` and
//! `unpack --into registry:` (flattened into both).

use std::io::Read;
use std::path::PathBuf;

use clap::Args;

use crate::registry_client::AccessOptions;
use crate::source::registry::{self, RegistryOptions};
use crate::Error;

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

impl AccessArgs {
    /// The options; reads the password from stdin when asked to.
    pub fn resolve(&self) -> Result<AccessOptions, Error> {
        let credentials = match &self.username {
            Some(u) => Some((u.clone(), read_password()?)),
            None => None,
        };
        Ok(AccessOptions {
            insecure: self.insecure_registry.clone(),
            ca_file: self.ca_file.clone(),
            credentials,
        })
    }

    /// Whether any flag was given (they only mean something for registries).
    pub fn any(&self) -> bool {
        self.username.is_some()
            || self.password_stdin
            || self.ca_file.is_some()
            || !self.insecure_registry.is_empty()
    }
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
    /// Only take OCI 1.1 referrers of this artifact type (repeatable; default: all).
    #[arg(long = "artifact-type", value_name = "TYPE")]
    pub artifact_type: Vec<String>,
    /// Parallel blob downloads.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

impl RegistryArgs {
    /// All references (arguments, then each list file in order) and options.
    pub fn resolve(&self, quiet: bool) -> Result<(Vec<String>, RegistryOptions), Error> {
        let mut images = self.images.clone();
        for f in &self.image_list {
            images.extend(registry::read_image_list(f)?);
        }
        let opts = RegistryOptions {
            access: self.access.resolve()?,
            cache_dir: self.cache_dir.clone(),
            artifact_types: self.artifact_type.clone(),
            jobs: usize::from(self.jobs),
            progress: super::progress::multi(quiet),
            ..RegistryOptions::default()
        };
        Ok((images, opts))
    }
}

fn read_password() -> Result<String, Error> {
    let mut s = String::new();
    std::io::stdin()
        .lock()
        .take(64 * 1024)
        .read_to_string(&mut s)
        .map_err(|e| Error::io("read password from stdin", e))?;
    let p = s.lines().next().unwrap_or("").to_string();
    if p.is_empty() {
        return Err(Error::Usage(
            "--password-stdin: no password on stdin".into(),
        ));
    }
    Ok(p)
}
