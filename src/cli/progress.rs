//! Progress bars on a terminal, silence in pipes and CI logs. The core
//! counts through `model::progress`; indicatif is known only here.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::model::progress::{Progress, ProgressGroup};

impl Progress for ProgressBar {
    fn inc(&self, n: u64) {
        ProgressBar::inc(self, n);
    }

    fn dec(&self, n: u64) {
        self.set_position(self.position().saturating_sub(n));
    }

    fn set_total(&self, total: u64) {
        self.set_length(total);
    }

    fn finish(&self) {
        self.finish_and_clear();
    }

    fn share(&self) -> Arc<dyn Progress> {
        // A clone draws on the same bar.
        Arc::new(self.clone())
    }
}

/// Per-image download bars and their total, drawn as one block.
impl ProgressGroup for MultiProgress {
    fn bar(&self, total: u64, label: &str) -> Box<dyn Progress> {
        let style = ProgressStyle::with_template(
            "{msg:>24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let b = self.add(ProgressBar::new(total));
        b.set_style(style);
        b.set_message(label.to_string());
        Box::new(b)
    }
}

pub fn bytes(total: Option<u64>, label: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::no_length(),
    };
    let style = ProgressStyle::with_template(
        "{msg:>8} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(label.to_string());
    bar
}

/// A container for several bars (registry downloads: per image + total).
pub fn multi(quiet: bool) -> Arc<dyn ProgressGroup> {
    if quiet || !std::io::stderr().is_terminal() {
        Arc::new(MultiProgress::with_draw_target(ProgressDrawTarget::hidden()))
    } else {
        Arc::new(MultiProgress::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_counts_through_the_core_trait() {
        let bar = ProgressBar::hidden();
        let p: &dyn Progress = &bar;
        p.inc(10);
        p.dec(3);
        assert_eq!(bar.position(), 7);
        // A failed attempt never takes the bar below zero.
        p.dec(100);
        assert_eq!(bar.position(), 0);
        // A shared handle (worker threads) moves the same bar.
        p.share().inc(5);
        assert_eq!(bar.position(), 5);
    }
}
