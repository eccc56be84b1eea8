//! Registry flags → options: [`RegistryArgs`] (the registry source, in
//! `PackArgs`) becomes a list of references plus [`RegistryOptions`];
//! [`AccessArgs`] (how to reach a registry, shared by `pack` and
//! `unpack --into registry:`) becomes [`AccessOptions`].

use std::io::Read;

use super::args::{AccessArgs, RegistryArgs};
use crate::registry_client::AccessOptions;
use crate::source::registry::{self, RegistryOptions};
use crate::Error;

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
            cache_layers: self.cache_layers,
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
