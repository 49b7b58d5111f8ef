//! Keeps a `--jq` program from crashing ctlookup: a stack budget checked at every step of jaq's evaluation,
//! and a way for the writer to stop a program whose output nobody reads any more.
//!
//! jaq evaluates recursively on the native stack and has no depth limit, no fuel and no hook of its own:
//! `def f: 1 + f; f` recurses until the stack overflows, which Rust cannot recover from (the process
//! aborts, exit 134). The one place that every step of evaluation goes through is the look-up of the
//! compiled program: jaq's `Id::run`, `paths` and `update` each start by asking the context's data for
//! the LUT ([`HasLut::lut`]). ctlookup gives jaq its own data kind, [`Guarded`], whose `lut` first calls
//! [`check`]: when the stack pointer has gone further than the budget below where the worker thread
//! started, or the writer asked the program to stop, it unwinds ([`std::panic::resume_unwind`], which
//! runs no panic hook and prints nothing) up to the `catch_unwind` around the record in `worker.rs`, which
//! turns it into an ordinary per-record error. Unwinding out of jaq is sound: it only drops the record's
//! evaluation state; the compiled program is never mutated by a run. (The release profile keeps
//! `panic = "unwind"`; with `abort` this would end the process instead.)
//!
//! The budget is checked, not relied on alone: the program runs on a worker thread with a stack much
//! larger than the budget (`worker.rs`), so that what jaq does outside of evaluation steps and cannot be
//! checked — dropping, comparing or printing a value nested millions of levels deep, as
//! `reduce range(1e6) as $x (null; [.])` builds — has that headroom. The `stacker` crate's
//! `remaining_stack` was the other candidate; measuring from the worker's own first frame gives the same
//! answer for a thread we create ourselves, without a new dependency and its C build.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

use jaq_core::data::HasLut;
use jaq_core::{DataT, Lut};
use jaq_json::Val;

/// jaq's data kind for ctlookup's programs: plain JSON values, and a LUT whose every look-up is checked.
pub struct Guarded;

impl DataT for Guarded {
    type V<'a> = Val;
    type Data<'a> = Watched<'a>;
}

/// The compiled program's LUT, handed to jaq as the run's global data.
#[derive(Clone)]
pub struct Watched<'a>(pub &'a Lut<Guarded>);

impl<'a> HasLut<'a, Guarded> for Watched<'a> {
    #[inline]
    fn lut(&self) -> &'a Lut<Guarded> {
        check();
        self.0
    }
}

/// Why a program was stopped before it ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It used up its stack budget: deep recursion, or a value nested too deeply to print.
    Stack,
    /// The writer asked it to stop (its output cannot be written any more).
    Cancelled,
}

/// What [`check`] compares against on this thread; the default watches nothing (unit tests, main thread).
#[derive(Clone, Copy)]
struct Watch {
    /// The lowest stack address the program may reach (stacks grow downwards on every platform that
    /// ctlookup is built for); 0 for no limit.
    limit: usize,
    cancel: Option<&'static AtomicBool>,
}

thread_local! {
    static WATCH: Cell<Watch> = const { Cell::new(Watch { limit: 0, cancel: None }) };
}

/// Arms [`check`] on the calling thread: from here on, the program may use `budget` bytes of stack below
/// the caller's frame, and stops as soon as `cancel` is set.
pub fn arm(budget: usize, cancel: &'static AtomicBool) {
    let limit = stack_position().saturating_sub(budget);
    WATCH.set(Watch { limit, cancel: Some(cancel) });
}

/// Unwinds with a [`Stop`] when the stack budget is used up or the program was cancelled.
#[inline]
pub fn check() {
    let watch = WATCH.get();
    if stack_position() < watch.limit {
        stop(Stop::Stack);
    }
    if watch.cancel.is_some_and(|cancel| cancel.load(Ordering::Relaxed)) {
        stop(Stop::Cancelled);
    }
}

fn stop(reason: Stop) -> ! {
    std::panic::resume_unwind(Box::new(reason))
}

/// About where the stack pointer is: the address of a local of this (not inlined) frame.
#[inline(never)]
fn stack_position() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recurse(depth: usize) -> usize {
        check();
        if depth == 0 {
            0
        } else {
            1 + std::hint::black_box(recurse(depth - 1))
        }
    }

    #[test]
    fn the_budget_stops_deep_recursion_and_cancel_stops_at_once() {
        static CANCEL: AtomicBool = AtomicBool::new(false);
        let outcome = std::thread::spawn(|| {
            arm(256 * 1024, &CANCEL);
            let shallow = recurse(10);
            let deep = std::panic::catch_unwind(|| recurse(10_000_000)).map_err(|e| *e.downcast::<Stop>().unwrap());
            CANCEL.store(true, Ordering::Relaxed);
            let cancelled = std::panic::catch_unwind(|| recurse(1)).map_err(|e| *e.downcast::<Stop>().unwrap());
            (shallow, deep, cancelled)
        })
        .join()
        .unwrap();
        assert_eq!(outcome, (10, Err(Stop::Stack), Err(Stop::Cancelled)));
    }

    #[test]
    fn an_unarmed_thread_is_not_watched() {
        assert_eq!(std::thread::spawn(|| recurse(1000)).join().unwrap(), 1000);
    }
}
