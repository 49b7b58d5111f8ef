//! Events from files: saved `aws cloudtrail lookup-events` output, trail log files (plain or gzip),
//! JSON Lines, stdin, and directory trees of those. Large documents are streamed element by element.
//! Files are read (inflated, split into events) several at a time on reading threads, and their events
//! handed to the consumer on this thread in path order, each file's in its order.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use anyhow::{Context, Result};
use flate2::bufread::MultiGzDecoder;
use memchr::memmem;

use super::s3;
use super::split::{self, split_values, split_values_after, Piece, SplitError, MAX_EVENT_BYTES};
use super::token::{Binding, ObjectPosition};
use super::{Consumer, Flow, Origin, Outcome, Raw};
use super::{FilesConfig, Input, S3Config};
use crate::aws::s3::{Buckets, Fetcher};
use crate::error::Interrupted;
use crate::interrupt;
use crate::pool::{self, Gone, Ordered, Sink, Weighed};
use crate::progress::Progress;
use crate::query::{Screen, Screened, TextKind};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";
const BUFFER: usize = 256 * 1024;

/// The inputs of a run, found before anything is printed: every path given on the command line exists
/// and can be opened (a directory listed), so that a typo ends the run at once, with nothing on stdout.
pub struct Inputs {
    entries: Vec<Entry>,
    threads: usize,
    /// The buckets of `s3://` inputs, and how many objects to fetch at a time.
    s3: Option<(Arc<Buckets>, usize)>,
    /// A read of S3 alone: what its resume tokens are bound to.
    binding: Option<Binding>,
    /// The entry whose first records were handed on by the run that printed `--starting-token`, and how many.
    skip: Option<(usize, u64)>,
}

/// One thing to read, in its place in the order of the run.
enum Entry {
    Stdin,
    /// A file, opened when its turn comes (thousands of them may be given, more than may be open at once).
    File(PathBuf),
    /// A given file that is no regular file (a pipe: `--input <(zcat …)`, a named FIFO), kept open from the
    /// check on: closing it would leave the writer at the other end without a reader.
    Open(PathBuf, File),
    /// A folder below a given directory that cannot be listed: said in its place, and the rest read.
    Unlisted(PathBuf, String),
    /// An object in S3, streamed when its turn comes and read as a file.
    Object {
        bucket: String,
        key: String,
        size: u64,
        /// Which S3 input it is of, counted in command-line order.
        input: usize,
    },
}

impl Entry {
    fn name(&self) -> String {
        match self {
            Entry::Stdin => "<stdin>".to_owned(),
            Entry::File(path) | Entry::Open(path, _) | Entry::Unlisted(path, _) => path.display().to_string(),
            Entry::Object { bucket, key, .. } => format!("s3://{bucket}/{key}"),
        }
    }
}

/// Checks every given path and lists the files below the given directories.
pub fn open(config: &FilesConfig) -> Result<Inputs> {
    let (buckets, mut places) = match &config.s3 {
        Some(s3) => {
            let (buckets, places) = crate::runtime::block_on(connect(&config.inputs, s3))??;
            (Some(Arc::new(buckets)), places.into_iter())
        }
        None => (None, Vec::new().into_iter()),
    };
    let mut entries = Vec::new();
    let mut in_s3 = 0;
    for input in &config.inputs {
        match input {
            Input::Stdin => entries.push(Entry::Stdin),
            Input::Path(path) => add_given(path, &mut entries)?,
            Input::S3 { .. } | Input::Trail(_) => {
                let (Some(s3), Some(buckets), Some((bucket, prefix))) = (&config.s3, &buckets, places.next()) else {
                    unreachable!("S3 inputs come with their settings and places")
                };
                add_bucket(buckets, &bucket, &prefix, in_s3, s3, &mut entries)?;
                in_s3 += 1;
            }
        }
    }
    let resume = config.s3.as_ref().and_then(|s3| s3.prune.resume.as_ref());
    let skip = resume.and_then(|r| r.from.as_ref()).and_then(|from| {
        let at = entries
            .iter()
            .position(|e| matches!(e, Entry::Object { key, input, .. } if *input == from.input && *key == from.key))?;
        Some((at, from.skip))
    });
    let s3 = buckets.zip(config.s3.as_ref().map(|s3| s3.concurrency));
    Ok(Inputs { entries, threads: config.threads, s3, binding: resume.map(|r| r.binding.clone()), skip })
}

/// The bucket and prefix of each S3 input in order (a trail's asked of CloudTrail), and clients for the
/// buckets.
async fn connect(inputs: &[Input], s3: &S3Config) -> Result<(Buckets, Vec<(String, String)>)> {
    let mut places = Vec::new();
    for input in inputs {
        match input {
            Input::S3 { bucket, prefix } => places.push((bucket.clone(), prefix.clone())),
            Input::Trail(trail) => {
                let place = crate::aws::s3::trail_place(&s3.connection, trail).await?;
                if s3.verbose {
                    let kind = if place.organization { "an organization trail" } else { "a trail" };
                    let (bucket, prefix) = (&place.bucket, &place.prefix);
                    crate::error::say(format_args!("--trail {trail}: {kind} delivering to s3://{bucket}/{prefix}"));
                }
                let prefix = match place.prefix.trim_matches('/') {
                    "" => "AWSLogs/".to_owned(),
                    prefix => format!("{prefix}/AWSLogs/"),
                };
                places.push((place.bucket, prefix));
            }
            Input::Stdin | Input::Path(_) => {}
        }
    }
    let buckets: Vec<String> = places.iter().map(|(bucket, _)| bucket.clone()).collect();
    Ok((Buckets::connect(&s3.connection, s3.retries, &buckets).await?, places))
}

/// Walks a bucket's prefix, pruned, and adds the objects to read in their order: of the `input`-th S3
/// input, those from where `--starting-token` says on.
fn add_bucket(
    buckets: &Arc<Buckets>,
    bucket: &str,
    prefix: &str,
    input: usize,
    s3: &S3Config,
    entries: &mut Vec<Entry>,
) -> Result<()> {
    let from = s3.prune.resume.as_ref().and_then(|r| r.from.as_ref());
    if from.is_some_and(|from| input < from.input) {
        // Read to its end by the run that printed the token.
        return Ok(());
    }
    struct Lister<'b> {
        buckets: &'b Arc<Buckets>,
        bucket: &'b str,
        s3: &'b S3Config,
    }
    impl Lister<'_> {
        fn said(&self, prefix: &str) -> Result<()> {
            if interrupt::interrupted() {
                return Err(Interrupted(interrupt::what().to_owned()).into());
            }
            if self.s3.verbose {
                crate::error::say(format_args!("listing s3://{}/{prefix}", self.bucket));
            }
            Ok(())
        }
    }
    fn listing((prefixes, objects): crate::aws::s3::Listed) -> s3::Listing {
        let objects = objects.into_iter().map(|(key, size)| s3::Object { key, size }).collect();
        s3::Listing { prefixes, objects }
    }
    impl s3::List for Lister<'_> {
        fn list(&mut self, prefix: &str, delimiter: bool) -> Result<s3::Listing> {
            self.said(prefix)?;
            Ok(listing(crate::runtime::block_on(self.buckets.list(self.bucket, prefix, delimiter))??))
        }

        // The folders of one depth are listed as many at a time as objects are fetched.
        fn list_all(&mut self, prefixes: &[String]) -> Result<Vec<s3::Listing>> {
            for prefix in prefixes {
                self.said(prefix)?;
            }
            let levels = self.buckets.list_levels(self.bucket, prefixes, self.s3.concurrency);
            crate::runtime::block_on(levels)?.into_iter().map(|answer| answer.map(listing)).collect()
        }
    }
    let mut lister = Lister { buckets, bucket, s3 };
    let found = s3::walk(&mut lister, prefix, &s3.prune)?;
    if s3.verbose {
        crate::error::say(format_args!("s3://{bucket}/{prefix}: {found}"));
        for line in found.skipped_lines() {
            crate::error::say(format_args!("s3://{bucket}/{prefix}: {line}"));
        }
    }
    // The objects come in path order: those before the token's were finished.
    let read_before = |key: &str| {
        from.is_some_and(|from| from.input == input && s3::path_order(key, &from.key) == std::cmp::Ordering::Less)
    };
    entries.extend(found.objects.into_iter().filter(|o| !read_before(&o.key)).map(|o| Entry::Object {
        bucket: bucket.to_owned(),
        key: o.key,
        size: o.size,
        input,
    }));
    Ok(())
}

pub fn read(inputs: &Inputs, consumer: &mut dyn Consumer, progress: &Progress) -> Result<Outcome> {
    let names: Vec<String> = inputs.entries.iter().map(Entry::name).collect();
    // Standard input is read once, by the first `-`: the others find it at its end, as one after another would.
    let first_stdin = inputs.entries.iter().position(|entry| matches!(entry, Entry::Stdin));
    let spares = Spares(Mutex::new(Vec::new()));
    let screen = consumer.screen();
    let read = |index: usize, entry: &Entry, sink: &mut dyn Sink<Batch>| {
        if matches!(entry, Entry::Stdin) && Some(index) != first_stdin {
            return;
        }
        let screen = screen.as_ref().map(|screen| (screen, Screened::default()));
        let mut out = Batcher { batch: spares.take(), sink, spares: &spares, screen };
        // Gone: the consumer has stopped, nothing more is wanted.
        if read_entry(entry, &mut out).is_ok() {
            let _ = out.send();
        }
    };
    let sizes: Vec<Option<u64>> =
        inputs.entries.iter().map(|e| if let Entry::Object { size, .. } = e { Some(*size) } else { None }).collect();
    let mut delivery = Delivery {
        consumer,
        progress,
        names: &names,
        sizes: &sizes,
        spares: &spares,
        skip: inputs.skip,
        at: 0,
        handed: 0,
        stopped: false,
    };
    // Objects are fetched in their order by a thread of their own, `concurrency` ahead of the reading
    // threads, which are as many as for files: they inflate and split, the CPUs' work, while the
    // downloads wait on the network. Each object is asked for by its place among the objects.
    let mut objects = Vec::new();
    let place: Vec<usize> = inputs
        .entries
        .iter()
        .map(|entry| {
            let at = objects.len();
            if let Entry::Object { bucket, key, .. } = entry {
                objects.push((bucket.clone(), key.clone()));
            }
            at
        })
        .collect();
    let fetcher = match &inputs.s3 {
        Some((buckets, concurrency)) => Some(Fetcher::start(buckets.clone(), *concurrency, objects)?),
        None => None,
    };
    let fetcher = fetcher.as_ref();
    let read = |index: usize, entry: &Entry, sink: &mut dyn Sink<Batch>| match (entry, fetcher) {
        (Entry::Object { .. }, Some(fetcher)) => {
            let screen = screen.as_ref().map(|screen| (screen, Screened::default()));
            let mut out = Batcher { batch: spares.take(), sink, spares: &spares, screen };
            let object = fetcher.get(place[index]);
            let done = read_input(BufReader::with_capacity(BUFFER, Box::new(object)), &mut out);
            if done.is_ok() {
                let _ = out.send();
            }
        }
        _ => read(index, entry, sink),
    };
    let result = pool::run(&inputs.entries, inputs.threads, read, &mut delivery);
    // Where the read stands, as a token, when it can be resumed: the entry in hand and its records handed on.
    let (at, handed) = (delivery.at, delivery.handed);
    let token = match (&inputs.binding, inputs.entries.get(at)) {
        (Some(binding), Some(Entry::Object { key, input, .. })) => {
            let position = ObjectPosition { input: *input, key: key.clone(), skip: handed };
            Some(super::token::encode_objects(&position, binding))
        }
        _ => None,
    };
    match result {
        Err(err) if err.is::<Interrupted>() => match token {
            Some(token) => Err(Interrupted(format!(
                "{}; to resume, run again with the same options and --starting-token {token}",
                interrupt::what()
            ))
            .into()),
            None => Err(err),
        },
        Err(err) => Err(err),
        Ok(()) => Ok(Outcome { resume_token: token.filter(|_| delivery.stopped) }),
    }
}

/// Adds a path given on the command line: a file, or the event files below a directory in path order
/// (for a trail's S3 layout that is oldest first within each region). A given file is opened here to
/// learn that it can be; a given directory must be listed.
fn add_given(path: &Path, entries: &mut Vec<Entry>) -> Result<()> {
    let context = || format!("cannot read input {}", path.display());
    let meta = fs::metadata(path).with_context(context)?;
    if meta.is_dir() {
        let mut seen = HashSet::new();
        let listing = list_directory(path, &mut seen).with_context(context)?;
        add_listing(listing.unwrap_or_default(), entries, &mut seen);
        return Ok(());
    }
    let file = File::open(path).with_context(context)?;
    if meta.is_file() {
        entries.push(Entry::File(path.to_owned()));
    } else {
        entries.push(Entry::Open(path.to_owned(), file));
    }
    Ok(())
}

/// A directory's entries in path order; None when it was listed before (through another link).
fn list_directory(dir: &Path, seen: &mut HashSet<PathBuf>) -> io::Result<Option<Vec<PathBuf>>> {
    if !seen.insert(fs::canonicalize(dir)?) {
        return Ok(None);
    }
    let mut listing: Vec<PathBuf> =
        fs::read_dir(dir)?.map(|entry| entry.map(|e| e.path())).collect::<io::Result<_>>()?;
    listing.sort();
    Ok(Some(listing))
}

/// Adds the event files of a listing, and of the folders in it, skipping digest files, which hold no
/// events, and hidden files. Each file is read once however many links lead to it, and a link back up
/// the tree is not followed again. A folder that cannot be listed is said in its place, and the rest read.
fn add_listing(listing: Vec<PathBuf>, entries: &mut Vec<Entry>, seen: &mut HashSet<PathBuf>) {
    for entry in listing {
        let name = entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with('.') || name == "CloudTrail-Digest" {
            continue;
        }
        if entry.is_dir() {
            match list_directory(&entry, seen) {
                Ok(listing) => add_listing(listing.unwrap_or_default(), entries, seen),
                Err(err) => entries.push(Entry::Unlisted(entry, err.to_string())),
            }
        } else if [".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".gz"].iter().any(|ext| name.ends_with(ext)) {
            // A dangling link cannot be read; it is named when its turn comes, like any unreadable file.
            let once = fs::canonicalize(&entry).map_or(true, |real| seen.insert(real));
            if once {
                entries.push(Entry::File(entry));
            }
        }
    }
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
    /// Events the consumer's screen ruled out, unparsed and not kept.
    Screened(u64),
}

/// What an event's text holds, told on the reading thread.
#[derive(Clone, Copy)]
enum Kind {
    Record,
    SavedLookupEvent,
}

impl Kind {
    fn text(self) -> TextKind {
        match self {
            Kind::Record => TextKind::Record,
            Kind::SavedLookupEvent => TextKind::SavedLookupEvent,
        }
    }
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
    /// The consumer's screen, and what it handed on of this input.
    screen: Option<(&'s Screen, Screened)>,
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
                if !passes(&mut self.screen, &mut self.batch.pieces, text, kind) {
                    return self.full();
                }
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

/// Whether a text is to be handed on; when the screen rules it out, it is counted in `pieces` instead.
fn passes(screen: &mut Option<(&Screen, Screened)>, pieces: &mut Vec<BatchPiece>, text: &[u8], kind: Kind) -> bool {
    let Some((screen, screened)) = screen else { return true };
    if screen.pass(text, kind.text(), screened) {
        return true;
    }
    match pieces.last_mut() {
        Some(BatchPiece::Screened(count)) => *count += 1,
        _ => pieces.push(BatchPiece::Screened(1)),
    }
    false
}

/// Reads one entry into batches. What cannot be opened or read is said with the file's name, and the
/// run goes on with the next one: the given paths were checked before, so this is a file found in a
/// tree, or one that went away since.
fn read_entry(entry: &Entry, out: &mut Batcher<'_>) -> Result<(), Gone> {
    let opened = match entry {
        Entry::Stdin => Ok(Box::new(io::stdin()) as Box<dyn Read + Send>),
        Entry::File(path) => File::open(path).map(|f| Box::new(f) as Box<dyn Read + Send>),
        Entry::Open(_, file) => file.try_clone().map(|f| Box::new(f) as Box<dyn Read + Send>),
        Entry::Unlisted(_, err) => {
            out.problem(format!("cannot be listed ({err}); the files in it are skipped"));
            return Ok(());
        }
        Entry::Object { .. } => unreachable!("objects are fetched, not opened"),
    };
    match opened {
        Ok(reader) => read_input(BufReader::with_capacity(BUFFER, reader), out),
        Err(err) => {
            out.problem(format!("cannot be read ({err}); skipped"));
            Ok(())
        }
    }
}

/// Reads one input into batches: plain or gzip, documents or JSON Lines, told by content.
fn read_input(mut raw: BufReader<Box<dyn Read + Send>>, out: &mut Batcher<'_>) -> Result<(), Gone> {
    let gzip = match raw.fill_buf() {
        Ok(head) => head.starts_with(&GZIP_MAGIC),
        Err(err) => {
            out.problem(format!("cannot be read ({err}); skipped"));
            return Ok(());
        }
    };
    let mut stream: Box<dyn BufRead + Send> =
        if gzip { Box::new(BufReader::with_capacity(BUFFER, MultiGzDecoder::new(raw))) } else { Box::new(raw) };
    // Windows editors start UTF-8 files with a byte-order mark; it is no part of the JSON.
    match stream.fill_buf() {
        Ok(head) if head.starts_with(UTF8_BOM) => stream.consume(UTF8_BOM.len()),
        Ok(_) => {}
        Err(err) => {
            out.problem(format!("{err}; the rest of this file is skipped"));
            return Ok(());
        }
    }
    match sniff(stream) {
        (Layout::JsonLines, head, rest) => read_lines(Box::new(Cursor::new(head).chain(rest)), out),
        (Layout::Documents, head, rest) => read_values(head, rest, out),
    }
}

/// How an input is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Every non-empty line is one whole value: a bad line is skipped, and the next one read.
    JsonLines,
    /// Values one after another, laid out any way (pretty-printed, one element a line, all on one line),
    /// read as `jq` reads them: what comes after a bad spot cannot be told apart from it.
    Documents,
}

/// Lines looked at to tell the layout, and the bytes they may take: a line longer than that (a trail
/// log on one line) is the start of a document.
const SNIFF_LINES: usize = 8;
const SNIFF_BYTES: usize = 1024 * 1024;

/// Tells the layout from the first line that is JSON, or the start of JSON: a whole object that is no
/// document makes JSON Lines; a document, an array, or the opening of one that goes on over more lines
/// (`{"Events": [`, `[`, `{`) makes documents. Lines that are no JSON at all (a bad first line of JSON
/// Lines) are passed over; when none of the first lines says, the input is read as documents, which also
/// reads good JSON Lines. The lines read to tell are handed back (the head) with the rest, to be read
/// first, so nothing is read twice or lost (standard input cannot be read again), and at most
/// `SNIFF_BYTES` are held; documents are split in the head where it lies. A read error meanwhile comes
/// back after them, where the reader finds it as it would have.
fn sniff(mut stream: Box<dyn BufRead + Send>) -> (Layout, Vec<u8>, Box<dyn BufRead + Send>) {
    let mut head = split::buffer();
    let mut layout = None;
    let mut error = None;
    let mut lines = 0;
    while layout.is_none() && lines < SNIFF_LINES && head.len() < SNIFF_BYTES {
        let start = head.len();
        match take_line(&mut stream, &mut head, SNIFF_BYTES - start) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) => {
                error = Some(err);
                break;
            }
        }
        let line = head[start..].trim_ascii();
        if line.is_empty() {
            continue;
        }
        lines += 1;
        // Whether no line is looked at after this one: then a line that opens a document tells
        // documents whatever follows in it, as the default would (a trail log is one long line).
        let last = lines == SNIFF_LINES
            || head.len() >= SNIFF_BYTES
            || head.last() != Some(&b'\n')
            || match stream.fill_buf() {
                Ok(rest) => rest.is_empty(),
                Err(err) => {
                    error = Some(err);
                    true
                }
            };
        layout = layout_of_line(&head[start..], last);
        if error.is_some() {
            break;
        }
    }
    let rest: Box<dyn BufRead + Send> = match error {
        Some(err) => Box::new(FailOnce(Some(err))),
        None => stream,
    };
    (layout.unwrap_or(Layout::Documents), head, rest)
}

/// What one line says of the layout; None: it is no JSON, the next line tells. When it is the `last`
/// line looked at, the split stops at the first element of a document: the rest of the line could
/// only change documents into "the next line tells", and there is none.
fn layout_of_line(line: &[u8], last: bool) -> Option<Layout> {
    let line = line.trim_ascii();
    let mut pieces = 0;
    let mut one_event = false;
    let split = split_values(line, |piece| {
        pieces += 1;
        one_event = pieces == 1 && matches!(piece, Piece::Event { array: None, .. });
        if last && matches!(piece, Piece::Event { array: Some(_), .. }) {
            return Err(Layout::Documents);
        }
        Ok(())
    });
    match split {
        Ok(Ok(())) if one_event => Some(Layout::JsonLines),
        Ok(Ok(())) => Some(Layout::Documents),
        // A JSON string cannot hold a line end: a line that stops inside one is cut, not an opening.
        Ok(Err(SplitError::Truncated { .. })) if !ends_inside_string(line) => Some(Layout::Documents),
        Ok(Err(_)) => None,
        Err(layout) => Some(layout),
    }
}

/// Whether the text stops inside a JSON string.
fn ends_inside_string(text: &[u8]) -> bool {
    let mut inside = false;
    let mut escaped = false;
    for &b in text {
        if escaped {
            escaped = false;
        } else if inside && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            inside = !inside;
        }
    }
    inside
}

/// Moves the next line (its line end included) from `stream` onto `head`, at most `limit` bytes of it;
/// how many were moved (0: the end of the input).
fn take_line(stream: &mut dyn BufRead, head: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
    let mut taken = 0;
    while taken < limit {
        let available = match stream.fill_buf() {
            Ok(available) => available,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if available.is_empty() {
            break;
        }
        let room = &available[..available.len().min(limit - taken)];
        let (chunk, done) = match memchr::memchr(b'\n', room) {
            Some(i) => (&room[..=i], true),
            None => (room, false),
        };
        let used = chunk.len();
        head.extend_from_slice(chunk);
        stream.consume(used);
        taken += used;
        if done {
            break;
        }
    }
    Ok(taken)
}

/// A read error met while telling the layout, handed on once to whoever reads on.
struct FailOnce(Option<io::Error>);

impl Read for FailOnce {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        self.0.take().map_or(Ok(0), Err)
    }
}

impl BufRead for FailOnce {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.0.take() {
            Some(err) => Err(err),
            None => Ok(&[]),
        }
    }

    fn consume(&mut self, _: usize) {}
}

/// Documents and events one after another, one element at a time.
fn read_values(head: Vec<u8>, rest: Box<dyn BufRead + Send>, out: &mut Batcher<'_>) -> Result<(), Gone> {
    if let Err(err) = split_values_after(head, rest, |piece| out.event(piece))? {
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
        if !passes(&mut out.screen, &mut out.batch.pieces, &out.batch.bytes[from..to], kind) {
            out.batch.bytes.truncate(start);
            out.full()?;
            continue;
        }
        out.batch.pieces.push(BatchPiece::Event(kind, Place::Line(number), from..to));
        out.full()?;
    }
}

/// The filtering side: hands each piece to the consumer, in order, as `Raw` items with their origin.
struct Delivery<'s> {
    consumer: &'s mut dyn Consumer,
    progress: &'s Progress,
    names: &'s [String],
    /// The listed size of each input that is an object of S3, for the progress.
    sizes: &'s [Option<u64>],
    spares: &'s Spares,
    /// Records of an input to pass over, handed on by the run that printed `--starting-token`.
    skip: Option<(usize, u64)>,
    /// The input in hand (the first not finished), and how many of its records were handed on.
    at: usize,
    handed: u64,
    /// The consumer stopped (`--max-items`): more may follow.
    stopped: bool,
}

impl Ordered<Batch> for Delivery<'_> {
    fn item(&mut self, input: usize, mut batch: Batch) -> Result<Flow> {
        if input != self.at {
            (self.at, self.handed) = (input, 0);
        }
        let flow = self.deliver(&self.names[input], &mut batch);
        self.stopped = matches!(flow, Ok(Flow::Stop));
        self.spares.give(batch);
        flow
    }

    fn done(&mut self, input: usize) -> Result<()> {
        if !self.stopped {
            (self.at, self.handed) = (input + 1, 0);
        }
        if let Some(size) = self.sizes[input] {
            self.progress.object(size);
        }
        self.consumer.flush()
    }
}

impl Delivery<'_> {
    /// How many of `count` records in hand are passed over, as the earlier run handed them on.
    fn passed_over(&mut self, count: u64) -> u64 {
        let left = match self.skip {
            Some((input, skip)) if input == self.at => skip.saturating_sub(self.handed),
            _ => 0,
        };
        let passed = left.min(count);
        self.handed += passed;
        passed
    }

    fn deliver(&mut self, name: &str, batch: &mut Batch) -> Result<Flow> {
        for piece in batch.pieces.drain(..) {
            let (kind, place, range) = match piece {
                BatchPiece::Event(kind, place, range) => (kind, place, range),
                BatchPiece::Problem(problem) => {
                    self.consumer.problem(name, &problem);
                    continue;
                }
                BatchPiece::Screened(count) => {
                    let count = count - self.passed_over(count);
                    if count == 0 {
                        continue;
                    }
                    self.progress.scanned_many(count);
                    if interrupt::interrupted() {
                        return Err(Interrupted(interrupt::what().to_owned()).into());
                    }
                    self.handed += count;
                    self.consumer.screened(count);
                    continue;
                }
            };
            if self.passed_over(1) == 1 {
                continue;
            }
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
            self.handed += 1;
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

    /// A reader that hands out a few bytes at a time, as a slow pipe does.
    struct Trickle(Vec<u8>, usize);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = (self.0.len() - self.1).min(buf.len()).min(3);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }

    /// The layout told, and every byte read after telling it: the input must come back whole.
    fn told(text: &[u8]) -> Layout {
        let (layout, head, rest) = sniff(Box::new(BufReader::with_capacity(4, Trickle(text.to_vec(), 0))));
        let mut stream = Cursor::new(head).chain(rest);
        let mut again = Vec::new();
        stream.read_to_end(&mut again).unwrap();
        assert!(again == text, "the input is handed on whole");
        layout
    }

    #[test]
    fn json_lines_are_told_from_documents_by_their_first_line() {
        use Layout::{Documents, JsonLines};
        let record = "{\"eventVersion\":\"1.08\",\"eventName\":\"A\"}";
        let cases: [(String, Layout, &str); 17] = [
            (format!("{{\"Records\":[{record},{record}]}}"), Documents, "a trail log on one line"),
            (format!("{{\"Records\":[{record}}}\n{record}\n"), JsonLines, "a broken document, then lines"),
            (format!("{{\"Records\":[{record}}}\n"), Documents, "a broken document alone"),
            (format!("{record}\n{record}\n"), JsonLines, "JSON Lines"),
            (format!("\n  {record}\r\n{record}"), JsonLines, "empty lines and CRLF"),
            (format!("not json\n{record}\n"), JsonLines, "a bad first line"),
            (format!("{record}\nnot json\n{{\"Events\": [\n"), JsonLines, "bad lines later on"),
            (record.to_owned(), JsonLines, "one record, no line end"),
            (format!("{{\"Events\": [\n{record},\n{record}\n]}}\n"), Documents, "one element a line"),
            (format!("{{\"Records\": [{record},\n{record}\n]}}\n"), Documents, "the first element on the opening line"),
            (format!("[\n  {record},\n  {record}\n]\n"), Documents, "a bare array, indented"),
            ("{\"Records\":[{\"a\":1}]}\n{\"Records\":[]}\n".to_owned(), Documents, "documents, one a line"),
            ("{\n  \"eventVersion\": \"1.08\"\n}\n".to_owned(), Documents, "pretty-printed"),
            ("[{\"a\":1}]\n".to_owned(), Documents, "an array on one line"),
            ("{\"eventVersion\": \"1.0\n{\"a\":1}\n".to_owned(), JsonLines, "a line cut inside a string"),
            ("not json\nnor this\n".to_owned(), Documents, "nothing that says"),
            (String::new(), Documents, "empty"),
        ];
        for (text, layout, what) in cases {
            assert_eq!(told(text.as_bytes()), layout, "{what}");
        }
    }

    #[test]
    fn a_line_too_long_to_look_at_opens_a_document() {
        let long = format!("{{\"Records\":[{{\"a\":\"{}\"}}]}}\n", "x".repeat(SNIFF_BYTES));
        assert_eq!(told(long.as_bytes()), Layout::Documents);
    }

    #[test]
    fn a_read_error_while_telling_comes_after_what_was_read() {
        let failing = Cursor::new(b"{\"a\":1}\n{\"b\"".to_vec()).chain(FailOnce(Some(io::Error::other("disk gone"))));
        let (layout, head, rest) = sniff(Box::new(BufReader::new(failing)));
        let mut stream = Cursor::new(head).chain(rest);
        assert_eq!(layout, Layout::JsonLines);
        let mut read = Vec::new();
        let err = stream.read_to_end(&mut read).unwrap_err();
        assert_eq!(read, b"{\"a\":1}\n{\"b\"");
        assert_eq!(err.to_string(), "disk gone");
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
