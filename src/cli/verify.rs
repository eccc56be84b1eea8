//! `airlock verify`: integrity in one pass, then the policy when given.

use super::args::VerifyArgs;
use super::{config, emit, progress, report, warnings};
use crate::error::Error;
use crate::pipeline;

pub fn run(a: VerifyArgs, json: bool, quiet: bool, reported: &mut bool) -> Result<(), Error> {
    // The policy is validated before the archive is read.
    let policy = a.policy.with_rollback(&a.rollback);
    let (gate_cfg, source) = config::resolve(&policy, config::For::Verify)?;
    if a.record && gate_cfg.is_none() {
        return Err(Error::Usage(
            "--record writes the rollback marks of a trust policy; give a policy (--key, --policy FILE, AIRLOCK_POLICY or the site policy)".into(),
        ));
    }
    let bar = progress::bytes(pipeline::input_len(&a.archive), "verify", quiet);
    let out = pipeline::verify(&a.archive, &bar)?;
    bar.finish_and_clear();
    let Some(cfg) = gate_cfg else {
        return emit(json, report::verify_json(&out), report::verify_text(&out));
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
    // Which policy, last: the lines above keep their places for readers.
    let text = format!(
        "{}  {}\n",
        report::verify_gate_text(&out, &g),
        source.text()
    );
    emit(json, doc, text)?;
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
