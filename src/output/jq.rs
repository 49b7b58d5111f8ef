//! `--jq`: each matching record through the user's jq program, every output one compact JSON line.

use std::io::{self, Write};

use super::EventWriter;
use crate::error::warn;
use crate::event::Event;
use crate::jq::JqProgram;

pub struct JqWriter<'p, W> {
    out: W,
    program: &'p JqProgram,
    buffer: Vec<u8>,
    failures: u64,
}

impl<'p, W: Write> JqWriter<'p, W> {
    pub fn new(out: W, program: &'p JqProgram) -> Self {
        JqWriter { out, program, buffer: Vec::new(), failures: 0 }
    }
}

impl<W: Write> EventWriter for JqWriter<'_, W> {
    /// Like jq, a runtime error is reported and the next record goes on; unlike jq's exit 5, the run
    /// then ends with exit 1, the status for runtime failures.
    fn write(&mut self, event: &Event) -> io::Result<()> {
        self.buffer.clear();
        let result = self.program.run(&event.record, &mut self.buffer);
        self.out.write_all(&self.buffer)?;
        if let Err(message) = result {
            let id = event.envelope.event_id.as_deref().unwrap_or("?");
            warn(format_args!("--jq error on event {id}: {message}"));
            self.failures += 1;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, _next_token: Option<&str>) -> io::Result<()> {
        self.out.flush()
    }

    fn failures(&self) -> u64 {
        self.failures
    }
}
