//! `airlock verify`: integrity in one pass, then the policy when given.

use super::args::VerifyArgs;
use super::{config, emit, progress, report};
use crate::error::Error;
use crate::pipeline;

pub fn run(a: VerifyArgs, json: bool, quiet: bool, reported: &mut bool) -> Result<(), Error> {
    // The policy is validated before the archive is read.
    let (gate_cfg, source) = config::resolve(&a.policy, config::For::Verify)?;
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
    super::warn("verify", &g.warnings);
    let err = g.take_error();
    if err.is_none() {
        // Rollback marks only after every check of every image passed.
        crate::gate::state::commit(&g.pending)?;
    }
    *reported = json;
    let mut doc = report::verify_gate_json(&out, &g, err.as_ref());
    doc["policy"] = source.json();
    // Which policy, right under the verdict line (beside "trust root: …").
    let text = report::verify_gate_text(&out, &g);
    let text = match text.split_once('\n') {
        Some((first, rest)) => format!("{first}\n  {}\n{rest}", source.text()),
        None => text,
    };
    emit(json, doc, text)?;
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
