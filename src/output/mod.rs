//! Printing matched events. Writers work over any `Write` and know nothing about where events came from.

pub mod columns;
mod csv;
mod json;
mod jsonl;
mod table;

use std::io::{self, Write};

use crate::config::{OutputFormat, PrintConfig};
use crate::event::Event;
use crate::time::Zone;

use self::csv::{CsvWriter, Delimited, Separator};
use crate::jq::JqWriter;
use json::JsonWriter;
use jsonl::JsonlWriter;
use table::TableWriter;

pub trait EventWriter {
    fn write(&mut self, event: &Event) -> io::Result<()>;
    /// Pushes buffered output out, so that events appear as pages arrive.
    fn flush(&mut self) -> io::Result<()>;
    /// Completes the output (closes the JSON document) whatever way the run ended. `next_token`
    /// is set when more events may follow.
    fn finish(&mut self, next_token: Option<&str>) -> io::Result<()>;
    /// Events the writer could not print (a --jq runtime error), each already warned about.
    fn failures(&self) -> u64 {
        0
    }
}

pub fn writer<'w, W: Write + 'w>(print: &'w PrintConfig, zone: Zone, out: W) -> Box<dyn EventWriter + 'w> {
    if let Some(program) = &print.jq {
        return Box::new(JqWriter::new(out, program));
    }
    let delimited =
        || Delimited { columns: print.columns.clone(), zone, bom: print.bom, formula_guard: print.formula_guard };
    match print.format {
        OutputFormat::Jsonl => Box::new(JsonlWriter::new(out)),
        OutputFormat::Json => Box::new(JsonWriter::new(out, zone)),
        OutputFormat::Csv => Box::new(CsvWriter::new(out, Separator::Comma, delimited())),
        OutputFormat::Tsv => Box::new(CsvWriter::new(out, Separator::Tab, delimited())),
        OutputFormat::Table => Box::new(TableWriter::new(out, print.columns.clone(), zone, print.width, print.color)),
    }
}
