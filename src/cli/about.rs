//! `airlock version`, `airlock completions SHELL` and `airlock man`: what
//! an operator installs beside the binary, and which trust roots it embeds.

use clap::CommandFactory as _;
use serde_json::{json, Value};

use super::args::{Cli, CompletionsArgs};
use super::emit;
use crate::error::Error;
use crate::model::Digest;
use crate::trust::root::TrustRoot;
use crate::trust::tuf::SIGSTORE_TUF_ROOT;

pub fn completions(a: &CompletionsArgs) -> Result<(), Error> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "airlock", &mut std::io::stdout());
    Ok(())
}

pub fn man() -> Result<(), Error> {
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout())
        .map_err(|e| Error::io("writing the manual page", e))
}

pub fn version(json: bool) -> Result<(), Error> {
    let v = version_json();
    let text = format!(
        "airlock {}\nembedded Sigstore trusted root: {} (newest key valid from {})\nembedded Sigstore TUF root: version {}, expires {}\n",
        v["version"].as_str().unwrap_or("?"),
        v["trustedRoot"]["digest"].as_str().unwrap_or("?"),
        v["trustedRoot"]["newestKeyFrom"].as_str().unwrap_or("?"),
        v["tufRoot"]["version"],
        v["tufRoot"]["expires"].as_str().unwrap_or("?"),
    );
    emit(json, v, text)
}

fn version_json() -> Value {
    let root = TrustRoot::production_json();
    let root_doc: Value = serde_json::from_slice(root).unwrap_or(Value::Null);
    let tuf: Value = serde_json::from_slice(SIGSTORE_TUF_ROOT).unwrap_or(Value::Null);
    json!({
        "command": "version",
        "version": env!("CARGO_PKG_VERSION"),
        "trustedRoot": {
            "digest": Digest::of(root),
            "newestKeyFrom": newest_start(&root_doc),
        },
        "tufRoot": {
            "digest": Digest::of(SIGSTORE_TUF_ROOT),
            "version": tuf["signed"]["version"],
            "expires": tuf["signed"]["expires"],
        },
    })
}

/// The latest `validFor.start` of any key or CA in a trusted root: the
/// date of the newest material it holds (ISO 8601 strings sort by time).
fn newest_start(doc: &Value) -> Option<String> {
    let mut starts = Vec::new();
    collect_starts(doc, &mut starts);
    starts.into_iter().max()
}

fn collect_starts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(s) = m.get("validFor").and_then(|f| f["start"].as_str()) {
                out.push(s.to_string());
            }
            m.values().for_each(|c| collect_starts(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| collect_starts(c, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_report_names_both_embedded_roots() {
        let v = version_json();
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert!(v["trustedRoot"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"));
        assert!(v["trustedRoot"]["newestKeyFrom"]
            .as_str()
            .unwrap()
            .starts_with("20"));
        assert!(v["tufRoot"]["version"].as_u64().unwrap() >= 1);
        assert!(v["tufRoot"]["expires"].as_str().unwrap().starts_with("20"));
    }
}
