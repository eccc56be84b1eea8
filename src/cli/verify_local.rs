//! `airlock verify-local IMAGE --in TARGET`: the installed image against the
//! evidence that admitted it, under the policy this host has now.

use serde_json::json;

use super::args::VerifyLocalArgs;
use super::{config, emit, report, warnings};
use crate::error::Error;
use crate::pipeline::verify_local::{self, VerifyLocalRequest};
use crate::sink::installed::Installed;
use crate::sink::{SinkOptions, Target};

pub fn run(a: VerifyLocalArgs, json: bool, reported: &mut bool) -> Result<(), Error> {
    // The same policy sources as unpack; no policy is refused (exit 2).
    let policy = a.policy.with_rollback(&a.rollback);
    let (cfg, source) = config::unpack_policy(&policy, false)?;
    let cfg = cfg.ok_or_else(|| Error::Usage("verify-local needs a trust policy".into()))?;
    let target: Target = a.target.parse()?;
    let podman_args = config::podman_args(a.podman_args);
    let req = VerifyLocalRequest {
        name: a.image,
        target,
        state_dir: config::state_dir(a.rollback.state_dir.as_deref()),
        sink: SinkOptions {
            podman_args,
            docker_host: a.docker_host,
            registry: a.access.resolve()?,
            ..SinkOptions::default()
        },
    };
    let mut v = verify_local::verify_local(&req, cfg)?;
    warnings::print_texts("verify-local", &v.gate.warnings);
    let err = v.gate.take_error();
    let (target, digest) = match &v.installed {
        Installed::Config { target, digest } | Installed::Manifest { target, digest } => {
            (target, digest)
        }
    };
    let mut doc = report::verify_gate_json(&v.admission.outcome, &v.gate, err.as_ref());
    doc["command"] = json!("verify-local");
    doc["installed"] = json!({
        "name": req.name,
        "target": target,
        "imageDigest": digest.to_string(),
        "admittedAt": v.admission.recorded_at,
    });
    doc["policy"] = source.json();
    *reported = json;
    let verdict = if err.is_none() { "OK" } else { "REFUSED" };
    let text = format!(
        "{verdict} {} in {target}: {digest} is the image airlock unpack admitted at {}\n{}  {}\n",
        req.name,
        v.admission.recorded_at,
        report::gate_text(&v.gate),
        source.text()
    );
    emit(json, doc, text)?;
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
