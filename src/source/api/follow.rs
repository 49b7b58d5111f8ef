//! `--follow`: after the window, a poll every `--poll` for the last `--lag` up to now, each event
//! printed once however many polls see it again, and being behind said once.

use anyhow::Result;
use chrono::DateTime;

use super::{now_secs, record, Merge};
use crate::error::warn;
use crate::event::HistoryEvent;
use crate::interrupt;
use crate::source::{ApiConfig, FollowConfig};
use crate::store::{self, Span};

impl Merge {
    /// With `--follow`: records the event's ID; false if an earlier poll already handed it out.
    pub(super) fn first_follow_sighting(&mut self, event: &HistoryEvent) -> bool {
        let time = event.secs();
        self.newest_seen = Some(self.newest_seen.map_or(time, |t| t.max(time)));
        self.followed.insert(event.id().to_owned(), time).is_none()
    }

    /// Waits for the next poll (Ctrl-C ends the wait), then sets every lookup that still runs to ask
    /// for the events from `lag` before the newest second seen up to now. Said once: a poll that
    /// took longer than the interval means the account writes more than the rate lets through.
    pub(super) async fn next_poll(&mut self, follow: FollowConfig, config: &ApiConfig) -> Result<()> {
        let since_poll = self.poll_started.map(|t| t.elapsed());
        if let Some(took) = since_poll.filter(|took| *took > follow.poll) {
            if !self.said_behind {
                self.said_behind = true;
                warn(format_args!(
                    "following is {} s behind: a poll took {:.0} s, longer than --poll {:.0} s (each poll asks \
                     again for the last --lag; at {} requests/s this account has more events than that: narrow \
                     the filter, or shorten --lag)",
                    (took - follow.poll).as_secs(),
                    took.as_secs_f64(),
                    follow.poll.as_secs_f64(),
                    config.tps
                ));
            }
        }
        let wait = since_poll.map_or(follow.poll, |took| follow.poll.saturating_sub(took));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = interrupt::wait() => return Err(self.interrupted()),
        }
        // Nothing seen yet: what could still arrive is at most `lag` older than the last poll.
        let previous =
            self.poll_started.map_or_else(|| config.window.start.map(|t| t.timestamp()), |_| Some(self.poll_secs));
        self.poll_started = Some(tokio::time::Instant::now());
        let start = config.window.start.map_or(store::BEGINNING, |t| t.timestamp());
        let lo = poll_start(start, self.newest_seen.or(previous), follow.lag);
        let now = now_secs();
        self.poll_secs = now;
        // Memory stays flat: only the IDs a poll can see again are kept.
        self.followed.retain(|_, t| *t >= lo);
        for stream in self.streams.iter_mut().filter(|s| !s.stopped) {
            let store = self.store.as_ref().filter(|_| stream.place.is_some());
            let recording = record::start(store, Span { lo, hi: now }, now);
            stream.timed = false;
            stream.begin_api([DateTime::from_timestamp(lo, 0), None], None, recording);
        }
        Ok(())
    }
}

/// Where a poll starts asking: `lag` before the newest second seen (or, with nothing seen yet, before
/// the last poll), never before the window's start; the window's start when there is neither.
fn poll_start(window_start: i64, reference: Option<i64>, lag: i64) -> i64 {
    reference.map_or(window_start, |t| (t - lag).max(window_start))
}

#[cfg(test)]
mod tests {
    use super::poll_start;

    #[test]
    fn a_poll_looks_back_the_lag_from_the_newest_second_seen_but_not_before_the_window() {
        assert_eq!(poll_start(1_000, Some(5_000), 900), 4_100);
        assert_eq!(poll_start(4_500, Some(5_000), 900), 4_500, "never before the window's start");
        assert_eq!(poll_start(1_000, None, 900), 1_000, "nothing seen and no poll yet: the whole window");
        assert_eq!(poll_start(0, Some(5_000), 0), 5_000, "no lag: from the newest second itself");
    }
}
