//! SIGINT and SIGTERM. Writers (pack) stop at once: the handler removes
//! the temporary files they listed (`pipeline::outputs`) and exits 130.
//! Unpack instead sets a flag the pipeline checks between blobs and while
//! streaming into a target, so its own undo runs before it exits 130.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::pipeline::outputs;

/// Exit code of a command stopped by SIGINT/SIGTERM (128 + SIGINT).
pub const INTERRUPTED: i32 = 130;

/// Stop `command` at once on an interrupt, removing its temporary files.
pub fn remove_outputs_and_exit(command: &'static str) {
    // Failing to install (a handler already set) only loses the cleanup.
    let _ = ctrlc::set_handler(move || {
        let n = outputs::remove_all_and_hold();
        eprintln!("airlock {command}: interrupted; removed {n} temporary file(s)");
        std::process::exit(INTERRUPTED);
    });
}

/// A flag set on an interrupt; the second one is left to the same flag:
/// cleanup is quick and must not be cut short.
pub fn flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let _ = ctrlc::set_handler(move || s.store(true, Ordering::SeqCst));
    stop
}

/// For `serve`: before `serving` is set, an interrupt removes the listed
/// temporary files (the spool) and exits 130, as for a writer; after it,
/// it sets the returned flag and the server stops gracefully.
pub fn exit_or_stop(command: &'static str, serving: Arc<AtomicBool>) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if serving.load(Ordering::SeqCst) {
            s.store(true, Ordering::SeqCst);
            return;
        }
        let n = outputs::remove_all();
        eprintln!("airlock {command}: interrupted; removed {n} temporary file(s)");
        std::process::exit(INTERRUPTED);
    });
    stop
}
