//! `airlock merge BASE… DELTA -o FULL`: flags → [`pipeline::merge::run`] → report.

use serde_json::json;

use super::args::MergeArgs;
use super::{emit, progress, report};
use crate::error::Error;
use crate::pipeline;

pub fn run(mut a: MergeArgs, json: bool, quiet: bool) -> Result<(), Error> {
    let delta = a
        .archives
        .pop()
        .ok_or_else(|| Error::Usage("give the base archive(s), then the delta".into()))?;
    let req = pipeline::merge::MergeRequest {
        bases: a.archives,
        delta,
        output: a.out,
        zstd: a.zstd,
        force: a.force,
        split: a.volume_size.map(|volume_size| pipeline::split::Split {
            volume_size,
            parity: a.parity.map_or(0, usize::from),
        }),
    };
    super::interrupt::remove_outputs_and_exit("merge");
    let bar = progress::bytes(None, "merge", quiet);
    let merged = pipeline::merge::run(&req, &bar);
    bar.finish_and_clear();
    let m = merged?;
    let mut v = report::pack_json(&m.result);
    v["command"] = json!("merge");
    v["delta"] = json!({
        "manifestDigest": m.delta_digest,
        "fromBases": m.from_bases,
        "fromBasesBytes": m.from_bases_bytes,
    });
    let mut text = report::pack_text(&m.result);
    text.push_str(&format!(
        "  merged delta {} with {} blob(s) ({}) from the base(s)\n",
        m.delta_digest,
        m.from_bases,
        report::human(m.from_bases_bytes)
    ));
    if let Some(set) = &m.result.volumes {
        v["volumes"] = super::volumes::set_json(&set.index_path, &set.index);
        text.push_str(&super::volumes::set_text(&set.index_path, &set.index));
    }
    emit(json, v, text)
}
