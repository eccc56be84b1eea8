//! `airlock pack`: flags → [`pipeline::pack::run`] → report.

use super::args::PackArgs;
use super::{config, emit, progress, report, warnings};
use crate::error::Error;
use crate::pipeline::pack::{PackOutcome, PackSteps};
use crate::pipeline::{self, PackRequest};
use crate::source::PlatformFilter;

pub fn run(mut a: PackArgs, json: bool, quiet: bool, reported: &mut bool) -> Result<(), Error> {
    let set = match &a.set {
        Some(path) => {
            let set = super::set_file::load(path)?;
            if let Some(json) = &set.policy {
                a.policy.set_policy = Some(super::args::SetPolicy {
                    file: path.clone(),
                    json: json.clone(),
                });
            }
            set
        }
        None => Default::default(),
    };
    // The policy is validated before any source is read.
    let gate_cfg = config::gate_config(&a.policy, config::For::Pack)?;
    let (images, registry) = a.registry.resolve(quiet)?;
    let all = a.registry.all_platforms;
    let platforms = match &a.platform {
        Some(p) => {
            let p = crate::pipeline::select::parse_platform(p)?;
            PlatformFilter {
                architectures: vec![p.architecture],
                os: Some(p.os),
                variant: p.variant,
            }
        }
        None => PlatformFilter {
            architectures: a.arch,
            os: (!all).then_some(a.os),
            variant: a.variant,
        },
    };
    let mut files = crate::source::files::group(a.files, a.file_as)?;
    files.extend(set.files);
    let req = PackRequest {
        files,
        image_groups: set.groups,
        layouts: a.from_oci_layout,
        oci_archives: a.from_oci_archive,
        docker_archives: a.from_docker_archive,
        refs: a.refs,
        images,
        registry,
        platforms,
        output: a.out,
        zstd: a.zstd,
        force: a.force,
        split: a.volume_size.map(|volume_size| pipeline::split::Split {
            volume_size,
            parity: a.parity.map_or(0, usize::from),
        }),
        trust: crate::source::trust::PackTrust {
            trusted_root: a.policy.trusted_root.clone(),
            tuf_metadata: a.tuf_metadata,
            tuf_root: a.policy.tuf_root.clone(),
        },
        bases: a.base,
    };
    let cache_dir = a
        .registry
        .cache_dir
        .clone()
        .unwrap_or_else(crate::source::registry::cache::default_dir);
    let notary_server = a
        .notary_server
        .clone()
        .or_else(|| std::env::var("DOCKER_CONTENT_TRUST_SERVER").ok())
        .filter(|s| !s.is_empty());
    if a.notary_ca.is_some() && notary_server.is_none() {
        return Err(Error::Usage(
            "--notary-ca needs --notary-server URL (or DOCKER_CONTENT_TRUST_SERVER)".into(),
        ));
    }
    let notary_ca = match &a.notary_ca {
        Some(p) => Some(crate::error::read_input_file(
            p,
            crate::trust::limits::MAX_PEM as u64,
            "--notary-ca",
        )?),
        None => None,
    };
    let steps = PackSteps {
        notary: notary_server
            .as_deref()
            .map(|url| pipeline::pack::NotaryStep {
                url,
                ca_pem: notary_ca.as_deref(),
            }),
        no_rekor: a.no_rekor,
        rekor_url: &a.rekor_url,
        cache_dir: &cache_dir,
        refresh_proofs: a.refresh_proofs,
        gate: gate_cfg.as_ref(),
        no_verify: a.no_verify,
    };
    let timings = a.timings;
    // With `-o -` stdout carries the archive, so the report goes to stderr.
    let to_stderr = pipeline::is_stdout(&req.output);
    let emit = |json: bool, v: serde_json::Value, text: String| {
        if to_stderr {
            super::emit_to(&mut std::io::stderr().lock(), json, v, text)
        } else {
            emit(json, v, text)
        }
    };
    super::interrupt::remove_outputs_and_exit("pack");
    let bar = progress::bytes(None, "pack", quiet);
    let outcome = pipeline::pack::run(&req, &steps, &bar);
    bar.finish_and_clear();
    match outcome? {
        PackOutcome::Refused(r) => {
            warnings::print("pack", &r.warnings);
            *reported = json;
            emit(
                json,
                report::pack_refused_json(&r.gate, &r.error),
                report::pack_refused_text(&r.gate),
            )?;
            Err(r.error)
        }
        PackOutcome::Written(p) => {
            for n in &p.notes {
                eprintln!("airlock pack: {n}");
            }
            warnings::print("pack", &p.warnings);
            let mut v = report::pack_json(&p.result);
            warnings::add_to_json(&mut v, &p.warnings);
            let mut text = report::pack_text(&p.result);
            if timings {
                report::add_timings(&mut v, &mut text);
            }
            if let Some(set) = &p.result.volumes {
                v["volumes"] = super::volumes::set_json(&set.index_path, &set.index);
                text.push_str(&super::volumes::set_text(&set.index_path, &set.index));
                for name in &set.removed {
                    eprintln!(
                        "airlock pack: removed {name}, a volume of the set this one replaced"
                    );
                }
            }
            if !p.content_trust.is_empty() {
                v["contentTrust"] = serde_json::json!(p.content_trust);
            }
            if let Some(g) = &p.gate {
                v["trust"] = report::gate_json(g);
                text.push_str(&report::gate_text(g));
            }
            emit(json, v, text)
        }
    }
}
