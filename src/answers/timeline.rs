//! `--timeline [BUCKET]`: matched events (and the failed ones) per time bucket, buckets aligned on the
//! `--tz` clock. Only buckets that counted something are held; the empty ones between are printed as
//! zero. Without a bucket size, it is chosen from the time range, and while that range is still growing
//! (no window given) the counts are folded into coarser buckets as needed. Buckets counted elsewhere
//! (Athena's GROUP BY) come in as tallies and land in the same buckets as their events would.

use std::collections::BTreeMap;
use std::io::{self, Write};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::Value;

use crate::error::warn;
use crate::event::Event;
use crate::output::{Chart, EventWriter, Layout, OutputFormat, PrintConfig};
use crate::time::{Stamp, Zone};

/// Bucket sizes, finest first; each divides the next, so finer counts fold into coarser ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bucket {
    Minute,
    FiveMinutes,
    FifteenMinutes,
    Hour,
    SixHours,
    Day,
}

/// An automatic bucket size gives at most this many buckets.
const MAX_AUTO_BUCKETS: i64 = 60;

impl Bucket {
    pub const ALL: [Bucket; 6] =
        [Bucket::Minute, Bucket::FiveMinutes, Bucket::FifteenMinutes, Bucket::Hour, Bucket::SixHours, Bucket::Day];

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Minute => "1m",
            Bucket::FiveMinutes => "5m",
            Bucket::FifteenMinutes => "15m",
            Bucket::Hour => "1h",
            Bucket::SixHours => "6h",
            Bucket::Day => "1d",
        }
    }

    /// `1m`, `5m`, `15m`, `1h`, `6h`, `1d` (any case).
    pub fn parse(text: &str) -> Option<Bucket> {
        Bucket::ALL.into_iter().find(|b| b.name().eq_ignore_ascii_case(text.trim()))
    }

    /// The bucket's length on the clock, in seconds.
    pub fn seconds(self) -> i64 {
        i64::from(self.minutes()) * 60
    }

    fn minutes(self) -> u32 {
        match self {
            Bucket::Minute => 1,
            Bucket::FiveMinutes => 5,
            Bucket::FifteenMinutes => 15,
            Bucket::Hour => 60,
            Bucket::SixHours => 360,
            Bucket::Day => 1440,
        }
    }

    /// The finest size whose buckets on the zone's clock, from the one holding `first` to the one holding
    /// `last`, are at most 60 (days when none is).
    pub fn auto(first: DateTime<Utc>, last: DateTime<Utc>, zone: Zone) -> Bucket {
        Bucket::ALL.into_iter().find(|b| b.count(first, last, zone) <= MAX_AUTO_BUCKETS).unwrap_or(Bucket::Day)
    }

    /// How many buckets there are from the one holding `first` to the one holding `last`. A bucket is a
    /// step of the clock, so that a day lasts 23 to 25 hours and a 6-hour bucket over a clock change 5
    /// to 7: the span rounded to whole buckets counts them all the same, as no two such changes in a
    /// row go the same way.
    fn count(self, first: DateTime<Utc>, last: DateTime<Utc>, zone: Zone) -> i64 {
        let span = self.start(last, zone) - self.start(first, zone);
        (span.num_minutes() as f64 / f64::from(self.minutes())).round() as i64 + 1
    }

    /// The start of the bucket that holds `t`.
    pub fn start(self, t: DateTime<Utc>, zone: Zone) -> DateTime<Utc> {
        zone.floor(t, self.minutes())
    }

    /// The start of the bucket after the one starting at `start`. Buckets are steps of the zone's clock,
    /// so a day can last 23 or 25 hours: step on until the bucket changes.
    pub fn next(self, start: DateTime<Utc>, zone: Zone) -> DateTime<Utc> {
        let mut probe = start + Duration::minutes(i64::from(self.minutes()));
        loop {
            let next = self.start(probe, zone);
            if next > start {
                return next;
            }
            probe += Duration::minutes(15);
        }
    }

    /// How the chart can label the buckets from `first` to `last` (their starts), longest first: the
    /// date and the time to the minute (the date for days); without the year when they all share it;
    /// for buckets under a day, the time alone when they all share the day.
    fn label_formats(self, first: DateTime<Utc>, last: DateTime<Utc>, zone: Zone) -> Vec<&'static str> {
        let shared = |format: &str| zone.format(first, format) == zone.format(last, format);
        let (full, without_year) = match self {
            Bucket::Day => ("%Y-%m-%d", "%m-%d"),
            _ => ("%Y-%m-%d %H:%M", "%m-%d %H:%M"),
        };
        let mut formats = vec![full];
        if shared("%Y") {
            formats.push(without_year);
        }
        if self != Bucket::Day && shared("%Y-%m-%d") {
            formats.push("%H:%M");
        }
        formats
    }
}

/// The last instant a window's buckets cover. The window's end is inclusive, but only an event at that
/// very instant needs the bucket that starts there (which its event then opens): the buckets run to the
/// instant before it, so that 09:00 to 10:00 is 60 one-minute buckets, not 61.
fn last_instant(start: DateTime<Utc>, end: DateTime<Utc>) -> DateTime<Utc> {
    (end - Duration::nanoseconds(1)).max(start)
}

/// What `--timeline` was asked for, resolved.
#[derive(Debug, Clone)]
pub struct TimelineSpec {
    /// None: chosen from the range.
    pub bucket: Option<Bucket>,
    /// The range the buckets cover, where known before any event: the window given (and for the API,
    /// a window without an end ends now). An open side runs to the oldest or newest matched event.
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl TimelineSpec {
    /// The bucket size, when it is known before any event: given, or chosen from a window with both ends.
    /// None: it follows the range of the events as they come.
    pub fn fixed_bucket(&self, zone: Zone) -> Option<Bucket> {
        match (self.bucket, self.start, self.end) {
            (Some(bucket), _, _) => Some(bucket),
            (None, Some(start), Some(end)) => Some(Bucket::auto(start, last_instant(start, end), zone)),
            (None, _, _) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    count: u64,
    errors: u64,
}

/// The stage: counts per bucket, printed at the end.
pub struct Timeline<'c, W: Write> {
    spec: &'c TimelineSpec,
    print: &'c PrintConfig,
    out: W,
    bucket: Bucket,
    /// Whether the size still follows a growing range.
    adapting: bool,
    /// The oldest and newest times counted.
    seen: Option<(DateTime<Utc>, DateTime<Utc>)>,
    tallies: BTreeMap<DateTime<Utc>, Tally>,
    /// Events without a readable time (possible only without a window).
    untimed: u64,
    /// The last bucket used, `start..next`: events come mostly in time order.
    last: Option<(DateTime<Utc>, DateTime<Utc>)>,
    finished: bool,
}

impl<'c, W: Write> Timeline<'c, W> {
    pub fn new(spec: &'c TimelineSpec, print: &'c PrintConfig, out: W) -> Self {
        let (bucket, adapting) = match spec.fixed_bucket(print.zone) {
            Some(bucket) => (bucket, false),
            None => (Bucket::Minute, true),
        };
        Timeline {
            spec,
            print,
            out,
            bucket,
            adapting,
            seen: None,
            tallies: BTreeMap::new(),
            untimed: 0,
            last: None,
            finished: false,
        }
    }

    /// The first and last instants to print buckets for: the window's where given, widened to every
    /// event counted.
    fn range(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let (oldest, newest) = match self.seen {
            Some((oldest, newest)) => (Some(oldest), Some(newest)),
            None => (None, None),
        };
        let start = [self.spec.start, oldest].into_iter().flatten().min()?;
        let window_end = self.spec.end.map(|end| last_instant(start, end));
        let end = [window_end, newest].into_iter().flatten().max()?;
        Some((start, end))
    }

    fn bucket_of(&mut self, t: DateTime<Utc>) -> DateTime<Utc> {
        if let Some((start, next)) = self.last {
            if start <= t && t < next {
                return start;
            }
        }
        let zone = self.print.zone;
        let start = self.bucket.start(t, zone);
        self.last = Some((start, self.bucket.next(start, zone)));
        start
    }

    /// Folds the counts into `coarser` buckets.
    fn coarsen(&mut self, coarser: Bucket) {
        let zone = self.print.zone;
        let mut folded: BTreeMap<DateTime<Utc>, Tally> = BTreeMap::new();
        for (start, tally) in std::mem::take(&mut self.tallies) {
            let into = folded.entry(coarser.start(start, zone)).or_default();
            into.count += tally.count;
            into.errors += tally.errors;
        }
        self.tallies = folded;
        self.bucket = coarser;
        self.last = None;
    }

    fn print_rows(&mut self) -> io::Result<()> {
        let Some((start, end)) = self.range() else {
            // Nothing counted and no window to show as zeros: an empty result.
            return match self.print.format {
                OutputFormat::Table => self.out.flush(),
                _ => {
                    self.print.row_writer(&["time", "count", "errors"], &[Layout::default(); 3], &mut self.out).finish()
                }
            };
        };
        let (zone, bucket) = (self.print.zone, self.bucket);
        let first = bucket.start(start, zone);
        let last = bucket.start(end, zone);
        let buckets = std::iter::successors(Some(first), |&b| Some(bucket.next(b, zone))).take_while(|&b| b <= last);
        let tallies = &self.tallies;
        let tally = |b: &DateTime<Utc>| tallies.get(b).copied().unwrap_or_default();
        if self.print.format == OutputFormat::Table {
            let max_count = tallies.values().map(|t| t.count).max().unwrap_or(0);
            let max_errors = tallies.values().map(|t| t.errors).max().unwrap_or(0);
            let width = self.print.width;
            // The longest labels that leave the bars room; on a narrow terminal the bars matter more than
            // a date every line repeats.
            let formats = bucket.label_formats(first, last, zone);
            let label_width = |format: &str| zone.format(first, format).chars().count();
            let format = formats
                .iter()
                .find(|f| Chart::leaves_room_for_bars(label_width(f), max_count, max_errors, width))
                .unwrap_or(formats.last().expect("a format at least"));
            let mut chart =
                Chart::new(&mut self.out, label_width(format), max_count, max_errors, width, self.print.color);
            for b in buckets {
                let Tally { count, errors } = tally(&b);
                chart.line(&zone.format(b, format), count, errors)?;
            }
            return chart.finish();
        }
        let layout = [Layout::TIME, Layout::COUNT, Layout::COUNT];
        let mut rows = self.print.row_writer(&["time", "count", "errors"], &layout, &mut self.out);
        for b in buckets {
            let Tally { count, errors } = tally(&b);
            rows.row(&[
                super::time_cell(self.print, Some(Stamp::seconds(b))),
                Value::from(count),
                Value::from(errors),
            ])?;
        }
        rows.finish()
    }
}

impl<W: Write> Timeline<'_, W> {
    /// `count` events at `t` (or in its bucket), `errors` of them failed.
    fn count_at(&mut self, t: DateTime<Utc>, count: u64, errors: u64) {
        self.seen = Some(match self.seen {
            Some((oldest, newest)) => (oldest.min(t), newest.max(t)),
            None => (t, t),
        });
        if self.adapting {
            let (start, end) = self.range().expect("an event was seen");
            let zone = self.print.zone;
            if self.bucket.count(start, end, zone) > MAX_AUTO_BUCKETS {
                self.coarsen(Bucket::auto(start, end, zone).max(self.bucket));
            }
        }
        let start = self.bucket_of(t);
        let tally = self.tallies.entry(start).or_default();
        tally.count += count;
        tally.errors += errors;
    }
}

/// An instant in the bucket of events counted elsewhere, whose time on `zone`'s clock was in the step
/// starting at `wall` while the zone was `offset` seconds from UTC: the bucket of any instant with that
/// clock time and offset is theirs (`Zone::floor` depends on nothing else), even for a repeated hour,
/// which the offset tells apart. The step's own start is that instant unless the clocks changed inside
/// the step; then a later minute of it is. None when no minute of the step had that offset.
fn instant_in(bucket: Bucket, zone: Zone, wall: NaiveDateTime, offset: i64) -> Option<DateTime<Utc>> {
    const MINUTE: &str = "%Y-%m-%dT%H:%M";
    (0..i64::from(bucket.minutes())).find_map(|minute| {
        let clock = wall + Duration::minutes(minute);
        let t = (clock - Duration::seconds(offset)).and_utc();
        (zone.format(t, MINUTE) == clock.format(MINUTE).to_string()).then_some(t)
    })
}

impl<W: Write> EventWriter for Timeline<'_, W> {
    fn write(&mut self, event: &Event) -> io::Result<()> {
        let Some(t) = event.envelope.event_time else {
            self.untimed += 1;
            return Ok(());
        };
        let failed = !event.record["errorCode"].is_null();
        self.count_at(t, 1, u64::from(failed));
        Ok(())
    }

    fn tally(&mut self, wall: Option<i64>, offset: i64, count: u64, errors: u64) -> io::Result<()> {
        let Some(wall) = wall else {
            self.untimed += count;
            return Ok(());
        };
        let clock = DateTime::from_timestamp(wall, 0).map(|t| t.naive_utc());
        let t = clock.and_then(|clock| instant_in(self.bucket, self.print.zone, clock, offset));
        let t = t.ok_or_else(|| {
            io::Error::other(format!(
                "a counted bucket at {wall} s on the clock, {offset} s from UTC, is no time of the zone"
            ))
        })?;
        self.count_at(t, count, errors);
        Ok(())
    }

    /// Nothing is printed before the end.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, _next_token: Option<&str>) -> io::Result<()> {
        if std::mem::replace(&mut self.finished, true) {
            return Ok(());
        }
        if self.untimed > 0 {
            warn(format_args!(
                "{} matched events have no readable eventTime and are not in the timeline",
                self.untimed
            ));
        }
        self.print_rows()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn automatic_sizes() {
        let utc_zone: Zone = "UTC".parse().unwrap();
        let start = utc("2024-07-22T00:00:00Z");
        // Up to the last minute of a span of whole hours.
        let at = |hours: i64| Bucket::auto(start, start + Duration::hours(hours) - Duration::minutes(1), utc_zone);
        assert_eq!(Bucket::auto(start, utc("2024-07-22T00:10:00Z"), utc_zone), Bucket::Minute);
        assert_eq!(at(1), Bucket::Minute, "60 one-minute buckets");
        assert_eq!(Bucket::auto(start, start + Duration::hours(1), utc_zone), Bucket::FiveMinutes, "61 minutes");
        assert_eq!(at(2), Bucket::FiveMinutes);
        assert_eq!(at(5), Bucket::FiveMinutes);
        assert_eq!(at(12), Bucket::FifteenMinutes);
        assert_eq!(at(15), Bucket::FifteenMinutes);
        assert_eq!(at(24), Bucket::Hour);
        assert_eq!(at(60), Bucket::Hour);
        assert_eq!(at(24 * 7), Bucket::SixHours);
        assert_eq!(at(24 * 15), Bucket::SixHours);
        assert_eq!(at(24 * 30), Bucket::Day);
        assert_eq!(at(24 * 90), Bucket::Day, "beyond 60 days, still days");
        assert_eq!(Bucket::parse("1H"), Some(Bucket::Hour));
        assert_eq!(Bucket::parse("2h"), None);
    }

    #[test]
    fn buckets_are_counted_on_the_clock() {
        let ny: Zone = "America/New_York".parse().unwrap();
        let india: Zone = "Asia/Kolkata".parse().unwrap();
        // 15 local days over the fall change: 15 day buckets, 60 six-hour ones (one lasts 7 hours).
        let first = utc("2024-10-25T04:00:00Z");
        let last = utc("2024-11-09T04:59:59Z");
        assert_eq!(Bucket::Day.count(first, last, ny), 15);
        assert_eq!(Bucket::SixHours.count(first, last, ny), 60);
        assert_eq!(Bucket::auto(first, last, ny), Bucket::SixHours);
        // An hour from 10:00 UTC is one from 15:30 in India: 60 one-minute buckets; but 2 hour buckets.
        let (first, last) = (utc("2024-07-22T10:00:00Z"), utc("2024-07-22T10:59:59Z"));
        assert_eq!(Bucket::Minute.count(first, last, india), 60);
        assert_eq!(Bucket::Hour.count(first, last, india), 2);
    }

    #[test]
    fn days_of_23_and_25_hours() {
        let ny: Zone = "America/New_York".parse().unwrap();
        let day = Bucket::Day;
        let fall = day.start(utc("2024-11-03T12:00:00Z"), ny);
        assert_eq!(fall, utc("2024-11-03T04:00:00Z"));
        assert_eq!(day.next(fall, ny), utc("2024-11-04T05:00:00Z"), "25 hours");
        let spring = day.start(utc("2024-03-10T12:00:00Z"), ny);
        assert_eq!(day.next(spring, ny), utc("2024-03-11T04:00:00Z"), "23 hours");
        // The repeated hour is a bucket of its own.
        let hour = Bucket::Hour;
        assert_eq!(hour.next(utc("2024-11-03T05:00:00Z"), ny), utc("2024-11-03T06:00:00Z"));
        assert_eq!(hour.next(utc("2024-11-03T06:00:00Z"), ny), utc("2024-11-03T07:00:00Z"));
    }

    #[test]
    fn tallies_land_in_the_buckets_of_their_events() {
        let ny: Zone = "America/New_York".parse().unwrap();
        let clock = |text: &str| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        // The repeated 01:00: the offset says which.
        let first = instant_in(Bucket::Hour, ny, clock("2024-11-03 01:00"), -4 * 3600).unwrap();
        let second = instant_in(Bucket::Hour, ny, clock("2024-11-03 01:00"), -5 * 3600).unwrap();
        assert_eq!(Bucket::Hour.start(first, ny), utc("2024-11-03T05:00:00Z"));
        assert_eq!(Bucket::Hour.start(second, ny), utc("2024-11-03T06:00:00Z"));
        // A day holds both offsets: the same bucket.
        let day =
            |offset| Bucket::Day.start(instant_in(Bucket::Day, ny, clock("2024-11-03 00:00"), offset).unwrap(), ny);
        assert_eq!(day(-4 * 3600), day(-5 * 3600));
        // 02:00 on 2024-03-10 never happened: the 6-hour step from 00:00 at -04:00 is found later in it.
        let spring = instant_in(Bucket::SixHours, ny, clock("2024-03-10 00:00"), -4 * 3600).unwrap();
        assert_eq!(Bucket::SixHours.start(spring, ny), utc("2024-03-10T05:00:00Z"));
        assert_eq!(instant_in(Bucket::Minute, ny, clock("2024-07-22 10:00"), 3600), None);
    }
}
