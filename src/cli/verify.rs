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
    let volumes = input.volumes().map(|set| {
        (
            super::volumes::set_json(&set.index_path, &set.index),
            super::volumes::set_text(&set.index_path, &set.index),
        )
    });
    let Some(cfg) = gate_cfg else {
        let (mut doc, mut text) = (report::verify_json(&out), report::verify_text(&out));
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
    let text = format!(
        "{}  {}\n{text_volumes}",
        report::verify_gate_text(&out, &g),
        source.text()
    );
    emit(json, doc, text)?;
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
