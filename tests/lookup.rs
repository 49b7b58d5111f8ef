//! Looking up events through the real AWS SDK against the fake CloudTrail server, as a user runs it.

use crate::common::*;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

fn time_of(record: &Value) -> DateTime<Utc> {
    record["eventTime"].as_str().unwrap().parse().unwrap()
}

#[test]
fn the_whole_history_comes_back_once_newest_first() {
    let sb = Sandbox::new();
    let records = records(120, 1, fixed_newest());
    let server = serve(&records);
    let out = run_ok(&mut sb.api(&server.url()));
    assert_eq!(jsonl_ids(&out.stdout), ids_where(&records, |_| true));
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "120 events are three pages of 50");
    assert!(requests.iter().all(|r| r.body["MaxResults"] == 50 && r.signed));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn jsonl_lines_are_the_cloudtrail_event_strings_unchanged() {
    let sb = Sandbox::new();
    let records = records(60, 2, fixed_newest());
    let server = serve(&records);
    let out = run_ok(sb.api(&server.url()).args(["-o", "jsonl"]));
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    let expected: Vec<String> =
        records.iter().map(|r| envelope(r)["CloudTrailEvent"].as_str().unwrap().to_owned()).collect();
    assert_eq!(lines, expected);
}

#[test]
fn time_windows_in_every_form() {
    let sb = Sandbox::new();
    let records = records(150, 3, fixed_newest());
    let server = serve(&records);
    let (start, end) = (time_of(&records[110]), time_of(&records[30]));
    let expected = ids_where(&records, |r| start <= time_of(r) && time_of(r) <= end);
    let tokyo = chrono_tz::Asia::Tokyo;
    let forms: Vec<(String, String, &str)> = vec![
        (start.to_rfc3339(), end.to_rfc3339(), "UTC"),
        (start.format("%Y-%m-%dT%H:%M:%SZ").to_string(), end.format("%Y-%m-%dT%H:%M:%SZ").to_string(), "UTC"),
        (start.with_timezone(&tokyo).to_rfc3339(), end.with_timezone(&tokyo).to_rfc3339(), "UTC"),
        (start.format("%Y-%m-%d %H:%M:%S").to_string(), end.format("%Y-%m-%d %H:%M:%S").to_string(), "UTC"),
        (
            start.with_timezone(&tokyo).format("%Y-%m-%dT%H:%M:%S").to_string(),
            end.with_timezone(&tokyo).format("%Y-%m-%d %H:%M:%S").to_string(),
            "Asia/Tokyo",
        ),
        (start.timestamp().to_string(), end.timestamp().to_string(), "UTC"),
    ];
    for (since, until, tz) in forms {
        let out = run_ok(sb.api(&server.url()).args(["--since", &since, "--until", &until, "--tz", tz]));
        assert_eq!(jsonl_ids(&out.stdout), expected, "--since {since} --until {until} --tz {tz}");
    }
    // Whole minutes and whole days.
    let minute = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    let out = run_ok(sb.api(&server.url()).args(["--start-time", &minute(start), "--end-time", &minute(end)]));
    let (s, e) = (minute(start).parse_utc(), minute(end).parse_utc());
    assert_eq!(jsonl_ids(&out.stdout), ids_where(&records, |r| s <= time_of(r) && time_of(r) <= e));
    let day = time_of(&records[75]).date_naive();
    let out = run_ok(sb.api(&server.url()).args(["--since", &day.to_string()]));
    let midnight = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
    assert_eq!(jsonl_ids(&out.stdout), ids_where(&records, |r| midnight <= time_of(r)));
    // The request carries the window: times go to the API, not only to the local filter.
    let last = server.requests().pop().unwrap();
    assert_eq!(last.body["StartTime"].as_f64(), Some(midnight.timestamp() as f64));
}

trait ParseUtc {
    fn parse_utc(&self) -> DateTime<Utc>;
}

impl ParseUtc for String {
    fn parse_utc(&self) -> DateTime<Utc> {
        chrono::NaiveDateTime::parse_from_str(self, "%Y-%m-%d %H:%M").unwrap().and_utc()
    }
}

#[test]
fn durations_and_now_count_back_from_the_present() {
    let sb = Sandbox::new();
    let records = records(100, 4, Utc::now() - Duration::seconds(30));
    let server = serve(&records);
    for (since, span) in [("2h", Duration::hours(2)), ("90m", Duration::minutes(90)), ("1d", Duration::days(1))] {
        let before = Utc::now();
        let out = run_ok(sb.api(&server.url()).args(["--since", since, "--until", "now"]));
        let after = Utc::now();
        let got = jsonl_ids(&out.stdout);
        let expect_at = |now: DateTime<Utc>| ids_where(&records, |r| now - span <= time_of(r));
        assert!(got == expect_at(before) || got == expect_at(after), "--since {since}");
        assert!(
            !got.is_empty() && got.len() < records.len() || since == "1d",
            "--since {since} should cut the history"
        );
    }
}

#[test]
fn event_name_is_sent_to_the_api() {
    let sb = Sandbox::new();
    let records = records(200, 5, fixed_newest());
    let server = serve(&records);
    let out = run_ok(sb.api(&server.url()).args(["--event-name", "ConsoleLogin"]));
    let expected = ids_where(&records, |r| r["eventName"] == "ConsoleLogin");
    assert!(!expected.is_empty());
    assert_eq!(jsonl_ids(&out.stdout), expected);
    let sent = sent_attributes(&server);
    assert!(sent.iter().all(|a| a == &Some(("EventName".to_owned(), "ConsoleLogin".to_owned()))), "{sent:?}");
    assert_eq!(sent.len(), 1, "the matches fit in one page");
}

#[test]
fn two_shorthands_are_an_and_with_the_most_selective_pushed() {
    let sb = Sandbox::new();
    let records = records(300, 6, fixed_newest());
    let server = serve(&records);
    let out = run_ok(sb.api(&server.url()).args(["--event-source", "ec2.amazonaws.com", "--username", "alice", "-v"]));
    let expected = ids_where(&records, |r| {
        envelope(r)["EventSource"] == "ec2.amazonaws.com" && envelope(r)["Username"] == "alice"
    });
    assert!(!expected.is_empty(), "the sample has ec2 calls by alice");
    assert_eq!(jsonl_ids(&out.stdout), expected);
    assert!(sent_attributes(&server).iter().all(|a| a == &Some(("Username".to_owned(), "alice".to_owned()))));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("plan: API lookup Username=alice; tested locally: "), "{stderr}");

    // Several values of one shorthand are an OR.
    let out = run_ok(sb.api(&server.url()).args(["--username", "alice", "--username", "bob"]));
    let either = ids_where(&records, |r| ["alice", "bob"].iter().any(|u| envelope(r)["Username"] == *u));
    assert_eq!(jsonl_ids(&out.stdout), either);
}

#[test]
fn max_items_stops_after_one_request_and_the_token_resumes() {
    let sb = Sandbox::new();
    let records = records(120, 7, fixed_newest());
    let server = serve(&records);
    let all = ids_where(&records, |_| true);
    let out = run_ok(sb.api(&server.url()).args(["--max-items", "7"]));
    assert_eq!(jsonl_ids(&out.stdout), all[..7]);
    assert_eq!(server.requests().len(), 1);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let token = stderr.split("--starting-token ").nth(1).expect("a resume token on stderr").trim();
    let rest = run_ok(sb.api(&server.url()).args(["--starting-token", token]));
    assert_eq!(jsonl_ids(&rest.stdout), all[7..]);

    // In -o json the token is in the document, where the aws CLI puts it.
    let out = run_ok(sb.api(&server.url()).args(["--max-items", "60", "-o", "json"]));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["Events"].as_array().unwrap().len(), 60);
    let token = doc["NextToken"].as_str().expect("NextToken in the document");
    let rest = run_ok(sb.api(&server.url()).args(["--starting-token", token]));
    assert_eq!(jsonl_ids(&rest.stdout), all[60..]);
}

#[test]
fn json_output_is_what_the_aws_cli_prints() {
    let sb = Sandbox::new();
    let records = records(70, 8, fixed_newest());
    let server = serve(&records);
    let out = run_ok(sb.api(&server.url()).args(["-o", "json", "--tz", "UTC"]));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let events = doc["Events"].as_array().unwrap();
    assert_eq!(events.len(), records.len());
    for (got, record) in events.iter().zip(&records) {
        let want = fake_cloudtrail::generate::aws_cli_event(record);
        assert_eq!(got, &want);
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(got), keys(&want), "fields in the aws CLI's order");
    }
    assert!(doc.get("NextToken").is_none());
    assert!(std::str::from_utf8(&out.stdout).unwrap().starts_with("{\n    \"Events\": [\n        {\n"));

    // Times in another zone keep the instant.
    let out = run_ok(sb.api(&server.url()).args(["-o", "json", "--tz", "Asia/Tokyo", "--max-items", "1"]));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let shown = doc["Events"][0]["EventTime"].as_str().unwrap();
    assert!(shown.ends_with("+09:00"), "{shown}");
    assert_eq!(DateTime::parse_from_rfc3339(shown).unwrap(), time_of(&records[0]));

    // Nothing matched is still a document.
    let out = run_ok(sb.api(&server.url()).args(["-o", "json", "--event-id", "no-such-id"]));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "{\n    \"Events\": []\n}\n");
}

/// The real aws CLI against the same server, where it is installed: both documents list the same events.
#[test]
fn json_output_matches_the_real_aws_cli_when_installed() {
    let Ok(aws) = which("aws") else {
        eprintln!("aws CLI not installed; comparison skipped");
        return;
    };
    let sb = Sandbox::new();
    let records = records(60, 9, fixed_newest());
    let server = serve(&records);
    let theirs = std::process::Command::new(aws)
        .args([
            "cloudtrail",
            "lookup-events",
            "--endpoint-url",
            &server.url(),
            "--output",
            "json",
            "--region",
            "us-east-1",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sb.home.path())
        .env("AWS_ACCESS_KEY_ID", "AKIDTESTEXAMPLE00000")
        .env("AWS_SECRET_ACCESS_KEY", "test/secret/key")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(theirs.status.success(), "aws: {}", String::from_utf8_lossy(&theirs.stderr));
    let ours = run_ok(sb.api(&server.url()).args(["-o", "json", "--tz", "UTC"]));
    let normalize = |doc: Value| -> Vec<Value> {
        doc["Events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let mut e = e.clone();
                // aws CLI v2 prints ISO 8601, v1 epoch seconds.
                let t = match &e["EventTime"] {
                    Value::String(s) => DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc),
                    Value::Number(n) => DateTime::from_timestamp(n.as_f64().unwrap() as i64, 0).unwrap(),
                    other => panic!("EventTime {other}"),
                };
                e["EventTime"] = Value::String(t.to_rfc3339());
                e
            })
            .collect()
    };
    let theirs = normalize(serde_json::from_slice(&theirs.stdout).unwrap());
    let ours = normalize(serde_json::from_slice(&ours.stdout).unwrap());
    assert_eq!(ours, theirs);
    assert!(
        server.requests().iter().any(|r| r.target.starts_with("com.amazonaws.cloudtrail")),
        "botocore's target form"
    );
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file()).ok_or(())
}

#[test]
fn insight_events_are_asked_for_by_category() {
    let sb = Sandbox::new();
    let options =
        fake_cloudtrail::generate::GenOptions { seed: 10, count: 12, newest: fixed_newest(), max_gap_secs: 900 };
    let insights: Vec<Value> = fake_cloudtrail::generate::insight_records(&options).collect();
    let mut all = records(80, 10, fixed_newest());
    all.extend(insights.iter().cloned());
    all.sort_by_key(|r| std::cmp::Reverse(time_of(r)));
    let server = serve(&all);
    let out = run_ok(sb.api(&server.url()).args(["--event-category", "insight", "-o", "json"]));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<&str> = doc["Events"].as_array().unwrap().iter().map(|e| e["EventId"].as_str().unwrap()).collect();
    assert_eq!(got, ids_where(&all, |r| r["eventCategory"] == "Insight"));
    assert_eq!(got.len(), insights.len());
    assert!(server.requests().iter().all(|r| r.body["EventCategory"] == "insight"));
    // Without the category, the management events only.
    let out = run_ok(&mut sb.api(&server.url()));
    assert_eq!(jsonl_ids(&out.stdout).len(), 80);
}

#[test]
fn a_closed_stdout_is_quiet() {
    use std::io::{BufRead, BufReader};
    let sb = Sandbox::new();
    let records = records(400, 11, fixed_newest());
    let server = serve(&records);
    let mut running = Running::start_unread(sb.std_ctlookup().args(["--endpoint-url", &server.url()]));
    // The reader is dropped once it has read a line, like `head -1` exiting.
    let first = running.read_stdout(|stdout| {
        let mut first = String::new();
        BufReader::new(stdout).read_line(&mut first).unwrap();
        first
    });
    let out = running.finish();
    assert!(first.starts_with('{'));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
