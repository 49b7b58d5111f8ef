//! `csv` (RFC 4180, for Excel) and `tsv`: one row per event in the chosen columns, with the spreadsheet
//! formula guard, since userAgent and request fields are chosen by the caller being audited.

use std::io::{self, Write};

use super::columns::Column;
use super::EventWriter;
use crate::event::Event;
use crate::time::Zone;

/// Makes Excel read the file as UTF-8 (Japanese text included) instead of the local code page.
const BOM: char = '\u{feff}';

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    Comma,
    Tab,
}

/// Rows of text cells, comma or tab separated: the printer under the event CSV/TSV and every listing.
pub struct Delimited<W: Write> {
    out: DelimitedOut<W>,
    headers: Vec<String>,
    bom: bool,
    formula_guard: bool,
    started: bool,
}

/// The csv crate does RFC 4180 quoting; TSV is simple enough to write directly.
enum DelimitedOut<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Tsv(W),
}

impl<W: Write> Delimited<W> {
    pub fn new(out: W, separator: Separator, headers: &[&str], bom: bool, formula_guard: bool) -> Self {
        let out = match separator {
            Separator::Comma => DelimitedOut::Csv(Box::new(
                csv::WriterBuilder::new()
                    .terminator(csv::Terminator::CRLF)
                    .quote_style(csv::QuoteStyle::Necessary)
                    .from_writer(out),
            )),
            Separator::Tab => DelimitedOut::Tsv(out),
        };
        let headers = headers.iter().map(|h| (*h).to_owned()).collect();
        Delimited { out, headers, bom, formula_guard, started: false }
    }

    pub fn push(&mut self, cells: &[&str]) -> io::Result<()> {
        self.start()?;
        self.line(cells.iter().copied())
    }

    fn line<'a>(&mut self, cells: impl Iterator<Item = &'a str>) -> io::Result<()> {
        let guard = self.formula_guard;
        let cells = cells.map(|cell| if guard { guarded(cell) } else { cell.into() });
        match &mut self.out {
            DelimitedOut::Csv(writer) => writer.write_record(cells.map(|c| c.into_owned())).map_err(io::Error::other),
            DelimitedOut::Tsv(out) => {
                for (i, cell) in cells.enumerate() {
                    if i > 0 {
                        out.write_all(b"\t")?;
                    }
                    out.write_all(tsv_escape(&cell).as_bytes())?;
                }
                out.write_all(b"\n")
            }
        }
    }

    /// The BOM and the header row, before the first row or at the end of an empty result.
    fn start(&mut self) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let mut headers = std::mem::take(&mut self.headers);
        if let (true, Some(first)) = (self.bom, headers.first_mut()) {
            // The mark is the file's first character; no quoting rule applies to it.
            first.insert(0, BOM);
        }
        self.line(headers.iter().map(String::as_str))
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            DelimitedOut::Csv(writer) => writer.flush(),
            DelimitedOut::Tsv(out) => out.flush(),
        }
    }

    pub fn finish(&mut self) -> io::Result<()> {
        self.start()?;
        self.flush()
    }
}

/// Events as rows of the chosen columns.
pub struct CsvWriter<W: Write> {
    rows: Delimited<W>,
    columns: Vec<Column>,
    zone: Zone,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W, separator: Separator, columns: Vec<Column>, zone: Zone, bom: bool, formula_guard: bool) -> Self {
        let headers: Vec<&str> = columns.iter().map(Column::header).collect();
        let rows = Delimited::new(out, separator, &headers, bom, formula_guard);
        CsvWriter { rows, columns, zone }
    }
}

impl<W: Write> EventWriter for CsvWriter<W> {
    fn write(&mut self, event: &Event) -> io::Result<()> {
        let cells: Vec<String> = self.columns.iter().map(|c| c.value(event, self.zone)).collect();
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        self.rows.push(&cells)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.rows.flush()
    }

    fn finish(&mut self, _next_token: Option<&str>) -> io::Result<()> {
        self.rows.finish()
    }
}

/// OWASP's CSV-injection rule: a cell a spreadsheet would read as a formula gets a leading `'`.
fn guarded(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// Tabs, newlines and backslashes written as `\t`, `\n`, `\r`, `\\`, so that a row stays one line.
fn tsv_escape(cell: &str) -> std::borrow::Cow<'_, str> {
    if !cell.contains(['\t', '\n', '\r', '\\']) {
        return cell.into();
    }
    let mut out = String::with_capacity(cell.len() + 8);
    for c in cell.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(separator: Separator, bom: bool, guard: bool, records: &[serde_json::Value]) -> String {
        let columns = Column::parse_list("eventName,userAgent,requestParameters.description").unwrap();
        let mut out = Vec::new();
        let mut writer = CsvWriter::new(&mut out, separator, columns, "UTC".parse().unwrap(), bom, guard);
        for record in records {
            writer.write(&Event::from_record(record.to_string(), record.clone())).unwrap();
        }
        writer.finish(None).unwrap();
        drop(writer);
        String::from_utf8(out).unwrap()
    }

    fn hostile() -> serde_json::Value {
        json!({"eventName": "CreateRole", "userAgent": "=HYPERLINK(\"http://evil.example\",\"x\")",
               "requestParameters": {"description": "本番, \"prod\"\nline2\ttab \\ end"}})
    }

    #[test]
    fn csv_quotes_crlf_and_guard() {
        assert_eq!(
            render(Separator::Comma, false, true, &[hostile()]),
            "eventName,userAgent,requestParameters.description\r\n\
             CreateRole,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",\"本番, \"\"prod\"\"\nline2\ttab \\ end\"\r\n"
        );
        let unguarded = render(Separator::Comma, false, false, &[hostile()]);
        assert!(unguarded.contains(",\"=HYPERLINK("));
    }

    #[test]
    fn bom_only_when_asked_and_header_even_when_empty() {
        assert!(render(Separator::Comma, true, true, &[]).starts_with("\u{feff}eventName,"));
        assert_eq!(render(Separator::Comma, false, true, &[]), "eventName,userAgent,requestParameters.description\r\n");
    }

    #[test]
    fn tsv_escapes() {
        assert_eq!(
            render(Separator::Tab, false, true, &[hostile()]),
            "eventName\tuserAgent\trequestParameters.description\n\
             CreateRole\t'=HYPERLINK(\"http://evil.example\",\"x\")\t本番, \"prod\"\\nline2\\ttab \\\\ end\n"
        );
    }

    #[test]
    fn guard_prefixes() {
        for risky in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(guarded(risky), format!("'{risky}"));
        }
        assert_eq!(guarded("safe=1"), "safe=1");
    }
}
