//! Ctrl-C: the first one asks the run to stop where it is (the output is completed, exit 130); a second
//! one ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// How often a wait for the network looks at the flag: short against a human, long against a CPU.
const POLL: Duration = Duration::from_millis(25);

/// Installs the handler; a failure (no signal support) only means Ctrl-C ends the process as usual.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Resolves once Ctrl-C was pressed; for racing against a request.
pub async fn wait() {
    while !interrupted() {
        tokio::time::sleep(POLL).await;
    }
}
