//! `table`: aligned columns sized to the terminal, for reading.
//!
//! Rows are held only until column widths can be chosen: until the first `flush()` (the end of the first
//! page) or `HOLD_ROWS` rows. Then the header and the held rows are printed, and every later row is printed
//! at once with the same widths (cut with `…` when longer). No line is wider than the terminal (in display
//! columns). Event data never reaches the terminal raw: control characters and bidirectional overrides
//! are shown as escapes (`\x1b`, `\u{202e}`).

use std::io::{self, Write};

use unicode_width::UnicodeWidthChar;

use super::columns::Column;
use super::EventWriter;
use crate::error::say;
use crate::event::Event;
use crate::text::escape;
use crate::time::Zone;

/// Rows held at most before the widths are chosen.
const HOLD_ROWS: usize = 100;
/// Space between two columns.
pub(super) const GAP: &str = "  ";
/// A column is not shrunk below this (or below its header's width, when that is smaller).
const MIN_WIDTH: usize = 6;
/// Below this a text column is hard to read: spare columns are left out before any is cut narrower.
const READABLE_WIDTH: usize = 12;
const ELLIPSIS: char = '…';

pub(super) const BOLD: &str = "\x1b[1m";
pub(super) const RED: &str = "\x1b[31m";
pub(super) const RESET: &str = "\x1b[0m";

/// Rows of text cells fitted to the terminal: the printer under the event table and every listing.
pub struct Table<W> {
    out: W,
    headers: Vec<String>,
    layout: Vec<Layout>,
    /// The terminal's columns; 0 means unknown, and then nothing is shrunk.
    width: usize,
    color: bool,
    /// Rows held at most before the widths are chosen; None: all of them (a finite listing).
    hold: Option<usize>,
    /// Rows waiting for the widths to be chosen.
    held: Vec<Row>,
    /// Chosen once, when the header is printed; None for a column left out.
    widths: Option<Vec<Option<usize>>>,
}

struct Row {
    /// Escaped cells, ready to measure.
    cells: Vec<String>,
    /// Shown in red when colour is on (a failed call).
    error: bool,
}

/// How the cells of a table column are laid out, and how the column gives way on a narrow terminal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    /// Never cut: a cut time or count reads as a different one.
    pub whole: bool,
    /// Aligned to the right.
    pub right: bool,
    /// A detail that may be left out to give the other columns room (first, last, an example ID); never
    /// what tells rows apart, or rows would look alike that are not.
    pub spare: bool,
    /// Cut only when no other text column can give way (the action `denied` names).
    pub cut_last: bool,
}

impl Layout {
    pub const TEXT: Layout = Layout { whole: false, right: false, spare: false, cut_last: false };
    pub const COUNT: Layout = Layout { whole: true, right: true, ..Layout::TEXT };
    pub const TIME: Layout = Layout { whole: true, ..Layout::TEXT };

    pub const fn spare(self) -> Layout {
        Layout { spare: true, ..self }
    }

    pub const fn cut_last(self) -> Layout {
        Layout { cut_last: true, ..self }
    }
}

impl<W: Write> Table<W> {
    /// `width`: the terminal's columns; `color`: whether to use ANSI colours (the caller has already
    /// applied NO_COLOR / --color); `hold`: how many rows may wait for the widths (None: all).
    pub fn new(out: W, headers: &[&str], layout: &[Layout], width: usize, color: bool, hold: Option<usize>) -> Self {
        Table {
            out,
            headers: headers.iter().map(|h| escape(h)).collect(),
            layout: (0..headers.len()).map(|i| layout.get(i).copied().unwrap_or_default()).collect(),
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
                let color = (self.color && row.error).then_some(RED);
                push_line(&mut text, &row.cells, widths, &self.layout, self.width, color);
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
        let widths = choose_widths(&self.headers, &self.layout, &self.held, self.width);
        let left_out: Vec<&str> =
            self.headers.iter().zip(&widths).filter(|(_, w)| w.is_none()).map(|(h, _)| h.as_str()).collect();
        if !left_out.is_empty() {
            say(format_args!(
                "the table leaves out {} to fit {} columns (other formats have every column)",
                left_out.join(", "),
                self.width
            ));
        }
        let widths = self.widths.insert(widths);
        let mut text = String::new();
        push_line(&mut text, &self.headers, widths, &self.layout, self.width, self.color.then_some(BOLD));
        for row in self.held.drain(..) {
            let color = (self.color && row.error).then_some(RED);
            push_line(&mut text, &row.cells, widths, &self.layout, self.width, color);
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
        let layout: Vec<Layout> =
            columns.iter().map(|c| if c.keep_whole() { Layout::TIME } else { Layout::TEXT }).collect();
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

/// Display columns of one character; escaped text holds no control characters, so `None` does not occur.
fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Display columns of a text: CJK and other wide characters count 2, combining marks 0.
fn text_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Each column as wide as its widest cell (header included). When the line is wider than the terminal,
/// in this order until it fits:
/// 1. spare columns are left out, the right-most first, while the others would not fit at a readable
///    width (`READABLE_WIDTH`, or their own when narrower; `cut_last` ones at their own);
/// 2. text columns give way, the widest first, down to that readable width, `cut_last` ones keeping
///    theirs; then those too;
/// 3. text columns give way down to `MIN_WIDTH` (or their header's width, when smaller).
///
/// `whole` columns (times, counts) never shrink. A line still too wide is cut at the edge when printed.
/// None: the column is left out.
fn choose_widths(headers: &[String], layout: &[Layout], rows: &[Row], terminal: usize) -> Vec<Option<usize>> {
    let mut natural: Vec<usize> = headers.iter().map(|h| text_width(h)).collect();
    for row in rows {
        for (w, cell) in natural.iter_mut().zip(&row.cells) {
            *w = (*w).max(text_width(cell));
        }
    }
    let mut widths: Vec<Option<usize>> = natural.iter().copied().map(Some).collect();
    if terminal == 0 || line_width(&widths) <= terminal {
        return widths;
    }
    let floor = |i: usize, readable: usize| match layout[i].whole {
        true => natural[i],
        false => natural[i].min(readable),
    };
    let readable: Vec<usize> = (0..natural.len()).map(|i| floor(i, READABLE_WIDTH)).collect();
    let cut_last_whole: Vec<usize> =
        (0..natural.len()).map(|i| if layout[i].cut_last { natural[i] } else { readable[i] }).collect();
    let at_floors =
        |widths: &[Option<usize>]| widths.iter().zip(&cut_last_whole).map(|(w, &f)| w.map(|_| f)).collect::<Vec<_>>();
    while line_width(&at_floors(&widths)) > terminal {
        let Some(spare) = (0..widths.len()).rev().find(|&i| layout[i].spare && widths[i].is_some()) else {
            break;
        };
        widths[spare] = None;
    }
    let minimum: Vec<usize> = (0..natural.len()).map(|i| floor(i, text_width(&headers[i]).min(MIN_WIDTH))).collect();
    for floors in [&cut_last_whole, &readable, &minimum] {
        if shrink(&mut widths, floors, terminal) {
            break;
        }
    }
    widths
}

/// The columns a line of these widths takes, the gaps included.
fn line_width(widths: &[Option<usize>]) -> usize {
    let shown: Vec<usize> = widths.iter().flatten().copied().collect();
    shown.iter().sum::<usize>() + GAP.len() * shown.len().saturating_sub(1)
}

/// Shrinks the widest columns first, none below its floor, until the line fits the terminal; whether it
/// does.
fn shrink(widths: &mut [Option<usize>], floors: &[usize], terminal: usize) -> bool {
    let mut excess = line_width(widths).saturating_sub(terminal);
    while excess > 0 {
        // The widest column that can still shrink (the first of equals), and the next width below it.
        let candidates: Vec<(usize, usize)> =
            (0..widths.len()).filter_map(|i| Some((i, widths[i]?))).filter(|&(i, w)| w > floors[i]).collect();
        let Some(&(widest, width)) = candidates.iter().max_by_key(|&&(i, w)| (w, std::cmp::Reverse(i))) else {
            return false;
        };
        let next = candidates.iter().filter(|&&(i, _)| i != widest).map(|&(_, w)| w).max().unwrap_or(0);
        let room = width - floors[widest];
        // Step down to the next column's width at once (at least one column, at most what is needed).
        let step = width.saturating_sub(next).clamp(1, room).min(excess);
        widths[widest] = Some(width - step);
        excess -= step;
    }
    true
}

/// Appends one line: cells fitted to their widths and separated by `GAP` (left-out columns skipped), no
/// trailing spaces, cut at the `terminal`'s edge (0: unknown) when still wider, wrapped in `color` (and
/// a reset) when given.
fn push_line(
    text: &mut String,
    cells: &[String],
    widths: &[Option<usize>],
    layout: &[Layout],
    terminal: usize,
    color: Option<&str>,
) {
    let mut line = String::new();
    let shown =
        cells.iter().zip(widths).zip(layout).filter_map(|((cell, width), layout)| Some((cell, (*width)?, layout)));
    for (i, (cell, width, layout)) in shown.enumerate() {
        if i > 0 {
            line.push_str(GAP);
        }
        let cell_width = text_width(cell);
        if layout.right && cell_width < width {
            line.extend(std::iter::repeat_n(' ', width - cell_width));
            line.push_str(cell);
        } else {
            push_fitted(&mut line, cell, width);
        }
    }
    let mut line = line.trim_end_matches(' ').to_owned();
    if terminal > 0 {
        line = cut_to(&line, terminal);
    }
    match color {
        Some(code) if !line.is_empty() => text.push_str(&format!("{code}{line}{RESET}")),
        _ => text.push_str(&line),
    }
    text.push('\n');
}

/// `line` cut at `width` columns with `…` when it is wider; the last resort of a terminal too narrow.
pub(super) fn cut_to(line: &str, width: usize) -> String {
    // No character is wider than its UTF-8 bytes: most lines are known to fit without measuring.
    if line.len() <= width || text_width(line) <= width {
        return line.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let (head, _) = head(line, width - 1);
    format!("{head}{ELLIPSIS}")
}

/// An ARN names its thing at its end (`…:user/alice`, `…:function:deploy`): cut, it keeps the end.
fn keeps_its_end(cell: &str) -> bool {
    cell.starts_with("arn:")
}

/// Appends `cell` taking exactly `width` columns: padded with spaces, or cut and marked with `…` when
/// longer (at the start for an ARN, else at the end). A wide character is never split; where one would
/// straddle the cut, a space takes its place.
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
    let used = if keeps_its_end(cell) {
        let (tail, used) = tail(cell, room);
        text.push(ELLIPSIS);
        text.push_str(tail);
        used
    } else {
        let (head, used) = head(cell, room);
        text.push_str(head);
        text.push(ELLIPSIS);
        used
    };
    text.extend(std::iter::repeat_n(' ', room - used));
}

/// The longest start of `s` at most `room` columns wide, and its width.
fn head(s: &str, room: usize) -> (&str, usize) {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let w = char_width(c);
        if used + w > room {
            return (&s[..i], used);
        }
        used += w;
    }
    (s, used)
}

/// The longest end of `s` at most `room` columns wide, and its width.
fn tail(s: &str, room: usize) -> (&str, usize) {
    let mut used = 0;
    for (i, c) in s.char_indices().rev() {
        let w = char_width(c);
        if used + w > room {
            return (&s[i + c.len_utf8()..], used);
        }
        used += w;
    }
    (s, used)
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

        // Every text column at its minimum (times are never cut)…
        let out = table(&events, 49, false);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "eventTime            user  event…  userA…  error…");
        assert_eq!(lines[1], "2024-07-22 00:00:00  ali…  ListB…  aws-c…");
        assert_eq!(lines[2], "2024-07-22 00:00:01  bob   GetOb…  conso…  Acces…");
        // … and narrower still, the lines are cut at the edge.
        let out = table(&events, 40, false);
        assert_eq!(out.lines().nth(2), Some("2024-07-22 00:00:01  bob   GetOb…  cons…"));
        let out = table(&events, 10, false);
        assert_eq!(out.lines().collect::<Vec<_>>(), ["eventTime…", "2024-07-2…", "2024-07-2…"]);
        let out = table(&events, 1, true);
        assert_eq!(out.replace(BOLD, "").replace(RED, "").replace(RESET, ""), "…\n…\n…\n");
    }

    #[test]
    fn shrinks_the_widest_first() {
        let headers: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let rows = [Row { cells: vec!["x".repeat(30), "y".repeat(20), "z".repeat(10)], error: false }];
        let widths = |terminal: usize| -> Vec<usize> {
            choose_widths(&headers, &[Layout::TEXT; 3], &rows, terminal).into_iter().map(Option::unwrap).collect()
        };
        // 30 + 20 + 10 + 4 = 64; to 50: the 30 comes down to 20 first, then both 20s share the rest.
        assert_eq!(widths(50), [18, 18, 10]);
        assert_eq!(widths(40), [13, 13, 10]);
        assert_eq!(widths(10), [2, 2, 2]);
        assert_eq!(widths(3), [1, 1, 1]);
        assert_eq!(widths(0), [30, 20, 10]);
        assert_eq!(widths(64), [30, 20, 10]);
    }

    #[test]
    fn spare_columns_go_before_text_is_cut_below_readable() {
        let headers: Vec<String> = ["key", "action", "n", "when", "id"].map(String::from).into();
        let cells = ["k".repeat(40), "a".repeat(20), "1".to_owned(), "t".repeat(19), "i".repeat(36)];
        let rows = [Row { cells: cells.to_vec(), error: false }];
        let layout = [Layout::TEXT, Layout::TEXT.cut_last(), Layout::COUNT, Layout::TIME.spare(), Layout::TEXT.spare()];
        let widths = |terminal: usize| choose_widths(&headers, &layout, &rows, terminal);
        assert_eq!(widths(200), [Some(40), Some(20), Some(1), Some(19), Some(36)]);
        // 12 + 20 + 1 + 19 + 12 + 8 = 72 fit at a readable width: nothing left out, the widest cut first.
        assert_eq!(widths(80), [Some(16), Some(20), Some(1), Some(19), Some(16)]);
        // The id goes, then the time; the action stays whole while the key can give way.
        assert_eq!(widths(60), [Some(14), Some(20), Some(1), Some(19), None]);
        assert_eq!(widths(50), [Some(25), Some(20), Some(1), None, None]);
        assert_eq!(widths(37), [Some(12), Some(20), Some(1), None, None]);
        // Then the action gives way too, to readable, then both to their minimum (the header's "key").
        assert_eq!(widths(30), [Some(12), Some(13), Some(1), None, None]);
        assert_eq!(widths(20), [Some(7), Some(8), Some(1), None, None]);
        assert_eq!(widths(5), [Some(3), Some(6), Some(1), None, None], "cut at the edge when printed");
    }

    #[test]
    fn an_arn_keeps_its_end() {
        let mut cut = String::new();
        push_fitted(&mut cut, "arn:aws:iam::111122223333:user/alice", 12);
        assert_eq!(cut, "…:user/alice");
        let mut cut = String::new();
        push_fitted(&mut cut, "arn:aws:s3:::バケット", 6);
        assert_eq!(cut, "…ット ", "a wide character is not split");
        assert_eq!(text_width(&cut), 6);
        assert_eq!(cut_to("arn:aws:iam::1:user/alice  x", 10), "arn:aws:i…", "a line keeps its start");
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
        let layout = [Layout::TEXT, Layout::COUNT, Layout::TEXT];
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
