//! Tar streams for `podman load` / `docker load`: an oci-archive (OCI
//! layout) or a docker-archive (`manifest.json`) holding exactly one
//! selected image, with the bytes exactly as verified, built from staged
//! blobs or straight from the archive through a [`BlobFeed`] (which
//! re-hashes every blob: a changed one breaks the stream before its end).

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use super::feed::BlobFeed;
use super::staging::Staging;
use crate::archive::layout_files::{CONTAINERD_NAME, REF_NAME};
use crate::error::{Error, IntegrityError};
use crate::gate::{SelectedImage, VerifiedArchive};
use crate::model::{media, oci, BlobRecord, Digest};

/// Fails reads once the operator interrupted, so the consumer sees a broken
/// stream (and is killed) instead of a complete one.
struct StopReader<'a, R> {
    inner: R,
    stop: &'a AtomicBool,
}

impl<R: Read> Read for StopReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("interrupted by the operator"));
        }
        self.inner.read(buf)
    }
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn add_bytes<W: Write>(b: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut h = header(bytes.len() as u64);
    b.append_data(&mut h, name, bytes)
}

fn add_blob<W: Write>(
    b: &mut tar::Builder<W>,
    staging: &Staging,
    d: &Digest,
    stop: &AtomicBool,
) -> io::Result<()> {
    let f = staging
        .open(d)
        .map_err(|e| io::Error::other(e.to_string()))?;
    let size = f.metadata()?.len();
    let mut h = header(size);
    b.append_data(
        &mut h,
        d.blob_path(),
        StopReader {
            inner: io::BufReader::with_capacity(1 << 20, f),
            stop,
        },
    )
}

/// The layer digests of a selected image, from its verified manifest.
pub fn layers(verified: &VerifiedArchive<'_>, img: &SelectedImage) -> Result<Vec<Digest>, Error> {
    let d = img.record.manifest_digest;
    let bytes = verified.metadata(&d).ok_or_else(|| {
        Error::Integrity(IntegrityError::MissingBlob {
            digest: d.to_string(),
        })
    })?;
    let m = oci::parse_manifest(bytes).map_err(|reason| IntegrityError::MalformedJson {
        name: format!("manifest {d}"),
        reason,
    })?;
    Ok(m.layers.iter().map(|l| l.digest).collect())
}

/// `index.json` naming one image.
pub fn single_index(img: &SelectedImage) -> Vec<u8> {
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": [{
            "mediaType": img.record.manifest_media_type,
            "digest": img.record.manifest_digest.to_string(),
            "size": img.record.manifest_size,
            "annotations": { REF_NAME: img.tag, CONTAINERD_NAME: img.tag },
        }],
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// An oci-archive of one image (podman load, docker ≥ 25 load).
pub fn write_oci_archive<W: Write>(
    out: W,
    staging: &Staging,
    img: &SelectedImage,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    add_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add_bytes(&mut b, "index.json", &single_index(img))?;
    for d in &img.image_blobs {
        add_blob(&mut b, staging, d, stop)?;
    }
    b.into_inner()?.flush()
}

/// `name:tag` for docker's RepoTags: the digest part dropped, `:latest`
/// added when there is no tag (what `docker pull` would do).
pub fn docker_tag(reference: &str) -> String {
    let name = reference.split('@').next().unwrap_or(reference);
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// A docker-archive of one image (classic `docker load`, Docker < 25).
pub fn write_docker_archive<W: Write>(
    out: W,
    staging: &Staging,
    img: &SelectedImage,
    layers: &[Digest],
    stop: &AtomicBool,
) -> io::Result<()> {
    let manifest = json!([{
        "Config": img.record.config_digest.blob_path(),
        "RepoTags": [docker_tag(&img.tag)],
        "Layers": layers.iter().map(|d| d.blob_path()).collect::<Vec<_>>(),
    }]);
    let manifest = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
    let mut b = tar::Builder::new(out);
    add_bytes(&mut b, "manifest.json", &manifest)?;
    add_blob(&mut b, staging, &img.record.config_digest, stop)?;
    let mut seen = Vec::new();
    for d in layers {
        if !seen.contains(d) {
            seen.push(*d);
            add_blob(&mut b, staging, d, stop)?;
        }
    }
    b.into_inner()?.flush()
}

/// The records of `digests` among the plan's blobs (each once).
pub fn records(plan: &[BlobRecord], digests: &[Digest]) -> Result<Vec<BlobRecord>, Error> {
    let mut out: Vec<BlobRecord> = Vec::with_capacity(digests.len());
    for d in digests {
        if out.iter().any(|r| r.digest == *d) {
            continue;
        }
        let rec = plan.iter().find(|r| r.digest == *d).ok_or_else(|| {
            Error::Integrity(IntegrityError::MissingBlob {
                digest: d.to_string(),
            })
        })?;
        out.push(rec.clone());
    }
    Ok(out)
}

/// Append `blobs` as they come out of `feed` (archive order).
fn add_fed<W: Write>(
    b: &mut tar::Builder<W>,
    blobs: &[BlobRecord],
    feed: &dyn BlobFeed,
) -> Result<(), Error> {
    feed.for_each(blobs, &mut |rec, data| {
        let mut h = header(rec.size);
        b.append_data(&mut h, rec.digest.blob_path(), data)
            .map_err(|e| Error::io("stream a blob to the loader", e))
    })
}

/// [`write_oci_archive`] straight from the archive.
pub fn write_oci_archive_fed<W: Write>(
    out: W,
    img: &SelectedImage,
    blobs: &[BlobRecord],
    feed: &dyn BlobFeed,
) -> Result<(), Error> {
    let io_err = |e| Error::io("stream to the loader", e);
    let mut b = tar::Builder::new(out);
    add_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_err)?;
    add_bytes(&mut b, "index.json", &single_index(img)).map_err(io_err)?;
    add_fed(&mut b, blobs, feed)?;
    b.into_inner().and_then(|mut w| w.flush()).map_err(io_err)
}

/// [`write_docker_archive`] straight from the archive; `blobs` are the
/// config and the layers.
pub fn write_docker_archive_fed<W: Write>(
    out: W,
    img: &SelectedImage,
    layers: &[Digest],
    blobs: &[BlobRecord],
    feed: &dyn BlobFeed,
) -> Result<(), Error> {
    let io_err = |e| Error::io("stream to the loader", e);
    let manifest = json!([{
        "Config": img.record.config_digest.blob_path(),
        "RepoTags": [docker_tag(&img.tag)],
        "Layers": layers.iter().map(|d| d.blob_path()).collect::<Vec<_>>(),
    }]);
    let manifest = serde_json::to_vec(&manifest).map_err(|e| io_err(io::Error::other(e)))?;
    let mut b = tar::Builder::new(out);
    add_bytes(&mut b, "manifest.json", &manifest).map_err(io_err)?;
    add_fed(&mut b, blobs, feed)?;
    b.into_inner().and_then(|mut w| w.flush()).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_tags() {
        assert_eq!(docker_tag("localhost/a:1"), "localhost/a:1");
        assert_eq!(docker_tag("reg:5000/a"), "reg:5000/a:latest");
        assert_eq!(docker_tag("reg:5000/a:2@sha256:00"), "reg:5000/a:2");
    }
}
