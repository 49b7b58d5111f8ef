//! Times as people type them (`2h`, `2024-07-22 09:00`, epoch seconds…) and the zone they mean.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

/// A time as a record wrote it: the instant, and how many digits of a second it gave, so that it is
/// printed back as precisely as it was written (CloudTrail writes seconds, other tools milliseconds).
/// Ordered by the instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    pub at: DateTime<Utc>,
    /// 0 to 9.
    pub digits: u8,
}

impl Stamp {
    /// A time to the second.
    pub fn seconds(at: DateTime<Utc>) -> Stamp {
        Stamp { at, digits: 0 }
    }

    /// The time an eventTime text gives, as precisely as it is written (as `Event::stamp` reads it).
    pub fn of_text(text: &str) -> Option<Stamp> {
        let at = text.parse::<DateTime<Utc>>().ok()?;
        Some(Stamp { at, digits: Stamp::digits_in(text) })
    }

    /// The digits of a second an RFC 3339 text gives (`…T01:00:00.125Z`: 3), at most 9.
    pub fn digits_in(text: &str) -> u8 {
        text.split_once('.').map_or(0, |(_, rest)| rest.bytes().take_while(u8::is_ascii_digit).count().min(9) as u8)
    }

    /// `.125` for 3 digits; nothing for none.
    fn fraction(self) -> String {
        if self.digits == 0 {
            return String::new();
        }
        let nanos = format!("{:09}", self.at.timestamp_subsec_nanos().min(999_999_999));
        format!(".{}", &nanos[..usize::from(self.digits)])
    }
}

/// The zone used to read times without an offset and to print times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The machine's zone (TZ, /etc/localtime).
    Local,
    Named(Tz),
}

impl FromStr for Zone {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        if s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("z") {
            return Ok(Zone::Named(Tz::UTC));
        }
        Tz::from_str_insensitive(s)
            .map(Zone::Named)
            .map_err(|_| format!("unknown time zone '{s}': use local, UTC or an IANA name such as Asia/Tokyo"))
    }
}

impl Zone {
    /// RFC 3339 with this zone's offset, seconds precision, `+00:00` rather than `Z` (as the aws CLI prints).
    pub fn format_rfc3339(&self, t: DateTime<Utc>) -> String {
        let fixed: DateTime<FixedOffset> = match self {
            Zone::Local => t.with_timezone(&chrono::Local).fixed_offset(),
            Zone::Named(tz) => t.with_timezone(tz).fixed_offset(),
        };
        fixed.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    }

    /// `2024-07-22 09:00:00` in this zone: what spreadsheets and eyes read as a time.
    pub fn format_plain(&self, t: DateTime<Utc>) -> String {
        self.format(t, "%Y-%m-%d %H:%M:%S")
    }

    /// [`Zone::format_rfc3339`] to the digit the time was written with.
    pub fn format_stamp_rfc3339(&self, stamp: Stamp) -> String {
        match stamp.digits {
            0 => self.format_rfc3339(stamp.at),
            _ => self.format(stamp.at, &format!("%Y-%m-%dT%H:%M:%S{}%:z", stamp.fraction())),
        }
    }

    /// [`Zone::format_plain`] to the digit the time was written with.
    pub fn format_stamp_plain(&self, stamp: Stamp) -> String {
        self.format(stamp.at, &format!("%Y-%m-%d %H:%M:%S{}", stamp.fraction()))
    }

    /// `t` in this zone, in a chrono `strftime` format.
    pub fn format(&self, t: DateTime<Utc>, format: &str) -> String {
        match self {
            Zone::Local => t.with_timezone(&chrono::Local).format(format).to_string(),
            Zone::Named(tz) => t.with_timezone(tz).format(format).to_string(),
        }
    }

    /// The start of the step of `minutes` (a divisor of a day) that holds `t`, steps counted from
    /// midnight on this zone's clock: `floor(t, 60)` is the start of `t`'s hour here, `floor(t, 1440)` its
    /// local midnight. A start that happens twice (clocks going back) is the one in `t`'s offset, so the
    /// repeated hour is a step of its own; a start that clocks skip is where they landed.
    pub fn floor(&self, t: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
        match self {
            Zone::Local => floor_in(&chrono::Local, t, minutes),
            Zone::Named(tz) => floor_in(tz, t, minutes),
        }
    }

    fn resolve(&self, naive: NaiveDateTime) -> LocalResult<DateTime<Utc>> {
        match self {
            Zone::Local => chrono::Local.from_local_datetime(&naive).map(|t| t.with_timezone(&Utc)),
            Zone::Named(tz) => tz.from_local_datetime(&naive).map(|t| t.with_timezone(&Utc)),
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Local => f.write_str("local"),
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

fn floor_in<Z: TimeZone>(zone: &Z, t: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
    let local = t.with_timezone(zone);
    let offset = local.offset().fix();
    let naive = local.naive_local();
    let minute_of_day = naive.hour() * 60 + naive.minute();
    let start = naive.date().and_time(NaiveTime::MIN) + Duration::minutes(i64::from(minute_of_day / minutes * minutes));
    match zone.from_local_datetime(&start) {
        LocalResult::Single(start) => start.with_timezone(&Utc),
        LocalResult::Ambiguous(first, second) => {
            let start = if first.offset().fix() == offset { first } else { second };
            start.with_timezone(&Utc)
        }
        LocalResult::None => {
            // Clocks skip in steps of a quarter of an hour (in every zone since 1980): find where they land.
            let mut later = start;
            while later < naive {
                later += Duration::minutes(15);
                if let Some(landed) = zone.from_local_datetime(&later).earliest() {
                    return landed.with_timezone(&Utc);
                }
            }
            (start - Duration::seconds(i64::from(offset.local_minus_utc()))).and_utc()
        }
    }
}

const FORMS: &str = "use RFC 3339 (2024-07-22T00:00:00Z), 2024-07-22 09:00[:00], 2024-07-22, \
                     epoch seconds, a duration ago (90s, 15m, 2h, 3d, 1w) or now";

/// Reads one time argument. `now` is passed in so that both ends of a window agree on it.
pub fn parse_time(input: &str, now: DateTime<Utc>, zone: Zone) -> Result<DateTime<Utc>, String> {
    let s = input.trim();
    let invalid = || format!("invalid time '{input}': {FORMS}");
    if s.is_empty() {
        return Err(invalid());
    }
    if s.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Some(ago) = parse_duration(s) {
        return now.checked_sub_signed(ago).ok_or_else(invalid);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = s.parse().map_err(|_| invalid())?;
        return DateTime::from_timestamp(secs, 0).ok_or_else(invalid);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for form in ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%d %H:%M%:z", "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, form) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|form| NaiveDateTime::parse_from_str(s, form).ok())
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
        .ok_or_else(invalid)?;
    match zone.resolve(naive) {
        LocalResult::Single(t) => Ok(t),
        // A wall-clock time that happens twice (clocks going back): the first one, as `date` does.
        LocalResult::Ambiguous(first, _) => Ok(first),
        LocalResult::None => Err(format!("time '{input}' does not exist in zone {zone} (clocks skip it)")),
    }
}

/// `90s`, `15m`, `2h`, `3d`, `1w`, and sums of them such as `1h30m`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::zero();
    let mut digits = String::new();
    let mut any = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        let unit = match c.to_ascii_lowercase() {
            's' => Duration::try_seconds(n)?,
            'm' => Duration::try_minutes(n)?,
            'h' => Duration::try_hours(n)?,
            'd' => Duration::try_days(n)?,
            'w' => Duration::try_weeks(n)?,
            _ => return None,
        };
        total = total.checked_add(&unit)?;
        any = true;
    }
    (any && digits.is_empty()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2024-07-22T12:00:00Z".parse().unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn every_documented_form() {
        let tokyo: Zone = "Asia/Tokyo".parse().unwrap();
        let cases = [
            ("2024-07-22T00:00:00+09:00", "2024-07-21T15:00:00Z"),
            ("2024-07-22T00:00:00Z", "2024-07-22T00:00:00Z"),
            ("2024-07-22T00:00:00", "2024-07-21T15:00:00Z"),
            ("2024-07-22 00:00:00", "2024-07-21T15:00:00Z"),
            ("2024-07-22 09:30", "2024-07-22T00:30:00Z"),
            ("2024-07-22", "2024-07-21T15:00:00Z"),
            ("1721574000", "2024-07-21T15:00:00Z"),
            ("90s", "2024-07-22T11:58:30Z"),
            ("15m", "2024-07-22T11:45:00Z"),
            ("2h", "2024-07-22T10:00:00Z"),
            ("3d", "2024-07-19T12:00:00Z"),
            ("1w", "2024-07-15T12:00:00Z"),
            ("1h30m", "2024-07-22T10:30:00Z"),
            ("now", "2024-07-22T12:00:00Z"),
            ("NOW", "2024-07-22T12:00:00Z"),
        ];
        for (input, want) in cases {
            assert_eq!(parse_time(input, now(), tokyo), Ok(utc(want)), "{input}");
        }
    }

    #[test]
    fn bad_times_say_which_forms_work() {
        for bad in ["", "yesterday", "2024-13-01", "12x", "2024-07-22T25:00", "h"] {
            let err = parse_time(bad, now(), Zone::Named(Tz::UTC)).unwrap_err();
            assert!(err.contains("epoch seconds"), "{bad}: {err}");
        }
    }

    #[test]
    fn skipped_local_time_is_an_error() {
        let ny: Zone = "America/New_York".parse().unwrap();
        assert!(parse_time("2024-03-10 02:30", now(), ny).unwrap_err().contains("does not exist"));
    }

    #[test]
    fn floors_on_the_zones_clock() {
        let tokyo: Zone = "Asia/Tokyo".parse().unwrap();
        let india: Zone = "Asia/Kolkata".parse().unwrap();
        let t = utc("2024-07-22T10:47:13Z");
        assert_eq!(tokyo.floor(t, 1), utc("2024-07-22T10:47:00Z"));
        assert_eq!(tokyo.floor(t, 15), utc("2024-07-22T10:45:00Z"));
        assert_eq!(tokyo.floor(t, 360), utc("2024-07-22T09:00:00Z"), "18:00 in Tokyo");
        assert_eq!(tokyo.floor(t, 1440), utc("2024-07-21T15:00:00Z"), "midnight in Tokyo");
        assert_eq!(india.floor(t, 60), utc("2024-07-22T10:30:00Z"), "16:00 in India, +05:30");
    }

    #[test]
    fn floors_across_clock_changes() {
        let ny: Zone = "America/New_York".parse().unwrap();
        // 2024-11-03: 01:00-02:00 happens twice, first at -04:00 (05:00Z), then at -05:00 (06:00Z).
        assert_eq!(ny.floor(utc("2024-11-03T05:30:00Z"), 60), utc("2024-11-03T05:00:00Z"));
        assert_eq!(ny.floor(utc("2024-11-03T06:30:00Z"), 60), utc("2024-11-03T06:00:00Z"));
        assert_eq!(ny.floor(utc("2024-11-03T06:30:00Z"), 1440), utc("2024-11-03T04:00:00Z"));
        // 2024-03-10: 02:00 is skipped; a 6-hour step from 00:00 (-05:00) holds 03:30 (-04:00).
        assert_eq!(ny.floor(utc("2024-03-10T07:30:00Z"), 360), utc("2024-03-10T05:00:00Z"));
        // Havana skipped midnight on 2024-03-10 (00:00 -05:00 became 01:00 -04:00): that day starts at 01:00.
        let havana: Zone = "America/Havana".parse().unwrap();
        assert_eq!(havana.floor(utc("2024-03-10T12:00:00Z"), 1440), utc("2024-03-10T05:00:00Z"));
    }

    #[test]
    fn stamps_print_as_precisely_as_they_were_written() {
        let tokyo: Zone = "Asia/Tokyo".parse().unwrap();
        let stamp = |text: &str| Stamp { at: utc(text), digits: Stamp::digits_in(text) };
        assert_eq!(tokyo.format_stamp_rfc3339(stamp("2024-07-22T00:00:00.125Z")), "2024-07-22T09:00:00.125+09:00");
        assert_eq!(tokyo.format_stamp_plain(stamp("2024-07-22T00:00:00.10Z")), "2024-07-22 09:00:00.10");
        assert_eq!(tokyo.format_stamp_plain(stamp("2024-07-22T00:00:00Z")), "2024-07-22 09:00:00");
        assert_eq!(tokyo.format_stamp_rfc3339(stamp("2024-07-22T00:00:00Z")), "2024-07-22T09:00:00+09:00");
        assert_eq!(Stamp::digits_in("2024-07-22T00:00:00.1234567891234Z"), 9);
    }

    #[test]
    fn zones() {
        assert_eq!("utc".parse::<Zone>(), Ok(Zone::Named(Tz::UTC)));
        assert_eq!("asia/tokyo".parse::<Zone>(), Ok(Zone::Named(Tz::Asia__Tokyo)));
        assert!("Mars/Base".parse::<Zone>().is_err());
        let tokyo: Zone = "Asia/Tokyo".parse().unwrap();
        assert_eq!(tokyo.format_rfc3339(utc("2024-07-22T00:00:00Z")), "2024-07-22T09:00:00+09:00");
        assert_eq!(Zone::Named(Tz::UTC).format_rfc3339(utc("2024-07-22T00:00:00Z")), "2024-07-22T00:00:00+00:00");
    }
}
