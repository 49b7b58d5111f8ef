//! Printing matched events. Writers work over any `Write` and know nothing about where events came from.

mod json;
mod jsonl;

use std::io::{self, Write};

use crate::config::OutputFormat;
use crate::event::Event;
use crate::time::Zone;

pub use json::JsonWriter;
pub use jsonl::JsonlWriter;

pub trait EventWriter {
    fn write(&mut self, event: &Event) -> io::Result<()>;
    /// Pushes buffered output out, so that events appear as pages arrive.
    fn flush(&mut self) -> io::Result<()>;
    /// Completes the output (closes the JSON document) whatever way the run ended. `next_token`
    /// is set when more events may follow.
    fn finish(&mut self, next_token: Option<&str>) -> io::Result<()>;
}

pub fn writer<'w, W: Write + 'w>(format: OutputFormat, zone: Zone, out: W) -> Box<dyn EventWriter + 'w> {
    match format {
        OutputFormat::Jsonl => Box::new(JsonlWriter::new(out)),
        OutputFormat::Json => Box::new(JsonWriter::new(out, zone)),
    }
}
