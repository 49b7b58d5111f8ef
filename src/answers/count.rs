//! `--count-by FIELDS` (and `--top N`): matched events counted per distinct combination of the fields'
//! values, with the oldest and newest event time of each group, printed largest first at the end.

use std::io::{self, Write};

use serde_json::Value;

use super::{Group, Groups};
use crate::error::say;
use crate::event::Event;
use crate::output::columns::{Cell, Column};
use crate::output::{EventWriter, Layout, PrintConfig};

/// One field's value in a group's key. Groups of equal count are listed in the order of their keys:
/// the order of the variants (jq's order of types: booleans, numbers, strings, then objects), then of
/// the values, the empty group last.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Bool(bool),
    Number(Number),
    /// A string of the record, or text derived from it (`user`, `resources`).
    Text(String),
    /// Any other value of the record (an object), as compact JSON.
    Json(String),
    /// The event has no such field: the empty group.
    Missing,
}

impl Key {
    fn of(cell: Cell<'_>) -> Key {
        match cell {
            Cell::Json(Value::String(s)) => Key::Text(s.clone()),
            Cell::Json(Value::Bool(b)) => Key::Bool(*b),
            Cell::Json(Value::Number(n)) => Key::Number(Number::of(n)),
            Cell::Json(other) => Key::Json(other.to_string()),
            Cell::Text(text) => Key::Text(text),
        }
    }

    /// A number stays a number, a missing field is null.
    fn value(&self) -> Value {
        match self {
            Key::Bool(b) => Value::Bool(*b),
            Key::Number(n) => Value::Number(n.shown.clone()),
            Key::Text(text) => Value::String(text.clone()),
            Key::Json(json) => serde_json::from_str(json).unwrap_or_else(|_| Value::String(json.clone())),
            Key::Missing => Value::Null,
        }
    }
}

/// A number in a key, one group per value: `5` and `5.0` are one (as in jq's `group_by`), and numbers
/// sort as numbers. Whole numbers compare exactly (IDs and sizes beyond 2^53 keep their digits), others
/// as f64. `shown` is the number as the first event of the group wrote it; it takes no part in the
/// comparisons.
#[derive(Debug, Clone)]
struct Number {
    /// The value when it is a whole number (within ±2^127).
    whole: Option<i128>,
    float: f64,
    shown: serde_json::Number,
}

impl Number {
    fn of(n: &serde_json::Number) -> Number {
        let float = n.as_f64().unwrap_or(f64::NAN);
        // An integral float beyond ±2^127 stays a float: `as` would saturate, and no i64 or u64 is that big.
        let integral = float.fract() == 0.0 && float.abs() < 2f64.powi(127);
        let whole = n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| integral.then_some(float as i128));
        Number { whole, float, shown: n.clone() }
    }
}

impl Ord for Number {
    /// A whole number and a fraction are never equal, so comparing them as f64 keeps `Eq` and `Hash`
    /// consistent.
    fn cmp(&self, other: &Number) -> std::cmp::Ordering {
        match (self.whole, other.whole) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.float.total_cmp(&other.float),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Number {}

impl std::hash::Hash for Number {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self.whole {
            Some(whole) => whole.hash(state),
            None => self.float.to_bits().hash(state),
        }
    }
}

/// The stage: groups held in memory, rows printed by `finish`.
pub struct Counter<'c, W: Write> {
    fields: &'c [Column],
    top: Option<usize>,
    print: &'c PrintConfig,
    out: W,
    groups: Groups<Key>,
    finished: bool,
}

impl<'c, W: Write> Counter<'c, W> {
    pub fn new(fields: &'c [Column], top: Option<usize>, print: &'c PrintConfig, out: W) -> Self {
        Counter { fields, top, print, out, groups: Groups::new(), finished: false }
    }

    fn print_rows(&mut self) -> io::Result<()> {
        let total = self.groups.len();
        let groups: Vec<(Vec<Key>, Group)> = std::mem::take(&mut self.groups).sorted();
        let shown = self.top.map_or(total, |top| top.min(total));
        let mut headers: Vec<&str> = self.fields.iter().map(Column::header).collect();
        headers.extend(["count", "first", "last"]);
        // The fields tell the groups apart and stay; on a narrow terminal the times go first.
        let mut layout = vec![Layout::TEXT; self.fields.len()];
        layout.extend([Layout::COUNT, Layout::TIME.spare(), Layout::TIME.spare()]);
        let time = |t| super::time_cell(self.print, t);
        let mut rows = self.print.row_writer(&headers, &layout, &mut self.out);
        for (key, group) in &groups[..shown] {
            let mut cells: Vec<Value> = key.iter().map(Key::value).collect();
            cells.extend([Value::from(group.count), time(group.first), time(group.last)]);
            rows.row(&cells)?;
        }
        rows.finish()?;
        drop(rows);
        if let Some(top) = self.top.filter(|_| shown < total) {
            let left = total - shown;
            let counted: u64 = groups[shown..].iter().map(|(_, g)| g.count).sum();
            say(format_args!("--top {top}: {left} more groups not shown (their counts add up to {counted})"));
        }
        Ok(())
    }
}

impl<W: Write> EventWriter for Counter<'_, W> {
    /// Counts the event once under each distinct combination of its fields' values: a field that
    /// reaches several values through an array multiplies the combinations, a missing one is `Missing`.
    fn write(&mut self, event: &Event) -> io::Result<()> {
        let zone = self.print.zone;
        let choices: Vec<Vec<Key>> = self
            .fields
            .iter()
            .map(|field| {
                let mut distinct: Vec<Key> = Vec::new();
                for cell in field.values(event, zone) {
                    let key = Key::of(cell);
                    if !distinct.contains(&key) {
                        distinct.push(key);
                    }
                }
                if distinct.is_empty() {
                    distinct.push(Key::Missing);
                }
                distinct
            })
            .collect();
        let time = event.stamp();
        // Every combination, as an odometer over the choices of each field.
        let mut at = vec![0usize; choices.len()];
        let mut key: Vec<Key> = choices.iter().map(|c| c[0].clone()).collect();
        loop {
            self.groups.add(&key, time);
            let Some(turn) = (0..choices.len()).rev().find(|&i| at[i] + 1 < choices[i].len()) else {
                return Ok(());
            };
            at[turn] += 1;
            key[turn] = choices[turn][at[turn]].clone();
            for later in turn + 1..choices.len() {
                at[later] = 0;
                key[later] = choices[later][0].clone();
            }
        }
    }

    /// Text values, as a string field of the record gives them; None is the empty group.
    fn group(
        &mut self,
        key: &[Option<String>],
        count: u64,
        first: Option<crate::time::Stamp>,
        last: Option<crate::time::Stamp>,
    ) -> io::Result<()> {
        let key: Vec<Key> = key.iter().map(|v| v.clone().map_or(Key::Missing, Key::Text)).collect();
        self.groups.merge(&key, Group { count, first, last, data: () });
        Ok(())
    }

    /// Nothing is printed before the end.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, _next_token: Option<&str>) -> io::Result<()> {
        if std::mem::replace(&mut self.finished, true) {
            return Ok(());
        }
        self.print_rows()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::OutputFormat;
    use serde_json::json;

    fn print(format: OutputFormat) -> PrintConfig {
        PrintConfig {
            format,
            columns: Vec::new(),
            zone: "UTC".parse().unwrap(),
            bom: false,
            formula_guard: true,
            color: false,
            width: 0,
            jq: None,
        }
    }

    fn count(fields: &str, top: Option<usize>, format: OutputFormat, records: &[Value]) -> String {
        let fields = Column::parse_option("--count-by", fields).unwrap();
        let print = print(format);
        let mut out = Vec::new();
        {
            let mut counter = Counter::new(&fields, top, &print, &mut out);
            for r in records {
                counter.write(&Event::from_record(r.to_string(), r.clone())).unwrap();
            }
            counter.finish(None).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn arrays_count_once_per_distinct_value_and_missing_is_null() {
        let records = [
            json!({"eventTime": "2024-07-22T00:00:00Z", "tags": ["a", "b", "a"], "n": 1}),
            json!({"eventTime": "2024-07-22T01:00:00Z", "tags": ["b"], "n": 1}),
            json!({"eventTime": "2024-07-22T02:00:00Z", "n": 2}),
        ];
        assert_eq!(
            count("tags", None, OutputFormat::Jsonl, &records),
            "{\"tags\":\"b\",\"count\":2,\"first\":\"2024-07-22T00:00:00+00:00\",\"last\":\"2024-07-22T01:00:00+00:00\"}\n\
             {\"tags\":\"a\",\"count\":1,\"first\":\"2024-07-22T00:00:00+00:00\",\"last\":\"2024-07-22T00:00:00+00:00\"}\n\
             {\"tags\":null,\"count\":1,\"first\":\"2024-07-22T02:00:00+00:00\",\"last\":\"2024-07-22T02:00:00+00:00\"}\n"
        );
        // Combinations multiply; numbers stay numbers.
        let out = count("tags,n", None, OutputFormat::Csv, &records);
        assert_eq!(
            out,
            "tags,n,count,first,last\r\n\
             b,1,2,2024-07-22 00:00:00,2024-07-22 01:00:00\r\n\
             a,1,1,2024-07-22 00:00:00,2024-07-22 00:00:00\r\n\
             ,2,1,2024-07-22 02:00:00,2024-07-22 02:00:00\r\n"
        );
        assert!(count("n", None, OutputFormat::Jsonl, &records).starts_with("{\"n\":1,\"count\":2,"));
    }

    #[test]
    fn numbers_are_keys_by_value() {
        let key = |json: &str| Key::of(Cell::Json(&serde_json::from_str(json).unwrap()));
        assert_eq!(key("5"), key("5.0"));
        assert_eq!(key("-0"), key("0.0"));
        assert_ne!(key("9007199254740993"), key("9007199254740992"), "whole numbers compare exactly");
        assert!(key("9") < key("10") && key("2.5") < key("3") && key("-1e300") < key("-1"));
        assert!(key("1e300") > key("18446744073709551615"));
        assert!(key("true") < key("0") && key("10") < key("\"1\"") && key("\"z\"") < key("{}"));
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        assert_eq!(state.hash_one(key("5")), state.hash_one(key("5.0")));
        assert_eq!(key("5.0").value(), serde_json::json!(5.0), "shown as written");
    }

    #[test]
    fn top_keeps_the_largest() {
        let records: Vec<Value> =
            ["x", "y", "y", "z", "z", "z"].iter().map(|name| json!({"eventName": name})).collect();
        let out = count("eventName", Some(2), OutputFormat::Tsv, &records);
        assert_eq!(out, "eventName\tcount\tfirst\tlast\nz\t3\t\t\ny\t2\t\t\n");
    }
}
