//! The `--jq` writer: each matching record through the program, every output one compact JSON line,
//! written as the program produces it.
//!
//! Records go to the worker thread in batches of up to [`BATCH_RECORDS`] records or [`BATCH_BYTES`]
//! bytes, without waiting for their outputs (up to the worker's queue): the threads then meet once per
//! batch, and reading records, filtering and running the program overlap. A batch is also sent, and every
//! output waited for and written, on [`flush`](EventWriter::flush) (the end of a page or a file) and
//! [`finish`](EventWriter::finish). Outputs come back in chunks while a record runs, so that an endless
//! program streams. When stdout cannot be written (a closed pipe), the program is cancelled and the error
//! goes up as any write error does.

use std::collections::VecDeque;
use std::io::{self, Write};

use super::worker::{Gone, Message};
use super::JqProgram;
use crate::error::warn;
use crate::event::{Event, EventWriter};

/// A batch is sent when it holds this many records…
const BATCH_RECORDS: usize = 64;
/// …or this many bytes of record text.
const BATCH_BYTES: usize = 256 * 1024;

pub struct JqWriter<'p, W> {
    out: W,
    program: &'p JqProgram,
    /// The batch being filled: its first `filled` strings are records; the rest are spare strings of an
    /// earlier batch, reused so that the record texts are copied without allocating.
    batch: Vec<String>,
    filled: usize,
    batch_bytes: usize,
    /// The event IDs of the batch being filled.
    batch_ids: Vec<Option<String>>,
    /// The event IDs of each batch handed to the worker whose end has not come back yet, oldest first.
    pending: VecDeque<Vec<Option<String>>>,
    /// A batch that came back, to be filled next.
    spare: Option<Vec<String>>,
    failures: u64,
    /// Set once stdout failed: the program was cancelled and nothing more is written.
    failed: bool,
}

impl<'p, W: Write> JqWriter<'p, W> {
    pub fn new(out: W, program: &'p JqProgram) -> Self {
        JqWriter {
            out,
            program,
            batch: Vec::new(),
            filled: 0,
            batch_bytes: 0,
            batch_ids: Vec::new(),
            pending: VecDeque::new(),
            spare: None,
            failures: 0,
            failed: false,
        }
    }

    /// Hands the batch being filled to the worker, writing outputs while its queue is full.
    fn send_batch(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let mut records = std::mem::replace(&mut self.batch, self.spare.take().unwrap_or_default());
        records.truncate(self.filled);
        loop {
            match self.program.worker.try_submit(records) {
                Ok(()) => break,
                // The queue is full: the worker is busy, and its next message frees a place.
                Err(Ok(refused)) => {
                    records = refused;
                    self.receive(true)?;
                }
                Err(Err(Gone)) => return Err(gone()),
            }
        }
        self.pending.push_back(std::mem::take(&mut self.batch_ids));
        self.filled = 0;
        self.batch_bytes = 0;
        while self.receive(false)? {}
        Ok(())
    }

    /// Handles the next message from the worker, waiting for one when `wait`; false when there was none.
    fn receive(&mut self, wait: bool) -> io::Result<bool> {
        let message = match self.program.worker.receive(wait) {
            Ok(Some(message)) => message,
            Ok(None) => return Ok(false),
            Err(Gone) => return Err(gone()),
        };
        let done = match message {
            Message::Output(chunk) => return self.write_out(&chunk).map(|()| true),
            Message::Done(done) => done,
        };
        self.write_out(&done.out)?;
        let ids = self.pending.pop_front().unwrap_or_default();
        // Like jq, a runtime error is reported and the next record goes on; unlike jq's exit 5, the run
        // then ends with exit 1, the status for runtime failures.
        for (index, message) in done.errors {
            let id = ids.get(index).and_then(Option::as_deref).unwrap_or("?");
            warn(format_args!("--jq error on event {id}: {message}"));
            self.failures += 1;
        }
        if self.spare.is_none() {
            self.spare = Some(done.records);
        }
        Ok(true)
    }

    fn write_out(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes).inspect_err(|_| {
            self.failed = true;
            self.program.worker.cancel();
        })
    }

    /// Sends the batch being filled and writes the outputs of every record handed over.
    fn drain(&mut self) -> io::Result<()> {
        if self.failed {
            return Ok(());
        }
        self.send_batch()?;
        while !self.pending.is_empty() {
            self.receive(true)?;
        }
        Ok(())
    }
}

impl<W: Write> EventWriter for JqWriter<'_, W> {
    fn write(&mut self, event: &Event) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other("--jq output failed earlier"));
        }
        match self.batch.get_mut(self.filled) {
            Some(spare) => spare.clone_from(&event.raw),
            None => self.batch.push(event.raw.clone()),
        }
        self.filled += 1;
        self.batch_bytes += event.raw.len();
        self.batch_ids.push(event.envelope.event_id.clone());
        if self.filled >= BATCH_RECORDS || self.batch_bytes >= BATCH_BYTES {
            self.send_batch()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.out.flush()
    }

    fn finish(&mut self, _next_token: Option<&str>) -> io::Result<()> {
        self.drain()?;
        self.out.flush()
    }

    fn failures(&self) -> u64 {
        self.failures
    }
}

impl<W> Drop for JqWriter<'_, W> {
    /// A writer dropped with records in flight (its run failed) stops the program rather than let it run on.
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.program.worker.cancel();
        }
    }
}

fn gone() -> io::Error {
    io::Error::other("the thread that runs the --jq program stopped")
}
