//! Progress bars on a terminal, silence in pipes and CI logs.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

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
pub fn multi(quiet: bool) -> indicatif::MultiProgress {
    use indicatif::{MultiProgress, ProgressDrawTarget};
    if quiet || !std::io::stderr().is_terminal() {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    } else {
        MultiProgress::new()
    }
}
