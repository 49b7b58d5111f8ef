//! Reading a covered span back: the stored chunks that overlap it, merged newest first (chunks of
//! different fetches may overlap at their edges), each event once, only those inside the span, and
//! for a lookup answered from full scans only the events that lookup would have returned. A reader
//! works in a snapshot of its own and first checks that the span is still covered and that its
//! chunks add up ([`super::db::Snapshot::verify`]).
//!
//! The chunks are read on the reading threads of the ordered pool (`crate::pool`), as files are:
//! each is taken from the snapshot, decompressed, checked against its row, cut to the span and the
//! lookup, and its records' texts screened by the consumer's prefilter, all there; only the events
//! that may match are built, and this thread merges what the pool hands over in order. An event the
//! screen rules out still takes its place in the merge (by its time and ID, so that it is counted
//! once however many chunks hold it), and is only counted ([`StoredReader::take_screened`]).

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::ops::Range;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use anyhow::{Context, Result};

use super::chunk;
use super::coverage::Span;
use super::db::{ChunkRef, Snapshot, Verdict};
use super::{Damaged, Store};
use crate::event::HistoryEvent;
use crate::merge::{self, Seen};
use crate::pool::{self, Flow, Ordered, Sink, Weighed};
use crate::query::{Attribute, Screen, Screened, TextKind};

pub struct StoredReader {
    span: Span,
    /// The chunks not yet opened, newest first: what the pool hands over next.
    pending: VecDeque<ChunkRef>,
    ahead: Ahead,
    /// Opened chunks, their entries not yet taken (newest first).
    open: Vec<Loaded>,
    seen: Seen<i64>,
    /// Events the screen ruled out since the last [`StoredReader::take_screened`].
    screened: u64,
    done: bool,
}

/// What opening a reader on a span found.
pub enum Opened {
    Reader(Box<StoredReader>),
    /// The span is no longer covered whole: another process removed part of it since the plan.
    Cut,
    /// The span is covered but `missing` of the pages its coverage counts are not there.
    Short {
        missing: i64,
    },
}

/// What the reading threads do to each chunk.
struct Job {
    span: Span,
    /// The lookup being answered; events of full-scan chunks are matched against it.
    lookup: Option<(Attribute, String)>,
    screen: Option<Arc<Screen>>,
}

/// One chunk as a reading thread left it: its events in the span (and the lookup), newest first.
#[derive(Default)]
struct Loaded {
    entries: VecDeque<Entry>,
    /// The IDs of screened events, one after another.
    ids: String,
    /// The bytes held, for the pool's bound.
    bytes: usize,
}

enum Entry {
    /// An event that may match.
    Event(HistoryEvent),
    /// An event the screen ruled out: its second, and its ID in [`Loaded::ids`].
    Screened { secs: i64, id: Range<usize> },
}

impl Entry {
    fn secs(&self) -> i64 {
        match self {
            Entry::Event(event) => event.secs(),
            Entry::Screened { secs, .. } => *secs,
        }
    }
}

impl StoredReader {
    /// A reader of `span` for the lookup `key` (`lookup` parsed), in a snapshot of its own, with the
    /// store's screen and reading threads.
    pub fn open(
        store: &Store,
        scope: i64,
        lookup: Option<(Attribute, String)>,
        key: &str,
        span: Span,
    ) -> Result<Opened> {
        let snapshot = store.db.snapshot()?;
        let chunks = match snapshot.verify(scope, key, span)? {
            Verdict::Held(chunks) => chunks,
            Verdict::Cut => return Ok(Opened::Cut),
            Verdict::Short { missing } => return Ok(Opened::Short { missing }),
        };
        let job = Job { span, lookup, screen: store.screen.clone() };
        Ok(Opened::Reader(Box::new(StoredReader {
            span,
            pending: chunks.iter().cloned().collect(),
            ahead: Ahead::start(snapshot, chunks, job, store.config.threads),
            open: Vec::new(),
            seen: Seen::default(),
            screened: 0,
            done: false,
        })))
    }

    pub fn done(&self) -> bool {
        self.done
    }

    pub fn span(&self) -> Span {
        self.span
    }

    /// The time of the last event handed out (or screened), with the IDs handed out at that time:
    /// where the API takes over when the store fails mid-span.
    pub fn last(&self) -> Option<(i64, &HashSet<String>)> {
        self.seen.time.map(|t| (t, &self.seen.ids))
    }

    /// Events the screen ruled out, each once, since this was last asked: they count as read from
    /// the store, and the consumer is told how many it did not see.
    pub fn take_screened(&mut self) -> u64 {
        std::mem::take(&mut self.screened)
    }

    /// Up to `max` events that may match, newest first; fewer only at the end.
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<HistoryEvent>> {
        let mut batch = Vec::new();
        while batch.len() < max && !self.done {
            self.open.retain(|chunk| !chunk.entries.is_empty());
            // The open chunk whose next event is newest; the first opened on a tie, which keeps one
            // fetch's order across its page boundaries.
            let best = merge::newest(self.open.iter().enumerate().map(|(i, chunk)| (i, chunk.entries[0].secs())))
                .map(|i| (i, self.open[i].entries[0].secs()));
            if let Some(next) = self.pending.front() {
                if best.is_none_or(|(_, t)| next.newest >= t) {
                    self.pending.pop_front();
                    let loaded = self.ahead.next()?;
                    self.open.push(loaded);
                    continue;
                }
            }
            let Some((index, time)) = best else {
                self.done = true;
                break;
            };
            let chunk = &mut self.open[index];
            match chunk.entries.pop_front().expect("a head event") {
                Entry::Event(event) => {
                    if self.seen.first(time, event.id()) {
                        batch.push(event);
                    }
                }
                Entry::Screened { id, .. } => {
                    if self.seen.first(time, &chunk.ids[id]) {
                        self.screened += 1;
                    }
                }
            }
        }
        Ok(batch)
    }
}

/// The chunks as they are read: by the pool's reading threads, driven from a thread of their own
/// and handed over in order; or, with one reading thread, one at a time on the caller's thread.
enum Ahead {
    Threads { receiver: Option<mpsc::Receiver<Result<Loaded>>>, driver: Option<JoinHandle<()>> },
    Inline { snapshot: Snapshot, chunks: std::vec::IntoIter<ChunkRef>, job: Job },
}

/// A chunk read, as the pool weighs it.
struct Loading(Result<Loaded>);

impl Weighed for Loading {
    fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |loaded| loaded.bytes)
    }
}

impl Ahead {
    fn start(snapshot: Snapshot, chunks: Vec<ChunkRef>, job: Job, threads: usize) -> Ahead {
        if threads <= 1 {
            return Ahead::Inline { snapshot, chunks: chunks.into_iter(), job };
        }
        /// Hands each chunk on to the reader; a reader gone (it was dropped) stops the pool.
        struct Forward(mpsc::SyncSender<Result<Loaded>>);
        impl Ordered<Loading> for Forward {
            fn item(&mut self, _: usize, item: Loading) -> Result<Flow> {
                Ok(if self.0.send(item.0).is_ok() { Flow::Continue } else { Flow::Stop })
            }
            fn done(&mut self, _: usize) -> Result<()> {
                Ok(())
            }
        }
        let (sender, receiver) = mpsc::sync_channel(1);
        let driver = std::thread::spawn(move || {
            // The snapshot is one connection: the reading threads take turns with it, only to fetch
            // a chunk's compressed bytes.
            let snapshot = Mutex::new(snapshot);
            let read = |_: usize, chunk: &ChunkRef, sink: &mut dyn Sink<Loading>| {
                let _ = sink.send(Loading(load(&snapshot, chunk, &job)));
            };
            // Its only errors are the forwarder's, which has none.
            let _ = pool::run(&chunks, threads, read, &mut Forward(sender));
        });
        Ahead::Threads { receiver: Some(receiver), driver: Some(driver) }
    }

    /// The next chunk, read.
    fn next(&mut self) -> Result<Loaded> {
        match self {
            Ahead::Inline { snapshot, chunks, job } => {
                let chunk = chunks.next().expect("a chunk is asked for only while one is pending");
                load_from(snapshot, &chunk, job)
            }
            Ahead::Threads { receiver, driver } => {
                if let Some(loaded) = receiver.as_ref().and_then(|r| r.recv().ok()) {
                    return loaded;
                }
                // The driver ended before the last chunk: a reading thread panicked.
                if let Some(Err(payload)) = driver.take().map(JoinHandle::join) {
                    std::panic::resume_unwind(payload);
                }
                unreachable!("the pool hands over every chunk unless the reader stopped it")
            }
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        if let Ahead::Threads { receiver, driver } = self {
            // The pool stops at its next hand-over; the snapshot ends with the driver.
            drop(receiver.take());
            if let Some(driver) = driver.take() {
                let _ = driver.join();
            }
        }
    }
}

fn load(snapshot: &Mutex<Snapshot>, chunk: &ChunkRef, job: &Job) -> Result<Loaded> {
    let data = snapshot.lock().unwrap_or_else(PoisonError::into_inner).chunk_data(chunk.id)?;
    decode(&data, chunk, job)
}

fn load_from(snapshot: &Snapshot, chunk: &ChunkRef, job: &Job) -> Result<Loaded> {
    decode(&snapshot.chunk_data(chunk.id)?, chunk, job)
}

thread_local! {
    /// A reading thread's decompressed chunk, its memory kept from one chunk to the next.
    static PLAIN: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A chunk's compressed bytes → its entries in the span and the lookup, screened, after checking
/// that it holds what its row says.
fn decode(data: &[u8], chunk: &ChunkRef, job: &Job) -> Result<Loaded> {
    PLAIN.with_borrow_mut(|plain| {
        chunk::decompress(data, plain).context(Damaged)?;
        let full_scan = chunk.lookup.is_empty() && job.lookup.is_some();
        let mut state = Screened::default();
        let mut loaded = Loaded::default();
        let (mut events, mut newest, mut oldest) = (0, None, None);
        for stored in chunk::events(plain) {
            let stored = stored.context(Damaged)?;
            events += 1;
            newest.get_or_insert(stored.secs);
            oldest = Some(stored.secs);
            if stored.secs < job.span.lo || stored.secs > job.span.hi {
                continue;
            }
            if let (true, Some((attribute, value))) = (full_scan, &job.lookup) {
                if !attribute.matches(&stored.envelope().context(Damaged)?, value) {
                    continue;
                }
            }
            let screen = job.screen.as_deref();
            if screen.is_none_or(|screen| screen.pass(stored.record, TextKind::LookupRecord, &mut state)) {
                let event = stored.event().context(Damaged)?;
                loaded.bytes += event.record.len() + std::mem::size_of::<Entry>();
                loaded.entries.push_back(Entry::Event(event));
            } else {
                let start = loaded.ids.len();
                loaded.ids.push_str(stored.id().context(Damaged)?);
                loaded.bytes += loaded.ids.len() - start + std::mem::size_of::<Entry>();
                loaded.entries.push_back(Entry::Screened { secs: stored.secs, id: start..loaded.ids.len() });
            }
        }
        if events != chunk.events || newest != Some(chunk.newest) || oldest != Some(chunk.oldest) {
            return Err(anyhow::Error::new(Damaged).context("a stored page is not what its row says"));
        }
        Ok(loaded)
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::event::{Envelope, Event};
    use crate::query::{Filter, TimeWindow};

    /// Filters with a prefilter of each kind: record literals, a key, an OR, a slash, an envelope field.
    const FILTERS: [&str; 6] = [
        "errorCode = AccessDenied",
        "errorCode exists",
        "eventName = ConsoleLogin or errorCode = AccessDenied",
        "userAgent contains \"aws-cli/2\"",
        "not errorCode exists",
        "username = alice and errorCode = AccessDenied",
    ];

    /// A record and its envelope from small choices: matching and near-matching values, and JSON
    /// escapes that spell them.
    fn event(id: usize, choice: (u8, u8, u8, bool)) -> HistoryEvent {
        let (error, name, agent, alice) = choice;
        let error = [
            "",
            r#","errorCode":"AccessDenied""#,
            r#","errorCode":"Throttling""#,
            r#","errorCode":"\u0041ccessDenied""#,
        ][error as usize % 4];
        let name = ["ConsoleLogin", "GetObject", "Console\\u004cogin"][name as usize % 3];
        let agent = ["aws-cli/2.15", "aws-cli\\/2.15", "Boto3/1.34"][agent as usize % 3];
        let record = format!(r#"{{"eventID":"e{id}","eventName":"{name}","userAgent":"{agent}"{error}}}"#);
        let envelope = Envelope {
            event_id: Some(format!("e{id}")),
            username: Some(if alice { "alice" } else { "bob" }.to_owned()),
            event_time: chrono::DateTime::from_timestamp(1_000 - id as i64 / 3, 0),
            ..Envelope::default()
        };
        HistoryEvent { envelope, record, checked: true }
    }

    proptest! {
        /// The screen on the reading threads never drops an event that matches: every matching event of
        /// a chunk comes out whole, and every event is either handed on or counted as screened.
        #[test]
        fn the_screen_over_chunk_text_never_drops_a_matching_event(
            choices in proptest::collection::vec((0u8..4, 0u8..3, 0u8..3, any::<bool>()), 1..40),
            which in 0usize..FILTERS.len(),
        ) {
            let events: Vec<HistoryEvent> = choices.into_iter().enumerate().map(|(i, c)| event(i, c)).collect();
            let filter = Filter::new(crate::query::parse::parse(FILTERS[which]).unwrap(), TimeWindow::default(), None);
            let kinds = [TextKind::Record, TextKind::LookupRecord, TextKind::SavedLookupEvent];
            let screen = Screen::new(kinds.map(|kind| filter.prefilter(kind).cloned()), Vec::new());
            let data = chunk::encode(&events).unwrap();
            let row = ChunkRef {
                id: 1,
                lookup: String::new(),
                newest: events[0].secs(),
                oldest: events[events.len() - 1].secs(),
                events: events.len() as i64,
            };
            let job = Job { span: Span { lo: i64::MIN + 1, hi: i64::MAX }, lookup: None, screen: Some(Arc::new(screen)) };
            let loaded = decode(&data, &row, &job).unwrap();
            prop_assert_eq!(loaded.entries.len(), events.len());
            for (entry, event) in loaded.entries.iter().zip(&events) {
                let parsed = Event {
                    envelope: event.envelope.clone(),
                    raw: event.record.clone(),
                    record: serde_json::from_str(&event.record).unwrap(),
                };
                match entry {
                    Entry::Event(handed) => prop_assert_eq!(handed, event),
                    Entry::Screened { secs, id } => {
                        prop_assert!(!filter.matches(&parsed), "{} screened out of {}", event.record, FILTERS[which]);
                        prop_assert_eq!(*secs, event.secs());
                        prop_assert_eq!(&loaded.ids[id.clone()], event.id());
                    }
                }
            }
        }
    }

    #[test]
    fn a_chunk_is_cut_to_the_span_and_the_lookup_and_checked_against_its_row() {
        let events: Vec<HistoryEvent> = (0..9).map(|i| event(i, (0, i as u8, 0, i % 2 == 0))).collect();
        let data = chunk::encode(&events).unwrap();
        let row = ChunkRef { id: 1, lookup: String::new(), newest: 1_000, oldest: 998, events: 9 };
        let lookup = Some((Attribute::Username, "alice".to_owned()));
        let job = Job { span: Span { lo: 999, hi: 999 }, lookup, screen: None };
        let loaded = decode(&data, &row, &job).unwrap();
        let ids: Vec<&str> = loaded
            .entries
            .iter()
            .map(|e| match e {
                Entry::Event(event) => event.id(),
                Entry::Screened { .. } => unreachable!("no screen"),
            })
            .collect();
        assert_eq!(ids, ["e4"], "second 999 holds e3 to e5; alice has the even ones");
        let wrong = ChunkRef { events: 8, ..row };
        assert!(decode(&data, &wrong, &job).is_err_and(|e| crate::store::is_damage(&e)));
    }
}
