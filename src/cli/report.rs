//! What the user sees: one line per failure, or a versioned JSON document
//! (`--output json`) whose `mediaType` says which shape it has.

use serde_json::{json, Value};

use crate::archive::compress::Compression;
use crate::archive::ReadOutcome;
use crate::model::{manifest::EvidenceRole, ArchiveManifest, Digest};
use crate::pipeline::PackResult;
use crate::Error;

pub const REPORT_MEDIA_TYPE: &str = "application/vnd.airlock.report.v1+json";

pub fn error_json(command: &str, e: &Error) -> Value {
    json!({
        "mediaType": REPORT_MEDIA_TYPE,
        "command": command,
        "ok": false,
        "error": { "kind": e.kind(), "exitCode": e.exit_code(), "message": e.to_string() },
        "warnings": [],
    })
}

fn images_json(m: &ArchiveManifest) -> Value {
    Value::Array(m.images.iter().map(image_json).collect())
}

/// One image, the same shape in every report (pack, verify, inspect,
/// unpack): sizes in bytes, evidence as the records airlock.json holds.
pub fn image_json(i: &crate::model::ImageRecord) -> Value {
    json!({
        "reference": i.reference,
        "platform": i.platform.as_ref().map(ToString::to_string),
        "kind": i.kind.name(),
        "artifactType": i.artifact_type,
        "indexDigest": i.index_digest,
        "manifestDigest": i.manifest_digest,
        "configDigest": i.config_digest,
        "size": i.size,
        "evidence": i.evidence,
    })
}

fn compression_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Zstd => "zstd",
        Compression::Gzip => "gzip",
    }
}

pub fn verify_json(out: &ReadOutcome) -> Value {
    json!({
        "mediaType": REPORT_MEDIA_TYPE,
        "command": "verify",
        "ok": true,
        "archive": {
            "manifestDigest": out.manifest_digest,
            "formatVersion": out.manifest.format_version,
            "compression": compression_name(out.compression),
            "blobs": out.manifest.blobs.len(),
            "blobBytes": out.blob_bytes,
            "tarBytes": out.tar_bytes,
        },
        "checks": ["tar-safety", "entry-order", "sizes", "sha256", "references", "reachability", "layout-files"],
        "images": images_json(&out.manifest),
        "warnings": [],
    })
}

pub fn verify_text(out: &ReadOutcome) -> String {
    let m = &out.manifest;
    let mut s = format!(
        "OK archive {} ({} images, {} blobs, {}, {})\n",
        out.manifest_digest,
        m.images.len(),
        m.blobs.len(),
        human(out.blob_bytes),
        compression_name(out.compression)
    );
    for i in &m.images {
        s.push_str(&format!(
            "  ✓ {} {} {}\n",
            i.reference,
            i.platform_label(),
            i.manifest_digest
        ));
    }
    s.push_str("  integrity only: no policy given, so no signature was checked (use --key, --certificate-identity or --policy)\n");
    s
}

pub fn inspect_json(out: &ReadOutcome) -> Value {
    let m = &out.manifest;
    json!({
        "mediaType": REPORT_MEDIA_TYPE,
        "command": "inspect",
        "ok": true,
        "verified": false,
        "archive": {
            "manifestDigest": out.manifest_digest,
            "formatVersion": m.format_version,
            "created": m.created,
            "tool": m.tool,
            "compression": compression_name(out.compression),
            "blobs": m.blobs.len(),
            "blobBytes": m.blobs.iter().map(|b| b.size).sum::<u64>(),
            "transparency": m.transparency,
            "delta": delta_json(m),
        },
        "evidence": archive_evidence_json(m),
        "images": images_json(m),
        "warnings": [],
    })
}

/// A delta archive's carried vs external blobs and its bases; `null` for a
/// full archive.
pub fn delta_json(m: &ArchiveManifest) -> Value {
    if !m.is_delta() {
        return Value::Null;
    }
    let st = crate::pipeline::delta::DeltaStats::of(m);
    json!({
        "bases": m.bases,
        "carriedBlobs": st.carried_blobs,
        "carriedBytes": st.carried_bytes,
        "externalBlobs": st.external_blobs,
        "externalBytes": st.external_bytes,
        "external": m.external,
    })
}

/// One line on a delta: what it carries and what it leaves to its bases.
pub fn delta_text(m: &ArchiveManifest) -> String {
    if !m.is_delta() {
        return String::new();
    }
    let st = crate::pipeline::delta::DeltaStats::of(m);
    let bases: Vec<String> = m
        .bases
        .iter()
        .map(|b| format!("{} {}", b.kind_name(), b.digest))
        .collect();
    format!(
        "delta: carries {} blobs ({}), {} external blobs ({}) left to base {}\n",
        st.carried_blobs,
        human(st.carried_bytes),
        st.external_blobs,
        human(st.external_bytes),
        bases.join(", ")
    )
}

/// The archive-level evidence (trust material) with each document's size.
fn archive_evidence_json(m: &ArchiveManifest) -> Value {
    Value::Array(
        m.evidence
            .iter()
            .map(|e| {
                json!({
                    "role": e.role,
                    "name": e.name,
                    "digest": e.digest,
                    "mediaType": e.media_type,
                    "size": m.blob(&e.digest).map(|b| b.size),
                    "embeddedPublicGoodRoot": (e.role == EvidenceRole::TrustRoot).then(|| is_embedded_root(&e.digest)),
                })
            })
            .collect(),
    )
}

/// Whether `d` is the public-good trusted root embedded in this airlock.
fn is_embedded_root(d: &Digest) -> bool {
    *d == Digest::of(crate::trust::TrustRoot::production_json())
}

fn archive_evidence_text(m: &ArchiveManifest) -> String {
    if m.evidence.is_empty() {
        return "Trust material: none (the archive carries no trusted root)\n\n".into();
    }
    let mut s = String::from("Trust material (archive-level evidence):\n");
    for e in &m.evidence {
        let size = m.blob(&e.digest).map(|b| human(b.size)).unwrap_or_default();
        let note = if e.role == EvidenceRole::TrustRoot && is_embedded_root(&e.digest) {
            "  (the Sigstore public-good root embedded in this airlock)"
        } else {
            ""
        };
        s.push_str(&format!(
            "  {:<14} {:<22} {} {:>9}{note}\n",
            e.role.name(),
            e.name,
            e.digest,
            size
        ));
    }
    if m.evidence.iter().any(|e| e.role.is_tuf()) {
        s.push_str("  (the trusted root is used on verify only if this TUF metadata chains from the host's TUF root)\n");
    }
    s.push('\n');
    s
}

pub fn inspect_text(out: &ReadOutcome) -> String {
    let m = &out.manifest;
    let total: u64 = m.blobs.iter().map(|b| b.size).sum();
    let mut s = format!(
        "archive {}  format v{}  created {}  by {} {}\n{} blobs, {} ({}); not verified, run `airlock verify`\n",
        out.manifest_digest,
        m.format_version,
        m.created,
        m.tool.name,
        m.tool.version,
        m.blobs.len(),
        human(total),
        compression_name(out.compression)
    );
    s.push_str(&delta_text(m));
    s.push('\n');
    if let Some(t) = &m.transparency {
        let what = match t.rekor_proofs {
            crate::model::manifest::RekorProofs::Fetched => "fetched",
            crate::model::manifest::RekorProofs::Omitted => "omitted (--no-rekor)",
            crate::model::manifest::RekorProofs::NoneNeeded => "none needed",
        };
        s.push_str(&format!(
            "Rekor inclusion proofs: {what}{}\n\n",
            t.rekor_url
                .as_deref()
                .map(|u| format!(" from {u}"))
                .unwrap_or_default()
        ));
    }
    s.push_str(&archive_evidence_text(m));
    s.push_str(&format!(
        "{:<48} {:<10} {:<16} {:>10}  {:<19} {}\n",
        "IMAGE", "KIND", "PLATFORM", "SIZE", "MANIFEST", "EVIDENCE"
    ));
    for i in &m.images {
        s.push_str(&format!(
            "{:<48} {:<10} {:<16} {:>10}  {:<19} {}\n",
            i.reference,
            i.kind.name(),
            i.platform
                .as_ref()
                .map_or("-".to_string(), ToString::to_string),
            human(i.size),
            short(&i.manifest_digest),
            evidence_summary(&i.evidence)
        ));
        if let Some(t) = &i.artifact_type {
            s.push_str(&format!("  artifact type {t}\n"));
        }
    }
    s
}

fn evidence_summary(ev: &[crate::model::EvidenceRecord]) -> String {
    if ev.is_empty() {
        return "none".into();
    }
    let mut counts: std::collections::BTreeMap<EvidenceRole, usize> = Default::default();
    for e in ev {
        *counts.entry(e.role).or_default() += 1;
    }
    counts
        .iter()
        .map(|(r, n)| format!("{}×{n}", r.name()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn short(d: &Digest) -> String {
    let s = d.to_string();
    s.chars().take(19).collect()
}

pub fn pack_json(r: &PackResult) -> Value {
    json!({
        "mediaType": REPORT_MEDIA_TYPE,
        "command": "pack",
        "ok": true,
        "output": r.output,
        "archive": {
            "sha256": r.archive_sha256,
            "bytes": r.archive_bytes,
            "manifestDigest": r.written.manifest_digest,
            "blobs": r.written.manifest.blobs.len(),
            "blobBytes": r.written.manifest.blobs.iter().map(|b| b.size).sum::<u64>(),
            "delta": delta_json(&r.written.manifest),
        },
        "images": images_json(&r.written.manifest),
        "warnings": [],
    })
}

pub fn pack_text(r: &PackResult) -> String {
    let output = if crate::pipeline::is_stdout(&r.output) {
        "the archive to stdout".to_string()
    } else if r.volumes.is_some() {
        format!("{} as volumes", r.output.display())
    } else {
        r.output.display().to_string()
    };
    let also = match (&r.checksum_file, &r.volumes) {
        (Some(f), _) => format!("  (also in {})", f.display()),
        (None, Some(v)) => format!("  (also in {})", v.index_path.display()),
        (None, None) => String::new(),
    };
    let mut s = format!(
        "wrote {output} ({}, {} images, {} blobs)\n  archive sha256 {}{also}\n  archive manifest {}\n",
        human(r.archive_bytes),
        r.written.manifest.images.len(),
        r.written.manifest.blobs.len(),
        r.archive_sha256,
        r.written.manifest_digest
    );
    if let Some(d) = &r.delta {
        s.push_str(&format!(
            "  delta: {} left out ({} blobs the base already has), {} carried\n",
            human(d.external_bytes),
            d.external_blobs,
            human(d.carried_bytes)
        ));
    }
    for i in &r.written.manifest.images {
        s.push_str(&format!(
            "  {} {} {}\n",
            i.reference,
            i.platform_label(),
            i.manifest_digest
        ));
    }
    s
}

pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

// ---- trust gate (verify/pack with a policy) ------------------------------

/// The per-image trust verdicts as JSON (`"trust"` of a verify/pack report).
pub fn gate_json(g: &crate::gate::GateReport) -> Value {
    json!({
        "ok": g.ok(),
        "trustRoot": g.trust_root,
        "warnings": g.warnings,
        "images": g.images.iter().map(|v| json!({
            "reference": v.reference,
            "platform": v.platform,
            "manifestDigest": v.manifest_digest,
            "indexDigest": v.index_digest,
            "ok": v.ok(),
            "rule": v.rule,
            "checks": v.checks,
        })).collect::<Vec<_>>(),
    })
}

/// Each image, then each check with ✓ / ✗ / – and its reason.
pub fn gate_text(g: &crate::gate::GateReport) -> String {
    use crate::gate::Status;
    let mut s = format!("  trust root: {}\n", g.trust_root.detail);
    for v in &g.images {
        s.push_str(&format!(
            "  {} {} {} {}\n",
            if v.ok() { "✓" } else { "✗" },
            v.reference,
            v.platform,
            v.manifest_digest
        ));
        if let Some(rule) = &v.rule {
            s.push_str(&format!("      rule: {rule}\n"));
        }
        for c in &v.checks {
            let mark = match c.status {
                Status::Pass => "✓",
                Status::Fail => "✗",
                Status::Skip => "–",
            };
            s.push_str(&format!("      {mark} {}: {}\n", c.name, c.detail));
        }
    }
    for w in &g.warnings {
        s.push_str(&format!("  warning: {w}\n"));
    }
    s
}

/// `verify` with a policy: integrity, then the trust verdicts; `error` is
/// the failure the command ends with, if any.
pub fn verify_gate_json(
    out: &ReadOutcome,
    g: &crate::gate::GateReport,
    error: Option<&Error>,
) -> Value {
    let mut v = verify_json(out);
    v["ok"] = json!(error.is_none());
    v["trust"] = gate_json(g);
    v["warnings"] = json!(g.warnings);
    if let Some(e) = error {
        v["error"] =
            json!({ "kind": e.kind(), "exitCode": e.exit_code(), "message": e.to_string() });
    }
    v
}

pub fn verify_gate_text(out: &ReadOutcome, g: &crate::gate::GateReport) -> String {
    let m = &out.manifest;
    let verdict = if g.ok() { "OK" } else { "REFUSED" };
    format!(
        "{verdict} archive {} ({} images, {} blobs, {}, {}): integrity ✓, trust {}\n{}",
        out.manifest_digest,
        m.images.len(),
        m.blobs.len(),
        human(out.blob_bytes),
        compression_name(out.compression),
        if g.ok() { "✓" } else { "✗" },
        gate_text(g)
    )
}

/// `pack` refused by the policy: nothing was written.
pub fn pack_refused_json(g: &crate::gate::GateReport, e: &Error) -> Value {
    json!({
        "mediaType": REPORT_MEDIA_TYPE,
        "command": "pack",
        "ok": false,
        "written": false,
        "error": { "kind": e.kind(), "exitCode": e.exit_code(), "message": e.to_string() },
        "trust": gate_json(g),
        "warnings": g.warnings,
    })
}

pub fn pack_refused_text(g: &crate::gate::GateReport) -> String {
    format!(
        "REFUSED: the policy is not met; no archive was written\n{}",
        gate_text(g)
    )
}

/// `--timings`: the seconds per phase, as `timings` in the JSON report and
/// one line of text. `hash` is CPU time over all threads, overlapping the
/// phases it ran in.
pub fn add_timings(doc: &mut Value, text: &mut String) {
    let t = crate::model::timings::snapshot();
    let line: Vec<String> = t
        .seconds
        .iter()
        .map(|(phase, s)| format!("{phase} {s:.2} s"))
        .collect();
    text.push_str(&format!(
        "timings: {} (hash: CPU time, overlapping)\n",
        line.join(", ")
    ));
    doc["timings"] = serde_json::json!(t);
}
