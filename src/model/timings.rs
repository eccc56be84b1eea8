//! Where the time went, for `--timings` and the JSON reports: seconds per
//! phase (`resolve`, `download`, `hash`, `write`, `verify`, `load`).
//!
//! One command runs per process, so the figures are process-wide (a static
//! behind a mutex) rather than threaded through every layer's signature:
//! the layer that does the work adds to its phase, the CLI reads them at the
//! end. `hash` is CPU time summed over threads, so it can exceed the wall
//! time of the phases it overlaps.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

static PHASES: Mutex<BTreeMap<&'static str, Duration>> = Mutex::new(BTreeMap::new());

/// Add `d` to `phase`.
pub fn add(phase: &'static str, d: Duration) {
    if let Ok(mut p) = PHASES.lock() {
        *p.entry(phase).or_default() += d;
    }
}

/// Run `f`, adding its wall time to `phase`.
pub fn time<T>(phase: &'static str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    add(phase, start.elapsed());
    out
}

/// Run `f`, adding the CPU time this thread spent in it to `phase`: for
/// work spread over threads that may wait for a core, where wall time
/// would count the waiting too.
pub fn cpu<T>(phase: &'static str, f: impl FnOnce() -> T) -> T {
    let now = || rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let start = now();
    let out = f();
    let end = now();
    let d = Duration::new(end.tv_sec as u64, end.tv_nsec as u32)
        .saturating_sub(Duration::new(start.tv_sec as u64, start.tv_nsec as u32));
    add(phase, d);
    out
}

/// The time recorded for `phase` so far.
pub fn get(phase: &'static str) -> Duration {
    PHASES
        .lock()
        .ok()
        .and_then(|p| p.get(phase).copied())
        .unwrap_or_default()
}

/// The figures of this run, for a report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Timings {
    /// Seconds per phase, only phases that ran.
    #[serde(flatten)]
    pub seconds: BTreeMap<String, f64>,
}

/// Everything recorded so far.
pub fn snapshot() -> Timings {
    let seconds = PHASES
        .lock()
        .map(|p| {
            p.iter()
                .map(|(k, v)| {
                    (
                        (*k).to_string(),
                        (v.as_secs_f64() * 1000.0).round() / 1000.0,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Timings { seconds }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_add_up() {
        add("test-phase", Duration::from_millis(1500));
        time("test-phase", || ());
        assert!(get("test-phase") >= Duration::from_millis(1500));
        // A busy loop is CPU time; a sleep is not.
        cpu("cpu-phase", || {
            std::thread::sleep(Duration::from_millis(50))
        });
        assert!(get("cpu-phase") < Duration::from_millis(25));
        cpu("cpu-phase", || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(30) {
                std::hint::black_box(0u64);
            }
        });
        assert!(get("cpu-phase") >= Duration::from_millis(20));
        assert!(snapshot().seconds["test-phase"] >= 1.5);
    }
}
