//! `airlock diff A B`: the report of `pipeline::diff`, and its exit codes.

use serde_json::{json, Value};

use super::args::DiffArgs;
use crate::error::Error;
use crate::pipeline::diff::{self, DiffOptions, DiffReport, Side, Verdict};
use crate::source::registry::RegistryOptions;

/// Exit code of a diff that could not compare (any other command: the
/// error's own). Input and source errors, 1 elsewhere, are 8 here, because
/// 1 means "the images differ", as for diff(1).
pub const DIFF_INPUT_ERROR: u8 = 8;

pub fn exit_code(command: &str, e: &Error) -> u8 {
    match e.exit_code() {
        1 if command == "diff" => DIFF_INPUT_ERROR,
        c => c,
    }
}

pub fn run(a: DiffArgs, json: bool) -> Result<u8, Error> {
    let opts = DiffOptions {
        strict: a.strict,
        platform: a.platform.clone(),
        registry: RegistryOptions {
            access: a.access.resolve()?,
            ..RegistryOptions::default()
        },
    };
    let (sa, sb) = (Side::parse(&a.a)?, Side::parse(&a.b)?);
    let r = diff::diff(&sa, &sb, &opts)?;
    super::emit(json, report_json(&r, a.strict), report_text(&r))?;
    Ok(match r.verdict {
        Verdict::Identical | Verdict::EquivalentExceptTimestamps => 0,
        Verdict::Different => 1,
    })
}

fn side_json(v: &diff::ImageView) -> Value {
    json!({
        "reference": v.reference,
        "manifestDigest": v.manifest_digest.to_string(),
        "configDigest": v.config_digest.to_string(),
    })
}

fn report_json(r: &DiffReport, strict: bool) -> Value {
    json!({
        "mediaType": super::report::REPORT_MEDIA_TYPE,
        "command": "diff",
        "ok": true,
        "result": r.verdict,
        "strict": strict,
        "a": side_json(&r.a),
        "b": side_json(&r.b),
        "filesCompared": r.files_compared,
        "timestampsIgnored": r.timestamps_ignored,
        "totalDifferences": r.total_differences,
        "differences": r.differences,
        "warnings": [],
    })
}

fn report_text(r: &DiffReport) -> String {
    let mut t = format!(
        "A {} {}\nB {} {}\n",
        r.a.reference, r.a.manifest_digest, r.b.reference, r.b.manifest_digest
    );
    match r.verdict {
        Verdict::Identical => t.push_str("identical: same manifest digest\n"),
        Verdict::EquivalentExceptTimestamps => t.push_str(&format!(
            "equivalent except timestamps: {} files compared, {} differ only in mtime\n",
            r.files_compared, r.timestamps_ignored
        )),
        Verdict::Different => {
            t.push_str(&format!(
                "different: {} difference(s)\n",
                r.total_differences
            ));
            for d in &r.differences {
                let a = d.a.as_deref().unwrap_or("-");
                let b = d.b.as_deref().unwrap_or("-");
                t.push_str(&format!("  {} {}: {a} → {b}\n", d.path, d.what));
            }
            if r.total_differences > r.differences.len() {
                t.push_str(&format!(
                    "  … {} more\n",
                    r.total_differences - r.differences.len()
                ));
            }
        }
    }
    t
}
