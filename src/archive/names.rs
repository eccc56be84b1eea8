//! Entry names and their fixed order. Only these names may appear.

use crate::error::IntegrityError;
use crate::model::Digest;

pub const OCI_LAYOUT: &str = "oci-layout";
pub const ARCHIVE_MANIFEST: &str = crate::model::manifest::FILE_NAME;
pub const INDEX: &str = "index.json";
pub const DOCKER_MANIFEST: &str = "manifest.json";
pub const BLOBS_DIR: &str = "blobs/";
pub const SHA256_DIR: &str = "blobs/sha256/";

/// The exact content of `oci-layout`.
pub const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Entries that precede every blob, in this order.
pub const PREAMBLE: [&str; 6] = [
    OCI_LAYOUT,
    ARCHIVE_MANIFEST,
    INDEX,
    DOCKER_MANIFEST,
    BLOBS_DIR,
    SHA256_DIR,
];

/// What an entry name denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryName {
    Preamble(usize),
    Blob(Digest),
}

/// Refuse names that could escape an extraction directory, whatever else
/// the entry is; returns the name as text.
pub fn check_safe(raw: &[u8]) -> Result<&str, IntegrityError> {
    let unsafe_path = |reason| IntegrityError::UnsafePath {
        name: String::from_utf8_lossy(raw).into_owned(),
        reason,
    };
    let name = std::str::from_utf8(raw).map_err(|_| unsafe_path("name is not UTF-8"))?;
    if name.starts_with('/') {
        return Err(unsafe_path("absolute path"));
    }
    if name.contains('\\') || name.contains('\0') {
        return Err(unsafe_path("backslash or NUL in name"));
    }
    if name.split('/').any(|c| c == "..") {
        return Err(unsafe_path("parent directory component"));
    }
    Ok(name)
}

/// Map a safe name to its place in the layout.
pub fn classify(name: &str) -> Result<EntryName, IntegrityError> {
    if let Some(i) = PREAMBLE.iter().position(|p| *p == name) {
        return Ok(EntryName::Preamble(i));
    }
    if let Some(hex) = name.strip_prefix(SHA256_DIR) {
        if let Ok(d) = Digest::from_hex(hex) {
            return Ok(EntryName::Blob(d));
        }
    }
    Err(IntegrityError::UnexpectedName {
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        assert_eq!(classify("index.json").unwrap(), EntryName::Preamble(2));
        let d = Digest::of(b"x");
        assert_eq!(classify(&d.blob_path()).unwrap(), EntryName::Blob(d));
        assert!(matches!(
            check_safe(b"/etc/passwd"),
            Err(IntegrityError::UnsafePath { .. })
        ));
        assert!(matches!(
            check_safe(b"blobs/../../x"),
            Err(IntegrityError::UnsafePath { .. })
        ));
        assert!(matches!(
            check_safe(b"a\\b"),
            Err(IntegrityError::UnsafePath { .. })
        ));
        assert!(matches!(
            classify("blobs/sha256/XYZ"),
            Err(IntegrityError::UnexpectedName { .. })
        ));
        assert!(matches!(
            classify("./index.json"),
            Err(IntegrityError::UnexpectedName { .. })
        ));
        assert!(matches!(
            classify("blobs/sha512/00"),
            Err(IntegrityError::UnexpectedName { .. })
        ));
    }
}
