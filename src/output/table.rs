//! `table`: aligned columns sized to the terminal, for reading.
//!
//! Rows are held only until column widths can be chosen: until the first `flush()` (the end of the first
//! page) or `HOLD_ROWS` rows. Then the header and the held rows are printed, and every later row is printed
//! at once with the same widths (cut with `…` when longer). Event data never reaches the terminal raw:
//! control characters and bidirectional overrides are shown as escapes (`\x1b`, `\u{202e}`).

use std::io::{self, Write};

use unicode_width::UnicodeWidthChar;

use super::columns::Column;
use super::EventWriter;
use crate::event::Event;
use crate::time::Zone;

/// Rows held at most before the widths are chosen.
const HOLD_ROWS: usize = 100;
/// Space between two columns.
pub(super) const GAP: &str = "  ";
/// A column is not shrunk below this (or below its header's width, when that is smaller).
const MIN_WIDTH: usize = 6;
const ELLIPSIS: char = '…';

pub(super) const BOLD: &str = "\x1b[1m";
pub(super) const RED: &str = "\x1b[31m";
pub(super) const RESET: &str = "\x1b[0m";

/// Rows of text cells fitted to the terminal: the printer under the event table and every listing.
pub struct Table<W> {
    out: W,
    headers: Vec<String>,
    /// Columns never cut (times: a cut time reads as a different time).
    whole: Vec<bool>,
    /// Columns aligned to the right (counts).
    right: Vec<bool>,
    /// The terminal's columns; 0 means unknown, and then nothing is shrunk.
    width: usize,
    color: bool,
    /// Rows held at most before the widths are chosen; None: all of them (a finite listing).
    hold: Option<usize>,
    /// Rows waiting for the widths to be chosen.
    held: Vec<Row>,
    /// Chosen once, when the header is printed.
    widths: Option<Vec<usize>>,
}

struct Row {
    /// Escaped cells, ready to measure.
    cells: Vec<String>,
    /// Shown in red when colour is on (a failed call).
    error: bool,
}

/// How the cells of a table column are laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    /// Never cut.
    pub whole: bool,
    /// Aligned to the right.
    pub right: bool,
}

impl<W: Write> Table<W> {
    /// `width`: the terminal's columns; `color`: whether to use ANSI colours (the caller has already
    /// applied NO_COLOR / --color); `hold`: how many rows may wait for the widths (None: all).
    pub fn new(out: W, headers: &[&str], layout: &[Layout], width: usize, color: bool, hold: Option<usize>) -> Self {
        Table {
            out,
            headers: headers.iter().map(|h| escape(h)).collect(),
            whole: layout.iter().map(|l| l.whole).collect(),
            right: layout.iter().map(|l| l.right).collect(),
            width,
            color,
            hold,
            held: Vec::new(),
            widths: None,
        }
    }

    /// Adds a row of plain cells (escaped here); `error` shows it in red when colour is on.
    pub fn push(&mut self, cells: &[&str], error: bool) -> io::Result<()> {
        let row = Row { cells: cells.iter().map(|c| escape(c)).collect(), error };
        match &self.widths {
            Some(widths) => {
                let mut text = String::new();
                push_line(&mut text, &row.cells, widths, &self.right, (self.color && row.error).then_some(RED));
                self.out.write_all(text.as_bytes())
            }
            None => {
                self.held.push(row);
                if self.hold.is_some_and(|hold| self.held.len() >= hold) {
                    self.print_held()?;
                }
                Ok(())
            }
        }
    }

    /// Chooses the widths from the header and the held rows, and prints them all.
    fn print_held(&mut self) -> io::Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let widths =
            self.widths.get_or_insert_with(|| choose_widths(&self.headers, &self.whole, &self.held, self.width));
        let mut text = String::new();
        push_line(&mut text, &self.headers, widths, &self.right, self.color.then_some(BOLD));
        for row in self.held.drain(..) {
            push_line(&mut text, &row.cells, widths, &self.right, (self.color && row.error).then_some(RED));
        }
        self.out.write_all(text.as_bytes())
    }

    /// The end of a page: the first one that brought rows fixes the widths.
    pub fn flush(&mut self) -> io::Result<()> {
        self.print_held()?;
        self.out.flush()
    }

    /// Prints what is still held.
    pub fn finish(&mut self) -> io::Result<()> {
        self.print_held()?;
        self.out.flush()
    }
}

/// The event table: the chosen columns of each event, failed calls in red.
pub struct TableWriter<W> {
    table: Table<W>,
    columns: Vec<Column>,
    zone: Zone,
}

impl<W: Write> TableWriter<W> {
    pub fn new(out: W, columns: Vec<Column>, zone: Zone, width: usize, color: bool) -> Self {
        let headers: Vec<&str> = columns.iter().map(Column::header).collect();
        let layout: Vec<Layout> = columns.iter().map(|c| Layout { whole: c.keep_whole(), right: false }).collect();
        let table = Table::new(out, &headers, &layout, width, color, Some(HOLD_ROWS));
        TableWriter { table, columns, zone }
    }
}

impl<W: Write> EventWriter for TableWriter<W> {
    fn write(&mut self, event: &Event) -> io::Result<()> {
        let cells: Vec<String> = self.columns.iter().map(|c| c.value(event, self.zone)).collect();
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        self.table.push(&cells, !event.record["errorCode"].is_null())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.table.flush()
    }

    /// Prints what is still held; the resume token is reported by the caller, not in the table.
    fn finish(&mut self, _next_token: Option<&str>) -> io::Result<()> {
        self.table.finish()
    }
}

/// Shows control characters (C0, DEL, C1) and bidirectional overrides/isolates as visible escapes, so that
/// event data can neither drive the terminal nor disguise text.
pub fn escape(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Control characters, and the invisible ones that can make text read as other text: bidirectional
/// overrides and isolates, zero-width and joiner characters, line and paragraph separators, invisible
/// operators, the byte-order mark, soft hyphen, the Arabic letter mark, and tag characters.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
                | '\u{e0000}'..='\u{e007f}'
        )
}

/// Display columns of one character; escaped text holds no control characters, so `None` does not occur.
fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Display columns of a text: CJK and other wide characters count 2, combining marks 0.
fn text_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Each column as wide as its widest cell (header included); when the line is wider than the terminal,
/// the widest columns give way first, down to `MIN_WIDTH` (or the header's width, when smaller); columns
/// marked `whole` (times) never shrink. If even that does not fit, lines are left to overflow.
fn choose_widths(headers: &[String], whole: &[bool], rows: &[Row], terminal: usize) -> Vec<usize> {
    let mut widths: Vec<usize> = headers.iter().map(|h| text_width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(&row.cells) {
            *w = (*w).max(text_width(cell));
        }
    }
    if terminal == 0 {
        return widths;
    }
    let minimums: Vec<usize> = headers
        .iter()
        .zip(whole)
        .zip(&widths)
        .map(|((h, &whole), &natural)| if whole { natural } else { text_width(h).min(MIN_WIDTH) })
        .collect();
    let total = |widths: &[usize]| widths.iter().sum::<usize>() + GAP.len() * widths.len().saturating_sub(1);
    let mut excess = total(&widths).saturating_sub(terminal);
    while excess > 0 {
        // The widest column that can still shrink (the first of equals), and the next width below it.
        let shrinkable = || (0..widths.len()).filter(|&i| widths[i] > minimums[i]);
        let Some(widest) = shrinkable().max_by_key(|&i| (widths[i], std::cmp::Reverse(i))) else {
            break;
        };
        let next = shrinkable().filter(|&i| i != widest).map(|i| widths[i]).max().unwrap_or(0);
        let room = widths[widest] - minimums[widest];
        // Step down to the next column's width at once (at least one column, at most what is needed).
        let step = widths[widest].saturating_sub(next).clamp(1, room).min(excess);
        widths[widest] -= step;
        excess -= step;
    }
    widths
}

/// Appends one line: cells fitted to their widths and separated by `GAP`, no trailing spaces, wrapped in
/// `color` (and a reset) when given.
fn push_line(text: &mut String, cells: &[String], widths: &[usize], right: &[bool], color: Option<&str>) {
    let start = text.len();
    if let Some(code) = color {
        text.push_str(code);
    }
    let content = text.len();
    for (i, (cell, &width)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            text.push_str(GAP);
        }
        let cell_width = text_width(cell);
        if right.get(i).copied().unwrap_or(false) && cell_width < width {
            text.extend(std::iter::repeat_n(' ', width - cell_width));
            text.push_str(cell);
        } else {
            push_fitted(text, cell, width);
        }
    }
    let end = text[content..].trim_end_matches(' ').len() + content;
    text.truncate(end);
    if color.is_some() {
        if end == content {
            text.truncate(start);
        } else {
            text.push_str(RESET);
        }
    }
    text.push('\n');
}

/// Appends `cell` taking exactly `width` columns: padded with spaces, or cut and ended with `…` when
/// longer. A wide character is never split; where one would straddle the cut, a space takes its place.
fn push_fitted(text: &mut String, cell: &str, width: usize) {
    let cell_width = text_width(cell);
    if cell_width <= width {
        text.push_str(cell);
        text.extend(std::iter::repeat_n(' ', width - cell_width));
        return;
    }
    if width == 0 {
        return;
    }
    let room = width - 1;
    let mut used = 0;
    for c in cell.chars() {
        let w = char_width(c);
        if used + w > room {
            break;
        }
        text.push(c);
        used += w;
    }
    text.push(ELLIPSIS);
    text.extend(std::iter::repeat_n(' ', room - used));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const COLUMNS: &str = "eventTime,user,eventName,userAgent,errorCode";

    fn event(record: Value) -> Event {
        Event::from_record(record.to_string(), record)
    }

    fn record(time: &str, user: &str, name: &str, agent: &str, error: Option<&str>) -> Event {
        let mut r = json!({
            "eventTime": time,
            "userIdentity": {"type": "IAMUser", "userName": user},
            "eventName": name,
            "userAgent": agent,
        });
        if let Some(error) = error {
            r["errorCode"] = json!(error);
        }
        event(r)
    }

    fn writer(width: usize, color: bool) -> TableWriter<Vec<u8>> {
        TableWriter::new(Vec::new(), Column::parse_list(COLUMNS).unwrap(), "UTC".parse().unwrap(), width, color)
    }

    /// Writes the events as one page and returns the output.
    fn table(events: &[Event], width: usize, color: bool) -> String {
        let mut w = writer(width, color);
        for e in events {
            w.write(e).unwrap();
        }
        w.flush().unwrap();
        w.finish(None).unwrap();
        String::from_utf8(w.table.out).unwrap()
    }

    fn output(w: &TableWriter<Vec<u8>>) -> String {
        String::from_utf8(w.table.out.clone()).unwrap()
    }

    #[test]
    fn aligns_columns() {
        let events = [
            record("2024-07-22T00:00:00Z", "alice", "RunInstances", "aws-cli/2", None),
            record("2024-07-22T00:00:01Z", "bob", "GetObject", "console", Some("AccessDenied")),
        ];
        let out = table(&events, 200, false);
        assert_eq!(
            out,
            "eventTime            user   eventName     userAgent  errorCode\n\
             2024-07-22 00:00:00  alice  RunInstances  aws-cli/2\n\
             2024-07-22 00:00:01  bob    GetObject     console    AccessDenied\n"
        );
    }

    #[test]
    fn japanese_is_double_width_and_cut_whole() {
        // "田中太郎" is 8 columns wide: the user column is 8 wide, and the next column starts after it.
        let events = [
            record("2024-07-22T00:00:00Z", "田中太郎", "ListBuckets", "ブラウザ", None),
            record("2024-07-22T00:00:01Z", "bob", "ListBuckets", "console", None),
        ];
        let out = table(&events, 200, false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "eventTime            user      eventName    userAgent  errorCode");
        assert_eq!(lines[1], "2024-07-22 00:00:00  田中太郎  ListBuckets  ブラウザ");
        assert_eq!(lines[2], "2024-07-22 00:00:01  bob       ListBuckets  console");

        // Cut to an odd width: the wide character that would straddle is replaced by padding.
        let mut cut = String::new();
        push_fitted(&mut cut, "田中太郎", 6);
        assert_eq!(cut, "田中… ");
        assert_eq!(text_width(&cut), 6);
        let mut cut = String::new();
        push_fitted(&mut cut, "田中太郎", 7);
        assert_eq!(cut, "田中太…");
        assert_eq!(text_width(&cut), 7);
    }

    #[test]
    fn long_cells_end_with_an_ellipsis() {
        let mut cut = String::new();
        push_fitted(&mut cut, "abcdefghij", 6);
        assert_eq!(cut, "abcde…");
        let mut fits = String::new();
        push_fitted(&mut fits, "abcdef", 6);
        assert_eq!(fits, "abcdef");
        let mut padded = String::new();
        push_fitted(&mut padded, "abc", 6);
        assert_eq!(padded, "abc   ");
    }

    #[test]
    fn fits_a_narrow_terminal() {
        let agent = "aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 exe/x86_64.amzn.2023 prompt/off command/s3.ls";
        let events = [
            record("2024-07-22T00:00:00Z", "alice", "ListBuckets", agent, None),
            record("2024-07-22T00:00:01Z", "bob", "GetObject", "console", Some("AccessDenied")),
        ];
        let out = table(&events, 80, false);
        for line in out.lines() {
            assert!(text_width(line) <= 80, "{line:?} is wider than 80");
        }
        // The widest column (userAgent) gave way; the others kept their natural widths.
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].starts_with("2024-07-22 00:00:00  alice  ListBuckets  aws-cli/2.15.0"));
        assert!(lines[1].ends_with('…'));
        assert_eq!(text_width(lines[1]), 80 - "AccessDenied".len() - 2);
        assert_eq!(
            lines[2],
            format!("2024-07-22 00:00:01  bob    GetObject    console{}  AccessDenied", " ".repeat(18))
        );

        // Far too narrow: every column at its minimum (times are never cut), lines overflow, no panic.
        let out = table(&events, 10, false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "eventTime            user  event…  userA…  error…");
        assert_eq!(lines[1], "2024-07-22 00:00:00  ali…  ListB…  aws-c…");
        assert_eq!(lines[2], "2024-07-22 00:00:01  bob   GetOb…  conso…  Acces…");
        let _ = table(&events, 1, true);
    }

    #[test]
    fn shrinks_the_widest_first() {
        let headers: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let rows = [Row { cells: vec!["x".repeat(30), "y".repeat(20), "z".repeat(10)], error: false }];
        // 30 + 20 + 10 + 4 = 64; to 50: the 30 comes down to 20 first, then both 20s share the rest.
        assert_eq!(choose_widths(&headers, &[false; 3], &rows, 50), vec![18, 18, 10]);
        assert_eq!(choose_widths(&headers, &[false; 3], &rows, 40), vec![13, 13, 10]);
        assert_eq!(choose_widths(&headers, &[false; 3], &rows, 10), vec![2, 2, 2]);
        assert_eq!(choose_widths(&headers, &[false; 3], &rows, 3), vec![1, 1, 1]);
        assert_eq!(choose_widths(&headers, &[false; 3], &rows, 0), vec![30, 20, 10]);
        assert_eq!(choose_widths(&headers, &[false; 3], &rows, 64), vec![30, 20, 10]);
    }

    #[test]
    fn holds_rows_until_the_first_flush() {
        let mut w = writer(200, false);
        w.write(&record("2024-07-22T00:00:00Z", "alice", "ListBuckets", "console", None)).unwrap();
        assert_eq!(output(&w), "");
        w.flush().unwrap();
        let first = output(&w);
        assert_eq!(first.lines().count(), 2);
        assert!(first.starts_with("eventTime "));

        // Later rows appear at once, with the widths already chosen: a longer user name is cut
        // to the 5 columns "alice" needed.
        w.write(&record("2024-07-22T00:00:01Z", "bartholomew", "GetObject", "console", None)).unwrap();
        let second = output(&w);
        assert_eq!(second.lines().count(), 3);
        assert_eq!(second.lines().nth(2).unwrap(), "2024-07-22 00:00:01  bart…  GetObject    console");
        w.finish(None).unwrap();
        assert_eq!(output(&w), second);
    }

    #[test]
    fn holds_at_most_a_hundred_rows() {
        let mut w = writer(200, false);
        let e = record("2024-07-22T00:00:00Z", "alice", "ListBuckets", "console", None);
        for _ in 0..99 {
            w.write(&e).unwrap();
        }
        assert_eq!(output(&w), "");
        w.write(&e).unwrap();
        assert_eq!(output(&w).lines().count(), 101);
        w.write(&e).unwrap();
        assert_eq!(output(&w).lines().count(), 102);
    }

    #[test]
    fn a_short_result_is_printed_by_finish() {
        let mut w = writer(200, false);
        w.write(&record("2024-07-22T00:00:00Z", "alice", "ListBuckets", "console", None)).unwrap();
        w.finish(Some("token")).unwrap();
        assert_eq!(output(&w).lines().count(), 2);
    }

    #[test]
    fn control_characters_are_escaped() {
        let events = [record("2024-07-22T00:00:00Z", "alice\r\n", "ListBuckets", "\u{1b}[31mred\u{7}\u{9b}\t", None)];
        let out = table(&events, 200, false);
        assert!(!out.bytes().any(|b| b == 0x1b), "{out:?}");
        assert!(out.contains("\\x1b[31mred\\x07\\u{9b}\\t"), "{out:?}");
        assert!(out.contains("alice\\r\\n"), "{out:?}");
        assert_eq!(out.lines().count(), 2);

        // With colour, the only escapes are the writer's own.
        let events = [record("2024-07-22T00:00:00Z", "alice", "ListBuckets", "\u{1b}[31mred", Some("AccessDenied"))];
        let out = table(&events, 200, true);
        assert!(out.contains("\\x1b[31mred"), "{out:?}");
        let rest = out.replace(BOLD, "").replace(RED, "").replace(RESET, "");
        assert!(!rest.bytes().any(|b| b == 0x1b), "{out:?}");
    }

    #[test]
    fn bidi_overrides_are_escaped() {
        assert_eq!(escape("invoice\u{202e}fdp.exe"), "invoice\\u{202e}fdp.exe");
        assert_eq!(escape("a\u{2066}b\u{2069}c\u{202a}"), "a\\u{2066}b\\u{2069}c\\u{202a}");
        assert_eq!(escape("\u{7f}\u{0}"), "\\x7f\\x00");
        assert_eq!(escape("日本語 plain"), "日本語 plain");
        assert_eq!(escape("ad\u{200b}min"), "ad\\u{200b}min", "zero-width space");
        for hidden in [
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{2028}',
            '\u{2029}',
            '\u{2060}',
            '\u{feff}',
            '\u{ad}',
            '\u{61c}',
            '\u{e0041}',
        ] {
            assert!(escape(&format!("a{hidden}b")).starts_with("a\\u{"), "{:x}", hidden as u32);
        }
        let events = [record("2024-07-22T00:00:00Z", "evil\u{202e}nimda", "ListBuckets", "console", None)];
        let out = table(&events, 200, false);
        assert!(out.contains("evil\\u{202e}nimda"), "{out:?}");
        assert!(!out.contains('\u{202e}'));
    }

    #[test]
    fn errors_are_red_only_with_colour() {
        let events = [
            record("2024-07-22T00:00:00Z", "alice", "ListBuckets", "console", None),
            record("2024-07-22T00:00:01Z", "bob", "GetObject", "console", Some("AccessDenied")),
        ];
        let out = table(&events, 200, true);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with(BOLD) && lines[0].ends_with(RESET));
        assert!(!lines[1].contains('\u{1b}'));
        assert!(lines[2].starts_with(RED) && lines[2].ends_with(RESET));
        // Colour codes do not count toward widths: without them, the lines are the plain table.
        let plain = table(&events, 200, false);
        assert!(!plain.bytes().any(|b| b == 0x1b));
        assert_eq!(out.replace(BOLD, "").replace(RED, "").replace(RESET, ""), plain);

        // A null errorCode is no error.
        let ok = event(json!({"eventName": "ListBuckets", "errorCode": null}));
        let out = table(&[ok], 200, true);
        assert!(!out.contains(RED));
    }

    #[test]
    fn right_aligned_columns_in_the_middle() {
        let mut out = Vec::new();
        let layout = [Layout::default(), Layout { whole: false, right: true }, Layout::default()];
        let mut t = Table::new(&mut out, &["name", "count", "last"], &layout, 80, false, None);
        t.push(&["alice", "16", "x"], false).unwrap();
        t.push(&["bob", "1234567", "y"], false).unwrap();
        t.finish().unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "name     count  last\nalice       16  x\nbob    1234567  y\n");
    }

    #[test]
    fn an_empty_result_prints_nothing() {
        let mut w = writer(80, true);
        w.flush().unwrap();
        w.flush().unwrap();
        w.finish(None).unwrap();
        assert!(w.table.out.is_empty());
    }
}
