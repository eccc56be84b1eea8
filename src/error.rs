//! The one error type that reaches `main`, and the only place exit codes live.
//!
//! Variants are grouped by *who* is at fault so automation can branch on the
//! exit code: the archive (integrity), the evidence (trust), the operator
//! (usage), or the machine (io). The `Display` text is for humans; match on
//! the variants (or `kind()` in JSON reports), not on the text.

/// Anything that can stop a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command line or a configuration file is incoherent.
    #[error("usage: {}", escaped(.0))]
    Usage(String),
    /// `unpack` found no trust policy anywhere and was not told to load
    /// without one (`--insecure-no-policy`). A usage refusal (exit 2) with
    /// its own kind, so automation can tell "configure a policy" apart.
    #[error("{0}")]
    NoPolicy(String),
    /// The archive is damaged, tampered with, or not an airlock archive.
    #[error(transparent)]
    Integrity(#[from] IntegrityError),
    /// The archive is well-formed but newer than this tool understands.
    #[error("unsupported archive: {}", escaped(.0))]
    Unsupported(String),
    /// A signature, certificate, log proof or policy check failed.
    #[error("trust: {}", escaped(&.0.to_string()))]
    Trust(#[from] crate::trust::TrustError),
    /// An image of an archive (or layout) failed the trust policy; the
    /// per-image report says which check.
    #[error("trust: image {}: {}", escaped(.image), escaped(&.source.to_string()))]
    ImageTrust {
        image: String,
        #[source]
        source: crate::trust::TrustError,
    },
    /// The evidence is older than what this host already accepted.
    #[error("rollback: {}", escaped(.0))]
    Rollback(String),
    /// The target (docker, podman, directory, registry) refused or failed.
    #[error("sink: {}", escaped(.0))]
    Sink(String),
    /// The image source (an OCI layout or a registry) is unusable.
    #[error("source: {}", escaped(.0))]
    Source(String),
    /// The operator interrupted (SIGINT); whatever was staged was removed.
    #[error("interrupted; nothing was loaded")]
    Interrupted,
    /// Reading or writing a local file failed.
    #[error("{}: {}", escaped(.context), escaped(&.source.to_string()))]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The process exit code for this error; documented in docs/cli.md.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Io { .. } | Error::Source(_) => 1,
            Error::Usage(_) | Error::NoPolicy(_) => 2,
            Error::Integrity(_) => 3,
            Error::Trust(_) | Error::ImageTrust { .. } => 4,
            Error::Rollback(_) => 5,
            Error::Sink(_) => 6,
            Error::Unsupported(_) => 7,
            // The shell convention for death by SIGINT (128 + 2).
            Error::Interrupted => 130,
        }
    }

    /// A stable, machine-readable name for the failure, used in JSON reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Usage(_) => "usage",
            Error::NoPolicy(_) => "no-policy",
            Error::Integrity(e) => e.kind(),
            Error::Unsupported(_) => "unsupported-version",
            Error::Trust(e) => e.kind(),
            Error::ImageTrust { source, .. } => source.kind(),
            Error::Rollback(_) => "rollback",
            Error::Sink(_) => "sink",
            Error::Source(_) => "source",
            Error::Io { .. } => "io",
            Error::Interrupted => "interrupted",
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io_path(action: &str, path: &std::path::Path, source: std::io::Error) -> Self {
        Error::io(format!("{action} {}", path.display()), source)
    }
}

/// Why an archive failed its integrity checks. Every variant names the entry
/// or digest at fault so the one-line message is actionable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrityError {
    #[error("not an airlock archive: {}", escaped(.0))]
    NotAnArchive(String),
    #[error("archive is truncated{}", at_entry(.entry))]
    Truncated { entry: Option<String> },
    #[error("unreadable archive stream: {}", quoted_text(.0))]
    Corrupt(String),
    #[error("unsafe entry {}: {reason}", quoted(.name))]
    UnsafePath { name: String, reason: &'static str },
    #[error(
        "entry {} is a {kind}; only regular files and the layout's directories are allowed", quoted(.name)
    )]
    ForbiddenEntryType { name: String, kind: &'static str },
    #[error("entry {} is not part of an OCI image layout", quoted(.name))]
    UnexpectedName { name: String },
    #[error("entry {} is out of order: {}", quoted(.name), escaped(.reason))]
    OutOfOrder { name: String, reason: String },
    #[error("duplicate entry {}", quoted(.name))]
    DuplicateEntry { name: String },
    #[error("extra blob {} is not listed in the archive manifest", quoted(.name))]
    ExtraBlob { name: String },
    #[error("blob {digest} is listed in the archive manifest but missing from the archive")]
    MissingBlob { digest: String },
    #[error(
        "blob {digest}: size {actual} differs from the {expected} bytes the archive manifest lists"
    )]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("blob stored as {expected} has sha256:{actual} (content altered or stored under the wrong digest)")]
    DigestMismatch { expected: String, actual: String },
    #[error("{}: malformed JSON: {}", escaped(.name), escaped(.reason))]
    MalformedJson { name: String, reason: String },
    #[error("{}: {size} bytes exceeds the {limit}-byte limit for this document", escaped(.name))]
    TooLarge { name: String, size: u64, limit: u64 },
    #[error("{}", escaped(.0))]
    Contradiction(String),
    #[error("{} references {digest}, which the archive does not contain", escaped(.from))]
    DanglingReference { from: String, digest: String },
    #[error("blob {digest} is not reachable from any image or evidence")]
    Unreachable { digest: String },
    #[error("decompression limit: {}", escaped(.0))]
    DecompressionLimit(String),
    #[error("unexpected data after the end of the tar archive")]
    TrailingData,
    /// A volume of a split archive (or its index) is missing, damaged,
    /// out of place or foreign; `name` is the file at fault.
    #[error("volume {}: {}", quoted(.name), escaped(.problem))]
    BadVolume { name: String, problem: String },
    /// The archive file was written to or replaced after it was verified
    /// (seen before or after a loader read it whole).
    #[error("archive {} changed after it was verified", quoted(.name))]
    Changed { name: String },
}

fn at_entry(entry: &Option<String>) -> String {
    match entry {
        Some(e) => format!(" inside {}", quoted(e)),
        None => String::new(),
    }
}

impl IntegrityError {
    /// Stable names for JSON reports and docs/cli.md.
    pub fn kind(&self) -> &'static str {
        match self {
            IntegrityError::NotAnArchive(_) => "not-an-archive",
            IntegrityError::Truncated { .. } => "truncated",
            IntegrityError::Corrupt(_) => "corrupt-stream",
            IntegrityError::UnsafePath { .. } => "unsafe-path",
            IntegrityError::ForbiddenEntryType { .. } => "forbidden-entry-type",
            IntegrityError::UnexpectedName { .. } => "unexpected-name",
            IntegrityError::OutOfOrder { .. } => "out-of-order",
            IntegrityError::DuplicateEntry { .. } => "duplicate-entry",
            IntegrityError::ExtraBlob { .. } => "extra-blob",
            IntegrityError::MissingBlob { .. } => "missing-blob",
            IntegrityError::SizeMismatch { .. } => "size-mismatch",
            IntegrityError::DigestMismatch { .. } => "digest-mismatch",
            IntegrityError::MalformedJson { .. } => "malformed-json",
            IntegrityError::TooLarge { .. } => "too-large",
            IntegrityError::Contradiction(_) => "contradiction",
            IntegrityError::DanglingReference { .. } => "dangling-reference",
            IntegrityError::Unreachable { .. } => "unreachable-blob",
            IntegrityError::DecompressionLimit(_) => "decompression-limit",
            IntegrityError::TrailingData => "trailing-data",
            IntegrityError::BadVolume { .. } => "bad-volume",
            IntegrityError::Changed { .. } => "changed-since-verified",
        }
    }
}

/// Longest piece of input (an entry name, a media type, a reference, a
/// library's message about input bytes) quoted in an error message: enough
/// to recognise it, short enough that a hostile archive cannot flood the
/// one-line error or the JSON report.
pub const MAX_QUOTED: usize = 200;

/// Longest whole message part escaped by [`escaped`]: those are composed
/// by airlock (and may hold several digests), so they get more room.
const MAX_MESSAGE: usize = 2000;

/// Writes `c` so the message stays one printable line: control characters
/// (newlines, escape sequences, NUL…) and invisible format characters
/// (bidirectional overrides, zero-width) become `\u{…}` escapes, which
/// terminals and log viewers cannot interpret.
fn push_safe(out: &mut String, c: char) {
    let invisible = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
    if c.is_control() || invisible {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

/// `text` with unsafe characters escaped and at most `max` characters kept
/// (then `…`).
fn bounded(text: &str, max: usize, quote: bool) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 2);
    if quote {
        out.push('"');
    }
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        match c {
            '"' | '\\' if quote => {
                out.push('\\');
                out.push(c);
            }
            _ => push_safe(&mut out, c),
        }
    }
    if quote {
        out.push('"');
    }
    out
}

/// A message part that may embed input, made one printable line.
pub fn escaped(text: &str) -> String {
    bounded(text, MAX_MESSAGE, false)
}

/// A library's message about input bytes (e.g. a tar header it could not
/// read, which it quotes raw): escaped and bounded like input itself.
fn quoted_text(text: &str) -> String {
    bounded(text, MAX_QUOTED, false)
}

/// A string taken from input (an entry name, a media type, a reference),
/// in double quotes, escaped and bounded to [`MAX_QUOTED`] characters.
pub fn quoted(text: &str) -> String {
    bounded(text, MAX_QUOTED, true)
}

/// Convenience for `path`-carrying I/O failures.
pub(crate) trait IoContext<T> {
    fn at(self, action: &str, path: &std::path::Path) -> Result<T, Error>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, action: &str, path: &std::path::Path) -> Result<T, Error> {
        self.map_err(|e| Error::io_path(action, path, e))
    }
}

/// Reads a file the user named (a key, policy, trust root, TUF metadata…),
/// refusing one over `limit` bytes as a usage error.
pub fn read_input_file(path: &std::path::Path, limit: u64, what: &str) -> Result<Vec<u8>, Error> {
    let f = std::fs::File::open(path).at(&format!("open {what}"), path)?;
    crate::model::limits::read_at_most(f, limit)
        .at(&format!("read {what}"), path)?
        .ok_or_else(|| {
            Error::Usage(format!(
                "{what} {} is larger than {limit} bytes",
                path.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_in_messages_is_escaped_quoted_and_bounded() {
        assert_eq!(quoted("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            quoted("x\u{1b}[2J\n\u{202e}y"),
            r#""x\u{1b}[2J\n\u{202e}y""#
        );
        assert_eq!(escaped("tab\there"), r"tab\there");
        let long = quoted(&"é".repeat(MAX_QUOTED + 5));
        assert_eq!(long.chars().count(), MAX_QUOTED + 3, "{long}");
        assert!(long.ends_with("é…\""), "{long}");
        let e = IntegrityError::Corrupt("bad \u{7}bell\r\n".into());
        assert_eq!(
            e.to_string(),
            r"unreadable archive stream: bad \u{7}bell\r\n"
        );
    }

    #[test]
    fn an_oversized_input_file_is_a_usage_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key.pem");
        std::fs::write(&p, [b'x'; 11]).unwrap();
        let e = read_input_file(&p, 10, "key").unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e}");
        assert!(e.to_string().contains("key.pem"), "{e}");
        assert_eq!(read_input_file(&p, 11, "key").unwrap().len(), 11);
    }
}
