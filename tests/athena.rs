//! `--athena` and `ctlookup athena table`, through the built binary against the fake Athena endpoint of
//! the fake server, which runs each query on DuckDB (tests/athena/duckdb_run.py, in target/venv from
//! scripts/python-env.sh): the same events as `--input` over the same records, Athena's failures in one
//! line, LIMIT only when the SQL decides alone, and the query stopped on SIGTERM.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fake_cloudtrail::athena::AthenaBackend;
use fake_cloudtrail::server::FakeCloudTrail;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde_json::Value;

use crate::common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The python of target/venv, made by scripts/python-env.sh if missing.
fn python() -> PathBuf {
    let out = std::process::Command::new("bash").arg(format!("{ROOT}/scripts/python-env.sh")).output().unwrap();
    assert!(out.status.success(), "scripts/python-env.sh failed:\n{}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Records, a sandbox with them as JSON Lines, and a fake server whose Athena table holds them.
struct Fixture {
    sb: Sandbox,
    server: FakeCloudTrail,
    records: Vec<Value>,
    jsonl: PathBuf,
}

fn fixture(count: usize, seed: u64, running_for: Duration, page_size: usize) -> Fixture {
    fixture_at(records(count, seed, fixed_newest()), running_for, page_size)
}

fn fixture_at(records: Vec<Value>, running_for: Duration, page_size: usize) -> Fixture {
    let sb = Sandbox::new();
    let jsonl = sb.path("records.jsonl");
    let lines: Vec<String> = records.iter().map(Value::to_string).collect();
    write(&jsonl, &(lines.join("\n") + "\n"));
    let out = run_ok(sb.ctlookup().args(["athena", "table", "--bucket", "s3://trail-bucket"]));
    let ddl = sb.path("table.sql");
    std::fs::write(&ddl, &out.stdout).unwrap();
    let server = FakeCloudTrail::start(Vec::new());
    server.set_athena(AthenaBackend {
        python: python(),
        script: PathBuf::from(format!("{ROOT}/tests/athena/duckdb_run.py")),
        ddl,
        records: jsonl.clone(),
        running_for,
        page_size,
    });
    Fixture { sb, server, records, jsonl }
}

impl Fixture {
    fn athena(&self) -> assert_cmd::Command {
        let mut cmd = self.sb.ctlookup();
        cmd.args(["--endpoint-url", &self.server.url(), "--athena", "cloudtrail_logs"]);
        cmd
    }

    /// The same answer from `--input` and from `--athena` with `args`, printed as `output` and compared
    /// as `seen` gives it; the query Athena ran, what `-v` said, and how many lines were printed.
    fn same_answer(&self, args: &[&str], output: &str, seen: impl Fn(&[u8]) -> Vec<String>) -> (String, String, usize) {
        let from_files = run_ok(self.sb.ctlookup().arg("--input").arg(&self.jsonl).args(args).args(["-o", output]));
        let from_athena = run_ok(self.athena().args(args).args(["-o", output, "-v"]));
        assert_eq!(seen(&from_athena.stdout), seen(&from_files.stdout), "{args:?}");
        assert!(!from_files.stdout.is_empty());
        let lines = String::from_utf8_lossy(&from_files.stdout).lines().count();
        (self.queries().pop().unwrap(), String::from_utf8_lossy(&from_athena.stderr).into_owned(), lines)
    }

    fn queries(&self) -> Vec<String> {
        self.server
            .athena_requests()
            .iter()
            .filter(|r| r.operation == "StartQueryExecution")
            .map(|r| r.body["QueryString"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// The value with its null members left out, as the table gives it back.
fn without_nulls(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(o) => {
            Some(Value::Object(o.iter().filter_map(|(k, v)| without_nulls(v).map(|v| (k.clone(), v))).collect()))
        }
        Value::Array(a) => Some(Value::Array(a.iter().filter_map(without_nulls).collect())),
        other => Some(other.clone()),
    }
}

#[test]
fn sql_prunes_by_day_and_pushes_every_predicate() {
    let sb = Sandbox::new();
    let out = run_ok(sb.ctlookup().args([
        "--athena",
        "t",
        "--sql",
        "--since",
        "3d",
        "--username",
        "alice",
        "--errors",
        "-v",
    ]));
    let sql = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(sql.starts_with("SELECT eventversion, json_format(CAST(useridentity AS JSON)) AS useridentity,"), "{sql}");
    let condition = sql.split("\nWHERE ").nth(1).unwrap();
    assert!(condition.starts_with("\"timestamp\" >= '"), "{sql}");
    assert!(condition.contains("AND from_iso8601_timestamp(eventtime) >= from_iso8601_timestamp('"), "{sql}");
    assert!(condition.contains("THEN 'root'"), "{sql}");
    assert!(condition.contains("= 'alice')"), "{sql}");
    assert!(condition.contains("(errorcode IS NOT NULL);"), "{sql}");
    assert!(sql.contains("\n-- CREATE EXTERNAL TABLE t(\n"), "the table it assumes: {sql}");
    assert!(stderr.contains("pushed into the SQL: Username = \"alice\"; errorCode exists; tested locally only: none"));
    // Nothing was sent: no credentials, no endpoint were needed.

    // A window relative to now decides alone too: the count and the limit are Athena's.
    for (answer, says) in [("--count-by", "GROUP BY"), ("--max-items", "LIMIT 5")] {
        let value = if answer == "--count-by" { "eventName" } else { "5" };
        let out = run_ok(sb.ctlookup().args(["--athena", "t", "--sql", "--since", "3d", "--errors", answer, value]));
        let sql = String::from_utf8(out.stdout).unwrap();
        assert!(sql.contains(says), "{answer}: {sql}");
    }
}

#[test]
fn the_table_statement_is_printed_and_created_with_run() {
    let f = fixture(5, 1, Duration::ZERO, 1000);
    let out = run_ok(f.sb.ctlookup().args([
        "athena",
        "table",
        "--bucket",
        "s3://trail-bucket/prefix",
        "--org",
        "o-a1b2c3d4e5",
        "--database",
        "audit",
        "--regions",
        "us-east-1,eu-west-1",
        "--from",
        "2024/01/02",
    ]));
    let ddl = String::from_utf8(out.stdout).unwrap();
    assert!(ddl.starts_with("CREATE EXTERNAL TABLE audit.cloudtrail_logs(\n"), "{ddl}");
    assert!(ddl.contains("'storage.location.template'='s3://trail-bucket/prefix/AWSLogs/o-a1b2c3d4e5/${account}/CloudTrail/${region}/${timestamp}'"));
    assert!(ddl.contains("'projection.region.values'='us-east-1,eu-west-1'"));
    assert!(ddl.contains("'projection.timestamp.range'='2024/01/02,NOW'"));

    // Options before the subcommand, as with the aws CLI.
    let out = run_ok(f.sb.ctlookup().args([
        "--endpoint-url",
        &f.server.url(),
        "athena",
        "table",
        "--bucket",
        "s3://trail-bucket",
        "--run",
        "--athena-output",
        "s3://results/",
    ]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("created the Athena table cloudtrail_logs"));
    assert!(out.stdout.is_empty());
    let start = f.server.athena_requests().into_iter().find(|r| r.operation == "StartQueryExecution").unwrap();
    assert!(start.body["QueryString"].as_str().unwrap().starts_with("CREATE EXTERNAL TABLE cloudtrail_logs("));
    assert_eq!(start.body["ResultConfiguration"]["OutputLocation"], "s3://results/");

    let bad = run_code(f.sb.ctlookup().args(["athena", "table", "--bucket", "trail-bucket"]), 2);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected s3://BUCKET"));
}

#[test]
fn athena_gives_the_events_input_gives_on_random_expressions() {
    // Pages of 40 rows: every result of more than 39 events is read over several pages.
    let f = fixture(240, 27, Duration::ZERO, 40);
    let mut runner = TestRunner::new(Config { rng_seed: RngSeed::Fixed(27), ..Config::default() });
    let windows: [&[&str]; 3] = [
        &[],
        &["--since", "2024-07-21T20:00:00Z", "--until", "2024-07-22T06:30:00Z"],
        &["--since", "2024-07-22T03:00:00Z"],
    ];
    let mut nonempty = 0;
    for case in 0..24 {
        let expr = crate::query::expression().new_tree(&mut runner).unwrap().current();
        let window = windows[case % windows.len()];
        let from_files = run_ok(f.sb.ctlookup().arg("--input").arg(&f.jsonl).args(["--where", &expr]).args(window));
        let from_athena = run_ok(f.athena().args(["--where", &expr]).args(window));
        let expected = sorted(jsonl_ids(&from_files.stdout));
        assert_eq!(sorted(jsonl_ids(&from_athena.stdout)), expected, "--where {expr} {window:?}");
        nonempty += usize::from(!expected.is_empty());
        // The rebuilt records hold what the originals hold, under the same keys.
        for line in String::from_utf8_lossy(&from_athena.stdout).lines() {
            let rebuilt: Value = serde_json::from_str(line).unwrap();
            let id = rebuilt["eventID"].as_str().unwrap();
            let original = f.records.iter().find(|r| r["eventID"] == id).unwrap();
            for (key, value) in rebuilt.as_object().unwrap() {
                assert_eq!(Some(value.clone()), without_nulls(&original[key]), "{key} of {id}");
            }
            for (key, value) in original.as_object().unwrap() {
                if !rebuilt.as_object().unwrap().contains_key(key) {
                    assert!(value.is_null() || key == "managementEvent", "{key} of {id} is missing");
                }
            }
        }
    }
    assert!(nonempty >= 8, "too few expressions matched anything: {nonempty}");
    let pages = f.server.athena_requests().iter().filter(|r| r.operation == "GetQueryResults").count();
    assert!(pages > 24, "several pages per query: {pages}");
}

#[test]
fn accounts_and_regions_read_only_their_partitions() {
    use fake_cloudtrail::generate::MAIN_ACCOUNT;
    let f = fixture(150, 8, Duration::ZERO, 1000);
    let out = run_ok(f.athena().args(["--account", MAIN_ACCOUNT, "--region", "us-east-1,us-west-2", "-v"]));
    let expected = ids_where(&f.records, |r| {
        r["recipientAccountId"] == MAIN_ACCOUNT
            && ["us-east-1", "us-west-2"].contains(&r["awsRegion"].as_str().unwrap())
    });
    assert!(!expected.is_empty());
    assert_eq!(sorted(jsonl_ids(&out.stdout)), sorted(expected));
    let query = &f.queries()[0];
    assert!(query.contains(&format!("WHERE account IN ('{MAIN_ACCOUNT}')\n  AND region IN ('us-east-1', 'us-west-2')")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(": SUCCEEDED · "), "{stderr}");
    assert!(stderr.contains(" scanned · $0.0001"), "{stderr}");

    let listed = run_ok(f.athena().args(["--accounts", MAIN_ACCOUNT, "--region", "us-east-1,us-west-2"]));
    assert_eq!(listed.stdout, out.stdout, "--accounts selects the partition as --account does");
    let bad = run_code(f.athena().args(["--account", "12345"]), 2);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("12-digit"));
    let bad = run_code(f.sb.ctlookup().args(["--input", "x.json", "--account", MAIN_ACCOUNT]), 2);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--account applies to --athena"));
}

#[test]
fn a_failed_query_says_athenas_reason_in_one_line() {
    let f = fixture(5, 2, Duration::ZERO, 1000);
    f.server.set_athena_failure(Some("SYNTAX_ERROR: line 3:7: Column 'eventtime' cannot be resolved"));
    let out = run_code(f.athena().args(["--event-name", "ConsoleLogin"]), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "ctlookup: the Athena query failed: SYNTAX_ERROR: line 3:7: Column 'eventtime' cannot be resolved\n"
    );
    assert!(out.stdout.is_empty());

    // A query the engine itself refuses: a table that does not exist.
    f.server.set_athena_failure(None);
    let out = run_code(f.sb.ctlookup().args(["--endpoint-url", &f.server.url(), "--athena", "no_such_table"]), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("ctlookup: the Athena query failed: ") && stderr.contains("no_such_table"), "{stderr}");
}

#[test]
fn max_items_adds_a_limit_only_when_the_sql_decides_alone() {
    let f = fixture(120, 3, Duration::ZERO, 1000);
    let out = run_ok(f.athena().args(["--max-items", "5", "--where", "readOnly = true"]));
    let ids = jsonl_ids(&out.stdout);
    assert_eq!(ids.len(), 5);
    // The newest five read-only events (the records are newest first).
    let newest: Vec<String> = ids_where(&f.records, |r| r["readOnly"] == true).into_iter().take(5).collect();
    assert_eq!(sorted(ids), sorted(newest));
    let queries = f.queries();
    assert!(queries[0].ends_with("\nORDER BY eventtime DESC\nLIMIT 5"), "{}", queries[0]);

    // managementEvent is no column of the table: tested locally, so no LIMIT (it could cut matches).
    let out = run_ok(f.athena().args(["--max-items", "5", "--where", "readOnly = true or managementEvent = false"]));
    assert_eq!(jsonl_ids(&out.stdout).len(), 5);
    let queries = f.queries();
    assert!(!queries[1].contains("LIMIT"), "{}", queries[1]);
}

#[test]
fn throttled_calls_are_retried() {
    let f = fixture(60, 6, Duration::from_millis(300), 10);
    f.server.set_athena_throttle_every(Some(2));
    let expected = sorted(ids_where(&f.records, |r| r["readOnly"] == false));
    let out = run_ok(f.athena().args(["--where", "readOnly = false", "--retries", "3"]));
    assert_eq!(sorted(jsonl_ids(&out.stdout)), expected);
    let requests = f.server.athena_requests();
    assert!(requests.iter().filter(|r| r.status == 400).count() >= 3, "{requests:?}");
    assert_eq!(requests.iter().filter(|r| r.operation == "StartQueryExecution" && r.status == 200).count(), 1);
}

#[test]
fn counts_are_grouped_by_athena_when_the_sql_decides_alone_and_locally_otherwise() {
    let f = fixture(120, 4, Duration::ZERO, 7);
    let lines = |out: &[u8]| {
        let mut lines: Vec<String> = String::from_utf8_lossy(out).lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    for (args, grouped) in [
        (&["--count-by", "eventName,errorCode", "--where", "readOnly = false"][..], true),
        (&["--count-by", "userIdentity.sessionContext.sessionIssuer.userName,awsRegion"][..], true),
        // A local-only predicate, a field that is no text column, --max-items: counted locally.
        (&["--count-by", "eventName", "--where", "eventName =~ \"(?i)^(list|get)\""][..], false),
        (&["--count-by", "readOnly"][..], false),
        (&["--count-by", "eventName", "--max-items", "30"][..], false),
    ] {
        let (query, stderr, _) = f.same_answer(args, "jsonl", lines);
        assert_eq!(query.contains("\nGROUP BY "), grouped, "{args:?}: {query}");
        assert_eq!(stderr.contains("counted by Athena (GROUP BY)"), grouped, "{stderr}");
    }
}

#[test]
fn sigterm_stops_the_running_query() {
    let f = fixture(5, 5, Duration::from_secs(60), 1000);
    let mut child =
        f.sb.std_ctlookup()
            .args(["--endpoint-url", &f.server.url(), "--athena", "cloudtrail_logs"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f.server.athena_requests().iter().any(|r| r.operation == "GetQueryExecution") {
        assert!(Instant::now() < deadline, "no GetQueryExecution");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(_status) = child.try_wait().unwrap() {
                break child.wait_with_output().unwrap();
            }
            assert!(Instant::now() < deadline, "still running after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(out.status.code(), Some(143), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("terminated (SIGTERM); the Athena query"), "{stderr}");
    assert!(stderr.contains("was stopped"), "{stderr}");
    let stop = f.server.athena_requests().into_iter().find(|r| r.operation == "StopQueryExecution");
    assert!(stop.is_some_and(|r| r.status == 200));
}

#[test]
fn timelines_are_counted_by_athena_in_the_zone_asked_for_and_equal_the_local_ones() {
    // A day and a half around the end of daylight saving time in New York (01:00 twice on 3 November).
    let f = fixture_at(records(400, 6, "2024-11-03T20:00:00Z".parse().unwrap()), Duration::ZERO, 50);
    let window = ["--since", "2024-11-02T12:00:00Z", "--until", "2024-11-03T18:00:00Z"];
    for (args, grouped) in [
        (&["--timeline", "1h", "--tz", "America/New_York"][..], true),
        (&["--timeline", "15m", "--tz", "Asia/Kolkata", "--errors"][..], true),
        (&["--timeline", "6h", "--tz", "America/New_York", "--where", "readOnly = false"][..], true),
        (&["--timeline", "1d", "--tz", "America/New_York", "--since", "2024-11-01", "--until", "2024-11-04"][..], true),
        (
            &["--timeline", "5m", "--tz", "UTC", "--since", "2024-11-03T05:00:00Z", "--until", "2024-11-03T07:10:00Z"]
                [..],
            true,
        ),
        (
            &[
                "--timeline",
                "1m",
                "--tz",
                "Asia/Tokyo",
                "--since",
                "2024-11-03T05:50:00Z",
                "--until",
                "2024-11-03T06:10:00Z",
            ][..],
            true,
        ),
        // The size chosen from the window (here 15 minutes).
        (
            &[
                "--timeline",
                "auto",
                "--tz",
                "Europe/Paris",
                "--since",
                "2024-11-03T00:00:00Z",
                "--until",
                "2024-11-03T12:00:00Z",
            ][..],
            true,
        ),
        // A predicate the SQL cannot decide, the machine's zone, --max-items: counted locally.
        (&["--timeline", "1h", "--tz", "America/New_York", "--where", "eventName =~ \"(?i)^(list|get)\""][..], false),
        (&["--timeline", "1h", "--tz", "local"][..], false),
        (&["--timeline", "1h", "--tz", "America/New_York", "--max-items", "50"][..], false),
    ] {
        // The default window unless the case gives one.
        let window = if args.contains(&"--since") { &[][..] } else { &window[..] };
        let args: Vec<&str> = window.iter().chain(args).copied().collect();
        // Compared as printed: the buckets come in time order.
        let (query, stderr, rows) = f.same_answer(&args, "csv", |out| vec![String::from_utf8_lossy(out).into_owned()]);
        assert!(rows > 3, "{args:?}: {rows} rows");
        assert_eq!(query.contains("\nGROUP BY 1, 2"), grouped, "{args:?}: {query}");
        assert_eq!(stderr.contains("--timeline counted by Athena (GROUP BY)"), grouped, "{stderr}");
    }
}

#[test]
fn sql_shows_the_timeline_group_by() {
    let sb = Sandbox::new();
    let args = "--athena t --sql --since 2024-11-01 --until 2024-11-02 --tz Asia/Tokyo --timeline 15m --errors";
    let out = run_ok(sb.ctlookup().args(args.split(' ')));
    let sql = String::from_utf8(out.stdout).unwrap();
    assert!(
        sql.starts_with("SELECT clock - clock % 900 AS bucket, clock - utc AS utc_offset, count(*) AS events"),
        "{sql}"
    );
    assert!(sql.contains("AT TIME ZONE 'Asia/Tokyo' AS TIMESTAMP)) AS clock"), "{sql}");
    assert!(sql.contains("WHERE \"timestamp\" BETWEEN '2024/10/31' AND '2024/11/01'"), "{sql}");
    assert!(sql.contains("AND errorcode IS NOT NULL) AS timed\nGROUP BY 1, 2;"), "{sql}");
}
