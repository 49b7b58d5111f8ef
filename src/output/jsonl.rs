//! `jsonl`: each record exactly as the service sent it, one per line, for `jq`.

use std::io::{self, Write};

use super::EventWriter;
use crate::event::Event;

pub struct JsonlWriter<W> {
    out: W,
}

impl<W: Write> JsonlWriter<W> {
    pub fn new(out: W) -> Self {
        JsonlWriter { out }
    }
}

impl<W: Write> EventWriter for JsonlWriter<W> {
    fn write(&mut self, event: &Event) -> io::Result<()> {
        self.out.write_all(event.raw.as_bytes())?;
        self.out.write_all(b"\n")
    }

    fn reads_records(&self) -> bool {
        false
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, _next_token: Option<&str>) -> io::Result<()> {
        self.out.flush()
    }
}
