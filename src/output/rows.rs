//! Rows of named cells (the `services`/`actions` listings, the counts) in every format, through the same
//! printers as events: the table's fitting and escaping, CSV's quoting and formula guard, TSV's escapes.

use std::io::{self, Write};

use serde_json::{Map, Value};

use super::csv::{Delimited, Separator};
use super::table::{Layout, Table};
use super::{OutputFormat, PrintConfig};

pub trait RowWriter {
    /// One row, a cell per header: JSON values, so that counts stay numbers and a missing value is null.
    fn row(&mut self, cells: &[Value]) -> io::Result<()>;
    /// Completes the output (closes the JSON array).
    fn finish(&mut self) -> io::Result<()>;
}

pub fn writer<'w, W: Write + 'w>(
    print: &PrintConfig,
    headers: &[&str],
    layout: &[Layout],
    out: W,
) -> Box<dyn RowWriter + 'w> {
    let headers_owned: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    match print.format {
        OutputFormat::Jsonl => Box::new(JsonRows { out, headers: headers_owned, array: false, rows: 0 }),
        OutputFormat::Json => Box::new(JsonRows { out, headers: headers_owned, array: true, rows: 0 }),
        OutputFormat::Csv => Box::new(Delimited::new(out, Separator::Comma, headers, print.bom, print.formula_guard)),
        OutputFormat::Tsv => Box::new(Delimited::new(out, Separator::Tab, headers, print.bom, print.formula_guard)),
        // A listing is finite and printed at once: every row counts toward the widths.
        OutputFormat::Table => Box::new(Table::new(out, headers, layout, print.width, print.color, None)),
    }
}

/// A cell as text: strings as they are, nothing for null, anything else as compact JSON.
fn text(cell: &Value) -> String {
    match cell {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl<W: Write> RowWriter for Delimited<W> {
    fn row(&mut self, cells: &[Value]) -> io::Result<()> {
        let cells: Vec<String> = cells.iter().map(text).collect();
        self.push(&cells.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn finish(&mut self) -> io::Result<()> {
        Delimited::finish(self)
    }
}

impl<W: Write> RowWriter for Table<W> {
    fn row(&mut self, cells: &[Value]) -> io::Result<()> {
        let cells: Vec<String> = cells.iter().map(text).collect();
        self.push(&cells.iter().map(String::as_str).collect::<Vec<_>>(), false)
    }

    fn finish(&mut self) -> io::Result<()> {
        Table::finish(self)
    }
}

/// `jsonl`: an object per row; `json`: an array of them, written as rows come.
struct JsonRows<W> {
    out: W,
    headers: Vec<String>,
    array: bool,
    rows: u64,
}

impl<W: Write> RowWriter for JsonRows<W> {
    fn row(&mut self, cells: &[Value]) -> io::Result<()> {
        let object: Map<String, Value> = self.headers.iter().cloned().zip(cells.iter().cloned()).collect();
        let object = Value::Object(object);
        if self.array {
            self.out.write_all(if self.rows == 0 { b"[\n  " } else { b",\n  " })?;
        }
        serde_json::to_writer(&mut self.out, &object)?;
        if !self.array {
            self.out.write_all(b"\n")?;
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.array {
            self.out.write_all(if self.rows == 0 { b"[]\n" } else { b"\n]\n" })?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(format: OutputFormat, rows: &[Vec<Value>]) -> String {
        let print = PrintConfig {
            format,
            columns: Vec::new(),
            zone: "UTC".parse().unwrap(),
            bom: false,
            formula_guard: true,
            color: false,
            width: 0,
            jq: None,
        };
        let mut out = Vec::new();
        {
            let layout = [Layout::TEXT, Layout::COUNT];
            let mut writer = writer(&print, &["name", "count"], &layout, &mut out);
            for row in rows {
                writer.row(row).unwrap();
            }
            writer.finish().unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_format_prints_the_same_rows() {
        let rows = vec![vec![json!("a\tb\nc"), json!(12)], vec![json!("=cmd"), json!(3)], vec![Value::Null, json!(1)]];
        assert_eq!(
            render(OutputFormat::Jsonl, &rows),
            "{\"name\":\"a\\tb\\nc\",\"count\":12}\n{\"name\":\"=cmd\",\"count\":3}\n{\"name\":null,\"count\":1}\n"
        );
        assert_eq!(render(OutputFormat::Json, &rows[1..2]), "[\n  {\"name\":\"=cmd\",\"count\":3}\n]\n");
        assert_eq!(render(OutputFormat::Json, &[]), "[]\n");
        assert_eq!(render(OutputFormat::Tsv, &rows), "name\tcount\na\\tb\\nc\t12\n'=cmd\t3\n\t1\n");
        assert_eq!(render(OutputFormat::Csv, &rows), "name,count\r\n\"a\tb\nc\",12\r\n'=cmd,3\r\n,1\r\n");
        // The table escapes instead of guarding, and aligns counts to the right.
        assert_eq!(
            render(OutputFormat::Table, &rows),
            "name     count\na\\tb\\nc     12\n=cmd         3\n             1\n"
        );
    }
}
