//! `airlock verify`: integrity in one pass, then the policy when given.

use super::args::VerifyArgs;
use super::{config, emit, progress, report, warnings};
use crate::error::Error;
use crate::pipeline;

pub fn run(a: VerifyArgs, json: bool, quiet: bool, reported: &mut bool) -> Result<(), Error> {
    // One volume holds a slice of the byte stream, not the documents a
    // policy reads: a flag that asks for signatures must not be ignored.
    if a.volume.is_some() && (a.record || config::verify_policy_flags_given(&a.policy)) {
        return Err(Error::Usage(
            "--volume checks one volume's bytes against its index; signatures and policy need the whole set (verify NAME.volumes.json once every volume is here)".into(),
        ));
    }
    // The policy is validated before the archive is read.
    let policy = a.policy.with_rollback(&a.rollback);
    let (gate_cfg, source) = config::resolve(&policy, config::For::Verify)?;
    if a.record && gate_cfg.is_none() {
        return Err(Error::Usage(
            "--record writes the rollback marks of a trust policy; give a policy (--key, --policy FILE, AIRLOCK_POLICY or the site policy)".into(),
        ));
    }
    let archive = match (&a.volume, &a.archive) {
        (Some(v), _) => return super::volumes::verify_one(v, json),
        (None, Some(p)) => p,
        (None, None) => return Err(Error::Usage("give an archive, or --volume FILE".into())),
    };
    let input = pipeline::input::ArchiveInput::open(archive)?;
    warnings::print_texts("verify", input.warnings());
    let bar = progress::bytes(input.size(), "verify", quiet);
    let out = input.read(&crate::archive::ReadOptions::default(), &bar)?;
    bar.finish_and_clear();
    let delta = delta_check(&out.manifest, &a.base)?;
    let volumes = input.volumes().map(|set| {
        (
            super::volumes::set_json(&set.index_path, &set.index),
            super::volumes::set_text(&set.index_path, &set.index),
        )
    });
    let Some(cfg) = gate_cfg else {
        let (mut doc, mut text) = (report::verify_json(&out), report::verify_text(&out));
        add_delta(&mut doc, &mut text, &out.manifest, delta);
        if let Some((j, t)) = volumes {
            doc["volumes"] = j;
            doc["warnings"] = serde_json::json!(input.warnings());
            text.push_str(&t);
        }
        return emit(json, doc, text);
    };
    let mut g = crate::gate::run(
        &out.manifest.images,
        &out.metadata,
        &out.manifest.evidence,
        &cfg,
    )?;
    warnings::print_texts("verify", &g.warnings);
    let err = g.take_error();
    // A check changes no state unless asked (--record): verifying an old
    // archive at a transfer station must not make this host refuse it later.
    // The marks are still read, so a rollback is refused either way.
    if err.is_none() && a.record {
        // Rollback marks only after every check of every image passed.
        crate::gate::state::commit(&g.pending)?;
    }
    *reported = json;
    let mut doc = report::verify_gate_json(&out, &g, err.as_ref());
    doc["policy"] = source.json();
    let mut text_volumes = String::new();
    if let Some((j, t)) = volumes {
        doc["volumes"] = j;
        text_volumes = t;
        if let Some(w) = doc["warnings"].as_array_mut() {
            w.extend(input.warnings().iter().map(|s| serde_json::json!(s)));
        }
    }
    // Which policy, last: the lines above keep their places for readers.
    let mut text = format!(
        "{}  {}\n{text_volumes}",
        report::verify_gate_text(&out, &g),
        source.text()
    );
    add_delta(&mut doc, &mut text, &out.manifest, delta);
    emit(json, doc, text)?;
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `--base`: check a delta's external blobs against its base(s).
fn delta_check(
    m: &crate::model::ArchiveManifest,
    bases: &[std::path::PathBuf],
) -> Result<Option<pipeline::merge::BasesChecked>, Error> {
    match (m.is_delta(), bases.is_empty()) {
        (_, true) => Ok(None),
        (false, false) => Err(Error::Usage(
            "--base is for a delta archive; this archive is full".into(),
        )),
        (true, false) => pipeline::merge::check_bases(m, bases).map(Some),
    }
}

/// A delta's report lines: what is external, and whether a base vouched
/// for it. External blobs are never reported as checked without --base.
fn add_delta(
    doc: &mut serde_json::Value,
    text: &mut String,
    m: &crate::model::ArchiveManifest,
    checked: Option<pipeline::merge::BasesChecked>,
) {
    if !m.is_delta() {
        return;
    }
    let mut d = report::delta_json(m);
    d["externalChecked"] = serde_json::json!(checked.is_some());
    doc["archive"]["delta"] = d;
    text.push_str(&report::delta_text(m));
    text.push_str(&match checked {
        Some(c) => format!(
            "  external blobs: {} ({}) found in the base(s) and re-hashed\n",
            c.blobs,
            report::human(c.bytes)
        ),
        None => format!(
            "  external blobs: {} NOT checked (not in this archive; give --base to check them)\n",
            m.external.len()
        ),
    });
}
