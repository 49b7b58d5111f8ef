//! Events from files: saved `aws cloudtrail lookup-events` output, trail log files (plain or gzip),
//! JSON Lines, stdin, and directory trees of those. Large documents are streamed element by element.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;
use memchr::memmem;

use super::split::split_arrays;
use super::{Consumer, Flow, Origin, Outcome, Raw};
use crate::config::{FilesConfig, Input};
use crate::error::Interrupted;
use crate::interrupt;
use crate::progress::Progress;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
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
                    let bytes = &batch.bytes[range.clone()];
                    let (array, raw) = if *records {
                        ("Records", Raw::Record(bytes))
                    } else {
                        ("Events", Raw::SavedLookupEvent(bytes))
                    };
                    consumed = self.element(raw, Origin::Element { file: name, array, index: *index });
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
            let raw = if memmem::find(text, b"\"CloudTrailEvent\"").is_some() {
                Raw::SavedLookupEvent(text)
            } else {
                Raw::Record(text)
            };
            self.element(raw, Origin::Line { file: name, line: number })?;
            if self.stopped {
                return Ok(());
            }
        }
    }

    /// Hands one element on.
    fn element(&mut self, raw: Raw<'_>, origin: Origin<'_>) -> Result<()> {
        self.progress.scanned(None);
        if interrupt::interrupted() {
            return Err(Interrupted("interrupted".to_owned()).into());
        }
        if self.consumer.item(raw, origin)? == Flow::Stop {
            self.stopped = true;
        }
        Ok(())
    }

    fn bad_file(&mut self, name: &str, problem: impl std::fmt::Display) {
        self.consumer.problem(name, &problem);
    }
}

/// The first key of a JSON object at the start of `head`, if it is a plain string.
fn first_key(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    let rest = text.trim_start().strip_prefix('{')?.trim_start().strip_prefix('"')?;
    rest.split_once('"').map(|(key, _)| key.to_owned())
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
