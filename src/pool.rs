//! Reads several inputs at once, each on one of a bounded pool of threads, and hands what they read to
//! the calling thread in input order, with a bounded number of bytes held between the two: the files
//! of `--input` (`source::files`) and the chunks of the store (`store::read`) alike.
//!
//! Inputs are taken in order from one queue, so the input the caller waits for is always being read (or
//! done). Each input has its own small channel; readers of later inputs stop when the bytes held for
//! the caller reach [`BYTES_AHEAD`], while the reader of the input the caller is on always goes on,
//! bounded by its channel alone: memory stays bounded and nothing can wait for itself. At most
//! [`INPUTS_AHEAD`] inputs are queued at a time, whatever the number of inputs.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, Condvar, Mutex, MutexGuard, PoisonError};

use anyhow::Result;

/// What the caller wants after an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Bytes read ahead for the inputs after the one the caller is on.
const BYTES_AHEAD: usize = 4 * 1024 * 1024;
/// Inputs queued or being read, the one the caller is on included.
const INPUTS_AHEAD: usize = 64;
/// Items waiting in one input's channel.
const ITEMS_IN_FLIGHT: usize = 4;

/// The caller stopped (enough events, an error, Ctrl-C): a reader ends quietly.
#[derive(Debug)]
pub struct Gone;

/// Something read, with its size for the bound.
pub trait Weighed {
    fn bytes(&self) -> usize;
}

/// Where a reader puts what it read, in order.
pub trait Sink<T> {
    fn send(&mut self, item: T) -> Result<(), Gone>;
}

/// The caller's side: the items of each input in order, then the end of that input.
pub trait Ordered<T> {
    fn item(&mut self, input: usize, item: T) -> Result<Flow>;
    /// Everything of `input` was handed on (also after a `Flow::Stop` within it).
    fn done(&mut self, input: usize) -> Result<()>;
}

/// Reads every input with `read` on `threads` threads (at most one an input; 1: on the calling thread,
/// one input after another) and hands the items to `ordered` on the calling thread, as one thread
/// reading the inputs in order would. A single input is read on a thread of its own too, so that
/// reading and the caller's work overlap. Stops at the first error or `Flow::Stop` of `ordered`; a
/// reader's panic is raised again here.
pub fn run<I: Sync, T: Weighed + Send>(
    inputs: &[I],
    threads: usize,
    read: impl Fn(usize, &I, &mut dyn Sink<T>) + Sync,
    ordered: &mut dyn Ordered<T>,
) -> Result<()> {
    if threads <= 1 || inputs.is_empty() {
        return inline(inputs, read, ordered);
    }
    let threads = threads.min(inputs.len());
    let shared =
        Shared { state: Mutex::new(State { head: 0, held: 0, closed: false, panic: None }), changed: Condvar::new() };
    let (jobs, queue) = mpsc::channel::<(usize, mpsc::SyncSender<T>)>();
    let queue = Mutex::new(queue);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| reader(inputs, &read, &queue, &shared));
        }
        let mut pending = VecDeque::new();
        let mut queued = 0;
        let mut result = Ok(());
        'inputs: for index in 0..inputs.len() {
            while queued < inputs.len() && pending.len() < INPUTS_AHEAD {
                let (sender, receiver) = mpsc::sync_channel(ITEMS_IN_FLIGHT);
                // The readers outlive this loop: the queue is open.
                let _ = jobs.send((queued, sender));
                pending.push_back(receiver);
                queued += 1;
            }
            let receiver = pending.pop_front().expect("the input was queued");
            let mut stopped = false;
            for item in receiver.iter() {
                let bytes = item.bytes();
                let flow = ordered.item(index, item);
                shared.release(bytes);
                match flow {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Stop) => {
                        stopped = true;
                        break;
                    }
                    Err(err) => {
                        result = Err(err);
                        break 'inputs;
                    }
                }
            }
            // A reader that panicked ended its input early: that is not the input's end.
            // (Taken in a statement of its own: the lock is released before `close` takes it again.)
            let panicked = shared.lock().panic.take();
            if let Some(payload) = panicked {
                shared.close();
                panic::resume_unwind(payload);
            }
            if let Err(err) = ordered.done(index) {
                result = Err(err);
                break;
            }
            if stopped {
                break;
            }
            shared.advance();
        }
        // Readers blocked on the budget, a channel or the queue all wake up and end.
        shared.close();
        drop(pending);
        drop(jobs);
        result
    })
}

/// One thread: each input read to its end, its items handed on as they come.
fn inline<I, T>(inputs: &[I], read: impl Fn(usize, &I, &mut dyn Sink<T>), ordered: &mut dyn Ordered<T>) -> Result<()> {
    struct Direct<'o, T> {
        ordered: &'o mut dyn Ordered<T>,
        input: usize,
        outcome: Result<Flow>,
    }
    impl<T> Sink<T> for Direct<'_, T> {
        fn send(&mut self, item: T) -> Result<(), Gone> {
            match self.ordered.item(self.input, item) {
                Ok(Flow::Continue) => Ok(()),
                other => {
                    self.outcome = other;
                    Err(Gone)
                }
            }
        }
    }
    for (index, input) in inputs.iter().enumerate() {
        let mut direct = Direct { ordered: &mut *ordered, input: index, outcome: Ok(Flow::Continue) };
        read(index, input, &mut direct);
        let flow = direct.outcome?;
        ordered.done(index)?;
        if flow == Flow::Stop {
            break;
        }
    }
    Ok(())
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    /// The input the caller is on.
    head: usize,
    /// Bytes read and not yet handed on.
    held: usize,
    /// The caller has stopped.
    closed: bool,
    panic: Option<Box<dyn Any + Send>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one still holds consistent numbers.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `bytes` more of `input` may be held: at once for the caller's input.
    fn acquire(&self, input: usize, bytes: usize) -> Result<(), Gone> {
        let mut state = self.lock();
        while !state.closed && input != state.head && state.held + bytes > BYTES_AHEAD {
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        if state.closed {
            return Err(Gone);
        }
        state.held += bytes;
        Ok(())
    }

    fn release(&self, bytes: usize) {
        let mut state = self.lock();
        state.held = state.held.saturating_sub(bytes);
        drop(state);
        self.changed.notify_all();
    }

    fn advance(&self) {
        self.lock().head += 1;
        self.changed.notify_all();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }
}

/// A reading thread: inputs from the queue, one at a time, until the queue closes.
fn reader<I, T: Weighed>(
    inputs: &[I],
    read: &(impl Fn(usize, &I, &mut dyn Sink<T>) + Sync),
    queue: &Mutex<mpsc::Receiver<(usize, mpsc::SyncSender<T>)>>,
    shared: &Shared,
) {
    struct Channel<'s, T> {
        sender: mpsc::SyncSender<T>,
        shared: &'s Shared,
        input: usize,
    }
    impl<T: Weighed> Sink<T> for Channel<'_, T> {
        fn send(&mut self, item: T) -> Result<(), Gone> {
            let bytes = item.bytes();
            self.shared.acquire(self.input, bytes)?;
            self.sender.send(item).map_err(|_| Gone)
        }
    }
    loop {
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((input, sender)) = job else { return };
        let mut channel = Channel { sender, shared, input };
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| read(input, &inputs[input], &mut channel)));
        if let Err(payload) = outcome {
            // Kept before the channel closes, so the caller sees the panic and not an early end.
            shared.lock().panic.get_or_insert(payload);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Numbers(Vec<u32>);

    impl Weighed for Numbers {
        fn bytes(&self) -> usize {
            self.0.len() * 1024 * 1024
        }
    }

    #[derive(Default)]
    struct Collect {
        seen: Vec<(usize, u32)>,
        done: Vec<usize>,
        stop_after: Option<usize>,
    }

    impl Ordered<Numbers> for Collect {
        fn item(&mut self, input: usize, item: Numbers) -> Result<Flow> {
            self.seen.extend(item.0.into_iter().map(|n| (input, n)));
            Ok(if self.stop_after.is_some_and(|max| self.seen.len() >= max) { Flow::Stop } else { Flow::Continue })
        }
        fn done(&mut self, input: usize) -> Result<()> {
            self.done.push(input);
            Ok(())
        }
    }

    /// Input `n` holds `n % 7 * 3` numbers, sent a few at a time; later inputs are quicker to read.
    fn read(input: usize, size: &usize, sink: &mut dyn Sink<Numbers>) {
        let numbers: Vec<u32> = (0..*size as u32).collect();
        for chunk in numbers.chunks(2) {
            if input % 5 == 0 {
                std::thread::yield_now();
            }
            if sink.send(Numbers(chunk.to_vec())).is_err() {
                return;
            }
        }
    }

    #[test]
    fn every_thread_count_gives_the_order_of_one() {
        let inputs: Vec<usize> = (0..300).map(|n| n % 7 * 3).collect();
        let mut one = Collect::default();
        run(&inputs, 1, read, &mut one).unwrap();
        assert_eq!(one.done, (0..300).collect::<Vec<_>>());
        for threads in [2, 3, 8] {
            let mut many = Collect::default();
            run(&inputs, threads, read, &mut many).unwrap();
            assert_eq!(many.seen, one.seen, "{threads} threads");
            assert_eq!(many.done, one.done);
        }
    }

    #[test]
    fn a_stop_ends_the_readers() {
        let inputs: Vec<usize> = vec![40; 1000];
        let mut few = Collect { stop_after: Some(50), ..Collect::default() };
        run(&inputs, 4, read, &mut few).unwrap();
        assert_eq!(few.seen.len(), 50);
        assert_eq!(few.done, [0, 1]);
    }

    #[test]
    fn a_reader_panic_is_raised_by_the_caller() {
        let inputs: Vec<usize> = (0..20).collect();
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut all = Collect::default();
            let _ = run(
                &inputs,
                3,
                |input: usize, _: &usize, _: &mut dyn Sink<Numbers>| assert!(input != 7, "reader 7 fails"),
                &mut all,
            );
        }));
        let payload = result.unwrap_err();
        let message = payload.downcast_ref::<&str>().copied().or(payload.downcast_ref::<String>().map(String::as_str));
        assert_eq!(message, Some("reader 7 fails"));
    }
}
