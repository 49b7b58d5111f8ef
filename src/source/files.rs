//! Events from files: saved `aws cloudtrail lookup-events` output, trail log files (plain or gzip),
//! JSON Lines, stdin, and directory trees of those. Large documents are streamed element by element.
//! Files are read (inflated, split into events) several at a time on reading threads, and their events
//! handed to the consumer on this thread in path order, each file's in its order.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};

use anyhow::{Context, Result};
use flate2::bufread::MultiGzDecoder;
use memchr::memmem;

use super::pool::{self, Gone, Ordered, Sink, Weighed};
use super::split::{split_values, Piece, MAX_EVENT_BYTES};
use super::{Consumer, Flow, Origin, Outcome, Raw};
use crate::config::{FilesConfig, Input};
use crate::error::Interrupted;
use crate::interrupt;
use crate::progress::Progress;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";
const BUFFER: usize = 256 * 1024;

pub fn read(config: &FilesConfig, consumer: &mut dyn Consumer, progress: &Progress) -> Result<Outcome> {
    // Every path is checked before anything is printed: a typo fails the run at once (exit 1).
    let mut files = Vec::new();
    for input in &config.inputs {
        match input {
            Input::Stdin => files.push(None),
            Input::Path(path) => expand(path, &mut files)?,
        }
    }
    let names: Vec<String> = files
        .iter()
        .map(|file| file.as_ref().map_or_else(|| "<stdin>".to_owned(), |p| p.display().to_string()))
        .collect();
    // Standard input is read once, by the first `-`: the others find it at its end, as one after another would.
    let first_stdin = files.iter().position(Option::is_none);
    let spares = Spares(Mutex::new(Vec::new()));
    let read = |index: usize, file: &Option<PathBuf>, sink: &mut dyn Sink<Batch>| {
        if file.is_none() && Some(index) != first_stdin {
            return;
        }
        let mut out = Batcher { batch: spares.take(), sink, spares: &spares };
        // Gone: the consumer has stopped, nothing more is wanted.
        if read_input(&names[index], file.as_deref(), &mut out).is_ok() {
            let _ = out.send();
        }
    };
    let mut delivery = Delivery { consumer, progress, names: &names, spares: &spares };
    pool::run(&files, config.threads, read, &mut delivery)?;
    Ok(Outcome::default())
}

/// Adds a path, or the event files below a directory in path order (for a trail's S3 layout that is
/// oldest first within each region), skipping digest files, which hold no events. Below a directory each
/// file is read once however many links lead to it, and a link back up the tree is not followed again.
fn expand(path: &Path, files: &mut Vec<Option<PathBuf>>) -> Result<()> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read input {}", path.display()))?;
    if !meta.is_dir() {
        files.push(Some(path.to_owned()));
        return Ok(());
    }
    let mut seen = HashSet::new();
    add_directory(path, files, &mut seen)
}

fn add_directory(dir: &Path, files: &mut Vec<Option<PathBuf>>, seen: &mut HashSet<PathBuf>) -> Result<()> {
    let context = || format!("cannot read input directory {}", dir.display());
    if !seen.insert(fs::canonicalize(dir).with_context(context)?) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(context)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<io::Result<_>>()
        .with_context(context)?;
    entries.sort();
    for entry in entries {
        let name = entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with('.') || name == "CloudTrail-Digest" {
            continue;
        }
        if entry.is_dir() {
            add_directory(&entry, files, seen)?;
        } else if [".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".gz"].iter().any(|ext| name.ends_with(ext)) {
            // A dangling link cannot be read; it is named when opened, like any unreadable input.
            let once = fs::canonicalize(&entry).map_or(true, |real| seen.insert(real));
            if once {
                files.push(Some(entry));
            }
        }
    }
    Ok(())
}

/// What was read of an input, handed from its reading thread to the filtering one: event texts one
/// after another in `bytes`, and what each piece is. Batches keep the hand-over cheap.
struct Batch {
    bytes: Vec<u8>,
    pieces: Vec<BatchPiece>,
}

enum BatchPiece {
    /// An event: what it is, where it was, where its text is in `bytes`.
    Event(Kind, Place, Range<usize>),
    /// Something that could not be read: warned about and counted, and the reading goes on.
    Problem(String),
    /// The input cannot be read at all: the run fails here.
    Failed(anyhow::Error),
}

/// What an event's text holds, told on the reading thread.
#[derive(Clone, Copy)]
enum Kind {
    Record,
    SavedLookupEvent,
}

/// Where an event was in its file.
#[derive(Clone, Copy)]
enum Place {
    /// In the array `Records`, `Events` or a top-level one (""), at an index.
    Element(&'static str, u64),
    /// A top-level value, counted from 0.
    Value(u64),
    /// A line of JSON Lines, counted from 1.
    Line(u64),
}

impl Weighed for Batch {
    fn bytes(&self) -> usize {
        self.bytes.len() + self.pieces.len() * std::mem::size_of::<BatchPiece>()
    }
}

const BATCH_BYTES: usize = 256 * 1024;
const BATCH_PIECES: usize = 4096;
/// Lines looked at to tell JSON Lines from documents.
const SNIFF_LINES: usize = 8;

/// Batches handed back by the filtering side once read, to be filled again: their memory is already
/// there, so the reading threads neither allocate nor touch fresh pages for each one.
struct Spares(Mutex<Vec<Batch>>);

/// Batches kept for reuse; more are dropped.
const SPARE_BATCHES: usize = 32;

impl Spares {
    fn take(&self) -> Batch {
        let spare = self.0.lock().unwrap_or_else(PoisonError::into_inner).pop();
        spare.unwrap_or_else(|| Batch { bytes: Vec::with_capacity(BATCH_BYTES), pieces: Vec::with_capacity(256) })
    }

    fn give(&self, mut batch: Batch) {
        batch.bytes.clear();
        batch.pieces.clear();
        let mut spares = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if spares.len() < SPARE_BATCHES {
            spares.push(batch);
        }
    }
}

/// Fills batches and sends each when it is full.
struct Batcher<'s> {
    batch: Batch,
    sink: &'s mut dyn Sink<Batch>,
    spares: &'s Spares,
}

impl Batcher<'_> {
    fn event(&mut self, piece: Piece<'_>) -> Result<(), Gone> {
        match piece {
            Piece::Event { array, index, text } => {
                let kind = match array {
                    Some("Records") => Kind::Record,
                    Some("Events") => Kind::SavedLookupEvent,
                    _ => kind_of(text),
                };
                let place = match array {
                    Some(array) => Place::Element(array, index),
                    None => Place::Value(index),
                };
                let start = self.batch.bytes.len();
                self.batch.bytes.extend_from_slice(text);
                self.batch.pieces.push(BatchPiece::Event(kind, place, start..self.batch.bytes.len()));
            }
            Piece::Problem(problem) => self.batch.pieces.push(BatchPiece::Problem(problem)),
        }
        self.full()
    }

    fn problem(&mut self, problem: String) {
        self.batch.pieces.push(BatchPiece::Problem(problem));
    }

    fn full(&mut self) -> Result<(), Gone> {
        if self.batch.bytes.len() >= BATCH_BYTES || self.batch.pieces.len() >= BATCH_PIECES {
            return self.send();
        }
        Ok(())
    }

    fn send(&mut self) -> Result<(), Gone> {
        if self.batch.pieces.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, self.spares.take());
        self.sink.send(batch)
    }
}

/// Reads one input (None: stdin) into batches: plain or gzip, documents or JSON Lines, told by content.
fn read_input(name: &str, file: Option<&Path>, out: &mut Batcher<'_>) -> Result<(), Gone> {
    let mut stream: Box<dyn BufRead + Send> = match file {
        None => Box::new(BufReader::with_capacity(BUFFER, io::stdin())),
        Some(path) => match File::open(path) {
            Ok(f) => Box::new(BufReader::with_capacity(BUFFER, f)),
            Err(err) => {
                let err = anyhow::Error::new(err).context(format!("cannot read input {name}"));
                out.batch.pieces.push(BatchPiece::Failed(err));
                return Ok(());
            }
        },
    };
    let head = match stream.fill_buf() {
        Ok(head) => head,
        Err(err) => {
            let err = anyhow::Error::new(err).context(format!("cannot read input {name}"));
            out.batch.pieces.push(BatchPiece::Failed(err));
            return Ok(());
        }
    };
    if head.starts_with(&GZIP_MAGIC) {
        stream = Box::new(BufReader::with_capacity(BUFFER, MultiGzDecoder::new(stream)));
    }
    let head = match stream.fill_buf() {
        Ok(head) => head,
        Err(err) => {
            out.problem(format!("{err}; the rest of this file is skipped"));
            return Ok(());
        }
    };
    // Windows editors start UTF-8 files with a byte-order mark; it is no part of the JSON.
    if head.starts_with(UTF8_BOM) {
        stream.consume(UTF8_BOM.len());
    }
    let head = match stream.fill_buf() {
        Ok(head) => head,
        Err(err) => {
            out.problem(format!("{err}; the rest of this file is skipped"));
            return Ok(());
        }
    };
    if is_json_lines(head) {
        read_lines(stream, out)
    } else {
        read_values(stream, out)
    }
}

/// Documents and events one after another, one element at a time.
fn read_values(stream: Box<dyn BufRead + Send>, out: &mut Batcher<'_>) -> Result<(), Gone> {
    if let Err(err) = split_values(stream, |piece| out.event(piece))? {
        out.problem(format!("{err}; the rest of this file is skipped"));
    }
    Ok(())
}

/// JSON Lines: each line is a record or a lookup event; a bad line is skipped with a warning.
fn read_lines(mut stream: Box<dyn BufRead + Send>, out: &mut Batcher<'_>) -> Result<(), Gone> {
    let mut number = 0u64;
    loop {
        let start = out.batch.bytes.len();
        let read = read_line(&mut stream, &mut out.batch.bytes, MAX_EVENT_BYTES);
        number += 1;
        match read {
            Ok(Line::End) => return Ok(()),
            Ok(Line::Whole) => {}
            Ok(Line::TooLong) => {
                out.problem(format!(
                    "line {number}: longer than {} MiB, no event is that large; skipped",
                    MAX_EVENT_BYTES >> 20
                ));
                out.full()?;
                continue;
            }
            Err(err) => {
                out.problem(format!("read error after line {} ({err}); the rest of this file is skipped", number - 1));
                return Ok(());
            }
        }
        let line = &out.batch.bytes[start..];
        let text = line.trim_ascii_start();
        let from = start + (line.len() - text.len());
        let to = from + text.trim_ascii_end().len();
        if from == to {
            out.batch.bytes.truncate(start);
            continue;
        }
        let kind = kind_of(&out.batch.bytes[from..to]);
        out.batch.pieces.push(BatchPiece::Event(kind, Place::Line(number), from..to));
        out.full()?;
    }
}

/// The filtering side: hands each piece to the consumer, in order, as `Raw` items with their origin.
struct Delivery<'s> {
    consumer: &'s mut dyn Consumer,
    progress: &'s Progress,
    names: &'s [String],
    spares: &'s Spares,
}

impl Ordered<Batch> for Delivery<'_> {
    fn item(&mut self, input: usize, mut batch: Batch) -> Result<Flow> {
        let flow = self.deliver(&self.names[input], &mut batch);
        self.spares.give(batch);
        flow
    }

    fn done(&mut self, _input: usize) -> Result<()> {
        self.consumer.flush()
    }
}

impl Delivery<'_> {
    fn deliver(&mut self, name: &str, batch: &mut Batch) -> Result<Flow> {
        for piece in batch.pieces.drain(..) {
            let (kind, place, range) = match piece {
                BatchPiece::Event(kind, place, range) => (kind, place, range),
                BatchPiece::Problem(problem) => {
                    self.consumer.problem(name, &problem);
                    continue;
                }
                BatchPiece::Failed(err) => return Err(err),
            };
            let bytes = &batch.bytes[range];
            let raw = match kind {
                Kind::Record => Raw::Record(bytes),
                Kind::SavedLookupEvent => Raw::SavedLookupEvent(bytes),
            };
            let origin = match place {
                Place::Element(array, index) => Origin::Element { file: name, array, index },
                Place::Value(index) => Origin::Value { file: name, index },
                Place::Line(line) => Origin::Line { file: name, line },
            };
            self.progress.scanned(None);
            if interrupt::interrupted() {
                return Err(Interrupted(interrupt::what().to_owned()).into());
            }
            if self.consumer.item(raw, origin)? == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }
}

/// A record, or a saved lookup event (which carries the record as a string field).
fn kind_of(text: &[u8]) -> Kind {
    static SAVED: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\"CloudTrailEvent\""));
    if SAVED.find(text).is_some() {
        Kind::SavedLookupEvent
    } else {
        Kind::Record
    }
}

/// JSON Lines, rather than documents or pretty-printed values: one of the first lines holds a whole
/// object that is not a document.
fn is_json_lines(head: &[u8]) -> bool {
    let Some(last_newline) = memchr::memrchr(b'\n', head) else { return false };
    head[..last_newline]
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty())
        .take(SNIFF_LINES)
        .any(|line| {
            // The splitter hands a whole top-level object that is no document on as one event.
            let mut events = 0;
            let split = split_values(line, |piece| {
                events += 1;
                match piece {
                    Piece::Event { array: None, .. } if events == 1 => Ok(()),
                    _ => Err(()),
                }
            });
            line.starts_with(b"{") && matches!(split, Ok(Ok(()))) && events == 1
        })
}

enum Line {
    Whole,
    /// Longer than the cap: skipped to its end, nothing kept.
    TooLong,
    End,
}

/// Reads one line onto the end of `line` (its newline included), keeping at most `cap` bytes: a longer
/// one is passed over to its end without being held, so that input without line ends cannot fill the
/// memory. Unless the line is whole, `line` is left as it was.
fn read_line(stream: &mut dyn BufRead, line: &mut Vec<u8>, cap: usize) -> io::Result<Line> {
    let start = line.len();
    let result = read_line_from(stream, line, start, cap);
    if !matches!(result, Ok(Line::Whole)) {
        line.truncate(start);
    }
    result
}

fn read_line_from(stream: &mut dyn BufRead, line: &mut Vec<u8>, start: usize, cap: usize) -> io::Result<Line> {
    let mut any = false;
    let mut too_long = false;
    loop {
        let available = match stream.fill_buf() {
            Ok(available) => available,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if available.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => Line::End,
                (true, true) => Line::TooLong,
                (true, false) => Line::Whole,
            });
        }
        any = true;
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let used = chunk.len();
        if !too_long {
            if line.len() - start + used > cap {
                too_long = true;
                line.truncate(start);
            } else {
                line.extend_from_slice(chunk);
            }
        }
        stream.consume(used);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Whole });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_told_from_documents() {
        assert!(is_json_lines(b"{\"eventVersion\":\"1.08\"}\n{\"eventVersion\":\"1.08\"}\n"));
        assert!(is_json_lines(b"not json\n{\"eventName\":\"A\"}\n"), "a bad first line");
        assert!(!is_json_lines(b"{\"Records\":[{\"a\":1}]}\n{\"Records\":[]}\n"), "documents, one a line");
        assert!(!is_json_lines(b"{\n  \"eventVersion\": \"1.08\"\n}\n"), "pretty-printed");
        assert!(!is_json_lines(b"[{\"a\":1}]\n"));
        assert!(!is_json_lines(b"{\"a\":1}"), "no line end: one value");
    }

    #[test]
    fn long_lines_are_passed_over() {
        let text = format!("{}\nshort\n", "x".repeat(100));
        let mut stream = BufReader::with_capacity(16, text.as_bytes());
        let mut line = Vec::new();
        assert!(matches!(read_line(&mut stream, &mut line, 50).unwrap(), Line::TooLong));
        line.clear();
        assert!(matches!(read_line(&mut stream, &mut line, 50).unwrap(), Line::Whole));
        assert_eq!(line, b"short\n");
        line.clear();
        assert!(matches!(read_line(&mut stream, &mut line, 50).unwrap(), Line::End));
    }
}
