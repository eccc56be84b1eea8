//! `airlock verify`: integrity in one pass, then the policy when given.

use super::args::VerifyArgs;
use super::{config, emit, progress, report, warnings};
use crate::error::Error;
use crate::pipeline;

pub fn run(a: VerifyArgs, json: bool, quiet: bool, reported: &mut bool) -> Result<(), Error> {
    // The policy is validated before the archive is read.
    let gate_cfg = config::gate_config(&a.policy, config::For::Verify)?;
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
    if err.is_none() {
        // Rollback marks only after every check of every image passed.
        crate::gate::state::commit(&g.pending)?;
    }
    *reported = json;
    emit(
        json,
        report::verify_gate_json(&out, &g, err.as_ref()),
        report::verify_gate_text(&out, &g),
    )?;
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
