//! `airlock serve`: raw flags → request, the start-up report (printed once
//! the address is bound, so scripts can wait for it), request log lines,
//! optional mirror configuration, then serve until SIGINT/SIGTERM.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use super::args::ServeArgs;
use super::report::{human, REPORT_MEDIA_TYPE};
use super::unpack::{InsecureNoPolicy, INSECURE_NO_POLICY};
use super::{emit, progress};
use crate::gate::admit::PolicyGate;
use crate::gate::Gate;
use crate::pipeline::serve::{self, ServeReport, ServeRequest};
use crate::serve::{Settings, Tls};
use crate::Error;

pub fn run(a: ServeArgs, json_out: bool, quiet: bool) -> Result<(), Error> {
    let policy = a.policy.with_rollback(&a.rollback);
    let (gate_cfg, source) = super::config::unpack_policy(&policy, a.insecure_no_policy)?;
    let serving = Arc::new(AtomicBool::new(false));
    let stop = super::interrupt::exit_or_stop("serve", serving.clone());
    let mut settings = Settings::new(a.listen);
    settings.max_connections = usize::from(a.max_connections);
    settings.tls = match (a.tls_cert, a.tls_key) {
        (Some(cert), Some(key)) => Some(Tls { cert, key }),
        _ => None,
    };
    if a.log_requests {
        settings.log = Some(Arc::new(|line: &str| eprintln!("airlock serve: {line}")));
    }
    let req = ServeRequest {
        archive: a.archive,
        namespace: a.namespace,
        settings,
        stop,
    };
    let len = crate::pipeline::input_len(&req.archive);
    let bar = progress::bytes(len, "verify", quiet);
    let (prepared, warnings) = match gate_cfg {
        Some(cfg) => {
            let gate = PolicyGate::new(cfg);
            let r = serve::prepare(&req, &gate, &bar);
            let warnings = gate.take_warnings();
            super::warnings::print_texts("serve", &warnings);
            (r?, warnings)
        }
        None => {
            let gate: &dyn Gate = &InsecureNoPolicy;
            let r = serve::prepare(&req, gate, &bar)?;
            eprintln!("airlock serve: warning: {INSECURE_NO_POLICY}");
            (r, vec![INSECURE_NO_POLICY.to_string()])
        }
    };
    bar.finish();
    let report = &prepared.report;
    let mut doc = serve_json(report);
    doc["warnings"] = json!(warnings);
    doc["policy"] = source.json();
    let mut text = String::new();
    if a.print_mirror_config {
        let (conf, hosts) = mirror_config(report, req.namespace.as_deref());
        doc["mirrorConfig"] = json!({ "registriesConf": conf, "containerdHosts": hosts });
        text += &format!(
            "\n# registries.conf (e.g. /etc/containers/registries.conf.d/airlock.conf)\n{conf}"
        );
        for (host, toml) in &hosts {
            text += &format!("\n# /etc/containerd/certs.d/{host}/hosts.toml\n{toml}");
        }
        text.push('\n');
    }
    text += &serve_text(report, &source.text());
    let json_text = format!("{doc}");
    // One line of JSON, so a script can read the report before the server
    // exits; text as usual.
    if json_out {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{json_text}").map_err(|e| Error::io("writing report", e))?;
        out.flush().map_err(|e| Error::io("writing report", e))?;
    } else {
        emit(false, Value::Null, text)?;
        std::io::stdout()
            .flush()
            .map_err(|e| Error::io("writing report", e))?;
    }
    serving.store(true, Ordering::SeqCst);
    prepared.run()?;
    eprintln!("airlock serve: stopped");
    Ok(())
}

fn scheme(r: &ServeReport) -> &'static str {
    if r.tls {
        "https"
    } else {
        "http"
    }
}

pub fn serve_json(r: &ServeReport) -> Value {
    let repos: Vec<Value> = r
        .repositories
        .iter()
        .map(|(name, tags)| json!({ "name": name, "tags": tags }))
        .collect();
    json!({
        "mediaType": REPORT_MEDIA_TYPE,
        "command": "serve",
        "ok": true,
        "archive": { "manifestDigest": r.archive_manifest_digest, "blobs": r.blobs, "blobBytes": r.blob_bytes },
        "gate": r.gate,
        "address": r.address.to_string(),
        "url": format!("{}://{}", scheme(r), r.address),
        "spooled": r.spooled,
        "repositories": repos,
        "warnings": [],
    })
}

/// The address line comes last: a script reading the report can start
/// pulling once it sees it.
pub fn serve_text(r: &ServeReport, policy: &str) -> String {
    let mut s = format!(
        "verified archive {} ({})\n",
        r.archive_manifest_digest, r.gate
    );
    for (name, tags) in &r.repositories {
        s += &format!("  {name}: {}\n", tags.join(", "));
    }
    s += &format!("{policy}\n");
    s += &format!(
        "serving {} repositories ({} blobs, {}) read-only on {}://{}\n",
        r.repositories.len(),
        r.blobs,
        human(r.blob_bytes),
        scheme(r),
        r.address
    );
    s
}

/// The registry host of a packed reference (docker's rule, as the
/// registry naming uses).
fn registry_of(reference: &str) -> String {
    let name = reference.split('@').next().unwrap_or(reference);
    match name.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "docker.io".to_string(),
    }
}

/// registries.conf stanzas and containerd hosts.toml files (by host) that
/// send pulls of the packed references' registries here.
fn mirror_config(r: &ServeReport, namespace: Option<&str>) -> (String, BTreeMap<String, String>) {
    let hosts: std::collections::BTreeSet<String> =
        r.references.iter().map(|x| registry_of(x)).collect();
    let ns = namespace
        .map(|n| format!("/{}", n.trim_matches('/')))
        .unwrap_or_default();
    let insecure = !r.tls;
    let mut conf = String::new();
    let mut files = BTreeMap::new();
    for host in hosts {
        conf += &format!(
            "[[registry]]\nlocation = \"{host}\"\n\n[[registry.mirror]]\nlocation = \"{}{ns}\"\ninsecure = {insecure}\n\n",
            r.address
        );
        let server = if host == "docker.io" {
            "https://registry-1.docker.io".to_string()
        } else {
            format!("https://{host}")
        };
        let mirror = if ns.is_empty() {
            format!(
                "[host.\"{}://{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
                scheme(r),
                r.address
            )
        } else {
            format!(
                "[host.\"{}://{}/v2{ns}\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n",
                scheme(r),
                r.address
            )
        };
        files.insert(host, format!("server = \"{server}\"\n\n{mirror}"));
    }
    (conf, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_of_a_reference_follows_dockers_rule() {
        assert_eq!(registry_of("src.example/team/app:1"), "src.example");
        assert_eq!(
            registry_of("localhost:5000/app@sha256:ab"),
            "localhost:5000"
        );
        assert_eq!(registry_of("team/app:1"), "docker.io");
        assert_eq!(registry_of("busybox"), "docker.io");
    }
}
