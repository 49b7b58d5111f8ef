//! One API lookup in one region as a stream of events, newest first: the page in hand, where it
//! resumes (an API page or a place in time), and the checks that stop an endpoint paging in a loop.
//! With the store, the parts of its window still to go and the reader or recording of the current one.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};

use super::record::Recording;
use crate::aws::request::{LookupKey, Page};
use crate::event::HistoryEvent;
use crate::query::Attribute;
use crate::source::token::{Before, Position};
use crate::store::{Part, StoredReader};

/// One API lookup in one region, and the page of it being consumed.
pub(super) struct Stream {
    /// Index of its `Region` (in `Merge::regions`).
    pub(super) region: usize,
    pub(super) key: Option<LookupKey>,
    /// The token that produced the buffered page (None: the first page).
    pub(super) page_token: Option<String>,
    /// Events of that page not yet consumed, newest first, and how many were consumed.
    pub(super) buffer: VecDeque<HistoryEvent>,
    pub(super) consumed: usize,
    /// Events to drop from the first page fetched (resuming inside a page).
    pub(super) skip_first: usize,
    pub(super) fetched: bool,
    pub(super) next_token: Option<String>,
    /// Hashes of every NextToken this lookup started from or was given: one coming back is a loop.
    pub(super) tokens: HashSet<u64>,
    /// The oldest events of the page before, which the next page must not go back past.
    pub(super) tail: Option<Tail>,
    /// Its region failed: it stands where it was, for the resume token.
    pub(super) stopped: bool,
    /// The time window of the pages being fetched: the run's, or a part the store does not cover.
    pub(super) start: Option<DateTime<Utc>>,
    pub(super) end: Option<DateTime<Utc>>,
    /// With the store: where this lookup is kept, the parts of the window after the current one
    /// (newest first), the current part when the store answers it, and the recording of the
    /// current part when the API answers it.
    pub(super) place: Option<Place>,
    pub(super) parts: VecDeque<Part>,
    pub(super) reader: Option<Box<StoredReader>>,
    pub(super) recording: Option<Recording>,
    /// Its resume position is a place in time rather than an API page: the store cut its window,
    /// or it resumes such a position. Then `last` is the second of the last event handed out with
    /// the IDs handed out at that second, and `skip_ids` those the resumed position excludes.
    pub(super) timed: bool,
    pub(super) last: Option<(i64, HashSet<String>)>,
    pub(super) skip_ids: Option<(i64, HashSet<String>)>,
}

/// Where one lookup is kept in the store.
pub(super) struct Place {
    pub(super) scope: i64,
    /// "" for a full scan, else `AttributeKey=value`.
    pub(super) key: String,
    pub(super) lookup: Option<(Attribute, String)>,
}

/// The time of the oldest events of a page and their IDs (with those of the pages before at the same
/// time), and the IDs of the whole page.
pub(super) struct Tail {
    pub(super) time: Option<DateTime<Utc>>,
    pub(super) ids: HashSet<String>,
    pub(super) page: HashSet<String>,
}

impl Stream {
    pub(super) fn new(
        region: usize,
        key: Option<LookupKey>,
        position: Option<Position>,
        window: [Option<DateTime<Utc>>; 2],
    ) -> Stream {
        let finished = position.is_none();
        let mut position = position.unwrap_or_default();
        let before = position.before.take().map(|b| (b.time, b.ids.into_iter().collect::<HashSet<String>>()));
        let end = match &before {
            Some((time, _)) => DateTime::from_timestamp(*time, 0),
            None => window[1],
        };
        Stream {
            region,
            key,
            tokens: position.next_token.iter().map(|t| token_hash(t)).collect(),
            page_token: position.next_token,
            buffer: VecDeque::new(),
            consumed: 0,
            skip_first: position.skip,
            fetched: finished,
            next_token: None,
            tail: None,
            stopped: false,
            start: window[0],
            end,
            place: None,
            parts: VecDeque::new(),
            reader: None,
            recording: None,
            timed: before.is_some(),
            last: before.clone(),
            skip_ids: before,
        }
    }

    /// Notes an event handed out (or dropped as handed out by another lookup), for a timed position.
    pub(super) fn hand_out(&mut self, event: &HistoryEvent) {
        if !self.timed {
            return;
        }
        let time = event.secs();
        match &mut self.last {
            Some((t, ids)) if *t == time => {
                ids.insert(event.id().to_owned());
            }
            last => *last = Some((time, HashSet::from([event.id().to_owned()]))),
        }
    }

    /// Starts fetching a part of the window from its first page; `tail`: the events already
    /// handed out at its newest second, which its first page must not repeat.
    pub(super) fn begin_api(
        &mut self,
        window: [Option<DateTime<Utc>>; 2],
        tail: Option<Tail>,
        recording: Option<Recording>,
    ) {
        self.start = window[0];
        self.end = window[1];
        self.page_token = None;
        self.next_token = None;
        self.fetched = false;
        self.skip_first = 0;
        self.consumed = 0;
        self.tokens.clear();
        self.tail = tail;
        self.recording = recording;
    }

    pub(super) fn needs_page(&self) -> bool {
        !self.stopped && self.buffer.is_empty() && self.reader.is_none() && (!self.fetched || self.next_token.is_some())
    }

    /// Where to continue from once every event handed out so far is done; None when finished.
    pub(super) fn position(&self) -> Option<Position> {
        if self.timed {
            let finished = self.buffer.is_empty()
                && self.reader.is_none()
                && self.parts.is_empty()
                && self.fetched
                && self.next_token.is_none();
            let before = self.last.as_ref().map(|(time, ids)| {
                let mut ids: Vec<String> = ids.iter().cloned().collect();
                ids.sort();
                Before { time: *time, ids }
            });
            return (!finished).then_some(Position { next_token: None, skip: 0, before });
        }
        if !self.buffer.is_empty() {
            Some(Position { next_token: self.page_token.clone(), skip: self.consumed, before: None })
        } else if !self.fetched {
            Some(Position { next_token: self.page_token.clone(), skip: self.skip_first, before: None })
        } else {
            self.next_token.clone().map(|t| Position { next_token: Some(t), skip: 0, before: None })
        }
    }

    /// Takes the next page, unless it shows that the endpoint pages in a loop (its NextToken came
    /// before, or it goes back to events the lookup already had): then the page is refused whole and
    /// the lookup stands where it was. Events of the page before repeated at its start are dropped.
    pub(super) fn take_page(&mut self, page: Page) -> Result<(), &'static str> {
        let next_token = page.next_token;
        if next_token.as_deref().is_some_and(|t| self.tokens.contains(&token_hash(t))) {
            return Err("it answered a NextToken it had answered before");
        }
        let events: VecDeque<HistoryEvent> = page.events.into();
        let mut repeated = 0;
        if let Some(tail) = &self.tail {
            // Pages are newest first: nothing after the page before, and at its oldest time only
            // events it did not have.
            repeated = events.iter().take_while(|e| e.time() == tail.time && tail.ids.contains(e.id())).count();
            if events.iter().skip(repeated).any(|e| tail.page.contains(e.id())) {
                return Err("it answered events of the page before again");
            }
            if events.iter().any(|e| e.time() > tail.time) {
                return Err("it answered events newer than those of the page before");
            }
            if repeated > 0 && repeated == events.len() && next_token.is_some() {
                return Err("it answered events of the page before again");
            }
        }
        if let Some(token) = &next_token {
            self.tokens.insert(token_hash(token));
        }
        if let Some(oldest) = events.back() {
            let time = oldest.time();
            let mut ids: HashSet<String> =
                events.iter().rev().take_while(|e| e.time() == time).map(|e| e.id().to_owned()).collect();
            if let Some(before) = self.tail.take().filter(|t| t.time == time) {
                ids.extend(before.ids);
            }
            let page = events.iter().map(|e| e.id().to_owned()).collect();
            self.tail = Some(Tail { time, ids, page });
        }
        if self.fetched {
            self.page_token = self.next_token.take();
        }
        self.fetched = true;
        self.buffer = events;
        self.next_token = next_token;
        let skip = std::mem::take(&mut self.skip_first).min(self.buffer.len());
        self.buffer.drain(..skip);
        self.consumed = skip;
        // Repeats count as consumed, as the service numbers the page's events for a resume.
        let repeats = repeated.saturating_sub(skip).min(self.buffer.len());
        self.buffer.drain(..repeats);
        self.consumed += repeats;
        if let Some((time, ids)) = &self.skip_ids {
            self.buffer.retain(|e| !(e.secs() == *time && ids.contains(e.id())));
        }
        Ok(())
    }

    pub(super) fn head_time(&self) -> Option<Option<DateTime<Utc>>> {
        if self.stopped {
            return None;
        }
        self.buffer.front().map(|e| e.time())
    }

    /// Drops the head events that another lookup already handed out at `time`: a resumed run would
    /// print them again.
    pub(super) fn consume_seen(&mut self, time: Option<DateTime<Utc>>, seen: &HashSet<String>) {
        while let Some(head) = self.buffer.front() {
            if head.time() != time || !seen.contains(head.id()) {
                break;
            }
            let head = self.buffer.pop_front().expect("a head event");
            self.hand_out(&head);
            self.consumed += 1;
        }
    }
}

/// NextTokens are kept as hashes: a long scan sees thousands, each up to a few KiB. Within one process,
/// so any hasher does.
pub(super) fn token_hash(token: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    token.hash(&mut hasher);
    hasher.finish()
}
