//! The checking state machine: every tar entry in turn, against what
//! `airlock.json` announced. Preamble entries in their fixed order, then
//! each listed blob once, sorted, at its listed size and digest; at the
//! end, no listed blob missing and the manifests' graph complete.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use crate::model::progress::Progress;

use super::compress::Compression;
use super::graph::Doc;
use super::hashing::{mismatch, Hashing};
use super::input::{self, bounded, read_small, stream_error, StreamState};
use super::manifest_check::{self, check_own_media_type, malformed};
use super::names::{self, EntryName, PREAMBLE};
use super::reader::{ReadOptions, ReadOutcome};
use crate::error::{Error, IntegrityError};
use crate::model::manifest::BlobClass;
use crate::model::oci;
use crate::model::{limits, media, ArchiveManifest, BlobRecord, Digest};

#[derive(PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Stop,
}

/// Feed every entry to `checker`; `Stop` once a manifest-only read has
/// what it needs.
pub(super) fn check_entries<R: Read>(
    entries: tar::Entries<'_, R>,
    checker: &mut Checker,
    state: &StreamState,
    progress: &dyn Progress,
) -> Result<Flow, Error> {
    for entry in entries {
        let mut entry = entry.map_err(|e| stream_error(e, state, checker.last_name.as_deref()))?;
        let raw_name = entry.path_bytes().into_owned();
        let name = names::check_safe(&raw_name)?.to_string();
        check_type(&name, entry.header().entry_type())?;
        let place = names::classify(&name)?;
        let size = entry.size();
        let data_start = entry.raw_file_position();
        checker.last_name = Some(name.clone());
        match place {
            EntryName::Preamble(i) => checker.preamble(i, &name, size, &mut entry, state)?,
            EntryName::Blob(d) => {
                checker.blob(d, &name, size, data_start, &mut entry, state, progress)?
            }
        }
        checker.end_of_last = data_start + size.div_ceil(512) * 512;
        if checker.manifest_only && checker.next_preamble > 1 {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Continue)
}

/// Regular files everywhere, directories only as `blobs/` and
/// `blobs/sha256/`; links, devices and the like never.
fn check_type(name: &str, et: tar::EntryType) -> Result<(), IntegrityError> {
    let kind = match et {
        tar::EntryType::Regular if !name.ends_with('/') => return Ok(()),
        tar::EntryType::Directory if name == names::BLOBS_DIR || name == names::SHA256_DIR => {
            return Ok(())
        }
        tar::EntryType::Regular | tar::EntryType::Directory => "misplaced file or directory",
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "fifo",
        tar::EntryType::Continuous => "contiguous file",
        tar::EntryType::GNUSparse => "sparse file",
        tar::EntryType::XGlobalHeader => "global pax header",
        _ => "special entry",
    };
    Err(IntegrityError::ForbiddenEntryType {
        name: name.to_string(),
        kind,
    })
}

pub(super) struct Checker {
    manifest_only: bool,
    compression: Compression,
    next_preamble: usize,
    manifest: Option<(ArchiveManifest, Digest)>,
    docker_manifest: Vec<u8>,
    seen: BTreeSet<Digest>,
    last_key: Option<(BlobClass, Digest)>,
    metadata: BTreeMap<Digest, Vec<u8>>,
    offsets: BTreeMap<Digest, u64>,
    docs: BTreeMap<Digest, Doc>,
    pub(super) hashing: Hashing,
    workers: usize,
    tar_bytes: u64,
    blob_bytes: u64,
    end_of_last: u64,
    last_name: Option<String>,
}

impl Checker {
    pub(super) fn new(opts: &ReadOptions, compression: Compression) -> Self {
        Checker {
            manifest_only: opts.manifest_only,
            compression,
            next_preamble: 0,
            manifest: None,
            docker_manifest: Vec::new(),
            seen: BTreeSet::new(),
            last_key: None,
            metadata: BTreeMap::new(),
            offsets: BTreeMap::new(),
            docs: BTreeMap::new(),
            hashing: Hashing::None,
            workers: opts.hash_workers,
            tar_bytes: 0,
            blob_bytes: 0,
            end_of_last: 0,
            last_name: None,
        }
    }

    fn archive_manifest(&self) -> Result<&ArchiveManifest, IntegrityError> {
        self.manifest
            .as_ref()
            .map(|(m, _)| m)
            .ok_or_else(|| IntegrityError::NotAnArchive("airlock.json missing".into()))
    }

    fn preamble<R: Read>(
        &mut self,
        i: usize,
        name: &str,
        size: u64,
        entry: &mut R,
        state: &StreamState,
    ) -> Result<(), Error> {
        if i < self.next_preamble {
            return Err(IntegrityError::DuplicateEntry { name: name.into() }.into());
        }
        if i > self.next_preamble {
            if self.next_preamble == 0 {
                return Err(IntegrityError::NotAnArchive(format!(
                    "first entry is {}, not oci-layout",
                    crate::error::quoted(name)
                ))
                .into());
            }
            return Err(IntegrityError::OutOfOrder {
                name: name.into(),
                reason: format!("expected {:?} first", PREAMBLE[self.next_preamble]),
            }
            .into());
        }
        self.next_preamble += 1;
        match i {
            0 => {
                bounded(name, size, limits::MAX_OCI_LAYOUT_BYTES)?;
                if read_small(entry, size, name, state)? != names::OCI_LAYOUT_CONTENT {
                    return Err(IntegrityError::NotAnArchive(
                        "oci-layout is not imageLayoutVersion 1.0.0".into(),
                    )
                    .into());
                }
            }
            1 => {
                bounded(name, size, limits::MAX_ARCHIVE_MANIFEST_BYTES)?;
                let bytes = read_small(entry, size, name, state)?;
                self.manifest = Some(manifest_check::read_manifest(&bytes)?);
            }
            2 => {
                bounded(name, size, limits::MAX_JSON_BYTES)?;
                let bytes = read_small(entry, size, name, state)?;
                manifest_check::check_index_file(name, &bytes, self.archive_manifest()?)?;
            }
            3 => {
                bounded(name, size, limits::MAX_JSON_BYTES)?;
                let bytes = read_small(entry, size, name, state)?;
                manifest_check::check_layout_file(
                    name,
                    &bytes,
                    &self.archive_manifest()?.layout.docker_manifest,
                )?;
                self.docker_manifest = bytes;
            }
            _ => {
                if size != 0 {
                    return Err(IntegrityError::ForbiddenEntryType {
                        name: name.into(),
                        kind: "directory with data",
                    }
                    .into());
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn blob<R: Read>(
        &mut self,
        digest: Digest,
        name: &str,
        size: u64,
        offset: u64,
        entry: &mut R,
        state: &StreamState,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        if self.next_preamble < PREAMBLE.len() {
            if self.next_preamble == 0 {
                return Err(IntegrityError::NotAnArchive(
                    "first entry is a blob, not oci-layout".into(),
                )
                .into());
            }
            return Err(IntegrityError::OutOfOrder {
                name: name.into(),
                reason: format!("blobs must follow {:?}", PREAMBLE[self.next_preamble]),
            }
            .into());
        }
        let rec: BlobRecord = self
            .archive_manifest()?
            .blob(&digest)
            .cloned()
            .ok_or_else(|| IntegrityError::ExtraBlob { name: name.into() })?;
        if !self.seen.insert(digest) {
            return Err(IntegrityError::DuplicateEntry { name: name.into() }.into());
        }
        let key = rec.order_key();
        if self.last_key.is_some_and(|last| last >= key) {
            return Err(IntegrityError::OutOfOrder {
                name: name.into(),
                reason:
                    "blobs must be sorted: small JSON documents first, then layers, each by digest"
                        .into(),
            }
            .into());
        }
        self.last_key = Some(key);
        if size != rec.size {
            return Err(IntegrityError::SizeMismatch {
                digest: digest.to_string(),
                expected: rec.size,
                actual: size,
            }
            .into());
        }
        self.blob_bytes += size;
        self.offsets.insert(digest, offset);
        match rec.class() {
            BlobClass::Metadata => {
                let bytes = read_small(entry, size, name, state)?;
                mismatch(digest, Digest::of(&bytes))?;
                if media::is_image_manifest(&rec.media_type) {
                    let m = oci::parse_manifest(&bytes)
                        .map_err(|e| malformed(format!("manifest {digest}"), e))?;
                    check_own_media_type(&digest, m.media_type.as_deref(), &rec.media_type)?;
                    self.docs.insert(digest, Doc::Manifest(m));
                } else if media::is_index(&rec.media_type) {
                    let ix = oci::parse_index(&bytes)
                        .map_err(|e| malformed(format!("index {digest}"), e))?;
                    check_own_media_type(&digest, ix.media_type.as_deref(), &rec.media_type)?;
                    self.docs.insert(digest, Doc::Index(ix));
                }
                self.metadata.insert(digest, bytes);
                progress.inc(size);
            }
            BlobClass::Data => self.hashing.layer(
                self.workers,
                digest,
                name,
                size,
                offset,
                entry,
                state,
                progress,
            )?,
        }
        Ok(())
    }

    /// After the last entry: the end-of-archive marker and nothing but zeros.
    pub(super) fn end_of_stream<R: Read>(
        &mut self,
        rest: R,
        state: &StreamState,
    ) -> Result<(), Error> {
        if self.next_preamble == 0 {
            return Err(
                IntegrityError::NotAnArchive("empty input or not a tar archive".into()).into(),
            );
        }
        self.tar_bytes = input::end_of_archive(rest, state, self.end_of_last)?;
        Ok(())
    }

    pub(super) fn into_outcome(self) -> Result<ReadOutcome, Error> {
        let (manifest, manifest_digest) = self
            .manifest
            .ok_or_else(|| IntegrityError::NotAnArchive("no airlock.json".into()))?;
        if self.manifest_only {
            return Ok(ReadOutcome {
                manifest,
                manifest_digest,
                compression: self.compression,
                metadata: BTreeMap::new(),
                blob_offsets: BTreeMap::new(),
                tar_bytes: 0,
                blob_bytes: 0,
            });
        }
        self.hashing.finish()?;
        if let Some(missing) = manifest
            .blobs
            .iter()
            .find(|b| !self.seen.contains(&b.digest))
        {
            return Err(IntegrityError::MissingBlob {
                digest: missing.digest.to_string(),
            }
            .into());
        }
        super::graph::check(&manifest, &self.docs, &self.metadata, &self.docker_manifest)?;
        Ok(ReadOutcome {
            manifest,
            manifest_digest,
            compression: self.compression,
            metadata: self.metadata,
            blob_offsets: self.offsets,
            tar_bytes: self.tar_bytes,
            blob_bytes: self.blob_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::manifest_check::tests::manifest_with;
    use crate::model::progress::NoProgress;

    fn checker() -> Checker {
        Checker::new(&ReadOptions::default(), Compression::None)
    }

    /// A checker past the preamble of an archive listing `blobs`.
    fn ready_for(blobs: Vec<BlobRecord>) -> Checker {
        let mut c = checker();
        let m = manifest_with(blobs);
        c.manifest = Some((m, Digest::of(b"airlock.json")));
        c.next_preamble = PREAMBLE.len();
        c
    }

    fn config(data: &[u8]) -> BlobRecord {
        BlobRecord {
            digest: Digest::of(data),
            size: data.len() as u64,
            media_type: media::OCI_CONFIG.into(),
        }
    }

    fn feed(c: &mut Checker, rec: &BlobRecord, data: &[u8]) -> Result<(), IntegrityError> {
        let state = StreamState::default();
        let r = c.blob(
            rec.digest,
            &rec.digest.blob_path(),
            data.len() as u64,
            0,
            &mut &data[..],
            &state,
            &NoProgress,
        );
        match r {
            Ok(()) => Ok(()),
            Err(Error::Integrity(e)) => Err(e),
            Err(e) => panic!("not an integrity error: {e:?}"),
        }
    }

    fn oci_layout(c: &mut Checker) -> Result<(), Error> {
        let data = names::OCI_LAYOUT_CONTENT;
        let state = StreamState::default();
        c.preamble(
            0,
            names::OCI_LAYOUT,
            data.len() as u64,
            &mut &data[..],
            &state,
        )
    }

    #[test]
    fn the_first_entry_must_be_oci_layout() {
        let mut c = checker();
        let state = StreamState::default();
        let e = c.preamble(2, names::INDEX, 0, &mut &b""[..], &state);
        assert!(matches!(
            e,
            Err(Error::Integrity(IntegrityError::NotAnArchive(_)))
        ));
        let rec = config(b"{}");
        assert!(matches!(
            feed(&mut checker(), &rec, b"{}"),
            Err(IntegrityError::NotAnArchive(_))
        ));
    }

    #[test]
    fn preamble_entries_keep_their_order() {
        let mut c = checker();
        assert!(oci_layout(&mut c).is_ok());
        let state = StreamState::default();
        let e = c.preamble(2, names::INDEX, 0, &mut &b""[..], &state);
        assert!(matches!(
            e,
            Err(Error::Integrity(IntegrityError::OutOfOrder { .. }))
        ));
        let rec = config(b"{}");
        assert!(matches!(
            feed(&mut c, &rec, b"{}"),
            Err(IntegrityError::OutOfOrder { .. })
        ));
    }

    #[test]
    fn a_repeated_preamble_entry_is_a_duplicate() {
        let mut c = checker();
        assert!(oci_layout(&mut c).is_ok());
        assert!(matches!(
            oci_layout(&mut c),
            Err(Error::Integrity(IntegrityError::DuplicateEntry { .. }))
        ));
    }

    #[test]
    fn a_wrong_oci_layout_is_not_an_archive() {
        let mut c = checker();
        let data = br#"{"imageLayoutVersion":"2.0.0"}"#;
        let state = StreamState::default();
        let e = c.preamble(
            0,
            names::OCI_LAYOUT,
            data.len() as u64,
            &mut &data[..],
            &state,
        );
        assert!(matches!(
            e,
            Err(Error::Integrity(IntegrityError::NotAnArchive(_)))
        ));
    }

    /// Two JSON documents as (record, bytes), in tar order.
    fn two_documents() -> [(BlobRecord, &'static [u8]); 2] {
        let a: &'static [u8] = b"{\"a\":1}";
        let b: &'static [u8] = b"{\"b\":2}";
        let mut pair = [(config(a), a), (config(b), b)];
        pair.sort_by_key(|(r, _)| r.digest);
        pair
    }

    #[test]
    fn listed_blobs_in_order_pass_and_are_kept() {
        let [(r1, d1), (r2, d2)] = two_documents();
        let mut c = ready_for(vec![r1.clone(), r2.clone()]);
        assert!(feed(&mut c, &r1, d1).is_ok());
        assert!(feed(&mut c, &r2, d2).is_ok());
        assert_eq!(c.blob_bytes, 14);
        assert_eq!(c.metadata.len(), 2);
    }

    #[test]
    fn blobs_out_of_order_are_refused() {
        let [(r1, d1), (r2, d2)] = two_documents();
        let mut c = ready_for(vec![r1.clone(), r2.clone()]);
        assert!(feed(&mut c, &r2, d2).is_ok());
        assert!(matches!(
            feed(&mut c, &r1, d1),
            Err(IntegrityError::OutOfOrder { .. })
        ));
    }

    #[test]
    fn a_blob_twice_is_a_duplicate() {
        let rec = config(b"{}");
        let mut c = ready_for(vec![rec.clone()]);
        assert!(feed(&mut c, &rec, b"{}").is_ok());
        assert!(matches!(
            feed(&mut c, &rec, b"{}"),
            Err(IntegrityError::DuplicateEntry { .. })
        ));
    }

    #[test]
    fn an_unlisted_blob_is_extra() {
        let mut c = ready_for(vec![config(b"{}")]);
        assert!(matches!(
            feed(&mut c, &config(b"[]"), b"[]"),
            Err(IntegrityError::ExtraBlob { .. })
        ));
    }

    #[test]
    fn a_blob_of_another_size_is_refused_before_its_data() {
        let rec = config(b"{}");
        let mut c = ready_for(vec![rec.clone()]);
        assert!(matches!(
            feed(&mut c, &rec, b"{ }"),
            Err(IntegrityError::SizeMismatch {
                expected: 2,
                actual: 3,
                ..
            })
        ));
    }

    #[test]
    fn a_document_with_another_digest_is_refused() {
        let rec = config(b"{}");
        let mut c = ready_for(vec![rec.clone()]);
        assert!(matches!(
            feed(&mut c, &rec, b"[]"),
            Err(IntegrityError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn a_listed_blob_never_seen_is_missing() {
        let (a, b) = (config(b"{}"), config(b"[]"));
        let mut c = ready_for(vec![a.clone(), b.clone()]);
        assert!(feed(&mut c, &a, b"{}").is_ok());
        let e = c.into_outcome().unwrap_err();
        assert!(
            matches!(&e, Error::Integrity(IntegrityError::MissingBlob { digest }) if *digest == b.digest.to_string()),
            "{e:?}"
        );
    }

    #[test]
    fn an_empty_stream_is_not_an_archive() {
        let state = StreamState::default();
        assert!(matches!(
            checker().end_of_stream(&[0u8; 1024][..], &state),
            Err(Error::Integrity(IntegrityError::NotAnArchive(_)))
        ));
    }

    #[test]
    fn only_regular_files_and_the_blob_directories_are_allowed() {
        assert!(check_type(names::OCI_LAYOUT, tar::EntryType::Regular).is_ok());
        assert!(check_type(names::BLOBS_DIR, tar::EntryType::Directory).is_ok());
        assert!(check_type(names::SHA256_DIR, tar::EntryType::Directory).is_ok());
        for (name, et) in [
            ("index.json", tar::EntryType::Symlink),
            ("index.json", tar::EntryType::Link),
            ("index.json", tar::EntryType::Directory),
            ("blobs/", tar::EntryType::Regular),
            ("dev", tar::EntryType::Char),
        ] {
            assert!(
                matches!(
                    check_type(name, et),
                    Err(IntegrityError::ForbiddenEntryType { .. })
                ),
                "{name} {et:?}"
            );
        }
    }

    /// A tar of (name, data) regular files, with the end marker.
    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn a_manifest_only_read_stops_after_airlock_json() {
        let m = serde_json::to_vec(&manifest_with(vec![config(b"{}")])).unwrap();
        let bytes = tar_of(&[
            (names::OCI_LAYOUT, names::OCI_LAYOUT_CONTENT),
            (names::ARCHIVE_MANIFEST, &m),
            ("not/checked", b"x"),
        ]);
        let opts = ReadOptions {
            manifest_only: true,
            ..ReadOptions::default()
        };
        let mut c = Checker::new(&opts, Compression::None);
        let mut archive = tar::Archive::new(&bytes[..]);
        let state = StreamState::default();
        let flow = check_entries(archive.entries().unwrap(), &mut c, &state, &NoProgress);
        assert!(matches!(flow, Ok(Flow::Stop)));
        let out = c.into_outcome().unwrap();
        assert_eq!(out.manifest_digest, Digest::of(&m));
    }

    #[test]
    fn an_unknown_name_stops_the_walk() {
        let bytes = tar_of(&[
            (names::OCI_LAYOUT, names::OCI_LAYOUT_CONTENT),
            ("etc/passwd", b"root"),
        ]);
        let mut c = checker();
        let mut archive = tar::Archive::new(&bytes[..]);
        let state = StreamState::default();
        let r = check_entries(archive.entries().unwrap(), &mut c, &state, &NoProgress);
        assert!(r.is_err());
    }

    /// Preamble entry `i` holding `len` bytes of spaces (never a valid
    /// document), after valid entries before it.
    fn preamble_of_size(i: usize, len: u64) -> Result<(), Error> {
        let mut c = checker();
        if i > 0 {
            c.manifest = Some((manifest_with(Vec::new()), Digest::of(b"airlock.json")));
            c.next_preamble = i;
        }
        let data = vec![b' '; len as usize];
        c.preamble(i, PREAMBLE[i], len, &mut &data[..], &StreamState::default())
    }

    #[test]
    fn each_preamble_entry_is_read_at_its_limit_and_refused_one_byte_over() {
        let bounds = [
            limits::MAX_OCI_LAYOUT_BYTES,
            limits::MAX_ARCHIVE_MANIFEST_BYTES,
            limits::MAX_JSON_BYTES,
            limits::MAX_JSON_BYTES,
        ];
        // The other two preamble entries are directories, which must be empty.
        assert_eq!(
            &PREAMBLE[bounds.len()..],
            [names::BLOBS_DIR, names::SHA256_DIR]
        );
        for (i, limit) in bounds.into_iter().enumerate() {
            // At the limit the bytes are read and judged on their content.
            match preamble_of_size(i, limit) {
                Err(Error::Integrity(IntegrityError::TooLarge { .. })) | Ok(()) => {
                    panic!(
                        "{}: {limit} bytes should be read and refused as content",
                        PREAMBLE[i]
                    )
                }
                Err(_) => {}
            }
            match preamble_of_size(i, limit + 1) {
                Err(Error::Integrity(IntegrityError::TooLarge { size, limit: l, .. })) => {
                    assert_eq!((size, l), (limit + 1, limit), "{}", PREAMBLE[i])
                }
                other => panic!("{}: one byte over: {other:?}", PREAMBLE[i]),
            }
        }
    }
}
