//! Events from files: saved `aws cloudtrail lookup-events` output, trail log files (plain or gzip),
//! JSON Lines, stdin, and directory trees of those. Large documents are streamed element by element.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;
use memchr::memmem;

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
    let mut reader = Reader { consumer, progress, stopped: false };
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
        reader.consumer.flush()?;
        if reader.stopped {
            break;
        }
    }
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

/// Events split off a document, handed from the splitting thread to the filtering one.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    pieces: Vec<BatchPiece>,
}

enum BatchPiece {
    /// Which array (None: a top-level value), the index in it, where its text is in `bytes`.
    Event(Option<&'static str>, u64, std::ops::Range<usize>),
    Problem(String),
}

impl Batch {
    fn push(&mut self, piece: Piece<'_>) {
        match piece {
            Piece::Event { array, index, text } => {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(text);
                self.pieces.push(BatchPiece::Event(array, index, start..self.bytes.len()));
            }
            Piece::Problem(problem) => self.pieces.push(BatchPiece::Problem(problem)),
        }
    }
}

/// The filtering side stopped (enough events, or an error): the splitter ends quietly.
struct ConsumerGone;

const BATCH_BYTES: usize = 256 * 1024;
const BATCHES_IN_FLIGHT: usize = 4;
/// Lines looked at to tell JSON Lines from documents.
const SNIFF_LINES: usize = 8;

struct Reader<'s> {
    consumer: &'s mut dyn Consumer,
    progress: &'s Progress,
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
        // Windows editors start UTF-8 files with a byte-order mark; it is no part of the JSON.
        if head.starts_with(UTF8_BOM) {
            stream.consume(UTF8_BOM.len());
        }
        let head = match stream.fill_buf() {
            Ok(head) => head,
            Err(err) => {
                self.bad_file(name, format_args!("{err}"));
                return Ok(());
            }
        };
        if is_json_lines(head) {
            self.read_lines(name, stream)
        } else {
            self.read_values(name, stream)
        }
    }

    /// Documents and events one after another, one element at a time. Finding where elements end takes
    /// as long as parsing the few that pass the prefilter, so a second thread splits while this one
    /// filters; batches keep the hand-over cheap and the memory bounded.
    fn read_values(&mut self, name: &str, stream: Box<dyn BufRead + Send>) -> Result<()> {
        let (sender, receiver) = mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
        std::thread::scope(|scope| {
            let splitter = scope.spawn(move || {
                let mut batch = Batch::default();
                let result = split_values(stream, |piece| {
                    batch.push(piece);
                    if batch.bytes.len() >= BATCH_BYTES || batch.pieces.len() >= 4096 {
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
                for piece in &batch.pieces {
                    let (array, index, range) = match piece {
                        BatchPiece::Event(array, index, range) => (*array, *index, range.clone()),
                        BatchPiece::Problem(problem) => {
                            self.consumer.problem(name, &format_args!("{problem}"));
                            continue;
                        }
                    };
                    let bytes = &batch.bytes[range];
                    let raw = match array {
                        Some("Records") => Raw::Record(bytes),
                        Some("Events") => Raw::SavedLookupEvent(bytes),
                        _ => raw_of(bytes),
                    };
                    let origin = match array {
                        Some(array) => Origin::Element { file: name, array, index },
                        None => Origin::Value { file: name, index },
                    };
                    consumed = self.element(raw, origin);
                    if consumed.is_err() || self.stopped {
                        break 'batches;
                    }
                }
            }
            drop(receiver);
            match splitter.join() {
                Ok(Ok(Err(err))) if consumed.is_ok() && !self.stopped => {
                    self.consumer.problem(name, &format_args!("{err}; the rest of this file is skipped"))
                }
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
            let read = read_line(&mut stream, &mut line, MAX_EVENT_BYTES);
            number += 1;
            match read {
                Ok(Line::End) => return Ok(()),
                Ok(Line::Whole) => {}
                Ok(Line::TooLong) => {
                    let problem = format_args!(
                        "line {number}: longer than {} MiB, no event is that large; skipped",
                        MAX_EVENT_BYTES >> 20
                    );
                    self.consumer.problem(name, &problem);
                    continue;
                }
                Err(err) => {
                    let problem =
                        format_args!("read error after line {} ({err}); the rest of this file is skipped", number - 1);
                    self.consumer.problem(name, &problem);
                    return Ok(());
                }
            }
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            self.element(raw_of(text), Origin::Line { file: name, line: number })?;
            if self.stopped {
                return Ok(());
            }
        }
    }

    /// Hands one element on.
    fn element(&mut self, raw: Raw<'_>, origin: Origin<'_>) -> Result<()> {
        self.progress.scanned(None);
        if interrupt::interrupted() {
            return Err(Interrupted(interrupt::what().to_owned()).into());
        }
        if self.consumer.item(raw, origin)? == Flow::Stop {
            self.stopped = true;
        }
        Ok(())
    }

    fn bad_file(&mut self, name: &str, problem: impl std::fmt::Display) {
        self.consumer.problem(name, &format_args!("{problem}; the rest of this file is skipped"));
    }
}

/// A record, or a saved lookup event (which carries the record as a string field).
fn raw_of(text: &[u8]) -> Raw<'_> {
    if memmem::find(text, b"\"CloudTrailEvent\"").is_some() {
        Raw::SavedLookupEvent(text)
    } else {
        Raw::Record(text)
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

/// Reads one line into `line` (its newline included), keeping at most `cap` bytes: a longer one is
/// passed over to its end without being held, so that input without line ends cannot fill the memory.
fn read_line(stream: &mut dyn BufRead, line: &mut Vec<u8>, cap: usize) -> io::Result<Line> {
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
            if line.len() + used > cap {
                too_long = true;
                line.clear();
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
