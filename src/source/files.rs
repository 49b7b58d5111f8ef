//! Events from files: saved `aws cloudtrail lookup-events` output, trail log files (plain or gzip),
//! JSON Lines, stdin, and directory trees of those. Large documents are streamed element by element.

use std::borrow::Cow;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use flate2::read::MultiGzDecoder;
use memchr::memmem;
use serde::Deserialize;
use serde_json::Value;

use super::split::split_arrays;
use super::{Flow, Outcome, Sink};
use crate::cli::EventCategoryArg;
use crate::config::{FilesConfig, Input};
use crate::error::{warn, Interrupted};
use crate::event::{one_line, Envelope, Event, Resource};
use crate::interrupt;
use crate::progress::Progress;
use crate::query::TextKind;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BUFFER: usize = 256 * 1024;

pub fn read(config: &FilesConfig, sink: &mut dyn Sink, progress: &Progress) -> Result<Outcome> {
    // Every path is checked before anything is printed: a typo fails the run at once (exit 1).
    let mut files = Vec::new();
    for input in &config.inputs {
        match input {
            Input::Stdin => files.push(None),
            Input::Path(path) => expand(path, &mut files)?,
        }
    }
    let mut reader = Reader { sink, progress, category: config.category, outcome: Outcome::default(), stopped: false };
    for file in files {
        let name = file.as_ref().map_or_else(|| "<stdin>".to_owned(), |p| p.display().to_string());
        let stream: Box<dyn BufRead + Send> = match &file {
            None => Box::new(BufReader::with_capacity(BUFFER, io::stdin())),
            Some(path) => {
                let f = File::open(path).with_context(|| format!("cannot read input {name}"))?;
                Box::new(BufReader::with_capacity(BUFFER, f))
            }
        };
        reader.read_stream(&name, stream)?;
        reader.sink.flush()?;
        if reader.stopped {
            break;
        }
    }
    Ok(reader.outcome)
}

/// Adds a path, or the event files below a directory in path order (for a trail's S3 layout that is
/// oldest first within each region), skipping digest files, which hold no events.
fn expand(path: &Path, files: &mut Vec<Option<PathBuf>>) -> Result<()> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read input {}", path.display()))?;
    if !meta.is_dir() {
        files.push(Some(path.to_owned()));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(path)
        .with_context(|| format!("cannot read input directory {}", path.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<io::Result<_>>()
        .with_context(|| format!("cannot read input directory {}", path.display()))?;
    entries.sort();
    for entry in entries {
        let name = entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with('.') || name == "CloudTrail-Digest" {
            continue;
        }
        if entry.is_dir() {
            expand(&entry, files)?;
        } else if [".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".gz"].iter().any(|ext| name.ends_with(ext)) {
            files.push(Some(entry));
        }
    }
    Ok(())
}

/// Where a bad record was, for the warning.
enum Place<'a> {
    Line(u64),
    Element(&'a str, u64),
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Line(n) => write!(f, "line {n}"),
            Place::Element(array, i) => write!(f, "{array}[{i}]"),
        }
    }
}

/// What one array element or line holds.
#[derive(Clone, Copy)]
enum Shape {
    /// A CloudTrail record, as in trail logs and JSON Lines.
    Record,
    /// An aws CLI / LookupEvents event: envelope fields plus CloudTrailEvent as a string.
    LookupEvent,
}

/// Elements split off a document, handed from the splitting thread to the filtering one.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    /// (from "Records" rather than "Events", index in its array, where its text is in `bytes`)
    elements: Vec<(bool, u64, std::ops::Range<usize>)>,
}

impl Batch {
    fn push(&mut self, records: bool, index: u64, text: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(text);
        self.elements.push((records, index, start..self.bytes.len()));
    }
}

/// The filtering side stopped (enough events, or an error): the splitter ends quietly.
struct ConsumerGone;

const BATCH_BYTES: usize = 256 * 1024;
const BATCHES_IN_FLIGHT: usize = 4;

struct Reader<'s> {
    sink: &'s mut dyn Sink,
    progress: &'s Progress,
    category: Option<EventCategoryArg>,
    outcome: Outcome,
    stopped: bool,
}

impl Reader<'_> {
    fn read_stream(&mut self, name: &str, mut stream: Box<dyn BufRead + Send>) -> Result<()> {
        let head = stream.fill_buf().with_context(|| format!("cannot read input {name}"))?;
        if head.starts_with(&GZIP_MAGIC) {
            stream = Box::new(BufReader::with_capacity(BUFFER, MultiGzDecoder::new(stream)));
        }
        let head = match stream.fill_buf() {
            Ok(head) => head,
            Err(err) => {
                self.bad_file(name, format_args!("{err}"));
                return Ok(());
            }
        };
        match first_key(head).as_deref() {
            Some("Records") | Some("Events") => self.read_document(name, stream),
            _ => self.read_lines(name, stream),
        }
    }

    /// `{"Records":[…]}` or `{"Events":[…]}`, one element at a time. Finding where elements end takes
    /// as long as parsing the few that pass the prefilter, so a second thread splits while this one
    /// filters; batches keep the hand-over cheap and the memory bounded.
    fn read_document(&mut self, name: &str, stream: Box<dyn BufRead + Send>) -> Result<()> {
        let (sender, receiver) = mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
        std::thread::scope(|scope| {
            let splitter = scope.spawn(move || {
                let mut batch = Batch::default();
                let result = split_arrays(stream, &["Records", "Events"], |array, index, bytes| {
                    batch.push(array == "Records", index, bytes);
                    if batch.bytes.len() >= BATCH_BYTES {
                        sender.send(std::mem::take(&mut batch)).map_err(|_| ConsumerGone)?;
                    }
                    Ok::<_, ConsumerGone>(())
                });
                // A closed channel means the consumer stopped; what is left is not wanted.
                let _ = sender.send(batch);
                result
            });
            let mut consumed = Ok(());
            'batches: for batch in receiver.iter() {
                for (records, index, range) in &batch.elements {
                    let (array, shape) =
                        if *records { ("Records", Shape::Record) } else { ("Events", Shape::LookupEvent) };
                    consumed = self.element(name, Place::Element(array, *index), shape, &batch.bytes[range.clone()]);
                    if consumed.is_err() || self.stopped {
                        break 'batches;
                    }
                }
            }
            drop(receiver);
            match splitter.join() {
                Ok(Ok(Err(err))) if consumed.is_ok() && !self.stopped => self.bad_file(name, err),
                Ok(_) => {}
                Err(panic) => std::panic::resume_unwind(panic),
            }
            consumed
        })
    }

    /// JSON Lines: each line is a record or a lookup event; a bad line is skipped with a warning.
    fn read_lines(&mut self, name: &str, mut stream: Box<dyn BufRead + Send>) -> Result<()> {
        let mut line = Vec::new();
        let mut number = 0u64;
        loop {
            line.clear();
            match stream.read_until(b'\n', &mut line) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(err) => {
                    self.bad_file(name, format_args!("read error after line {number} ({err})"));
                    return Ok(());
                }
            }
            number += 1;
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            // Saved lookup events carry the record as a string field.
            let shape =
                if memmem::find(text, b"\"CloudTrailEvent\"").is_some() { Shape::LookupEvent } else { Shape::Record };
            self.element(name, Place::Line(number), shape, text)?;
            if self.stopped {
                return Ok(());
            }
        }
    }

    /// Turns one element's JSON text into an event (unless the prefilter rules it out) and hands it on.
    fn element(&mut self, name: &str, place: Place, shape: Shape, bytes: &[u8]) -> Result<()> {
        self.progress.scanned(None);
        if interrupt::interrupted() {
            return Err(Interrupted("interrupted".to_owned()).into());
        }
        let kind = match shape {
            Shape::Record => TextKind::Record,
            Shape::LookupEvent => TextKind::SavedLookupEvent,
        };
        if !self.sink.may_match(bytes, kind) {
            return Ok(());
        }
        let Ok(raw) = std::str::from_utf8(bytes) else {
            self.bad_record(name, place, "not UTF-8 text");
            return Ok(());
        };
        let event = match shape {
            Shape::Record => match serde_json::from_str::<Value>(raw) {
                Ok(value) if value.is_object() => Event::from_record(one_line(raw), value),
                Ok(_) => {
                    self.bad_record(name, place, "not a JSON object");
                    return Ok(());
                }
                Err(err) => {
                    self.bad_record(name, place, format_args!("not JSON ({err})"));
                    return Ok(());
                }
            },
            Shape::LookupEvent => match lookup_event(raw, &mut *self.sink) {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(()),
                Err(problem) => {
                    self.bad_record(name, place, problem);
                    return Ok(());
                }
            },
        };
        if !self.category_matches(&event.record) {
            return Ok(());
        }
        if self.sink.event(event)? == Flow::Stop {
            self.stopped = true;
        }
        Ok(())
    }

    fn category_matches(&self, record: &Value) -> bool {
        let insight = record.get("eventCategory").and_then(Value::as_str) == Some("Insight");
        match self.category {
            None => true,
            Some(EventCategoryArg::Insight) => insight,
            Some(EventCategoryArg::Management) => !insight,
        }
    }

    fn bad_record(&mut self, name: &str, place: Place, problem: impl fmt::Display) {
        warn(format_args!("{name}: {place}: {problem}; skipped"));
        self.outcome.unreadable += 1;
    }

    fn bad_file(&mut self, name: &str, problem: impl fmt::Display) {
        warn(format_args!("{name}: {problem}; the rest of this file is skipped"));
        self.outcome.unreadable += 1;
    }
}

/// The first key of a JSON object at the start of `head`, if it is a plain string.
fn first_key(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    let rest = text.trim_start().strip_prefix('{')?.trim_start().strip_prefix('"')?;
    rest.split_once('"').map(|(key, _)| key.to_owned())
}

/// An element of `{"Events":[…]}` as saved by the aws CLI, borrowed from the text where it can be.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedLookupEvent<'a> {
    #[serde(borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    read_only: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    access_key_id: Option<Cow<'a, str>>,
    /// ISO 8601 from aws CLI v2, epoch seconds from v1.
    #[serde(default)]
    event_time: Option<Value>,
    #[serde(borrow, default)]
    event_source: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    username: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    resources: Option<Vec<SavedResource<'a>>>,
    #[serde(borrow, rename = "CloudTrailEvent")]
    cloud_trail_event: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedResource<'a> {
    #[serde(borrow, default)]
    resource_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    resource_name: Option<Cow<'a, str>>,
}

/// A saved lookup event: the envelope as given, the record parsed from its string unless the prefilter
/// rules it out (`Ok(None)`).
fn lookup_event(raw: &str, sink: &mut dyn Sink) -> Result<Option<Event>, String> {
    let saved: SavedLookupEvent = serde_json::from_str(raw).map_err(|err| format!("not a lookup event ({err})"))?;
    let id = saved.event_id.as_deref().unwrap_or("?");
    let text = saved.cloud_trail_event.as_deref().ok_or_else(|| format!("event {id}: no CloudTrailEvent"))?;
    if !sink.may_match(text.as_bytes(), TextKind::LookupRecord) {
        return Ok(None);
    }
    let record: Value =
        serde_json::from_str(text).map_err(|err| format!("event {id}: CloudTrailEvent is not valid JSON ({err})"))?;
    let owned = |c: Option<Cow<str>>| c.map(Cow::into_owned);
    let event_time = match saved.event_time {
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(&s).ok().map(|t| t.with_timezone(&Utc)),
        Some(Value::Number(n)) => {
            n.as_f64().and_then(|secs| DateTime::from_timestamp_millis((secs * 1000.0).round() as i64))
        }
        _ => None,
    };
    let raw = one_line(text);
    let envelope = Envelope {
        event_id: owned(saved.event_id),
        event_name: owned(saved.event_name),
        read_only: owned(saved.read_only),
        access_key_id: owned(saved.access_key_id),
        event_time,
        event_source: owned(saved.event_source),
        username: owned(saved.username),
        resources: saved.resources.map(|list| {
            list.into_iter()
                .map(|r| Resource { resource_type: owned(r.resource_type), resource_name: owned(r.resource_name) })
                .collect()
        }),
    };
    Ok(Some(Event { envelope, raw, record }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_keys() {
        assert_eq!(first_key(b" {\n  \"Records\": [").as_deref(), Some("Records"));
        assert_eq!(first_key(b"{\"eventVersion\":\"1.08\"}").as_deref(), Some("eventVersion"));
        assert_eq!(first_key(b"[1]"), None);
    }
}
