//! Progress as the core reports it: bytes done, counted on a handle the
//! caller supplies. Drawing (a terminal bar, or nothing) is the CLI's
//! business, so archive, source and pipeline code never name a UI crate.

use std::fmt::Debug;
use std::sync::Arc;

/// A byte counter for one phase (packing, verifying, one image's downloads).
pub trait Progress: Send + Sync {
    /// `n` more bytes done.
    fn inc(&self, n: u64);
    /// Take back `n` bytes counted by an attempt that failed (a download
    /// retried from zero).
    fn dec(&self, n: u64);
    /// The total became known (pack sizes its bar once the sources are
    /// resolved).
    fn set_total(&self, _total: u64) {}
    /// The phase is over; a drawn bar goes away.
    fn finish(&self) {}
    /// Another handle on the same counter, for worker threads that outlive
    /// the borrow they were started from.
    fn share(&self) -> Arc<dyn Progress>;
}

/// Several counters shown together (registry downloads: one per image and
/// a total).
pub trait ProgressGroup: Send + Sync + Debug {
    /// A new counter towards `total` bytes, labelled `label`.
    fn bar(&self, total: u64, label: &str) -> Box<dyn Progress>;
}

/// Counts nothing, shows nothing: library callers and tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn inc(&self, _: u64) {}

    fn dec(&self, _: u64) {}

    fn share(&self) -> Arc<dyn Progress> {
        Arc::new(NoProgress)
    }
}

impl ProgressGroup for NoProgress {
    fn bar(&self, _: u64, _: &str) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_progress_takes_any_call() {
        let p: &dyn Progress = &NoProgress;
        p.inc(1);
        p.dec(2);
        p.finish();
        p.share().inc(3);
        NoProgress.bar(10, "x").inc(4);
    }
}
