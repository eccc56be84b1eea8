//! `airlock pack --set airlock-set.yaml`: the one file an operator keeps in
//! version control, naming everything a site needs — images (tag or
//! digest, per-image platforms), charts and other artifacts by reference,
//! local files — and per entry the policy that must hold. Schema:
//! `schema/set.schema.json`; documented in docs/cli.md.
//!
//! Parsed with serde-saphyr (docs/architecture.md says why): unknown keys
//! and duplicate keys are refused with their line, the document is bounded
//! in bytes and in parser work (anchors and aliases cannot multiply it), and
//! a reference listed twice is refused naming both lines. Paths (files,
//! policy keys) are relative to the set file's directory.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};
use serde_saphyr::Spanned;

use crate::error::{read_input_file, Error};
use crate::source::files::{FileArg, FileArtifact};
use crate::source::PlatformFilter;

/// Largest accepted set file.
pub const MAX_SET_FILE: u64 = 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetDoc {
    version: u32,
    /// Platforms for every image without its own (default: all).
    #[serde(default)]
    platforms: Vec<String>,
    /// The policy for every entry without its own.
    #[serde(default)]
    policy: Option<Value>,
    #[serde(default)]
    images: Vec<RefEntry>,
    #[serde(default)]
    charts: Vec<RefEntry>,
    #[serde(default)]
    artifacts: Vec<RefEntry>,
    #[serde(default)]
    files: Vec<FilesEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefEntry {
    #[serde(rename = "ref")]
    reference: Spanned<String>,
    #[serde(default)]
    platforms: Vec<String>,
    #[serde(default)]
    policy: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesEntry {
    #[serde(rename = "as")]
    reference: Spanned<String>,
    paths: Vec<String>,
    #[serde(default)]
    policy: Option<Value>,
}

/// What a set file asks pack to do.
#[derive(Debug, Default)]
pub struct PackSet {
    /// Registry references, grouped by the platforms to take.
    pub groups: Vec<(Vec<String>, PlatformFilter)>,
    pub files: Vec<FileArtifact>,
    /// A version-2 policy document built from the entries' policies (one
    /// rule per entry, scoped to its repository; the top-level policy as
    /// the `["**"]` default), when any entry has one.
    pub policy: Option<Vec<u8>>,
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Usage(format!("--set {}: {msg}", path.display()))
}

/// Read and check a set file.
pub fn load(path: &Path) -> Result<PackSet, Error> {
    let bytes = read_input_file(path, MAX_SET_FILE, "set file")?;
    parse(path, &bytes)
}

/// Check the set file `bytes`, read from `path` (named in messages; file
/// artifacts' paths are relative to its directory).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<PackSet, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad(path, "not UTF-8 text"))?;
    // No anchors or aliases (a set file has no use for them, and they are
    // how a small YAML document becomes a huge one), bounded work and depth.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 200_000;
    budget.max_aliases = 0;
    budget.max_anchors = 0;
    budget.max_depth = 32;
    let options = serde_saphyr::options! {
        budget: Some(budget),
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        with_snippet: false,
    };
    let doc: SetDoc = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let msg = e.to_string();
        let msg = first_line(&msg);
        // The parser's message names the line itself when it knows it.
        match e.location() {
            Some(l) if !msg.contains(" at line ") => bad(path, format!("line {}: {msg}", l.line())),
            _ => bad(path, msg),
        }
    })?;
    if doc.version != 1 {
        return Err(bad(path, format!("unsupported version {}", doc.version)));
    }
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    build(path, &dir, doc)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// `os/arch[/variant]` list → the filter pack takes.
fn filter(path: &Path, platforms: &[String]) -> Result<PlatformFilter, Error> {
    let mut f = PlatformFilter::default();
    for p in platforms {
        let rec = crate::pipeline::select::parse_platform(p)
            .map_err(|e| bad(path, format!("platform {p:?}: {e}")))?;
        if f.os.as_ref().is_some_and(|os| *os != rec.os)
            || f.variant != rec.variant && !f.architectures.is_empty()
        {
            return Err(bad(
                path,
                "the platforms of one entry must share os and variant (give the entry twice for others)",
            ));
        }
        f.os = Some(rec.os);
        f.variant = rec.variant;
        f.architectures.push(rec.architecture);
    }
    Ok(f)
}

fn build(path: &Path, dir: &Path, doc: SetDoc) -> Result<PackSet, Error> {
    let mut set = PackSet::default();
    let mut seen: Vec<(String, u64)> = Vec::new();
    let mut rules: Vec<Value> = Vec::new();
    let mut check_once = |r: &Spanned<String>| -> Result<(), Error> {
        let line = r.referenced.line();
        if let Some((_, first)) = seen.iter().find(|(s, _)| *s == r.value) {
            return Err(bad(
                path,
                format!(
                    "line {line}: {:?} is listed twice (first on line {first})",
                    r.value
                ),
            ));
        }
        seen.push((r.value.clone(), line));
        Ok(())
    };
    let default_filter = filter(path, &doc.platforms)?;
    let entries = doc.images.iter().chain(&doc.charts).chain(&doc.artifacts);
    for e in entries {
        check_once(&e.reference)?;
        let f = if e.platforms.is_empty() {
            default_filter.clone()
        } else {
            filter(path, &e.platforms)?
        };
        match set
            .groups
            .iter_mut()
            .find(|(_, g)| format!("{g:?}") == format!("{f:?}"))
        {
            Some((refs, _)) => refs.push(e.reference.value.clone()),
            None => set.groups.push((vec![e.reference.value.clone()], f)),
        }
        if let Some(p) = &e.policy {
            rules.push(rule(path, &e.reference, p)?);
        }
    }
    for e in &doc.files {
        check_once(&e.reference)?;
        if e.paths.is_empty() {
            return Err(bad(
                path,
                format!("line {}: \"paths\" is empty", e.reference.referenced.line()),
            ));
        }
        let mut files = Vec::with_capacity(e.paths.len());
        for p in &e.paths {
            let mut arg: FileArg = p.parse()?;
            arg.path = dir.join(&arg.path);
            if !arg.path.is_file() {
                return Err(bad(
                    path,
                    format!(
                        "line {}: file {} does not exist or is not a regular file",
                        e.reference.referenced.line(),
                        arg.path.display()
                    ),
                ));
            }
            files.push(arg);
        }
        set.files.push(FileArtifact {
            reference: e.reference.value.clone(),
            files,
        });
        if let Some(p) = &e.policy {
            rules.push(rule(path, &e.reference, p)?);
        }
    }
    if let Some(p) = &doc.policy {
        let mut r = policy_fields(path, 1, p)?;
        r.insert("name".into(), json!("default"));
        r.insert("images".into(), json!(["**"]));
        rules.push(checked(path, "the top-level policy", Value::Object(r))?);
    }
    if !rules.is_empty() {
        let doc = json!({ "version": 2, "rules": rules });
        set.policy = Some(serde_json::to_vec(&doc).map_err(|e| bad(path, e))?);
    }
    Ok(set)
}

/// An entry's policy as a rule over its own repository.
fn rule(path: &Path, r: &Spanned<String>, policy: &Value) -> Result<Value, Error> {
    let mut fields = policy_fields(path, r.referenced.line(), policy)?;
    fields.insert("name".into(), json!(r.value));
    fields.insert(
        "images".into(),
        json!([crate::trust::scope::repository_name(&r.value)]),
    );
    let at = format!("line {}: policy", r.referenced.line());
    checked(path, &at, Value::Object(fields))
}

/// `rule` as the policy parser reads it (fields, types, key paths; the key
/// files themselves are read when the rules load), so a mistake is
/// reported with its line now rather than as `rules[N]` later.
fn checked(path: &Path, at: &str, rule: Value) -> Result<Value, Error> {
    let doc = json!({ "version": 2, "rules": [rule.clone()] });
    let bytes = serde_json::to_vec(&doc).map_err(|e| bad(path, e))?;
    if let Err(e) = crate::trust::TrustPolicy::key_paths(&bytes) {
        let msg = e.to_string();
        // One rule, so its position says nothing.
        let msg = msg
            .replace("invalid policy: ", "")
            .replace("rules[1]: ", "");
        return Err(bad(path, format!("{at}: {msg}")));
    }
    Ok(rule)
}

/// The version-1 fields of a policy mapping.
fn policy_fields(
    path: &Path,
    line: u64,
    policy: &Value,
) -> Result<serde_json::Map<String, Value>, Error> {
    let Value::Object(map) = policy else {
        return Err(bad(
            path,
            format!("line {line}: \"policy\" must be a mapping"),
        ));
    };
    for k in ["version", "images", "name", "rules"] {
        if map.contains_key(k) {
            return Err(bad(
                path,
                format!("line {line}: \"policy\" holds a rule's fields (keys, identities, threshold, …), not {k:?}"),
            ));
        }
    }
    Ok(map.clone())
}

/// The set file's directory, against which its policies' key paths resolve.
pub fn base_dir(path: &Path) -> PathBuf {
    path.parent().unwrap_or(Path::new("")).to_path_buf()
}
