//! The recorder: the pages the API answers for a part of a lookup's window, copied into the store
//! with the coverage they prove, page by page, and settled when the part is complete.

use super::Merge;
use crate::aws::request::Page as ApiPage;
use crate::error::say;
use crate::store::{self, Page, Span, Store, Written};

/// What the pages of one API part have proved so far.
pub(super) struct Recording {
    span: Span,
    /// When the part's first request was sent (epoch seconds): the newest `LATE_SECS` before it
    /// are never covered.
    started: i64,
    /// What the store holds of this fetch.
    written: Written,
    /// The newest second the fetch's coverage row may claim: the part's end (never within
    /// `LATE_SECS` of the start), or, after another process removed what the row relied on, the
    /// second before the oldest of the page before.
    top: i64,
    /// The oldest second of the last page with events.
    prev_oldest: Option<i64>,
}

impl Recording {
    fn new(span: Span, started: i64) -> Recording {
        let top = span.hi.min(started - store::LATE_SECS);
        Recording { span, started, written: Written::default(), top, prev_oldest: None }
    }
}

/// Pages joined into one stored chunk.
const PAGES_PER_CHUNK: usize = 10;

/// A recording of `span` from now, when the store records.
pub(super) fn start(store: Option<&Store>, span: Span, started: i64) -> Option<Recording> {
    store.is_some_and(Store::records).then(|| Recording::new(span, started))
}

/// A page compressed for the store, with its newest and oldest seconds; no events: nothing to keep.
#[derive(Default)]
pub(super) struct Chunk {
    data: Vec<u8>,
    newest: i64,
    oldest: i64,
    events: i64,
}

impl Merge {
    /// A recorded part is complete: its pages joined, its coverage joined into as few rows as
    /// possible, and pages of earlier fetches that it saw again dropped.
    pub(super) fn settle(&mut self, i: usize, mut recording: Recording) {
        let (Some(store), Some(place)) = (self.store.as_mut(), self.streams[i].place.as_ref()) else {
            return;
        };
        if store.records() {
            let settled = store
                .db
                .compact(&mut recording.written)
                .and_then(|()| store.db.settle(place.scope, &place.key, &recording.written, recording.started));
            if let Err(err) = settled {
                store.fail(&err);
            }
        }
    }

    /// The page about to be taken by stream `i`, compressed for the store when its part is recorded.
    pub(super) fn encode_page(&mut self, i: usize, page: &ApiPage) -> Option<Chunk> {
        let store = self.store.as_mut()?;
        store.from_api += page.events.len() as u64;
        if self.streams[i].recording.is_none() || !store.records() {
            return None;
        }
        let events = &page.events;
        let (Some(newest), Some(oldest)) = (events.first(), events.last()) else { return Some(Chunk::default()) };
        match store::chunk::encode(events) {
            Ok(data) => Some(Chunk { data, newest: newest.secs(), oldest: oldest.secs(), events: events.len() as i64 }),
            Err(err) => {
                store.fail(&err);
                None
            }
        }
    }

    /// Records a page stream `i` has taken, with the coverage its part has proved so far: the whole
    /// part once its last page came, else everything after the page's oldest second (more events
    /// of that second may follow on the next page); never the newest `LATE_SECS` before the part
    /// began. Should the store no longer hold the fetch's earlier pages (another process removed
    /// them), the page starts a new coverage row with what it proves by itself.
    pub(super) fn record(&mut self, i: usize, chunk: Chunk) {
        let (Some(store), stream) = (self.store.as_mut(), &mut self.streams[i]) else { return };
        let (Some(recording), Some(place)) = (stream.recording.as_mut(), stream.place.as_ref()) else { return };
        if !store.records() {
            return;
        }
        let last = stream.next_token.is_none();
        let lo = if last {
            Some(recording.span.lo)
        } else if chunk.events > 0 {
            Some((chunk.oldest + 1).max(recording.span.lo))
        } else {
            None
        };
        let claimed = recording.written.row.map(|(_, span)| span);
        let covered = match lo {
            Some(lo) => Span::new(lo, recording.top).or(claimed),
            None => claimed,
        };
        // What this page proves alone: from its oldest second (left out) to the oldest second of the
        // page before (left out: that page held some of its events).
        let fresh_top = recording.prev_oldest.map_or(recording.top, |p| (p - 1).min(recording.top));
        let alone = lo.and_then(|lo| Span::new(lo, fresh_top));
        let page = Page {
            scope: place.scope,
            lookup: &place.key,
            fetched: recording.started,
            chunk: (chunk.events > 0).then_some((&chunk.data[..], chunk.newest, chunk.oldest, chunk.events)),
            covered,
            alone,
        };
        match store.db.record(&page, &mut recording.written) {
            Ok(stale) => {
                if stale {
                    recording.top = fresh_top;
                    if store.config.verbose {
                        say("store: another process removed pages this fetch had recorded: recording anew from here");
                    }
                }
            }
            Err(err) => return store.fail(&err),
        }
        if chunk.events > 0 {
            recording.prev_oldest = Some(chunk.oldest);
        }
        if recording.written.pending.len() >= PAGES_PER_CHUNK {
            if let Err(err) = store.db.compact(&mut recording.written) {
                store.fail(&err);
            }
        }
    }
}
