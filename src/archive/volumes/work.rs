//! Whole-volume work spread over the cores: hashing volume files, and
//! running one job per item on a few threads. Volumes are independent, so
//! checking or rebuilding a set need not go one file at a time.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::archive::hashpool::{hash_region, CHUNK};
use crate::model::progress::NoProgress;
use crate::model::Digest;

/// Threads for whole-file work (one 1 MiB buffer each).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The sha256 of `file`'s first `limit` bytes (or all of it when shorter)
/// and how many bytes that was.
pub fn hash_file(file: &File, limit: u64) -> io::Result<(u64, Digest)> {
    let mut buf = vec![0u8; CHUNK];
    hash_region(file, 0, limit, &mut buf, &NoProgress)
}

/// `job` applied to every item on up to `threads` threads; results in the
/// order of `items`.
pub fn map<T: Sync, R: Send>(items: &[T], threads: usize, job: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = job(item);
                if let Ok(mut out) = out.lock() {
                    out[i] = Some(r);
                }
            });
        }
    });
    out.into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_the_order_of_its_items() {
        let items: Vec<u64> = (0..100).collect();
        assert_eq!(
            map(&items, 3, |i| i * 2),
            (0..100).map(|i| i * 2).collect::<Vec<_>>()
        );
        assert!(map(&[] as &[u64], 3, |i| *i).is_empty());
    }

    #[test]
    fn hash_file_reads_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
        std::fs::write(&p, &bytes).unwrap();
        let f = File::open(&p).unwrap();
        assert_eq!(
            hash_file(&f, u64::MAX).unwrap(),
            (3_000_000, Digest::of(&bytes))
        );
        assert_eq!(hash_file(&f, 10).unwrap(), (10, Digest::of(&bytes[..10])));
    }
}
