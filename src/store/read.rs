//! Reading a covered span back: the stored pages that overlap it, merged newest first (pages of
//! different fetches may overlap at their edges), each event once, only those inside the span, and
//! for a lookup answered from full scans only the events that lookup would have returned. A reader
//! works in a snapshot of its own and first checks that the span is still covered and that its
//! chunks add up ([`super::db::Snapshot::verify`]).

use std::collections::{HashSet, VecDeque};

use anyhow::{Context, Result};

use super::chunk;
use super::coverage::Span;
use super::db::{ChunkRef, Db, Snapshot, Verdict};
use crate::event::HistoryEvent;
use crate::merge::{self, Seen};
use crate::query::Attribute;

pub struct StoredReader {
    snapshot: Snapshot,
    span: Span,
    /// The lookup being answered; events of full-scan pages are matched against it.
    lookup: Option<(Attribute, String)>,
    pending: VecDeque<ChunkRef>,
    /// Opened pages: their events not yet taken (newest first), and whether they come from a full
    /// scan that must be matched against the lookup.
    open: Vec<(VecDeque<HistoryEvent>, bool)>,
    seen: Seen<i64>,
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

impl StoredReader {
    pub fn open(db: &Db, scope: i64, lookup: Option<(Attribute, String)>, key: &str, span: Span) -> Result<Opened> {
        let snapshot = db.snapshot()?;
        let pending = match snapshot.verify(scope, key, span)? {
            Verdict::Held(chunks) => chunks.into(),
            Verdict::Cut => return Ok(Opened::Cut),
            Verdict::Short { missing } => return Ok(Opened::Short { missing }),
        };
        Ok(Opened::Reader(Box::new(StoredReader {
            snapshot,
            span,
            lookup,
            pending,
            open: Vec::new(),
            seen: Seen::default(),
            done: false,
        })))
    }

    pub fn done(&self) -> bool {
        self.done
    }

    pub fn span(&self) -> Span {
        self.span
    }

    /// The time of the last event handed out, with the IDs handed out at that time: where the API
    /// takes over when the store fails mid-span.
    pub fn last(&self) -> Option<(i64, &HashSet<String>)> {
        self.seen.time.map(|t| (t, &self.seen.ids))
    }

    /// Up to `max` events, newest first; fewer only at the end.
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<HistoryEvent>> {
        let mut batch = Vec::new();
        while batch.len() < max && !self.done {
            self.open.retain(|(events, _)| !events.is_empty());
            // The open page whose next event is newest; the first opened on a tie, which keeps one
            // fetch's order across its page boundaries.
            let best = merge::newest(self.open.iter().enumerate().map(|(i, (events, _))| (i, events[0].secs())))
                .map(|i| (i, self.open[i].0[0].secs()));
            if let Some(next) = self.pending.front() {
                if best.is_none_or(|(_, t)| next.newest >= t) {
                    let next = self.pending.pop_front().expect("a pending page");
                    let events = chunk::decode(&self.snapshot.chunk_data(next.id)?).context(super::Damaged)?;
                    let (newest, oldest) =
                        (events.first().map(HistoryEvent::secs), events.last().map(HistoryEvent::secs));
                    if events.len() as i64 != next.events || newest != Some(next.newest) || oldest != Some(next.oldest)
                    {
                        return Err(
                            anyhow::Error::new(super::Damaged).context("a stored page is not what its row says")
                        );
                    }
                    let full_scan = next.lookup.is_empty() && self.lookup.is_some();
                    self.open.push((events.into(), full_scan));
                    continue;
                }
            }
            let Some((index, time)) = best else {
                self.done = true;
                break;
            };
            if time < self.span.lo {
                // Everything left, open or pending, is older still.
                self.done = true;
                break;
            }
            let (events, full_scan) = &mut self.open[index];
            let event = events.pop_front().expect("a head event");
            if time > self.span.hi {
                continue;
            }
            if *full_scan && !self.matches(&event) {
                continue;
            }
            if !self.seen.first(time, event.id()) {
                continue;
            }
            batch.push(event);
        }
        Ok(batch)
    }

    fn matches(&self, event: &HistoryEvent) -> bool {
        let Some((attribute, value)) = &self.lookup else { return true };
        attribute.matches(&event.envelope, value)
    }
}
