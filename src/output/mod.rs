//! Printing: matched events, and rows of named cells (the listings, the counts). Writers work over any
//! `Write` and know nothing about where events came from; [`PrintConfig`] says which writer to build.

mod chart;
pub mod columns;
mod csv;
mod json;
mod jsonl;
mod rows;
mod table;

use std::io::Write;

use crate::jq::JqProgram;
use crate::time::Zone;

use self::csv::{CsvWriter, Separator};
use crate::jq::JqWriter;
pub use chart::Chart;
use columns::Column;
use json::JsonWriter;
use jsonl::JsonlWriter;
pub use rows::RowWriter;
pub use table::Layout;
use table::TableWriter;

pub use crate::event::EventWriter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Jsonl,
    Json,
    Csv,
    Tsv,
    Table,
}

/// How to print: everything the writers need, validated.
#[derive(Debug)]
pub struct PrintConfig {
    pub format: OutputFormat,
    /// Columns of csv, tsv and table.
    pub columns: Vec<Column>,
    pub zone: Zone,
    pub bom: bool,
    pub formula_guard: bool,
    pub color: bool,
    /// Table width; `usize::MAX` when not printing to a terminal and COLUMNS is unset.
    pub width: usize,
    pub jq: Option<JqProgram>,
}

impl PrintConfig {
    /// The writer for matched events.
    pub fn event_writer<'w, W: Write + 'w>(&'w self, out: W) -> Box<dyn EventWriter + 'w> {
        if let Some(program) = &self.jq {
            return Box::new(JqWriter::new(out, program));
        }
        let (zone, bom, guard) = (self.zone, self.bom, self.formula_guard);
        match self.format {
            OutputFormat::Jsonl => Box::new(JsonlWriter::new(out)),
            OutputFormat::Json => Box::new(JsonWriter::new(out, zone)),
            OutputFormat::Csv => {
                Box::new(CsvWriter::new(out, Separator::Comma, self.columns.clone(), zone, bom, guard))
            }
            OutputFormat::Tsv => Box::new(CsvWriter::new(out, Separator::Tab, self.columns.clone(), zone, bom, guard)),
            OutputFormat::Table => Box::new(TableWriter::new(out, self.columns.clone(), zone, self.width, self.color)),
        }
    }

    /// The writer for rows of named cells (`headers`), laid out in a table as `layout` says.
    pub fn row_writer<'w, W: Write + 'w>(
        &self,
        headers: &[&str],
        layout: &[Layout],
        out: W,
    ) -> Box<dyn RowWriter + 'w> {
        rows::writer(self, headers, layout, out)
    }
}
