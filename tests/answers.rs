//! `--count-by`, `--top` and `--timeline`, run as a user runs them: the answers are compared with groups
//! and buckets computed here from the records themselves, and the API (fake server), JSON Lines and the
//! aws-shaped document must give the same answer.
//!
//! `UPDATE_GOLDEN=1 cargo test --test tests answers` rewrites the golden files of the table and chart.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use crate::common::*;
use chrono::{DateTime, Duration, Utc};
use fake_cloudtrail::generate;
use serde_json::Value;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/lookup-events.json");

fn time_of(record: &Value) -> DateTime<Utc> {
    record["eventTime"].as_str().unwrap().parse().unwrap()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// The three sources of the same records: a JSON Lines file, an aws-shaped document, the fake server.
struct Sources {
    sb: Sandbox,
    jsonl: PathBuf,
    document: PathBuf,
    server: fake_cloudtrail::server::FakeCloudTrail,
}

impl Sources {
    fn new(records: &[Value]) -> Sources {
        let sb = Sandbox::new();
        let jsonl = sb.path("records.jsonl");
        generate::write_records_jsonl(std::fs::File::create(&jsonl).unwrap(), records).unwrap();
        let document = sb.path("lookup-events.json");
        generate::write_aws_cli_document(std::fs::File::create(&document).unwrap(), records).unwrap();
        Sources { server: serve(records), sb, jsonl, document }
    }

    /// The same options against each source; every source must print the same bytes, returned once.
    fn agree(&self, args: &[&str]) -> String {
        let url = self.server.url();
        let runs: [Vec<&str>; 3] = [
            vec!["--input", self.jsonl.to_str().unwrap()],
            vec!["--input", self.document.to_str().unwrap()],
            vec!["--endpoint-url", &url, "--tps", FAST_TPS],
        ];
        let outputs: Vec<String> = runs
            .iter()
            .map(|source| {
                let out = run_ok(self.sb.ctlookup().args(source).args(["--tz", "UTC"]).args(args));
                String::from_utf8(out.stdout).unwrap()
            })
            .collect();
        assert_eq!(outputs[0], outputs[1], "{args:?}: JSON Lines and the aws-shaped document differ");
        assert_eq!(outputs[0], outputs[2], "{args:?}: files and the API differ");
        outputs[0].clone()
    }
}

/// A group's key as computed here: per field, the string, or None for a missing field.
type Key = Vec<Option<String>>;

/// Groups of single-valued string fields, sorted as the issue says: largest first, ties by the values
/// (a missing value after any string).
fn expected_groups(records: &[Value], fields: &[&str]) -> Vec<(Key, u64, DateTime<Utc>, DateTime<Utc>)> {
    let mut groups: HashMap<Key, (u64, DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for record in records {
        let key: Key = fields
            .iter()
            .map(|f| f.split('.').try_fold(record, |v, k| v.get(k)).and_then(Value::as_str).map(str::to_owned))
            .collect();
        let t = time_of(record);
        let entry = groups.entry(key).or_insert((0, t, t));
        entry.0 += 1;
        entry.1 = entry.1.min(t);
        entry.2 = entry.2.max(t);
    }
    let mut sorted: Vec<_> = groups.into_iter().map(|(k, (n, first, last))| (k, n, first, last)).collect();
    let order = |k: &Key| k.iter().map(|v| (v.is_none(), v.clone().unwrap_or_default())).collect::<Vec<_>>();
    sorted.sort_by_key(|(k, n, _, _)| (Reverse(*n), order(k)));
    sorted
}

/// JSON Lines of groups, read back into the same shape.
fn parsed_groups(jsonl: &str, fields: &[&str]) -> Vec<(Key, u64, DateTime<Utc>, DateTime<Utc>)> {
    jsonl
        .lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).unwrap();
            let names: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
            let mut want = fields.to_vec();
            want.extend(["count", "first", "last"]);
            assert_eq!(names, want, "the fields under their own names, then count, first, last");
            let key = fields.iter().map(|f| row[*f].as_str().map(str::to_owned)).collect();
            let time = |name: &str| DateTime::parse_from_rfc3339(row[name].as_str().unwrap()).unwrap().to_utc();
            (key, row["count"].as_u64().unwrap(), time("first"), time("last"))
        })
        .collect()
}

#[test]
fn counts_agree_with_groups_computed_here_on_the_api_and_on_files() {
    let records = records(400, 41, fixed_newest());
    let sources = Sources::new(&records);
    for fields in [vec!["eventSource", "errorCode"], vec!["userIdentity.type"], vec!["eventName"]] {
        let spec = fields.join(",");
        let out = sources.agree(&["--count-by", &spec, "-o", "jsonl"]);
        assert_eq!(parsed_groups(&out, &fields), expected_groups(&records, &fields), "--count-by {spec}");
    }
    // With filters, one of them pushed to the API.
    let out = sources.agree(&["--read-only", "false", "--errors", "--count-by", "eventName,errorCode", "-o", "jsonl"]);
    let failed_writes: Vec<Value> = records
        .iter()
        .filter(|r| r["readOnly"] == false && r.get("errorCode").is_some_and(|c| !c.is_null()))
        .cloned()
        .collect();
    assert!(failed_writes.len() > 5, "the sample has failed writes");
    let fields = ["eventName", "errorCode"];
    assert_eq!(parsed_groups(&out, &fields), expected_groups(&failed_writes, &fields));
    // The derived columns give the same answer from every source too.
    let out = sources.agree(&["--count-by", "user,resources", "-o", "jsonl"]);
    assert!(out.contains("\"user\":\"AdminRole/") && out.contains("(AWS::EC2::Instance)\""), "{out}");
}

#[test]
fn the_counts_of_one_field_add_up_to_the_events_matched() {
    let records = records(250, 42, fixed_newest());
    let sources = Sources::new(&records);
    let out = sources.agree(&["--count-by", "errorCode", "-o", "jsonl"]);
    let rows: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.iter().map(|r| r["count"].as_u64().unwrap()).sum::<u64>(), 250);
    let succeeded = records.iter().filter(|r| r.get("errorCode").is_none()).count() as u64;
    let empty: Vec<&Value> = rows.iter().filter(|r| r["errorCode"].is_null()).collect();
    assert_eq!(empty.len(), 1, "one empty group");
    assert_eq!(empty[0]["count"].as_u64(), Some(succeeded));
    // --max-items counts the first N matched events only.
    let out = sources.agree(&["--count-by", "eventName", "--max-items", "30", "-o", "jsonl"]);
    let total: u64 = out.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 30);
}

#[test]
fn an_array_counts_the_event_once_under_each_distinct_value() {
    let sb = Sandbox::new();
    let file = sb.path("records.jsonl");
    let lines = [
        r#"{"eventTime":"2024-07-22T01:00:00Z","eventName":"A","resources":[{"ARN":"x"},{"ARN":"y"},{"ARN":"x"}]}"#,
        r#"{"eventTime":"2024-07-22T02:00:00Z","eventName":"A","resources":[{"ARN":"y"}]}"#,
        r#"{"eventTime":"2024-07-22T03:00:00Z","eventName":"B","resources":[{"type":"no ARN"}]}"#,
        r#"{"eventTime":"2024-07-22T04:00:00Z","eventName":"B","requestParameters":{"maxResults":5,"flag":true}}"#,
    ];
    write(&file, &(lines.join("\n") + "\n"));
    let count = |args: &[&str]| {
        let out =
            run_ok(sb.ctlookup().args(["--input", file.to_str().unwrap(), "--tz", "UTC", "-o", "jsonl"]).args(args));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        count(&["--count-by", "resources.ARN"]),
        concat!(
            r#"{"resources.ARN":"y","count":2,"first":"2024-07-22T01:00:00+00:00","last":"2024-07-22T02:00:00+00:00"}"#,
            "\n",
            r#"{"resources.ARN":null,"count":2,"first":"2024-07-22T03:00:00+00:00","last":"2024-07-22T04:00:00+00:00"}"#,
            "\n",
            r#"{"resources.ARN":"x","count":1,"first":"2024-07-22T01:00:00+00:00","last":"2024-07-22T01:00:00+00:00"}"#,
            "\n",
        )
    );
    // Ties in the order of the values, the empty group after the others. Two fields: every combination;
    // numbers and booleans stay JSON values.
    let out = count(&["--count-by", "eventName,resources.ARN"]);
    let keys: Vec<(String, Value)> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|r| (r["eventName"].as_str().unwrap().to_owned(), r["resources.ARN"].clone()))
        .collect();
    assert_eq!(
        keys,
        [("A".into(), "y".into()), ("B".into(), Value::Null), ("A".into(), "x".into())],
        "A/y twice, B without an ARN twice, A/x once"
    );
    let out = count(&["--count-by", "requestParameters.maxResults,requestParameters.flag"]);
    assert!(
        out.starts_with(r#"{"requestParameters.maxResults":null,"requestParameters.flag":null,"count":3,"#),
        "{out}"
    );
    assert!(out.contains(r#"{"requestParameters.maxResults":5,"requestParameters.flag":true,"count":1,"#), "{out}");
}

#[test]
fn top_keeps_the_largest_groups_and_says_how_many_were_left_out() {
    let records = records(300, 43, fixed_newest());
    let sources = Sources::new(&records);
    let all = sources.agree(&["--count-by", "eventName", "-o", "jsonl"]);
    let top = sources.agree(&["--count-by", "eventName", "--top", "3", "-o", "jsonl"]);
    let all: Vec<&str> = all.lines().collect();
    assert!(all.len() > 5);
    assert_eq!(top.lines().collect::<Vec<_>>(), all[..3]);
    let left: u64 = all[3..].iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["count"].as_u64().unwrap()).sum();
    let out = run_ok(sources.sb.ctlookup().args([
        "--input",
        sources.jsonl.to_str().unwrap(),
        "--count-by",
        "eventName",
        "--top",
        "3",
    ]));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        format!("ctlookup: --top 3: {} more groups not shown (their counts add up to {left})\n", all.len() - 3)
    );
    // A --top larger than the groups shows them all and says nothing.
    let out = run_ok(sources.sb.ctlookup().args([
        "--input",
        sources.jsonl.to_str().unwrap(),
        "--count-by",
        "eventName",
        "--top",
        "1000",
    ]));
    assert!(out.stderr.is_empty());
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), all.len());
}

#[test]
fn every_format_prints_the_same_groups() {
    let records = records(200, 44, fixed_newest());
    let sources = Sources::new(&records);
    let args = ["--count-by", "userAgent,errorCode"];
    let jsonl = sources.agree(&[&args[..], &["-o", "jsonl"]].concat());
    let rows: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let json: Value = serde_json::from_str(&sources.agree(&[&args[..], &["-o", "json"]].concat())).unwrap();
    assert_eq!(json, Value::Array(rows.clone()), "json is the array of the jsonl objects");

    // csv: a strict reader, the header, the formula guard, plain times.
    let csv_text = sources.agree(&[&args[..], &["-o", "csv"]].concat());
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(csv_text.as_bytes());
    assert_eq!(reader.headers().unwrap(), vec!["userAgent", "errorCode", "count", "first", "last"]);
    let cells: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(cells.len(), rows.len());
    let guard = |s: &str| if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_owned() };
    let plain =
        |v: &Value| DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().format("%Y-%m-%d %H:%M:%S").to_string();
    for (cell, row) in cells.iter().zip(&rows) {
        assert_eq!(&cell[0], guard(row["userAgent"].as_str().unwrap_or_default()));
        assert_eq!(&cell[1], row["errorCode"].as_str().unwrap_or_default());
        assert_eq!(&cell[2], row["count"].to_string());
        assert_eq!((&cell[3], &cell[4]), (plain(&row["first"]).as_str(), plain(&row["last"]).as_str()));
    }
    assert!(csv_text.contains("\"'=HYPERLINK("), "the formula user agent is guarded");

    // tsv: one line per group, escaped, guarded.
    let tsv = sources.agree(&[&args[..], &["-o", "tsv", "--bom"]].concat());
    assert!(tsv.starts_with("\u{feff}userAgent\terrorCode\tcount\tfirst\tlast\n"));
    assert_eq!(tsv.lines().count(), rows.len() + 1);
    assert!(tsv.contains("\n'=HYPERLINK("));

    // table: escaped, the count right-aligned.
    let table = sources.agree(&["--count-by", "errorCode", "-o", "table", "--color", "never"]);
    let lines: Vec<&str> = table.lines().collect();
    let count_end = lines[0].find("count").unwrap() + "count".len();
    for line in &lines[1..] {
        assert!(line[..count_end].ends_with(|c: char| c.is_ascii_digit()), "right-aligned: {line:?}");
    }
    let agents = sources.agree(&["--count-by", "userAgent", "-o", "table", "--color", "always"]);
    assert!(agents.contains("\\x1b[31m"), "the ANSI user agent is shown escaped");
    let codes = agents.replace("\x1b[1m", "").replace("\x1b[0m", "");
    assert!(!codes.contains('\x1b'), "no raw escape from the data");
}

/// Per-hour buckets computed here (UTC): every hour from the first to the last, empty ones as zero.
fn expected_hours(records: &[&Value], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(String, u64, u64)> {
    let floor = |t: DateTime<Utc>| DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(3600), 0).unwrap();
    let mut hours: BTreeMap<DateTime<Utc>, (u64, u64)> = BTreeMap::new();
    let mut hour = floor(from);
    while hour <= floor(to) {
        hours.insert(hour, (0, 0));
        hour += Duration::hours(1);
    }
    for record in records {
        let entry = hours.get_mut(&floor(time_of(record))).expect("inside the range");
        entry.0 += 1;
        entry.1 += u64::from(record.get("errorCode").is_some_and(|c| !c.is_null()));
    }
    hours.into_iter().map(|(t, (n, e))| (rfc3339(t), n, e)).collect()
}

fn parsed_buckets(jsonl: &str) -> Vec<(String, u64, u64)> {
    jsonl
        .lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).unwrap();
            let names: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(names, ["time", "count", "errors"]);
            (row["time"].as_str().unwrap().to_owned(), row["count"].as_u64().unwrap(), row["errors"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn timeline_buckets_agree_with_hours_computed_here_on_the_api_and_on_files() {
    let records = records(300, 45, fixed_newest());
    let sources = Sources::new(&records);
    let (oldest, newest) = (time_of(records.last().unwrap()), time_of(&records[0]));
    assert!(newest - oldest > Duration::hours(12), "a long enough sample");
    let all: Vec<&Value> = records.iter().collect();

    // Without a window: from the oldest to the newest event.
    let out = sources.agree(&["--timeline", "1h", "-o", "jsonl"]);
    let buckets = parsed_buckets(&out);
    assert_eq!(buckets, expected_hours(&all, oldest, newest));
    assert!(buckets.iter().any(|b| b.1 > 0 && b.2 > 0), "failed calls are counted");

    // With a window: from its start to its end, empty hours at both edges.
    let since = oldest - Duration::hours(3);
    let until = newest + Duration::minutes(150);
    let window = ["--since", &since.to_rfc3339(), "--until", &until.to_rfc3339()];
    let out = sources.agree(&[&window[..], &["--timeline", "1h", "-o", "jsonl"]].concat());
    assert_eq!(parsed_buckets(&out), expected_hours(&all, since, until));

    // A filter: only what it matched.
    let out = sources.agree(&["--errors", "--timeline", "1h", "-o", "jsonl"]);
    let failed: Vec<&Value> = records.iter().filter(|r| r.get("errorCode").is_some()).collect();
    let (first, last) = (time_of(failed.last().unwrap()), time_of(failed[0]));
    let buckets = parsed_buckets(&out);
    assert_eq!(buckets, expected_hours(&failed, first, last));
    assert!(buckets.iter().all(|(_, count, errors)| count == errors));

    // csv: the same buckets, plain times.
    let csv_text = sources.agree(&["--timeline", "1h", "-o", "csv"]);
    let mut lines = csv_text.lines();
    assert_eq!(lines.next(), Some("time,count,errors"));
    let expected = expected_hours(&all, oldest, newest);
    let rows: Vec<String> = lines.map(str::to_owned).collect();
    let want: Vec<String> =
        expected.iter().map(|(t, n, e)| format!("{},{n},{e}", &t[..19].replace('T', " "))).collect();
    assert_eq!(rows, want);
}

#[test]
fn the_automatic_bucket_follows_the_range() {
    let records = records(300, 46, fixed_newest());
    let sources = Sources::new(&records);
    let span = time_of(&records[0]) - time_of(records.last().unwrap());
    assert!(span > Duration::hours(16) && span < Duration::hours(59), "{span}: hours are the automatic size");
    // Without a window the range grows as events come, and counts fold into coarser buckets on the way:
    // the answer is the one of the size chosen for the whole range.
    let auto = sources.agree(&["--timeline", "-o", "jsonl"]);
    assert_eq!(auto, sources.agree(&["--timeline", "1h", "-o", "jsonl"]));
    // A window of two hours: 5-minute buckets, 25 of them from its start to its end.
    let newest = time_of(&records[0]);
    let since = (newest - Duration::hours(2)).to_rfc3339();
    let until = newest.to_rfc3339();
    let out = sources.agree(&["--since", &since, "--until", &until, "--timeline", "-o", "jsonl", "--errors"]);
    let buckets = parsed_buckets(&out);
    let times: Vec<DateTime<Utc>> =
        buckets.iter().map(|(t, _, _)| DateTime::parse_from_rfc3339(t).unwrap().to_utc()).collect();
    assert!((24..=25).contains(&times.len()), "{}", times.len());
    assert!(times.windows(2).all(|w| w[1] - w[0] == Duration::minutes(5)));
    assert!(times.iter().all(|t| t.timestamp() % 300 == 0), "aligned on the clock");
}

#[test]
fn a_window_with_only_a_start_ends_now_on_the_api_and_at_the_newest_event_in_files() {
    let records = records(100, 47, fixed_newest());
    let sources = Sources::new(&records);
    let since = (time_of(&records[0]) - Duration::hours(3)).to_rfc3339();
    let args = ["--since", &since, "--timeline", "1d", "--tz", "UTC", "-o", "jsonl"];
    let days = |source: &[&str]| {
        let out = run_ok(sources.sb.ctlookup().args(source).args(args));
        parsed_buckets(&String::from_utf8(out.stdout).unwrap())
    };
    let file = days(&["--input", sources.jsonl.to_str().unwrap()]);
    assert_eq!(file.len(), 1, "the window's day, to the newest event: {file:?}");
    assert_eq!(file[0].0, "2024-07-22T00:00:00+00:00");
    let day = || Utc::now().format("%Y-%m-%dT00:00:00+00:00").to_string();
    let before = day();
    let api = days(&["--endpoint-url", &sources.server.url(), "--tps", FAST_TPS]);
    let today = [before, day()];
    assert_eq!(api.first(), file.first());
    assert!(api.last().is_some_and(|(t, n, _)| today.contains(t) && *n == 0), "to today, empty: {:?}", api.last());
    assert_eq!(api.iter().map(|b| b.1).sum::<u64>(), file[0].1);
}

#[test]
fn buckets_are_aligned_in_the_zone() {
    let sb = Sandbox::new();
    // India is 5:30 ahead of UTC: its hours start at half past in UTC; its days at 18:30 UTC.
    for (bucket, suffix) in [("1h", ":00:00+05:30"), ("1d", "T00:00:00+05:30")] {
        let out = run_ok(sb.ctlookup().args([
            "--input",
            EXAMPLE,
            "--tz",
            "Asia/Kolkata",
            "--timeline",
            bucket,
            "-o",
            "jsonl",
        ]));
        let buckets = parsed_buckets(&String::from_utf8(out.stdout).unwrap());
        assert!(!buckets.is_empty());
        assert!(buckets.iter().all(|(t, _, _)| t.ends_with(suffix)), "{bucket}: {buckets:?}");
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 60, "every event of the example, once");
    }
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

#[test]
fn the_table_and_the_bar_chart_match_their_golden_files() {
    let sb = Sandbox::new();
    let cases: [(&str, &[&str]); 4] = [
        ("count-by.table", &["--count-by", "user,errorCode", "--color", "never"]),
        ("timeline.table", &["--timeline", "--color", "never"]),
        ("timeline.color.table", &["--timeline", "--color", "always"]),
        ("timeline-errors.table", &["--errors", "--timeline", "15m", "--color", "never"]),
    ];
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, args) in cases {
        let out = run_ok(
            sb.ctlookup()
                .env("COLUMNS", "80")
                .args(["--input", EXAMPLE, "--tz", "Asia/Tokyo", "-o", "table"])
                .args(args),
        );
        let got = out.stdout;
        let text = String::from_utf8(got.clone()).unwrap();
        let plain = ["\x1b[1m", "\x1b[31m", "\x1b[0m"].iter().fold(text.clone(), |t, code| t.replace(code, ""));
        assert!(plain.lines().all(|l| l.chars().count() <= 80), "{name} fits 80 columns:\n{plain}");
        let path = golden(name);
        if update {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want =
            std::fs::read(&path).unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", path.display()));
        assert!(got == want, "{name} differs from {}:\n{text}", path.display());
    }
}

#[test]
fn the_chart_without_colour_equals_the_coloured_one_without_its_codes() {
    let sb = Sandbox::new();
    let chart = |color: &str| {
        let out = run_ok(sb.ctlookup().env("COLUMNS", "100").args([
            "--input",
            EXAMPLE,
            "--timeline",
            "5m",
            "-o",
            "table",
            "--color",
            color,
        ]));
        String::from_utf8(out.stdout).unwrap()
    };
    let (plain, colored) = (chart("never"), chart("always"));
    assert!(!plain.contains('\x1b'));
    assert!(colored.contains("\x1b[31m"), "failed calls are red");
    assert_eq!(["\x1b[1m", "\x1b[31m", "\x1b[0m"].iter().fold(colored, |t, code| t.replace(code, "")), plain);
    assert!(plain.lines().all(|l| l.chars().count() <= 100));
    // The longest bar takes the width that is left.
    assert!(plain.lines().any(|l| l.chars().count() == 100), "{plain}");
}

#[test]
fn nothing_matched() {
    let sb = Sandbox::new();
    let run = |args: &[&str]| {
        let out = run_ok(sb.ctlookup().args(["--input", EXAMPLE, "--event-name", "NoSuchEvent"]).args(args));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(run(&["--count-by", "user", "-o", "jsonl"]), "");
    assert_eq!(run(&["--count-by", "user", "-o", "json"]), "[]\n");
    assert_eq!(run(&["--count-by", "user", "-o", "csv"]), "user,count,first,last\r\n");
    assert_eq!(run(&["--count-by", "user", "-o", "table"]), "");
    assert_eq!(run(&["--timeline", "-o", "csv"]), "time,count,errors\r\n");
    assert_eq!(run(&["--timeline", "-o", "table"]), "");
    // A window is shown even when nothing matched in it: three hours, the inclusive end opening none.
    let out =
        run(&["--since", "2024-07-22T00:00:00Z", "--until", "2024-07-22T03:00:00Z", "--timeline", "1h", "-o", "jsonl"]);
    assert_eq!(parsed_buckets(&out).iter().map(|b| b.1).collect::<Vec<_>>(), [0, 0, 0]);
}

#[test]
fn a_misspelt_field_is_warned_about() {
    let sb = Sandbox::new();
    let out = run_ok(sb.ctlookup().args(["--input", EXAMPLE, "--count-by", "errorcode", "-o", "jsonl"]));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("had the field errorcode (did you mean errorCode?)"), "{stderr}");
}

#[test]
fn bad_combinations_are_usage_errors() {
    let sb = Sandbox::new();
    for (args, expected) in [
        (vec!["--top", "3"], "--top applies to --count-by"),
        (vec!["--count-by", "user", "--top", "0"], "--top '0': expected a whole number of 1 or more"),
        (vec!["--count-by", "user", "--timeline"], "give one of them"),
        (vec!["--count-by", "user", "--jq", "."], "cannot be combined with --jq"),
        (vec!["--timeline", "--columns", "user", "-o", "csv"], "cannot be combined with --columns"),
        (vec!["--timeline", "2h"], "--timeline '2h': expected a bucket size, one of 1m, 5m, 15m, 1h, 6h, 1d"),
        (vec!["--count-by", "user,,errorCode"], "--count-by: empty column name at column 6: user, <-- HERE ,errorCode"),
        (vec!["--count-by", "count"], "'count' is a column of the answer itself"),
        (vec!["--count-by", "user,user"], "'user' is given twice"),
    ] {
        let out = sb.ctlookup().args(["--input", EXAMPLE]).args(&args).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected) && stderr.lines().count() == 1, "{args:?}: {stderr}");
    }
}

/// Runs ctlookup on `lines` (JSON Lines records) with `args`, in UTC, and returns the output.
fn run_on_lines(lines: &[&str], args: &[&str]) -> std::process::Output {
    let sb = Sandbox::new();
    let file = sb.path("records.jsonl");
    write(&file, &(lines.join("\n") + "\n"));
    sb.ctlookup().args(["--input", file.to_str().unwrap(), "--tz", "UTC"]).args(args).output().unwrap()
}

#[test]
fn quoted_field_names_work_in_count_by_and_columns_as_in_where() {
    let lines = [
        r#"{"eventTime":"2024-07-22T01:00:00Z","eventName":"PutObject","requestParameters":{"x-amz-acl":"public-read","a,b":1}}"#,
        r#"{"eventTime":"2024-07-22T02:00:00Z","eventName":"PutObject","requestParameters":{"x-amz-acl":"public-read"}}"#,
        r#"{"eventTime":"2024-07-22T03:00:00Z","eventName":"PutObject","requestParameters":{"x-amz-acl":"private"}}"#,
    ];
    let stdout = |args: &[&str]| {
        let out = run_on_lines(&lines, args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let acl = r#"requestParameters."x-amz-acl""#;
    let counted = stdout(&["--count-by", acl, "-o", "csv"]);
    assert_eq!(
        counted,
        format!(
            "\"{}\",count,first,last\r\npublic-read,2,2024-07-22 01:00:00,2024-07-22 02:00:00\r\n\
             private,1,2024-07-22 03:00:00,2024-07-22 03:00:00\r\n",
            acl.replace('"', "\"\"")
        )
    );
    // The same path in --where and --columns; a quoted name may hold the list's comma.
    let where_ = format!("{acl} = private");
    let columns = format!(r#"eventTime, {acl} ,requestParameters."a,b""#);
    assert_eq!(
        stdout(&["--where", &where_, "-o", "tsv", "--columns", &columns]),
        format!("eventTime\t{acl}\trequestParameters.\"a,b\"\n2024-07-22 03:00:00\tprivate\t\n")
    );
    assert_eq!(stdout(&["--count-by", r#"requestParameters."a,b""#, "-o", "jsonl"]).lines().count(), 2);
    // A misspelt quoted name is warned about with the real one, written as it is typed.
    let out = run_on_lines(&lines, &["--count-by", r#"requestParameters."x-amz-ac""#, "-o", "jsonl"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(r#"had the field requestParameters."x-amz-ac" (did you mean requestParameters."x-amz-acl"?)"#),
        "{stderr}"
    );
    // Unquoted, the name is refused as --where refuses it, pointing at the character.
    for option in ["--count-by", "--columns"] {
        let out = run_on_lines(&lines, &[option, "requestParameters.x-amz-acl", "-o", "csv"]);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(
            stderr,
            format!(
                "ctlookup: {option}: unexpected '-' in a field name: quote names with other characters, as in \
                 requestParameters.\"x-amz-acl\" at column 20: requestParameters.x <-- HERE -amz-acl\n"
            )
        );
    }
}

#[test]
fn numbers_group_by_value_and_sort_as_numbers() {
    let lines: Vec<String> = ["10", "9", "5", "100", "5.0", "2.5", "\"9\""]
        .iter()
        .enumerate()
        .map(|(i, n)| format!(r#"{{"eventTime":"2024-07-22T0{i}:00:00Z","requestParameters":{{"maxResults":{n}}}}}"#))
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = run_on_lines(&lines, &["--count-by", "requestParameters.maxResults", "-o", "jsonl"]);
    let keys: Vec<(Value, u64)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|r| (r["requestParameters.maxResults"].clone(), r["count"].as_u64().unwrap()))
        .collect();
    // 5 and 5.0 are one number (as jq's group_by has them), shown as the first event wrote it; equal
    // counts in the order of the numbers, then the strings.
    let want: Vec<(Value, u64)> = vec![
        (serde_json::json!(5), 2),
        (serde_json::json!(2.5), 1),
        (serde_json::json!(9), 1),
        (serde_json::json!(10), 1),
        (serde_json::json!(100), 1),
        (serde_json::json!("9"), 1),
    ];
    assert_eq!(keys, want);
}

#[test]
fn first_and_last_are_as_precise_as_the_record_wrote_them() {
    let lines = [
        r#"{"eventTime":"2024-07-22T01:00:00.125Z","eventName":"A"}"#,
        r#"{"eventTime":"2024-07-22T02:00:00Z","eventName":"A"}"#,
        r#"{"eventTime":"2024-07-22T00:30:00Z","eventName":"B"}"#,
    ];
    let out = run_on_lines(&lines, &["--count-by", "eventName", "-o", "jsonl"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        concat!(
            r#"{"eventName":"A","count":2,"first":"2024-07-22T01:00:00.125+00:00","last":"2024-07-22T02:00:00+00:00"}"#,
            "\n",
            r#"{"eventName":"B","count":1,"first":"2024-07-22T00:30:00+00:00","last":"2024-07-22T00:30:00+00:00"}"#,
            "\n"
        )
    );
    let out = run_on_lines(&lines, &["--count-by", "eventName", "-o", "csv"]);
    assert!(String::from_utf8(out.stdout).unwrap().contains("\r\nA,2,2024-07-22 01:00:00.125,2024-07-22 02:00:00\r\n"));
}

#[test]
fn top_says_what_it_takes() {
    let sb = Sandbox::new();
    for top in ["-1", "0", "1.5", "many"] {
        let out = sb.ctlookup().args(["--input", EXAMPLE, "--count-by", "user", "--top", top]).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "--top {top}: {stderr}");
        assert_eq!(stderr, format!("ctlookup: --top '{top}': expected a whole number of 1 or more\n"));
    }
}

#[test]
fn the_automatic_bucket_gives_at_most_60_buckets() {
    let sb = Sandbox::new();
    let buckets = |since: &str, until: &str| {
        let out = run_ok(sb.ctlookup().args([
            "--input",
            EXAMPLE,
            "--tz",
            "UTC",
            "--since",
            since,
            "--until",
            until,
            "--timeline",
            "-o",
            "jsonl",
        ]));
        let times: Vec<DateTime<Utc>> = parsed_buckets(&String::from_utf8(out.stdout).unwrap())
            .iter()
            .map(|(t, _, _)| DateTime::parse_from_rfc3339(t).unwrap().to_utc())
            .collect();
        let step = times.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(Duration::zero());
        (times.len(), step.num_minutes())
    };
    let at =
        |minutes: i64| rfc3339("2024-05-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minutes));
    let (hour, day) = (60, 24 * 60);
    // A window from one boundary to another: its inclusive end opens no bucket of its own.
    for (length, buckets_of, count) in [
        (10, 1, 10),
        (hour, 1, 60),
        (2 * hour, 5, 24),
        (5 * hour, 5, 60),
        (12 * hour, 15, 48),
        (15 * hour, 15, 60),
        (day, 60, 24),
        (day * 5 / 2, 60, 60),
        (7 * day, 360, 28),
        (15 * day, 360, 60),
        (30 * day, day, 30),
        (60 * day, day, 60),
        (90 * day, day, 90),
    ] {
        assert_eq!(buckets(&at(0), &at(length)), (count, buckets_of), "a window of {length} minutes");
    }
    // An hour that does not start on a minute touches 61 minutes: 5-minute buckets then.
    let late = |minutes: i64| at(minutes).replace(":00+00:00", ":30+00:00");
    assert_eq!(buckets(&late(0), &late(hour)), (13, 5));
    // An event at the very end of the window is counted in its own bucket.
    let out = run_ok(sb.ctlookup().args([
        "--input",
        EXAMPLE,
        "--tz",
        "UTC",
        "--since",
        "2024-07-22T08:00:00Z",
        "--until",
        "2024-07-22T09:00:00Z",
        "--timeline",
        "-o",
        "jsonl",
    ]));
    let rows = parsed_buckets(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(rows.last(), Some(&("2024-07-22T09:00:00+00:00".to_owned(), 1, 1)), "the event at 09:00:00");
    assert_eq!(rows.len(), 61);
}

/// Display columns of a line (a wide character counts two).
fn display_width(line: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(line)
}

/// The bar chart, the count-by table and the denied table, as a terminal `columns` wide shows them.
fn narrow_outputs(sb: &Sandbox, columns: usize) -> Vec<(String, String)> {
    let cases: [(&str, &[&str]); 3] = [
        ("timeline", &["--timeline"]),
        ("count-by", &["--count-by", "userIdentity.arn,errorCode"]),
        ("denied", &["denied"]),
    ];
    cases
        .iter()
        .map(|(name, args)| {
            let out = run_ok(
                sb.ctlookup()
                    .env("COLUMNS", columns.to_string())
                    .args(*args)
                    .args(["--input", EXAMPLE, "--tz", "UTC", "-o", "table", "--color", "never"]),
            );
            (format!("{name}.{columns}.table"), String::from_utf8(out.stdout).unwrap())
        })
        .collect()
}

#[test]
fn the_chart_and_the_tables_fit_40_80_and_120_columns() {
    let sb = Sandbox::new();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for columns in [40, 80, 120] {
        for (name, text) in narrow_outputs(&sb, columns) {
            assert!(text.lines().all(|l| display_width(l) <= columns), "{name} is wider than {columns}:\n{text}");
            let path = golden(&name);
            if update {
                std::fs::write(&path, &text).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", path.display()));
            assert!(text == want, "{name} differs from {}:\n{text}", path.display());
        }
    }
}

#[test]
fn nothing_is_wider_than_the_terminal() {
    let sb = Sandbox::new();
    for columns in [10, 20, 30, 40, 60, 80, 100, 120] {
        for (name, text) in narrow_outputs(&sb, columns) {
            assert!(text.lines().count() > 1, "{name}:\n{text}");
            for line in text.lines() {
                assert!(display_width(line) <= columns, "{name}: {} columns: {line:?}", display_width(line));
                assert!(!line.chars().any(char::is_control), "{name}: {line:?}");
            }
        }
    }
}

#[test]
fn a_narrow_terminal_keeps_what_names_the_thing() {
    let sb = Sandbox::new();
    let text = |columns: usize, name: &str| {
        narrow_outputs(&sb, columns).into_iter().find(|(n, _)| n.starts_with(name)).unwrap().1
    };
    // 80 columns: the action whole, the ARNs cut at their start so that the names stay.
    let denied = text(80, "denied");
    assert!(denied.contains("cloudtrail:LookupEvents"), "{denied}");
    assert!(denied.contains("user/alice ") && denied.contains("backup-tokyo "), "{denied}");
    assert!(denied.contains('…') && !denied.contains("arn:a…"), "{denied}");
    // The details make room, and stderr says so.
    assert_eq!(
        denied.lines().next(),
        Some("principal       action                   resource         reason           count")
    );
    let out = run_ok(sb.ctlookup().env("COLUMNS", "80").args(["denied", "--input", EXAMPLE, "-o", "table"]));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "ctlookup: the table leaves out first, last, eventID to fit 80 columns (other formats have every column)\n"
    );
    // The chart keeps a bar: the labels lose the date every bucket shares before the bar goes.
    let chart = text(40, "timeline");
    assert!(chart.lines().nth(1).unwrap().starts_with("07-22 07:55  "), "{chart}");
    assert!(chart.lines().skip(1).all(|l| l.contains('█') || l.ends_with(" 0")), "{chart}");
    assert_eq!(chart.lines().map(display_width).max(), Some(40), "the longest bar takes the width left");
}
