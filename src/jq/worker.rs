//! The thread that runs a `--jq` program: it compiles the program once, then takes records (their JSON
//! text) one after the other, parses each straight into a jaq value with jaq-json's parser, runs the
//! program on it and sends the printed outputs back as they are produced, in chunks.
//!
//! Why a thread of its own: jaq evaluates on the native stack, and the stack budget of `guard.rs` needs
//! a stack much larger than the main thread's 8 MiB (1 MiB on Windows) behind it (see there). Why chunks
//! through bounded channels: an endless program (`range(1e9)`) must reach the writer while it runs, and
//! the memory for outputs not yet written must stay bounded — at most [`MESSAGES`] chunks of about
//! [`CHUNK`] bytes wait; when they are full, the program waits for the writer (and so for stdout).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

use jaq_core::{Ctx, Exn, Vars};
use jaq_json::{read, Val};

use super::compile::compile;
use super::guard::{self, Guarded, Stop, Watched};
use super::number::keep_negative_zeros;
use super::print::{json_text, write_json};

/// Stack sizes tried for the worker thread, largest first; a system that refuses to reserve the first
/// (strict overcommit, a small address space) gets the next. Only the pages used are ever committed.
const STACK_SIZES: [usize; 3] = [1 << 30, 256 << 20, 64 << 20];

/// The most stack that evaluation may use before it is stopped, at most a quarter of the thread's stack:
/// deep enough for any recursion a real program needs (measured: 20,000 to 30,000 levels of a recursive
/// definition that is not a tail call, such as `def f: if . == 0 then 0 else (. - 1 | f) + 1 end`, where
/// the main thread's 8 MiB overflowed before 10,000), small enough that a runaway one costs little memory
/// (about 85 MB), and leaving the rest of the stack for what cannot be checked (see `guard.rs`).
const MAX_BUDGET: usize = 64 << 20;

/// Batches of records handed to the worker and not yet run. Records go in batches (see `writer.rs`), so
/// that the two threads meet once per batch rather than once per record.
const JOBS: usize = 4;
/// Messages (output chunks, ends of batches) the worker may send before it waits for the writer.
const MESSAGES: usize = 16;
/// Outputs are sent once this many bytes of them are ready, and at the end of each batch.
const CHUNK: usize = 64 * 1024;

/// The message of a program that used up its stack budget.
pub const TOO_DEEP: &str =
    "the program recursed or nested too deeply (it ran out of stack; is a recursive definition missing its base case?)";

/// What the worker sends back.
pub enum Message {
    /// Complete outputs of the batch being run (each one compact JSON text and '\n'); more follow.
    Output(Vec<u8>),
    /// The end of a batch.
    Done(Done),
}

/// The end of a batch: its last outputs, the records whose program failed, and the batch itself, whose
/// strings the writer fills again.
pub struct Done {
    pub out: Vec<u8>,
    /// (index of the record in the batch, one-line message of its runtime error)
    pub errors: Vec<(usize, String)>,
    pub records: Vec<String>,
}

/// The worker has stopped (it never does while its [`Worker`] lives, unless jaq itself fails hard).
#[derive(Debug)]
pub struct Gone;

/// The handle on a running worker thread; dropping it ends the thread once it is idle.
pub struct Worker {
    jobs: SyncSender<Vec<String>>,
    messages: Receiver<Message>,
    cancel: &'static AtomicBool,
}

impl Worker {
    /// Starts a worker thread and compiles the program on it; Err(one-line message) for a bad program.
    pub fn start(program: &str) -> Result<Worker, String> {
        let mut refused = None;
        for size in STACK_SIZES {
            match Self::spawn(program, size) {
                Ok(started) => return started,
                Err(err) => refused = Some(err),
            }
        }
        Err(format!("cannot start the thread that runs the program: {}", refused.expect("a stack size was tried")))
    }

    fn spawn(program: &str, stack_size: usize) -> std::io::Result<Result<Worker, String>> {
        let (jobs, job_queue) = sync_channel::<Vec<String>>(JOBS);
        let (replies, messages) = sync_channel::<Message>(MESSAGES);
        let (compiled_tx, compiled) = sync_channel::<Result<(), String>>(1);
        // One flag per program, shared by the thread's guard for as long as it runs.
        let cancel: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let text = program.to_owned();
        std::thread::Builder::new().name("jq".into()).stack_size(stack_size).spawn(move || {
            guard::arm(MAX_BUDGET.min(stack_size / 4), cancel);
            // Compiling runs jaq's parser, which recurses on the program's nesting: also on this stack.
            let filter = match catch_unwind(|| compile(&text)) {
                Ok(Ok(filter)) => filter,
                Ok(Err(message)) => return drop(compiled_tx.send(Err(message))),
                Err(panic) => return drop(compiled_tx.send(Err(panic_message(&*panic, "compiling")))),
            };
            if compiled_tx.send(Ok(())).is_err() {
                return;
            }
            for records in job_queue {
                if run_batch(&filter, records, &replies, cancel).is_err() {
                    return;
                }
            }
        })?;
        Ok(match compiled.recv() {
            Ok(Ok(())) => Ok(Worker { jobs, messages, cancel }),
            Ok(Err(message)) => Err(message),
            Err(_) => Err("the thread that compiles the program stopped".to_owned()),
        })
    }

    /// Hands a batch of records to the worker; gives it back when [`JOBS`] batches are already waiting.
    pub fn try_submit(&self, records: Vec<String>) -> Result<(), Result<Vec<String>, Gone>> {
        self.jobs.try_send(records).map_err(|err| match err {
            TrySendError::Full(records) => Ok(records),
            TrySendError::Disconnected(_) => Err(Gone),
        })
    }

    /// The next message, waiting for it when `wait`; None when there is none yet.
    pub fn receive(&self, wait: bool) -> Result<Option<Message>, Gone> {
        if wait {
            return self.messages.recv().map(Some).map_err(|_| Gone);
        }
        match self.messages.try_recv() {
            Ok(message) => Ok(Some(message)),
            Err(std::sync::mpsc::TryRecvError::Empty) => Ok(None),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => Err(Gone),
        }
    }

    /// Stops the record being run at its next step and every later one, for good: for a writer whose
    /// output cannot be written any more.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// Runs the program on each record of a batch and sends the outputs; Err when the writer is gone.
fn run_batch(
    filter: &jaq_core::Filter<Guarded>,
    records: Vec<String>,
    replies: &SyncSender<Message>,
    cancel: &AtomicBool,
) -> Result<(), Gone> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in records.iter().enumerate() {
        let result = if cancel.load(Ordering::Relaxed) {
            Err("stopped".to_owned())
        } else {
            run_record(filter, raw, &mut out, replies)?
        };
        if let Err(message) = result {
            errors.push((index, message));
        }
    }
    replies.send(Message::Done(Done { out, errors, records })).map_err(|_| Gone)
}

/// Runs the program on one record, appending its outputs to `out` (sent on when [`CHUNK`] is reached).
fn run_record(
    filter: &jaq_core::Filter<Guarded>,
    raw: &str,
    out: &mut Vec<u8>,
    replies: &SyncSender<Message>,
) -> Result<Result<(), String>, Gone> {
    // The length of `out` up to the end of its last complete output: a program stopped while printing
    // leaves no half output behind.
    let mut complete = out.len();
    let ran = catch_unwind(AssertUnwindSafe(|| evaluate(filter, raw, out, &mut complete, replies)));
    Ok(match ran {
        Ok(result) => result?,
        Err(panic) => {
            out.truncate(complete);
            Err(match panic.downcast_ref::<Stop>() {
                Some(Stop::Stack) => TOO_DEEP.to_owned(),
                Some(Stop::Cancelled) => "stopped".to_owned(),
                None => panic_message(&*panic, "running"),
            })
        }
    })
}

fn evaluate(
    filter: &jaq_core::Filter<Guarded>,
    raw: &str,
    out: &mut Vec<u8>,
    complete: &mut usize,
    replies: &SyncSender<Message>,
) -> Result<Result<(), String>, Gone> {
    // The record was parsed (and so checked) by serde_json before it got here.
    let input = match read::parse_single(keep_negative_zeros(raw).as_bytes()) {
        Ok(input) => input,
        Err(err) => return Ok(Err(format!("cannot read the record as JSON: {err}"))),
    };
    let ctx = Ctx::<Guarded>::new(Watched(&filter.lut), Vars::new([]));
    for output in filter.id.run((ctx, input)) {
        let value = match output {
            Ok(value) => value,
            Err(exn) => return Ok(Err(exception(exn))),
        };
        write_json(out, &value);
        out.push(b'\n');
        *complete = out.len();
        if out.len() >= CHUNK {
            replies.send(Message::Output(std::mem::take(out))).map_err(|_| Gone)?;
            *complete = 0;
        }
    }
    Ok(Ok(()))
}

/// A panic inside jaq (a bug there) as a message; the panic hook has already printed where it was.
fn panic_message(panic: &(dyn std::any::Any + Send), doing: &str) -> String {
    let text = panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str));
    format!("internal error in the jq engine (jaq) while {doing} the program: {}", text.unwrap_or("panic"))
}

/// The one-line message of a runtime exception; `halt` becomes an error instead of ending the process.
fn exception(exn: Exn<'_, Val>) -> String {
    match exn.get_err() {
        Ok(error) => one_line(&shorten(error_text(error.into_val()))),
        Err(exn) => match exn.get_halt() {
            Ok(code) => format!("halt({code}) is not supported by --jq (use empty or select(...) to skip a record)"),
            // A `break` or tail call escaping the program: a jaq bug, never seen by users.
            Err(_) => "internal error in the jq engine (jaq)".to_owned(),
        },
    }
}

/// Error messages longer than this are cut: jaq quotes whole values ("cannot use {…the record…} as string").
pub const MAX_MESSAGE_CHARS: usize = 300;

/// An error value as jq reports it: a string as is, anything else as JSON.
fn error_text(value: Val) -> String {
    match value {
        Val::TStr(s) | Val::BStr(s) => String::from_utf8_lossy(&s).into_owned(),
        other => format!("{} (not a string)", String::from_utf8_lossy(&json_text(&other))),
    }
}

/// Cuts a message to [`MAX_MESSAGE_CHARS`] characters.
fn shorten(text: String) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// Escapes control characters as JSON does (`\n`, `\u001b`) so that a message is one line and safe on a
/// terminal.
fn one_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\t' => line.push_str("\\t"),
            '\r' => line.push_str("\\r"),
            c if c.is_control() => line.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => line.push(c),
        }
    }
    line
}
