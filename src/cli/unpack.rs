//! `airlock unpack`: raw flags → request, SIGINT handler, report.

use serde_json::{json, Value};

use super::args::UnpackArgs;
use super::report::{human, REPORT_MEDIA_TYPE};
use super::{emit, progress};
use crate::archive::ReadOutcome;
use crate::gate::admit::PolicyGate;
use crate::gate::{Gate, IntegrityOnly, Plan};
use crate::pipeline::select::Selection;
use crate::pipeline::unpack::{self, UnpackReport, UnpackRequest};
use crate::sink::{SinkOptions, Target};
use crate::Error;

/// `--tag` must be a name the target accepts: a usage error (exit 2) before
/// the archive is read or the target touched, not a failed load later.
fn check_tag_arg(target: &Target, tag: Option<&str>) -> Result<(), Error> {
    crate::sink::refname::check_tag(target, tag)
}

/// `--insecure-no-policy`: integrity only, and the report says INSECURE.
pub(super) struct InsecureNoPolicy;

pub(super) const INSECURE_NO_POLICY: &str =
    "INSECURE: --insecure-no-policy: no signature policy, so no signature was checked (integrity only)";

impl Gate for InsecureNoPolicy {
    fn admit(&self, outcome: &ReadOutcome, plan: &Plan) -> Result<(), Error> {
        IntegrityOnly.admit(outcome, plan)
    }

    fn describe(&self) -> String {
        INSECURE_NO_POLICY.into()
    }
}

pub fn run(a: UnpackArgs, json_out: bool, quiet: bool) -> Result<(), Error> {
    // The policy is validated (and its absence refused) before the archive is read.
    let policy = a.policy.with_rollback(&a.rollback);
    let (gate_cfg, source) = super::config::unpack_policy(&policy, a.insecure_no_policy)?;
    let target: Target = a.into.parse()?;
    check_tag_arg(&target, a.tag.as_deref())?;
    if a.access.any() && !matches!(target, Target::Registry(_)) {
        return Err(Error::Usage(
            "--username, --password-stdin, --ca-file and --insecure-registry are for --into registry:".into(),
        ));
    }
    if a.access.password_stdin && a.archive.as_os_str() == "-" {
        return Err(Error::Usage(
            "--password-stdin and an archive on stdin (-) cannot share stdin".into(),
        ));
    }
    let registry = a.access.resolve()?;
    let a_timings = a.timings;
    let podman_args = super::config::podman_args(a.podman_args);
    let req = UnpackRequest {
        archive: a.archive,
        target,
        selection: Selection {
            images: a.images,
            platform: a.platform,
            tag: a.tag,
            whole_index: false,
        },
        dry_run: a.dry_run,
        sink: SinkOptions {
            podman_args,
            docker_host: a.docker_host,
            state_dir: super::config::state_dir(a.rollback.state_dir.as_deref()),
            stop: super::interrupt::flag(),
            registry,
        },
        bases: a.base,
    };
    let bars = |total: Option<u64>, label: &'static str| progress::bytes(total, label, quiet);
    let mut gate_warnings = Vec::new();
    let mut verdicts = None;
    let report = match gate_cfg {
        Some(cfg) => {
            // A refusal is one line naming the image and the failed check.
            let gate = PolicyGate::new(cfg);
            let r = unpack::unpack(&req, &gate, &bars);
            gate_warnings = gate.take_warnings();
            verdicts = gate.take_report();
            super::warnings::print_texts("unpack", &gate_warnings);
            r?
        }
        None => {
            let r = unpack::unpack(&req, &InsecureNoPolicy, &bars)?;
            if !r.dry_run {
                eprintln!("airlock unpack: warning: {INSECURE_NO_POLICY}");
            }
            r
        }
    };
    // Never silent: each artifact a runtime cannot hold is named on stderr
    // and in the report.
    let skipped: Vec<String> = report
        .skipped
        .iter()
        .map(|i| skipped_warning(i, &report.target))
        .collect();
    super::warnings::print_texts("unpack", &skipped);
    gate_warnings.extend(skipped);
    let mut doc = unpack_json(&report);
    doc["warnings"] = json!(gate_warnings);
    if let Some(g) = &verdicts {
        add_verdicts(&mut doc, g, &report);
    }
    doc["policy"] = source.json();
    if source == super::config::PolicySource::None {
        doc["insecure"] = json!([INSECURE_NO_POLICY]);
        let mut all = vec![INSECURE_NO_POLICY.to_string()];
        all.extend(gate_warnings);
        doc["warnings"] = json!(all);
    }
    // Which policy, last: the lines above keep their places for readers.
    let mut text = format!("{}{}\n", unpack_text(&report), source.text());
    if a_timings {
        super::report::add_timings(&mut doc, &mut text);
    }
    emit(json_out, doc, text)
}

/// The warning for an entry the target does not hold.
fn skipped_warning(i: &crate::gate::SelectedImage, target: &str) -> String {
    format!(
        "{} ({}): skipped: not {}",
        i.record.reference,
        i.record.kind.name(),
        crate::pipeline::select::target_holds(target)
    )
}

pub fn unpack_json(r: &UnpackReport) -> Value {
    let planned: Vec<Value> = r
        .plan
        .images
        .iter()
        .zip(&r.names)
        .map(|(i, name)| {
            // The shared image shape; `reference` is the name in the target.
            let mut v = super::report::image_json(&i.record);
            v["packedReference"] = json!(i.record.reference);
            v["reference"] = json!(name);
            v["checks"] = json!([]);
            v
        })
        .collect();
    json!({
        "mediaType": REPORT_MEDIA_TYPE,
        "command": "unpack",
        "ok": true,
        "dryRun": r.dry_run,
        "archive": {
            "manifestDigest": r.archive_manifest_digest,
            "blobs": r.plan.blobs.len(),
            "blobBytes": r.blob_bytes,
        },
        "gate": r.gate,
        "target": r.target,
        "blobs": r.plan.blobs.len(),
        "blobBytes": r.blob_bytes,
        "images": planned,
        "loaded": r.loaded.as_ref().map(|l| json!(l.images)).unwrap_or_else(|| json!([])),
        "notes": r.loaded.as_ref().map(|l| json!(l.notes)).unwrap_or_else(|| json!([])),
        "skipped": r.skipped.iter().map(|i| json!({
            "reference": i.record.reference,
            "kind": i.record.kind.name(),
            "artifactType": i.record.artifact_type,
            "manifestDigest": i.record.manifest_digest,
        })).collect::<Vec<_>>(),
        "warnings": [],
    })
}

/// The policy's verdicts: `trust` as verify reports it, and each image's
/// `checks` beside it.
fn add_verdicts(doc: &mut Value, g: &crate::gate::GateReport, r: &UnpackReport) {
    doc["trust"] = super::report::gate_json(g);
    if let Some(images) = doc["images"].as_array_mut() {
        for (img, planned) in images.iter_mut().zip(&r.plan.images) {
            let verdict = g.images.iter().find(|v| {
                v.manifest_digest == planned.record.manifest_digest
                    && v.platform == planned.record.platform_label()
            });
            if let Some(v) = verdict {
                img["checks"] = json!(v.checks);
            }
        }
    }
}

pub fn unpack_text(r: &UnpackReport) -> String {
    let mut s = format!(
        "verified archive {} ({})\n",
        r.archive_manifest_digest, r.gate
    );
    if r.dry_run {
        s += &format!(
            "dry run: would load into {} ({} blobs, {}):\n",
            r.target,
            r.plan.blobs.len(),
            human(r.blob_bytes)
        );
        for (i, name) in r.plan.images.iter().zip(&r.names) {
            s += &format!(
                "  {} {} manifest {} config {}\n",
                name,
                i.record.platform_label(),
                i.record.manifest_digest,
                i.record.config_digest
            );
        }
        return s;
    }
    if let Some(l) = &r.loaded {
        s += &format!("loaded into {}:\n", l.target);
        for i in &l.images {
            s += &format!(
                "  {} {} manifest {}",
                i.reference, i.platform, i.manifest_digest
            );
            if let Some(id) = &i.image_id {
                s += &format!(" image id {id}");
            }
            s.push('\n');
            if let Some(f) = &i.record_file {
                s += &format!("    verified manifest digest recorded in {}\n", f.display());
            }
            if let Some(d) = i
                .target_digest
                .as_ref()
                .filter(|d| **d != i.manifest_digest.to_string())
            {
                s += &format!("    the name resolves to {d} (its image index)\n");
            }
            if i.evidence > 0 {
                s += &format!("    {} evidence manifest(s) alongside\n", i.evidence);
            }
        }
        for n in &l.notes {
            s += &format!("note: {n}\n");
        }
    }
    for i in &r.skipped {
        s += &format!(
            "skipped {} ({}): {} holds other kinds\n",
            i.record.reference,
            i.record.kind.name(),
            r.target
        );
    }
    s
}
