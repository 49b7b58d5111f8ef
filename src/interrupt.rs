//! Ctrl-C, SIGTERM and SIGHUP: the first one asks the run to stop where it is (the output is completed,
//! the resume token printed, exit 128 + the signal: 130, 143, 129); a second one ends the process at once.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// The first signal that arrived, 0 for none.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

const SIGINT: i32 = 2;

/// How often a wait for the network looks at the flag: short against a human, long against a CPU.
const POLL: Duration = Duration::from_millis(25);

/// Installs the handlers; a failure (no signal support) only means a signal ends the process as usual.
#[cfg(unix)]
pub fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the action only touches an atomic and, for a second signal, calls `_exit`; both
        // are async-signal-safe.
        let _ = unsafe { signal_hook_registry::register(signal, move || on_signal(signal)) };
    }
}

#[cfg(unix)]
fn on_signal(signal: i32) {
    if SIGNAL.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst).is_err() {
        // SAFETY: `_exit` is async-signal-safe; it skips destructors on purpose, as asked.
        unsafe { libc::_exit(128 + signal) };
    }
}

/// Elsewhere, Ctrl-C only.
#[cfg(not(unix))]
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if SIGNAL.compare_exchange(0, SIGINT, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            std::process::exit(128 + SIGINT);
        }
    });
}

pub fn interrupted() -> bool {
    SIGNAL.load(Ordering::Relaxed) != 0
}

/// 128 + SIGINT, as shells report a process ended by Ctrl-C; SIGTERM and SIGHUP give 143 and 129
/// (`interrupt::exit_code`).
pub const EXIT_INTERRUPTED: u8 = 130;

/// 128 + the signal that stopped the run, as shells report a process that a signal ended (130 when
/// none is recorded: only a signal makes an `Interrupted` error).
pub fn exit_code() -> u8 {
    let signal = match SIGNAL.load(Ordering::Relaxed) {
        0 => SIGINT,
        s => s,
    };
    u8::try_from(128 + signal).unwrap_or(EXIT_INTERRUPTED)
}

/// What stopped the run, for the message: "interrupted" (Ctrl-C), "terminated (SIGTERM)", "hung up
/// (SIGHUP)".
pub fn what() -> &'static str {
    #[cfg(unix)]
    match SIGNAL.load(Ordering::Relaxed) {
        libc::SIGTERM => return "terminated (SIGTERM)",
        libc::SIGHUP => return "hung up (SIGHUP)",
        _ => {}
    }
    "interrupted"
}

/// Resolves once a signal arrived; for racing against a request.
pub async fn wait() {
    while !interrupted() {
        tokio::time::sleep(POLL).await;
    }
}
