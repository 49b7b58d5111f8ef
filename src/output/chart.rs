//! The `--timeline` bar chart of a terminal: one line per time bucket with its count, its failed calls
//! and a bar of block characters scaled to the width, the failed part of the bar red when colour is on.
//! No line is wider than the terminal: the bar takes the room the numbers leave (the caller shortens
//! the labels first to leave it `MIN_BAR` cells), and where even the numbers do not fit, the lines are
//! cut at the edge.

use std::io::{self, Write};

use super::table::{cut_to, BOLD, GAP, RED, RESET};

/// Eighths of a cell, for the end of a bar.
const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
const FULL: char = '█';
/// The width when the terminal's is unknown.
const DEFAULT_WIDTH: usize = 80;
/// The fewest cells that still draw the counts' shape; shorter labels are used to leave the bar these.
const MIN_BAR: usize = 10;

pub struct Chart<W> {
    out: W,
    label_width: usize,
    count_width: usize,
    errors_width: usize,
    /// Cells of the longest bar (the largest count); 0: no room for bars.
    bar_width: usize,
    /// The terminal's columns, which no line exceeds.
    width: usize,
    max_count: u64,
    color: bool,
    started: bool,
}

impl<W: Write> Chart<W> {
    /// `label_width`: the width of every label; `max_count`, `max_errors`: the largest of the lines to
    /// come; `width`: the terminal's columns (0 or `usize::MAX`: unknown).
    pub fn new(out: W, label_width: usize, max_count: u64, max_errors: u64, width: usize, color: bool) -> Self {
        let widths = Widths::new(label_width, max_count, max_errors);
        let width = known(width);
        let bar_width = widths.bar_room(width);
        let Widths { label: label_width, count: count_width, errors: errors_width } = widths;
        Chart { out, label_width, count_width, errors_width, bar_width, width, max_count, color, started: false }
    }

    pub fn line(&mut self, label: &str, count: u64, errors: u64) -> io::Result<()> {
        if !self.started {
            self.started = true;
            let header = format!(
                "{:<lw$}{GAP}{:>cw$}{GAP}{:>ew$}",
                "time",
                "count",
                "errors",
                lw = self.label_width,
                cw = self.count_width,
                ew = self.errors_width
            );
            let header = cut_to(&header, self.width);
            match self.color {
                true => writeln!(self.out, "{BOLD}{header}{RESET}")?,
                false => writeln!(self.out, "{header}")?,
            }
        }
        let (lw, cw, ew) = (self.label_width, self.count_width, self.errors_width);
        let mut line = format!("{label:<lw$}{GAP}{count:>cw$}{GAP}{errors:>ew$}");
        if self.bar_width == 0 {
            // No room for a bar, perhaps not even for the numbers (no colour to keep apart then).
            return writeln!(self.out, "{}", cut_to(&line, self.width));
        }
        let bar = bar(count, self.max_count, self.bar_width);
        if !bar.is_empty() {
            line.push_str(GAP);
            let red = red_cells(count, errors, bar.chars().count());
            if self.color && red > 0 {
                let split = bar.char_indices().nth(red).map_or(bar.len(), |(i, _)| i);
                line.push_str(&format!("{RED}{}{RESET}{}", &bar[..split], &bar[split..]));
            } else {
                line.push_str(&bar);
            }
        }
        writeln!(self.out, "{line}")
    }

    pub fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

// Not about any output: callable as `Chart::leaves_room_for_bars` before there is one.
impl Chart<()> {
    /// Whether labels `label_width` wide leave the bars their `MIN_BAR` cells in a terminal `width` wide.
    pub fn leaves_room_for_bars(label_width: usize, max_count: u64, max_errors: u64, width: usize) -> bool {
        Widths::new(label_width, max_count, max_errors).bar_room(known(width)) >= MIN_BAR
    }
}

/// The columns of a line's parts: its label, count and errors, each at least as wide as its header.
struct Widths {
    label: usize,
    count: usize,
    errors: usize,
}

impl Widths {
    fn new(label_width: usize, max_count: u64, max_errors: u64) -> Widths {
        Widths {
            label: label_width.max("time".len()),
            count: max_count.to_string().len().max("count".len()),
            errors: max_errors.to_string().len().max("errors".len()),
        }
    }

    /// The cells left for the bar after the numbers and the gaps, none when not even one is.
    fn bar_room(&self, width: usize) -> usize {
        width.saturating_sub(self.label + self.count + self.errors + 3 * GAP.len())
    }
}

fn known(width: usize) -> usize {
    if width == 0 || width == usize::MAX {
        DEFAULT_WIDTH
    } else {
        width
    }
}

/// `count` of `max` as a bar of at most `cells` cells, in eighths of a cell; any count above zero shows.
fn bar(count: u64, max: u64, cells: usize) -> String {
    if count == 0 || max == 0 {
        return String::new();
    }
    let eighths = (u128::from(count) * cells as u128 * 8 + u128::from(max) / 2) / u128::from(max);
    let eighths = (eighths as usize).max(1);
    let mut bar: String = std::iter::repeat_n(FULL, eighths / 8).collect();
    if eighths % 8 > 0 {
        bar.push(PARTS[eighths % 8]);
    }
    bar
}

/// How many of a bar's `cells` show failed calls: their share, at least one when there are any, all
/// of them only when every call failed.
fn red_cells(count: u64, errors: u64, cells: usize) -> usize {
    if errors == 0 || cells == 0 {
        return 0;
    }
    if errors >= count {
        return cells;
    }
    let share = ((u128::from(errors) * cells as u128 + u128::from(count) / 2) / u128::from(count)) as usize;
    share.clamp(1, cells.saturating_sub(1).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_in_eighths() {
        assert_eq!(bar(10, 10, 4), "████");
        assert_eq!(bar(5, 10, 4), "██");
        assert_eq!(bar(1, 10, 4), "▍", "3.2 eighths");
        assert_eq!(bar(1, 1000, 4), "▏", "anything above zero shows");
        assert_eq!(bar(0, 10, 4), "");
        assert_eq!(red_cells(10, 0, 4), 0);
        assert_eq!(red_cells(10, 10, 4), 4);
        assert_eq!(red_cells(10, 1, 4), 1);
        assert_eq!(red_cells(10, 9, 4), 3, "not all red while some calls succeeded");
    }

    #[test]
    fn lines_fit_the_width() {
        let mut out = Vec::new();
        let mut chart = Chart::new(&mut out, 16, 200, 50, 50, true);
        chart.line("2024-07-22 09:00", 200, 50).unwrap();
        chart.line("2024-07-22 09:05", 0, 0).unwrap();
        chart.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        let plain = text.replace(BOLD, "").replace(RED, "").replace(RESET, "");
        assert_eq!(
            plain,
            "time              count  errors\n\
             2024-07-22 09:00    200      50  █████████████████\n\
             2024-07-22 09:05      0       0\n"
        );
        assert!(text.contains(&format!("{RED}████{RESET}█████████████\n")), "{text:?}");
    }

    #[test]
    fn too_narrow_for_a_bar_or_even_the_numbers() {
        let lines = |width: usize| {
            let mut out = Vec::new();
            let mut chart = Chart::new(&mut out, 5, 200, 50, width, false);
            chart.line("09:00", 200, 50).unwrap();
            chart.line("09:05", 1, 0).unwrap();
            chart.finish().unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(Chart::leaves_room_for_bars(5, 200, 50, 32));
        assert!(!Chart::leaves_room_for_bars(5, 200, 50, 31));
        assert_eq!(lines(23), "time   count  errors\n09:00    200      50  █\n09:05      1       0  ▏\n");
        assert_eq!(lines(22), "time   count  errors\n09:00    200      50\n09:05      1       0\n", "no bar");
        assert_eq!(lines(12), "time   coun…\n09:00    20…\n09:05      …\n", "cut at the edge");
    }
}
