//! Step 3 of the registry sink: the tags, written last. Works out every
//! write (cosign tags, the referrers tag-schema index where the registry
//! lists no referrers itself, image tags last) with what each tag held
//! before, writes them, reads each back, and on failure puts moved tags back.

use serde_json::{json, Value};

use super::plan::{PushPlan, RepoPlan, TagPush};
use super::remote::Existing;
use super::RegistrySink;
use crate::error::Error;
use crate::model::{media, Digest};

/// One tag write, with what the tag held before.
pub(super) struct TagWrite {
    pub(super) repository: String,
    pub(super) tag: TagPush,
    pub(super) bytes: Vec<u8>,
    pub(super) before: Option<Existing>,
}

impl RegistrySink {
    /// The tag-schema index writes for referrers the registry does not list
    /// (no referrers API): the existing `sha256-<hex>` index plus ours.
    async fn referrer_tags(&self, repo: &RepoPlan) -> Result<Vec<(TagPush, Vec<u8>)>, Error> {
        let r = &repo.repository;
        let mut subjects: Vec<Digest> = repo.referrers.iter().map(|x| x.subject).collect();
        subjects.sort();
        subjects.dedup();
        let mut out = Vec::new();
        for subject in subjects {
            let listed = self.remote.listed_referrers(r, &subject).await;
            let missing: Vec<&Value> = repo
                .referrers
                .iter()
                .filter(|x| x.subject == subject && !listed.contains(&x.digest))
                .map(|x| &x.descriptor)
                .collect();
            if missing.is_empty() {
                continue;
            }
            let tag = format!("sha256-{}", subject.hex());
            let mut entries: Vec<Value> = Vec::new();
            if let Some(old) = self.remote.existing(r, &tag).await? {
                if media::is_index(&old.media_type) {
                    if let Ok(v) = serde_json::from_slice::<Value>(&old.bytes) {
                        entries = v
                            .get("manifests")
                            .and_then(|m| m.as_array())
                            .cloned()
                            .unwrap_or_default();
                    }
                }
            }
            for m in missing {
                if !entries.iter().any(|e| e.get("digest") == m.get("digest")) {
                    entries.push(m.clone());
                }
            }
            let bytes = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": media::OCI_INDEX,
                "manifests": entries,
            }))
            .map_err(|e| Error::Sink(format!("referrers index: {e}")))?;
            out.push((
                TagPush {
                    tag,
                    digest: Digest::of(&bytes),
                    media_type: media::OCI_INDEX.to_string(),
                },
                bytes,
            ));
        }
        Ok(out)
    }

    /// Every tag write, evidence first and image tags last, with what each
    /// tag holds now. Tags already pointing at our digest are left alone.
    pub(super) async fn tag_writes(
        &self,
        p: &PushPlan,
        doc: &dyn Fn(&Digest) -> Result<Vec<u8>, Error>,
    ) -> Result<Vec<TagWrite>, Error> {
        let mut pending: Vec<(String, TagPush, Vec<u8>)> = Vec::new();
        for repo in &p.repos {
            for t in &repo.evidence_tags {
                pending.push((repo.repository.clone(), t.clone(), doc(&t.digest)?));
            }
            for (t, bytes) in self.referrer_tags(repo).await? {
                pending.push((repo.repository.clone(), t, bytes));
            }
        }
        for repo in &p.repos {
            for t in &repo.image_tags {
                pending.push((repo.repository.clone(), t.clone(), doc(&t.digest)?));
            }
        }
        let mut out = Vec::new();
        for (repository, tag, bytes) in pending {
            let before = self.remote.existing(&repository, &tag.tag).await?;
            if before.as_ref().is_some_and(|b| b.digest == tag.digest) {
                continue;
            }
            out.push(TagWrite {
                repository,
                tag,
                bytes,
                before,
            });
        }
        Ok(out)
    }

    pub(super) async fn write_tags(&self, writes: &[TagWrite]) -> Result<(), Error> {
        for (i, w) in writes.iter().enumerate() {
            let r = self
                .remote
                .push_tag(
                    &w.repository,
                    &w.tag.tag,
                    &w.tag.digest,
                    &w.bytes,
                    &w.tag.media_type,
                )
                .await;
            let r = match r {
                Ok(()) => self.check_tag(w).await,
                Err(e) => Err(e),
            };
            if let Err(e) = r {
                // This one may have been written too.
                return Err(self.roll_back(&writes[..=i], e).await);
            }
        }
        Ok(())
    }

    /// Read a written tag back: it must resolve to our digest.
    async fn check_tag(&self, w: &TagWrite) -> Result<(), Error> {
        let now = self.remote.tag_digest(&w.repository, &w.tag.tag).await?;
        if now != Some(w.tag.digest) {
            return Err(Error::Sink(format!(
                "{}/{}:{} resolves to {}, not the pushed {} (refused)",
                self.target.host,
                w.repository,
                w.tag.tag,
                now.map(|d| d.to_string())
                    .unwrap_or_else(|| "nothing".into()),
                w.tag.digest
            )));
        }
        Ok(())
    }

    /// Put moved tags back; name the new ones that cannot be removed. A
    /// tag that does not resolve to what this run pushed was not written
    /// (or was changed by someone else since) and is left alone.
    async fn roll_back(&self, written: &[TagWrite], cause: Error) -> Error {
        let mut restored = 0;
        let mut left = Vec::new();
        for w in written.iter().rev() {
            let name = format!("{}/{}:{}", self.target.host, w.repository, w.tag.tag);
            let now = self
                .remote
                .tag_digest(&w.repository, &w.tag.tag)
                .await
                .ok()
                .flatten();
            if now != Some(w.tag.digest) {
                continue;
            }
            match &w.before {
                Some(b) => {
                    let ok = self
                        .remote
                        .push_tag(
                            &w.repository,
                            &w.tag.tag,
                            &b.digest,
                            &b.bytes,
                            &b.media_type,
                        )
                        .await
                        .is_ok();
                    if ok {
                        restored += 1;
                    } else {
                        left.push(format!("{name} (could not be put back to {})", b.digest));
                    }
                }
                None => left.push(format!("{name} (new; remove it by hand)")),
            }
        }
        let mut msg = match &cause {
            Error::Sink(m) => m.clone(),
            other => other.to_string(),
        };
        if restored > 0 {
            msg += &format!("; {restored} moved tag(s) put back");
        }
        if !left.is_empty() {
            msg += &format!(
                "; not undone (a registry cannot remove a tag alone, see docs/unpack.md): {}",
                left.join(", ")
            );
        }
        match cause {
            Error::Interrupted if left.is_empty() => Error::Interrupted,
            _ => Error::Sink(msg),
        }
    }
}
