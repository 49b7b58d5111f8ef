//! Trails in S3, read in place: where to look in a bucket and what to leave out, without the network.
//!
//! A trail writes `[PREFIX/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/` folders of
//! `ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_ID.json.gz` files. [`walk`] goes down that layout one level
//! at a time with delimiter listings, and only into the accounts, regions and days asked for; at the
//! bottom the time in each file's name, its delivery time, says whether it can hold events of the
//! window. The listing itself is handed in ([`List`]), so that all of this is checked on a bucket kept
//! in memory; src/aws/s3.rs lists real ones.

use std::cmp::Ordering;
use std::fmt;

use anyhow::Result;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc};

use super::token::{Binding, ObjectPosition};
use crate::query::TimeWindow;

/// Which objects are wanted: what the pruning rules keep.
#[derive(Debug, Clone, Default)]
pub struct Prune {
    /// Accounts to read (empty: all).
    pub accounts: Vec<String>,
    /// Regions to read (empty: all under the prefix).
    pub regions: Vec<String>,
    /// Read `CloudTrail-Insight` (`--event-category insight`) instead of leaving it out.
    pub insight: bool,
    pub window: TimeWindow,
    /// How long after the window's end a file may still be delivered with events of the window.
    pub lag: Duration,
    /// Set when every input is in S3, so that a stopped read can be resumed.
    pub resume: Option<Resume>,
}

/// What the tokens of a read are bound to, and where `--starting-token` said to go on from: the
/// objects before that one (in the order they are read) are left out, and so are that object's records
/// that were handed on already.
#[derive(Debug, Clone)]
pub struct Resume {
    pub binding: Binding,
    pub from: Option<ObjectPosition>,
}

/// The binding of a read's tokens: its S3 inputs (`s3://…` as given, `--trail` names), the pruning
/// settings and the window as given (`window`, epoch milliseconds), so that a token of another read is
/// refused before any request.
pub fn binding(inputs: &[String], prune: &Prune, window: [Option<i64>; 2]) -> Binding {
    Binding::of(&(inputs, &prune.accounts, &prune.regions, prune.insight, prune.lag.num_seconds()), window)
}

/// One level of a listing: the folders (common prefixes, each ending in `/`) and objects below a prefix.
#[derive(Debug, Default, Clone)]
pub struct Listing {
    pub prefixes: Vec<String>,
    pub objects: Vec<Object>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub size: u64,
}

/// Lists below a prefix: with `delimiter`, one level (`delimiter=/`); without, every key below it.
pub trait List {
    fn list(&mut self, prefix: &str, delimiter: bool) -> Result<Listing>;

    /// One level below each prefix, in their order (several at a time, where the lister can).
    fn list_all(&mut self, prefixes: &[String]) -> Result<Vec<Listing>> {
        prefixes.iter().map(|prefix| self.list(prefix, true)).collect()
    }
}

/// Why something was left out, for `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Skip {
    Account,
    Region,
    /// A year, month or day folder outside the days that can hold events of the window.
    Day,
    /// Delivered before the window's start: it holds no event of the window.
    BeforeStart,
    /// Delivered later than the lag after the window's end.
    AfterLag,
    Digest,
    Insight,
    /// No `.json.gz` or `.json` object, a hidden name, or a folder that is no part of the layout.
    Other,
}

impl Skip {
    const ALL: [Skip; 8] = [
        Skip::Account,
        Skip::Region,
        Skip::Day,
        Skip::BeforeStart,
        Skip::AfterLag,
        Skip::Digest,
        Skip::Insight,
        Skip::Other,
    ];

    fn what(self) -> &'static str {
        match self {
            Skip::Account => "of accounts not asked for",
            Skip::Region => "of regions not asked for",
            Skip::Day => "day folders outside the window",
            Skip::BeforeStart => "delivered before the window's start",
            Skip::AfterLag => "delivered later than the lag after the window's end",
            Skip::Digest => "digest folders",
            Skip::Insight => "Insights folders (read with --event-category insight)",
            Skip::Other => "neither trail files nor folders of the layout",
        }
    }
}

/// What a walk found: the objects to read, in the order a sorted download of them would be read.
#[derive(Debug, Default)]
pub struct Found {
    pub objects: Vec<Object>,
    /// Prefixes listed, in order.
    pub listed: Vec<String>,
    /// Folders and objects left out, by rule.
    pub skipped: [u64; 8],
}

impl Found {
    fn skip(&mut self, why: Skip) {
        self.skipped[why as usize] += 1;
    }

    /// `-v`: how many each rule left out.
    pub fn skipped_lines(&self) -> Vec<String> {
        Skip::ALL
            .iter()
            .filter(|why| self.skipped[**why as usize] > 0)
            .map(|why| format!("skipped {} {}", self.skipped[*why as usize], why.what()))
            .collect()
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes: u64 = self.objects.iter().map(|o| o.size).sum();
        write!(f, "{} prefixes listed, {} objects to read ({bytes} bytes)", self.listed.len(), self.objects.len())
    }
}

/// Where a prefix is in the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Above `AWSLogs/`.
    Top,
    AwsLogs,
    Org,
    Account,
    /// `CloudTrail/` or `CloudTrail-Insight/` of an account: region folders.
    Service,
    Region,
    Year(i32),
    Month(i32, u32),
    Day,
}

/// Walks `prefix` (empty: the whole bucket, else a folder: `/` is added if missing). Below a
/// `AWSLogs/` the layout is walked and pruned; a prefix with no `AWSLogs/` below it (nor in it) is read
/// as a plain tree of trail files, every key below it listed.
pub fn walk(list: &mut dyn List, prefix: &str, prune: &Prune) -> Result<Found> {
    let mut found = Found::default();
    let prefix = folder(prefix);
    let components: Vec<&str> = prefix.split('/').filter(|c| !c.is_empty()).collect();
    let level = match components.iter().rposition(|c| *c == "AWSLogs") {
        None => Some(Level::Top),
        Some(at) => {
            let mut level = Some(Level::AwsLogs);
            for name in &components[at + 1..] {
                level = level.and_then(|l| match child(l, name, prune) {
                    Ok(next) => Some(next),
                    Err(why) => {
                        found.skip(why);
                        None
                    }
                });
            }
            level
        }
    };
    if let Some(level) = level {
        descend(list, &prefix, level, prune, &mut found)?;
    }
    Ok(found)
}

fn folder(prefix: &str) -> String {
    let prefix = prefix.trim_start_matches('/');
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    }
}

/// Breadth first: every folder of one depth is listed in one go (`List::list_all`, several requests at
/// a time), the folders kept make the next depth. The objects come out in path order at the end, which
/// is the order a depth-first walk of sorted listings gives.
fn descend(list: &mut dyn List, prefix: &str, level: Level, prune: &Prune, found: &mut Found) -> Result<()> {
    let mut frontier = vec![(prefix.to_owned(), level)];
    let mut objects = Vec::new();
    while !frontier.is_empty() {
        let prefixes: Vec<String> = frontier.iter().map(|(prefix, _)| prefix.clone()).collect();
        let listings = list.list_all(&prefixes)?;
        let mut next = Vec::new();
        for ((prefix, level), listing) in frontier.into_iter().zip(listings) {
            found.listed.push(prefix.clone());
            match level {
                Level::Top => {
                    let logs = format!("{prefix}AWSLogs/");
                    if listing.prefixes.contains(&logs) {
                        next.push((logs, Level::AwsLogs));
                    } else {
                        plain_tree(list, &prefix, prune, found)?;
                    }
                }
                Level::Day => {
                    for object in listing.objects {
                        match keep_object(name_of(&object.key), prune) {
                            Ok(()) => objects.push(object),
                            Err(why) => found.skip(why),
                        }
                    }
                }
                _ => {
                    for sub in listing.prefixes {
                        match child(level, name_of(sub.trim_end_matches('/')), prune) {
                            Ok(below) => next.push((sub, below)),
                            Err(why) => found.skip(why),
                        }
                    }
                }
            }
        }
        next.sort_by(|a, b| path_order(&a.0, &b.0));
        frontier = next;
    }
    objects.sort_by(|a, b| path_order(&a.key, &b.key));
    found.objects.extend(objects);
    Ok(())
}

/// A prefix that is no trail layout: every key below it, as a recursive read of its download would read them.
fn plain_tree(list: &mut dyn List, prefix: &str, prune: &Prune, found: &mut Found) -> Result<()> {
    let mut objects = list.list(prefix, false)?.objects;
    objects.sort_by(|a, b| path_order(&a.key, &b.key));
    'objects: for object in objects {
        let below = object.key.strip_prefix(prefix).unwrap_or(&object.key);
        let parts: Vec<&str> = below.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if part.starts_with('.') || part.is_empty() {
                found.skip(Skip::Other);
                continue 'objects;
            }
            if *part == "CloudTrail-Digest" {
                found.skip(Skip::Digest);
                continue 'objects;
            }
        }
        let name = parts[parts.len() - 1];
        const READ: [&str; 6] = [".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".gz"];
        if name.starts_with('.') || !READ.iter().any(|ext| name.ends_with(ext)) {
            found.skip(Skip::Other);
            continue;
        }
        // Trail files keep their name's rules here too; other files are read whole.
        match parse_name(name).map_or(Ok(()), |parsed| keep_parsed(&parsed, prune)) {
            Ok(()) => found.objects.push(object),
            Err(why) => found.skip(why),
        }
    }
    Ok(())
}

/// The order in which a recursive read of the downloaded tree reads paths: folder by folder, each
/// listing sorted by name (a path's components compared one by one, not its bytes: `a/b` before `a-b`).
pub fn path_order(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

fn name_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// The level a folder named `name` below a folder of `level` is at, or why it is left out.
fn child(level: Level, name: &str, prune: &Prune) -> Result<Level, Skip> {
    let account = |name: &str| {
        if !is_account(name) {
            Err(Skip::Other)
        } else if prune.accounts.is_empty() || prune.accounts.iter().any(|a| a == name) {
            Ok(Level::Account)
        } else {
            Err(Skip::Account)
        }
    };
    if name.starts_with('.') {
        return Err(Skip::Other);
    }
    match level {
        Level::Top => (name == "AWSLogs").then_some(Level::AwsLogs).ok_or(Skip::Other),
        Level::AwsLogs if name.starts_with("o-") => Ok(Level::Org),
        Level::AwsLogs | Level::Org => account(name),
        Level::Account => match name {
            "CloudTrail" if !prune.insight => Ok(Level::Service),
            "CloudTrail-Insight" if prune.insight => Ok(Level::Service),
            "CloudTrail" | "CloudTrail-Insight" => Err(Skip::Insight),
            "CloudTrail-Digest" => Err(Skip::Digest),
            _ => Err(Skip::Other),
        },
        Level::Service if prune.regions.is_empty() || prune.regions.iter().any(|r| r == name) => Ok(Level::Region),
        Level::Service => Err(Skip::Region),
        Level::Region => {
            let year = number(name, 4).ok_or(Skip::Other)? as i32;
            let (first, last) = days(prune);
            let inside = first.is_none_or(|d| year >= d.year()) && last.is_none_or(|d| year <= d.year());
            inside.then_some(Level::Year(year)).ok_or(Skip::Day)
        }
        Level::Year(year) => {
            let month = number(name, 2).filter(|m| (1..=12).contains(m)).ok_or(Skip::Other)?;
            let (first, last) = days(prune);
            let here = (year, month);
            let inside = first.is_none_or(|d| here >= (d.year(), d.month()))
                && last.is_none_or(|d| here <= (d.year(), d.month()));
            inside.then_some(Level::Month(year, month)).ok_or(Skip::Day)
        }
        Level::Month(year, month) => {
            let day = number(name, 2).ok_or(Skip::Other)?;
            let date = NaiveDate::from_ymd_opt(year, month, day).ok_or(Skip::Other)?;
            let (first, last) = days(prune);
            let inside = first.is_none_or(|d| date >= d) && last.is_none_or(|d| date <= d);
            inside.then_some(Level::Day).ok_or(Skip::Day)
        }
        Level::Day => Err(Skip::Other),
    }
}

/// The first and last day folders that can hold files with events of the window: from the start's day
/// to the day of the end plus the lag (a file is filed under the day it was delivered).
fn days(prune: &Prune) -> (Option<NaiveDate>, Option<NaiveDate>) {
    (prune.window.start.map(|t| t.date_naive()), prune.window.end.map(|t| (t + prune.lag).date_naive()))
}

fn is_account(name: &str) -> bool {
    name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())
}

fn number(name: &str, digits: usize) -> Option<u32> {
    (name.len() == digits && name.bytes().all(|b| b.is_ascii_digit())).then(|| name.parse().ok()).flatten()
}

/// What a trail file's name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailName<'a> {
    pub account: &'a str,
    pub region: &'a str,
    /// When the file was delivered, to the minute.
    pub delivered: DateTime<Utc>,
}

/// `ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_ID.json.gz` (or `CloudTrail-Insight`); None for any other name.
pub fn parse_name(name: &str) -> Option<TrailName<'_>> {
    let mut parts = name.split('_');
    let account = parts.next()?;
    let service = parts.next()?;
    let region = parts.next()?;
    let stamp = parts.next()?;
    parts.next()?;
    if !is_account(account) || !matches!(service, "CloudTrail" | "CloudTrail-Insight") || region.is_empty() {
        return None;
    }
    let delivered = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%MZ").ok()?.and_utc();
    Some(TrailName { account, region, delivered })
}

/// Whether an object of a day folder is read: a `.json.gz` or `.json` trail file that can hold events
/// of the window.
fn keep_object(name: &str, prune: &Prune) -> Result<(), Skip> {
    if name.starts_with('.') || !(name.ends_with(".json.gz") || name.ends_with(".json")) {
        return Err(Skip::Other);
    }
    match parse_name(name) {
        Some(parsed) => keep_parsed(&parsed, prune),
        // A file of another name in a day folder is read whole: its name says nothing of its events.
        None => Ok(()),
    }
}

/// The rules a trail file's name answers. The name's time is truncated to the minute, so a file named
/// 10:05 may hold events up to 10:05:59: it is left out only when that whole minute is before the start.
/// After the end, files delivered up to the lag later are read, for the events delivered late.
fn keep_parsed(parsed: &TrailName<'_>, prune: &Prune) -> Result<(), Skip> {
    if !prune.accounts.is_empty() && !prune.accounts.iter().any(|a| a == parsed.account) {
        return Err(Skip::Account);
    }
    if !prune.regions.is_empty() && !prune.regions.iter().any(|r| r == parsed.region) {
        return Err(Skip::Region);
    }
    if prune.window.start.is_some_and(|start| parsed.delivered + Duration::minutes(1) <= start) {
        return Err(Skip::BeforeStart);
    }
    if prune.window.end.is_some_and(|end| parsed.delivered > end + prune.lag) {
        return Err(Skip::AfterLag);
    }
    Ok(())
}

/// An `s3://BUCKET[/PREFIX]` location; None when `text` is no such URL.
pub fn parse_url(text: &str) -> Option<Result<(String, String), String>> {
    let rest = text.strip_prefix("s3://").or_else(|| text.strip_prefix("S3://"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = (3..=63).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !valid {
        return Some(Err(format!("{text}: expected s3://BUCKET[/PREFIX] with a bucket name of 3 to 63 lowercase letters, digits, dots and hyphens")));
    }
    Some(Ok((bucket.to_owned(), prefix.to_owned())))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A bucket in memory, listed as S3 lists: keys in byte order, common prefixes at the delimiter.
    struct Bucket {
        keys: BTreeSet<String>,
        lists: Vec<String>,
    }

    impl List for Bucket {
        fn list(&mut self, prefix: &str, delimiter: bool) -> Result<Listing> {
            self.lists.push(prefix.to_owned());
            let mut listing = Listing::default();
            for key in self.keys.iter().filter(|k| k.starts_with(prefix)) {
                let rest = &key[prefix.len()..];
                match rest.find('/') {
                    Some(at) if delimiter => {
                        let sub = format!("{prefix}{}", &rest[..=at]);
                        if listing.prefixes.last() != Some(&sub) {
                            listing.prefixes.push(sub);
                        }
                    }
                    _ => listing.objects.push(Object { key: key.clone(), size: 1 }),
                }
            }
            Ok(listing)
        }
    }

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn file(org: &str, account: &str, region: &str, stamp: &str) -> String {
        let day = format!("{}/{}/{}", &stamp[0..4], &stamp[4..6], &stamp[6..8]);
        format!(
            "logs/AWSLogs/{org}{account}/CloudTrail/{region}/{day}/{account}_CloudTrail_{region}_{stamp}_abc.json.gz"
        )
    }

    fn bucket() -> Bucket {
        let mut keys = BTreeSet::new();
        for account in ["111122223333", "444455556666"] {
            for region in ["us-east-1", "eu-west-1"] {
                for stamp in ["20261130T2355Z", "20261201T0005Z", "20261201T2358Z", "20261202T0004Z", "20261203T1200Z"]
                {
                    keys.insert(file("o-abc123/", account, region, stamp));
                }
            }
            keys.insert(format!("logs/AWSLogs/o-abc123/{account}/CloudTrail-Digest/us-east-1/2026/12/01/d.json.gz"));
            keys.insert(format!("logs/AWSLogs/o-abc123/{account}/CloudTrail-Insight/us-east-1/2026/12/01/{account}_CloudTrail-Insight_us-east-1_20261201T0100Z_x.json.gz"));
        }
        keys.insert("logs/AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2026/12/01/README.txt".to_owned());
        Bucket { keys, lists: Vec::new() }
    }

    fn stamps(found: &Found) -> Vec<String> {
        let name = |o: &Object| {
            let n = parse_name(name_of(&o.key)).unwrap();
            format!("{} {} {}", n.account, n.region, n.delivered.format("%d %H%M"))
        };
        found.objects.iter().map(name).collect()
    }

    #[test]
    fn names_parse() {
        let parsed = parse_name("111122223333_CloudTrail_us-east-1_20261201T0005Z_AbC.json.gz").unwrap();
        assert_eq!(parsed.account, "111122223333");
        assert_eq!(parsed.region, "us-east-1");
        assert_eq!(parsed.delivered, t("2026-12-01T00:05:00Z"));
        assert!(parse_name("111122223333_CloudTrail-Insight_us-east-1_20261201T0005Z_x.json.gz").is_some());
        for bad in [
            "README.txt",
            "1111_CloudTrail_us-east-1_20261201T0005Z_x.json.gz",
            "111122223333_CloudTrail_us-east-1_2026120_x.json.gz",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_hour_across_midnight_lists_two_days_and_reads_what_can_hold_it() {
        let mut bucket = bucket();
        let prune = Prune {
            accounts: vec!["444455556666".into()],
            regions: vec!["eu-west-1".into()],
            window: TimeWindow { start: Some(t("2026-11-30T23:30:00Z")), end: Some(t("2026-12-01T00:30:00Z")) },
            lag: Duration::hours(1),
            ..Prune::default()
        };
        let found = walk(&mut bucket, "logs", &prune).unwrap();
        assert_eq!(stamps(&found), ["444455556666 eu-west-1 30 2355", "444455556666 eu-west-1 01 0005"]);
        // Never the whole bucket, never an account or region not asked for.
        assert!(
            bucket.lists.iter().all(|p| !p.contains("111122223333") && !p.contains("us-east-1")),
            "{:?}",
            bucket.lists
        );
        assert_eq!(bucket.lists.last().unwrap(), "logs/AWSLogs/o-abc123/444455556666/CloudTrail/eu-west-1/2026/12/01/");
        let days: Vec<&String> = bucket.lists.iter().filter(|p| p.matches('/').count() == 9).collect();
        assert_eq!(days.len(), 2, "{days:?}");
        assert!(found.skipped[Skip::AfterLag as usize] == 1, "{:?}", found.skipped);
    }

    #[test]
    fn the_lag_rule_and_the_minute_of_the_name() {
        let window = TimeWindow { start: Some(t("2026-12-01T23:58:30Z")), end: Some(t("2026-12-01T23:59:00Z")) };
        let at = |stamp: &str, lag: i64| {
            let name = format!("111122223333_CloudTrail_us-east-1_{stamp}_x.json.gz");
            keep_object(&name, &Prune { window, lag: Duration::minutes(lag), ..Prune::default() })
        };
        // Named 23:58, delivered up to 23:58:59: it may hold 23:58:30.
        assert_eq!(at("20261201T2358Z", 60), Ok(()));
        assert_eq!(at("20261201T2357Z", 60), Err(Skip::BeforeStart));
        assert_eq!(at("20261202T0059Z", 60), Ok(()));
        assert_eq!(at("20261202T0100Z", 60), Err(Skip::AfterLag));
        assert_eq!(at("20261202T0004Z", 0), Err(Skip::AfterLag));
        assert_eq!(keep_object("x.txt", &Prune::default()), Err(Skip::Other));
        assert_eq!(keep_object("other.json", &Prune::default()), Ok(()));
    }

    #[test]
    fn no_window_reads_everything_but_digests_insights_and_foreign_objects() {
        let mut bucket = bucket();
        let found = walk(&mut bucket, "logs/", &Prune::default()).unwrap();
        assert_eq!(found.objects.len(), 20);
        assert_eq!(found.skipped[Skip::Digest as usize], 2);
        assert_eq!(found.skipped[Skip::Insight as usize], 2);
        assert_eq!(found.skipped[Skip::Other as usize], 1);
        let mut sorted = found.objects.clone();
        sorted.sort_by(|a, b| path_order(&a.key, &b.key));
        assert_eq!(sorted, found.objects);
        let insight = walk(&mut bucket, "logs", &Prune { insight: true, ..Prune::default() }).unwrap();
        assert_eq!(insight.objects.len(), 2);
    }

    #[test]
    fn a_prefix_deep_in_the_layout_starts_there() {
        let mut bucket = bucket();
        let prune =
            Prune { window: TimeWindow { start: Some(t("2026-12-03T00:00:00Z")), end: None }, ..Prune::default() };
        let found = walk(&mut bucket, "logs/AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/", &prune).unwrap();
        assert_eq!(stamps(&found), ["111122223333 us-east-1 03 1200"]);
        let asked = Prune { regions: vec!["eu-west-1".into()], ..Prune::default() };
        let none = walk(&mut bucket, "logs/AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1", &asked).unwrap();
        assert!(none.objects.is_empty());
    }

    #[test]
    fn a_prefix_without_aws_logs_is_a_plain_tree() {
        let mut keys: BTreeSet<String> =
            ["dump/a-b/x.json", "dump/a/z.json.gz", "dump/a/.hidden.json", "dump/notes.txt"]
                .iter()
                .map(|k| k.to_string())
                .collect();
        keys.insert("dump/CloudTrail-Digest/d.json.gz".into());
        let mut bucket = Bucket { keys, lists: Vec::new() };
        let found = walk(&mut bucket, "dump", &Prune::default()).unwrap();
        let keys: Vec<&str> = found.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["dump/a/z.json.gz", "dump/a-b/x.json"]);
    }

    #[test]
    fn urls() {
        assert_eq!(parse_url("s3://my-bucket"), Some(Ok(("my-bucket".into(), String::new()))));
        assert_eq!(parse_url("s3://my-bucket/a/b/"), Some(Ok(("my-bucket".into(), "a/b/".into()))));
        assert!(matches!(parse_url("s3://B"), Some(Err(_))));
        assert_eq!(parse_url("./s3/x"), None);
    }

    #[test]
    fn folders() {
        assert_eq!(folder(""), "");
        assert_eq!(folder("a/b"), "a/b/");
        assert_eq!(folder("/a/"), "a/");
    }
}
