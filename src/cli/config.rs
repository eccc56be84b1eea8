//! Policy flags → validated gate configuration, before any input is read
//! (as sigstore-go's `VerifierConfig.Validate()`): an incoherent option set
//! is a usage error (exit 2) and nothing of the archive or layout is opened.
//! Weakened checks (`--insecure-ignore-tlog`, `--ignore-reference`,
//! `--allow-downgrade`) are returned as loud warnings for the report.
//!
//! Which policy applies (verify, unpack): the signer flags, else
//! `--policy FILE`, else `AIRLOCK_POLICY`, else the site file
//! [`SITE_POLICY`] when it exists. Secure by default: `unpack` with none of
//! them refuses ([`Error::NoPolicy`]) unless `--insecure-no-policy`.

use crate::error::read_input_file;
use std::path::PathBuf;
use std::sync::Arc;

use super::policy_source::{load_policy_file, policy_file, site_policy_path};
pub use super::policy_source::{FileOrigin, PolicySource, SITE_POLICY};

use super::args::PolicyArgs;
use crate::error::Error;
use crate::gate::content_trust::ContentTrustPolicy;
use crate::gate::{GateConfig, GatePolicy, GateRule, GateRules, RollbackOptions};
use crate::trust::attestation::{SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1};
use crate::trust::{
    HostRoot, HostTrust, IdentityPolicy, Matcher, ProvenancePolicy, PublicKey, SignaturePolicy,
    Signer, TrustRoot,
};

/// Which command the policy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum For {
    /// `verify`: trust + rollback.
    Verify,
    /// `pack`: trust only (rollback belongs to the receiving host).
    Pack,
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// cosign's `--type` short names → in-toto predicate types; anything else
/// must be an absolute URI.
pub fn predicate_type(name: &str) -> Result<String, Error> {
    Ok(match name {
        "slsaprovenance" | "slsaprovenance02" => SLSA_PROVENANCE_V02.into(),
        "slsaprovenance1" => SLSA_PROVENANCE_V1.into(),
        "spdx" | "spdxjson" => "https://spdx.dev/Document".into(),
        "cyclonedx" => "https://cyclonedx.org/bom".into(),
        "vuln" => "https://cosign.sigstore.dev/attestation/vuln/v1".into(),
        "link" => "https://in-toto.io/Link/v1".into(),
        uri if uri.contains("://") && !uri.chars().any(char::is_whitespace) => uri.into(),
        other => {
            return Err(usage(format!(
                "--attestation-type {other:?}: expected slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, vuln, link or a predicate type URI"
            )))
        }
    })
}

/// Whether `verify` was given a policy or trust-root flag (not the
/// environment or the site file, which apply to every command).
pub fn verify_policy_flags_given(a: &PolicyArgs) -> bool {
    any_given(a, For::Verify)
}

/// Whether any policy flag was given. On pack, `--trusted-root` and
/// `--tuf-root` only choose the trust material the archive carries (see
/// `source::trust`), so they do not ask for a policy there.
fn any_given(a: &PolicyArgs, cmd: For) -> bool {
    let roots = cmd == For::Verify && (a.trusted_root.is_some() || a.tuf_root.is_some());
    roots || policy_given(a)
}

fn policy_given(a: &PolicyArgs) -> bool {
    signer_flags_given(a)
        || !a.notary_roots.is_empty()
        || !a.attestation_types.is_empty()
        || a.policy.is_some()
        || a.state_dir.is_some()
        || a.allow_downgrade
}

/// The flags `--policy FILE` replaces: with any of them the command line
/// is the policy, and `AIRLOCK_POLICY` and the site file are not read.
fn signer_flags_given(a: &PolicyArgs) -> bool {
    !a.keys.is_empty()
        || a.certificate_identity.is_some()
        || a.certificate_identity_regexp.is_some()
        || a.certificate_oidc_issuer.is_some()
        || a.certificate_oidc_issuer_regexp.is_some()
        || a.threshold.is_some()
        || a.insecure_ignore_tlog
        || a.require_inclusion_proof
        || a.ignore_reference
        || provenance_given(a)
}

fn provenance_given(a: &PolicyArgs) -> bool {
    a.source_repository.is_some()
        || a.source_ref.is_some()
        || a.source_commit.is_some()
        || a.builder_id.is_some()
        || a.workflow.is_some()
}

fn matcher(
    exact: &Option<String>,
    regexp: &Option<String>,
    flag: &str,
) -> Result<Option<Matcher>, Error> {
    let m = match (exact, regexp) {
        (None, None) => return Ok(None),
        (Some(e), None) => Matcher::exact(e.clone()),
        (None, Some(r)) => Matcher::regexp(r.clone()),
        (Some(_), Some(_)) => {
            return Err(usage(format!("give --{flag} or --{flag}-regexp, not both")))
        }
    };
    m.map(Some).map_err(|e| usage(format!("--{flag}: {e}")))
}

/// The one state directory (rollback marks, what unpack recorded), for
/// every command: `--state-dir`, else `AIRLOCK_STATE_DIR`, else
/// `$XDG_STATE_HOME/airlock`, else `~/.local/state/airlock`.
/// podman's global arguments: `AIRLOCK_PODMAN_ARGS` (whitespace-separated),
/// then the `--podman-arg` flags.
pub fn podman_args(flags: Vec<String>) -> Vec<String> {
    let mut args: Vec<String> = std::env::var("AIRLOCK_PODMAN_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    args.extend(flags);
    args
}

pub fn state_dir(flag: Option<&std::path::Path>) -> Option<PathBuf> {
    if let Some(d) = flag {
        return Some(d.to_path_buf());
    }
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = env("AIRLOCK_STATE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = env("XDG_STATE_HOME") {
        return Some(PathBuf::from(d).join("airlock"));
    }
    env("HOME").map(|h| PathBuf::from(h).join(".local/state/airlock"))
}

/// Validate the policy flags. `Ok(None)`: no policy flag at all (integrity
/// only, reported as such).
pub fn gate_config(a: &PolicyArgs, cmd: For) -> Result<Option<GateConfig>, Error> {
    resolve(a, cmd).map(|(cfg, _)| cfg)
}

/// `unpack`'s policy: as [`resolve`], but with no policy anywhere it
/// refuses ([`Error::NoPolicy`]) unless `insecure_no_policy`, which in turn
/// contradicts every policy (a flag, `--policy`, `AIRLOCK_POLICY`, the site
/// file) and every flag that only means something with one.
pub fn unpack_policy(
    a: &PolicyArgs,
    insecure_no_policy: bool,
) -> Result<(Option<GateConfig>, PolicySource), Error> {
    let file = policy_file(a.policy.as_deref(), signer_flags_given(a), For::Verify)?;
    if insecure_no_policy {
        if let Some((origin, path)) = file {
            return Err(usage(format!(
                "--insecure-no-policy contradicts the policy in {} {}",
                origin.label(),
                path.display()
            )));
        }
        // --state-dir still says where unpack records what it loaded.
        let rest = PolicyArgs {
            state_dir: None,
            ..a.clone()
        };
        if any_given(&rest, For::Verify) {
            return Err(usage(
                "--insecure-no-policy loads without any signature check; it cannot be combined with policy flags",
            ));
        }
        return Ok((None, PolicySource::None));
    }
    if file.is_none() && !signer_flags_given(a) && a.notary_roots.is_empty() {
        return Err(Error::NoPolicy(format!(
            "no trust policy: give --policy FILE, set AIRLOCK_POLICY=FILE, or install {} (or pass --insecure-no-policy to load without checking signatures)",
            site_policy_path().display()
        )));
    }
    resolve(a, For::Verify)
}

/// Validate the policy flags and find the policy file (see [`policy_file`]).
/// `Ok((None, PolicySource::None))`: no policy at all (integrity only).
pub fn resolve(a: &PolicyArgs, cmd: For) -> Result<(Option<GateConfig>, PolicySource), Error> {
    let file = match &a.set_policy {
        Some(sp) => {
            if a.policy.is_some() || signer_flags_given(a) {
                return Err(usage(
                    "the --set file's entries give their policies; --policy and the signer flags cannot be added to them",
                ));
            }
            Some((FileOrigin::SetFile, sp.file.clone()))
        }
        None => policy_file(a.policy.as_deref(), signer_flags_given(a), cmd)?,
    };
    if !any_given(a, cmd) && file.is_none() {
        return Ok((None, PolicySource::None));
    }
    let source = match &file {
        Some((origin, path)) => PolicySource::File(*origin, path.clone()),
        None => PolicySource::Flags,
    };
    let mut warnings = Vec::new();

    let rollback = match cmd {
        For::Pack => {
            if a.state_dir.is_some() || a.allow_downgrade {
                return Err(usage(
                    "--state-dir and --allow-downgrade apply to `airlock verify` (rollback is checked on the receiving host), not to pack",
                ));
            }
            None
        }
        For::Verify => {
            let state_dir = state_dir(a.state_dir.as_deref()).ok_or_else(|| {
                usage("no --state-dir given and none of AIRLOCK_STATE_DIR, XDG_STATE_HOME, HOME is set")
            })?;
            if a.allow_downgrade {
                warnings.push(
                    "--allow-downgrade: evidence older than what this host accepted before is accepted (each one is logged)".into(),
                );
            }
            Some(RollbackOptions {
                state_dir,
                allow_downgrade: a.allow_downgrade,
            })
        }
    };

    let mut policy = if let Some((origin, file)) = &file {
        if signer_flags_given(a) {
            return Err(usage(
                "--policy FILE replaces --key, --certificate-*, --threshold, --insecure-ignore-tlog, --require-inclusion-proof, --ignore-reference and the provenance flags; give one or the other",
            ));
        }
        let generated = a.set_policy.as_ref().map(|sp| sp.json.as_slice());
        let file = load_policy_file(*origin, file, generated)?;
        let rules = file
            .rules
            .into_iter()
            .map(|r| GateRule {
                name: r.name,
                images: r.images,
                policy: GatePolicy {
                    content_trust: (!r.policy.notary_roots().is_empty()).then(|| {
                        ContentTrustPolicy {
                            roots: r.policy.notary_roots().to_vec(),
                            only: r.policy.signatures().is_none(),
                        }
                    }),
                    signatures: r.policy.signatures().cloned(),
                    ignore_reference: r.policy.ignores_reference(),
                    attestation_types: Vec::new(),
                    provenance: r.policy.provenance().cloned(),
                },
            })
            .collect();
        GateRules {
            rules,
            scoped: file.version >= 2,
        }
    } else {
        let mut signers = Vec::new();
        for path in &a.keys {
            let pem = read_input_file(path, crate::trust::limits::MAX_PEM as u64, "key")?;
            let key = PublicKey::from_pem(&pem)
                .map_err(|e| usage(format!("--key {}: {e}", path.display())))?;
            signers.push(Signer::Key(key));
        }
        let identity = matcher(
            &a.certificate_identity,
            &a.certificate_identity_regexp,
            "certificate-identity",
        )?;
        let issuer = matcher(
            &a.certificate_oidc_issuer,
            &a.certificate_oidc_issuer_regexp,
            "certificate-oidc-issuer",
        )?;
        match (identity, issuer) {
            (Some(i), Some(o)) => signers.push(Signer::Identity(IdentityPolicy::from_matchers(i, o))),
            (None, None) => {}
            _ => {
                return Err(usage(
                    "a keyless signer needs both --certificate-identity(-regexp) and --certificate-oidc-issuer(-regexp)",
                ))
            }
        }
        if signers.is_empty() && !a.notary_roots.is_empty() && a.threshold.is_none() {
            // Content trust alone: the Notary roots are the policy.
            GateRules::single(GatePolicy {
                signatures: None,
                ignore_reference: a.ignore_reference,
                attestation_types: Vec::new(),
                provenance: None,
                content_trust: None,
            })
        } else {
            if signers.is_empty() {
                return Err(usage(
                "a trust policy needs --key PEM, --certificate-identity(-regexp) with --certificate-oidc-issuer(-regexp), or --policy FILE",
            ));
            }
            let invalid = |e: crate::trust::TrustError| usage(e.to_string());
            let mut sp = SignaturePolicy::any_of(signers)
                .map_err(invalid)?
                .with_threshold(a.threshold.unwrap_or(1))
                .map_err(invalid)?;
            if a.insecure_ignore_tlog {
                sp = sp.insecure_ignore_tlog().map_err(invalid)?;
            }
            if a.require_inclusion_proof {
                sp = sp.require_inclusion_proof().map_err(invalid)?;
            }
            let provenance = provenance_given(a).then(|| ProvenancePolicy {
                source_repository: a.source_repository.clone(),
                source_ref: a.source_ref.clone(),
                source_commit: a.source_commit.clone(),
                builder_id: a.builder_id.clone(),
                workflow: a.workflow.clone(),
            });
            GateRules::single(GatePolicy {
                signatures: Some(sp),
                ignore_reference: a.ignore_reference,
                attestation_types: Vec::new(),
                provenance,
                content_trust: None,
            })
        }
    };
    let notary_roots = notary_roots(&a.notary_roots)?;
    let mut attestation_types = Vec::new();
    for t in &a.attestation_types {
        let uri = predicate_type(t)?;
        if !attestation_types.contains(&uri) {
            attestation_types.push(uri);
        }
    }
    for rule in &mut policy.rules {
        rule.policy
            .attestation_types
            .extend(attestation_types.iter().cloned());
        if !notary_roots.is_empty() {
            // --notary-root adds to the roots a rule already pins.
            let mut roots = rule
                .policy
                .content_trust
                .take()
                .map(|c| c.roots)
                .unwrap_or_default();
            roots.extend(notary_roots.iter().cloned());
            rule.policy.content_trust = Some(ContentTrustPolicy {
                roots,
                only: rule.policy.signatures.is_none(),
            });
        }
        policy_warnings(rule, policy.scoped, &mut warnings);
    }

    let trust = host_trust(a, cmd)?;
    let cfg = GateConfig {
        policy,
        trust,
        rollback,
        warnings,
    };
    Ok((Some(cfg), source))
}

/// Most Notary roots one command reads (files plus directory entries).
const MAX_NOTARY_ROOTS: usize = 1024;

/// `--notary-root FILE|DIR`: the files, and every `root.json` under each
/// directory (docker's `~/.docker/trust/tuf/<GUN>/metadata/root.json`).
fn notary_roots(paths: &[PathBuf]) -> Result<Vec<Arc<[u8]>>, Error> {
    let limit = crate::trust::notary::MAX_NOTARY_METADATA as u64;
    let mut files = Vec::new();
    let mut dirs: Vec<(PathBuf, usize)> = Vec::new();
    for p in paths {
        if p.is_dir() {
            dirs.push((p.clone(), 0));
        } else {
            files.push(p.clone());
        }
    }
    let mut seen = 0usize;
    while let Some((dir, depth)) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| Error::io_path("read --notary-root directory", &dir, e))?;
        for entry in entries {
            let path = entry
                .map_err(|e| Error::io_path("read --notary-root directory", &dir, e))?
                .path();
            seen += 1;
            if seen > MAX_NOTARY_ROOTS {
                return Err(usage(format!(
                    "--notary-root: more than {MAX_NOTARY_ROOTS} entries to search"
                )));
            }
            if path.is_dir() && depth < 8 {
                dirs.push((path, depth + 1));
            } else if path.file_name().is_some_and(|n| n == "root.json") {
                files.push(path);
            }
        }
    }
    if !paths.is_empty() && files.is_empty() {
        return Err(usage("--notary-root: no root.json found"));
    }
    files.sort();
    files
        .iter()
        .map(|f| read_input_file(f, limit, "--notary-root").map(Arc::from))
        .collect()
}

/// The loud notes about what a rule weakens; named by rule when scoped.
fn policy_warnings(rule: &GateRule, scoped: bool, warnings: &mut Vec<String>) {
    let prefix = if scoped {
        format!("rule {:?}: ", rule.name)
    } else {
        String::new()
    };
    let policy = &rule.policy;
    if policy
        .signatures
        .as_ref()
        .is_some_and(SignaturePolicy::ignores_tlog)
    {
        warnings.push(format!(
            "{prefix}INSECURE: --insecure-ignore-tlog: key-based signatures without a transparency-log entry are accepted, and rollback cannot be checked for them"
        ));
        if !policy.attestation_types.is_empty() || policy.provenance.is_some() {
            warnings.push(format!(
                "{prefix}attestations still need a transparency-log entry (--insecure-ignore-tlog does not apply to them)"
            ));
        }
    }
    if policy.ignore_reference {
        warnings.push(format!(
            "{prefix}--ignore-reference: the signed docker-reference is not compared with the image name"
        ));
    }
}

/// The host's trusted root (`--trusted-root` or the embedded one) and TUF
/// anchor (`--tuf-root` or the embedded Sigstore one), both checked now.
pub fn host_trust(a: &PolicyArgs, cmd: For) -> Result<HostTrust, Error> {
    if cmd == For::Verify && a.trusted_root.is_some() && a.tuf_root.is_some() {
        return Err(usage(
            "--trusted-root replaces the trust root outright, so --tuf-root (which only admits a root an archive carries) would have no effect; give one of them",
        ));
    }
    let (root_json, source) = match &a.trusted_root {
        Some(path) => (
            read_input_file(
                path,
                crate::trust::limits::MAX_TRUSTED_ROOT as u64,
                "trusted root",
            )?,
            HostRoot::File(path.display().to_string()),
        ),
        None => (TrustRoot::production_json().to_vec(), HostRoot::Embedded),
    };
    let (anchor, label) = match &a.tuf_root {
        Some(path) => (
            read_input_file(path, crate::trust::tuf::MAX_TUF_METADATA as u64, "TUF root")?,
            format!("--tuf-root {}", path.display()),
        ),
        None => (
            crate::trust::tuf::SIGSTORE_TUF_ROOT.to_vec(),
            "the Sigstore public-good TUF root".to_string(),
        ),
    };
    HostTrust::new(&root_json, source, anchor, label).map_err(|e| {
        let flag = match e {
            crate::trust::TrustError::TufChain(_) => "--tuf-root",
            _ => "--trusted-root",
        };
        usage(format!("{flag}: {e}"))
    })
}
