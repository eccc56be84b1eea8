//! One blob's download with bounded retries, shared by the blob cache
//! (bytes into a file) and the streamed pack (bytes straight to the
//! archive writer, [`super::stream`]). A break resumes with an HTTP Range
//! request for the rest; a registry that answers 200 instead of 206 sends
//! the blob again from its first byte, and the sink decides what that
//! means (a fresh file; skipping what the writer already has).

use bytes::Bytes;
use futures_util::StreamExt;
use oci_client::client::BlobResponse;
use oci_client::manifest::OciDescriptor;
use oci_client::{Client, Reference};

use crate::error::Error;
use crate::model::oci::DescriptorInfo;
use crate::model::progress::Progress;
use crate::registry_client::fail::{self, Failure};

/// Where the bytes of one blob go.
pub(super) trait BlobSink {
    /// Leading bytes of the blob kept so far: a retry asks for the rest.
    fn kept(&self) -> u64;
    /// The registry sends the blob again from its first byte.
    async fn restart(&mut self) -> Result<(), Failure>;
    /// `bytes` found at offset `at` of the blob.
    async fn put(&mut self, at: u64, bytes: Bytes) -> Result<(), Failure>;
}

/// "blob D of REPO".
pub(super) fn describe(repo: &Reference, desc: &DescriptorInfo) -> String {
    format!("blob {} of {}", desc.digest, repo.whole())
}

/// Download `desc` from `repo` into `sink`: every byte of it once, in
/// order, or an error after `retries` retries. `progress` counts bytes
/// (taken back when a restart or the final failure drops them). The
/// content's digest is the sink's to check.
pub(super) async fn download<S: BlobSink>(
    client: &Client,
    repo: &Reference,
    desc: &DescriptorInfo,
    retries: u32,
    progress: &[&dyn Progress],
    sink: &mut S,
) -> Result<(), Error> {
    let what = describe(repo, desc);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_download(client, repo, desc, progress, sink).await {
            Ok(()) => return Ok(()),
            // What was kept stays counted: the retry resumes after it.
            Err(Failure::Retry(_)) if attempt <= retries => {
                tokio::time::sleep(fail::backoff(attempt)).await;
            }
            Err(f) => {
                progress.iter().for_each(|p| p.dec(sink.kept()));
                return Err(fail::into_error(&what, f, attempt));
            }
        }
    }
}

/// One attempt: the whole blob, or the rest of it by Range.
async fn try_download<S: BlobSink>(
    client: &Client,
    repo: &Reference,
    desc: &DescriptorInfo,
    progress: &[&dyn Progress],
    sink: &mut S,
) -> Result<(), Failure> {
    let what = describe(repo, desc);
    let fatal = |m: String| Failure::Fatal(Error::Source(format!("{what}: {m}")));
    let oci_desc = OciDescriptor {
        media_type: desc.media_type.clone(),
        digest: desc.digest.to_string(),
        size: i64::try_from(desc.size).map_err(|_| fatal("size out of range".into()))?,
        ..OciDescriptor::default()
    };
    let resume_at = sink.kept();
    let (mut stream, mut at) = if resume_at > 0 {
        match client
            .pull_blob_stream_partial(repo, &oci_desc, resume_at, None)
            .await
            .map_err(|e| fail::classify(&what, e))?
        {
            BlobResponse::Partial(s) => (s, resume_at),
            BlobResponse::Full(s) => (s, 0),
        }
    } else {
        let s = client
            .pull_blob_stream(repo, &oci_desc)
            .await
            .map_err(|e| fail::classify(&what, e))?;
        (s, 0)
    };
    if at == 0 {
        progress.iter().for_each(|p| p.dec(resume_at));
        sink.restart().await?;
    }
    let expected = desc.size - at;
    if let Some(len) = stream.content_length {
        if len != expected {
            return Err(fatal(format!(
                "the registry sends {len} bytes, {expected} were expected"
            )));
        }
    }
    let mut stream_err = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                let len = bytes.len() as u64;
                if at + len > desc.size {
                    return Err(fatal(format!(
                        "the registry sent more than the {} bytes the descriptor says",
                        desc.size
                    )));
                }
                let before = sink.kept();
                sink.put(at, bytes).await?;
                at += len;
                progress.iter().for_each(|p| p.inc(sink.kept() - before));
            }
            Err(e) => {
                stream_err = Some(e);
                break;
            }
        }
    }
    if at != desc.size {
        return Err(Failure::Retry(match stream_err {
            Some(e) => format!(
                "download broke after {at} of {} bytes: {}",
                desc.size,
                fail::chain(&e)
            ),
            None => format!("connection ended after {at} of {} bytes", desc.size),
        }));
    }
    Ok(())
}
