//! The local event store, through the fake server's request log: a second question over a stored
//! window sends no request and prints what a run without the store prints; a wider window fetches
//! only the gap; late events, same-second pages and runs stopped part-way are never lost or doubled;
//! several processes at once; accounts kept apart; --offline; damaged files; the store commands.

use std::time::Duration;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::Value;

use super::common::*;

const WINDOW: [&str; 4] = ["--start-time", "2024-07-21T00:00:00Z", "--end-time", "2024-07-22T09:00:00Z"];

/// LookupEvents requests the server has answered so far (STS calls are counted apart).
fn sent(server: &fake_cloudtrail::server::FakeCloudTrail) -> usize {
    server.requests().len()
}

fn base(url: &str) -> Vec<String> {
    ["--endpoint-url", url, "--tps", "1000"].iter().map(|s| s.to_string()).collect()
}

/// The request's StartTime or EndTime, epoch seconds.
fn time_of(body: &Value, field: &str) -> Option<i64> {
    body.get(field).and_then(Value::as_f64).map(|t| t as i64)
}

fn epoch(text: &str) -> i64 {
    text.parse::<DateTime<Utc>>().unwrap().timestamp()
}

#[test]
fn a_second_question_over_a_stored_window_sends_no_request_and_prints_what_the_api_would() {
    let sb = Sandbox::new();
    let records = records(300, 11, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    let mut before = sent(&server);
    assert!(before >= 3, "the first run fetched the window");
    let questions: [&[&str]; 5] = [
        &["--errors"],
        &["--event-name", "ConsoleLogin"],
        &["--username", "alice", "-o", "csv"],
        &["--where", "sourceIPAddress in (203.0.113.0/24) or readOnly = false", "-o", "json"],
        &["--max-items", "7"],
    ];
    for question in questions {
        let stored = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW).args(question));
        assert_eq!(sent(&server), before, "{question:?} is answered from the store");
        let direct = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW).args(question).arg("--no-store"));
        assert!(sent(&server) > before, "--no-store asks the API");
        before = sent(&server);
        assert_eq!(String::from_utf8_lossy(&stored.stdout), String::from_utf8_lossy(&direct.stdout), "{question:?}");
    }
    let out = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW).args(["--errors", "-v"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("store: 300 events from the store, 0 from the API (0 requests)"), "{stderr}");
    assert_eq!(sent(&server), before);
}

#[test]
fn a_wider_window_fetches_only_the_gap() {
    let sb = Sandbox::new();
    let records = records(300, 12, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    run_ok(sb.ctlookup().args(base(&url)).args([
        "--start-time",
        "2024-07-22T00:00:00Z",
        "--end-time",
        "2024-07-22T09:00:00Z",
    ]));
    let before = sent(&server);
    let wider = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    let gap = &server.requests()[before..];
    assert!(!gap.is_empty());
    for request in gap {
        assert_eq!(time_of(&request.body, "StartTime"), Some(epoch("2024-07-21T00:00:00Z")));
        assert_eq!(time_of(&request.body, "EndTime"), Some(epoch("2024-07-21T23:59:59Z")), "only the gap");
    }
    let direct = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW).arg("--no-store"));
    assert_eq!(jsonl_ids(&wider.stdout), jsonl_ids(&direct.stdout));
    assert!(!jsonl_ids(&wider.stdout).is_empty());
}

#[test]
fn an_event_delivered_late_is_found_by_the_next_run() {
    let sb = Sandbox::new();
    let now = Utc::now();
    let records = records(100, 13, now - chrono::Duration::minutes(40));
    let server = serve(&records);
    let url = server.url();
    run_ok(sb.ctlookup().args(base(&url)).args(["--since", "2d"]));
    // Delivered after that run, 5 and 12 minutes old: inside the newest 15 minutes it never claimed.
    let late: Vec<Value> = [5, 12]
        .iter()
        .enumerate()
        .map(|(i, minutes)| {
            fake_cloudtrail::generate::records(&fake_cloudtrail::generate::GenOptions {
                seed: 500 + i as u64,
                count: 1,
                newest: now - chrono::Duration::minutes(*minutes),
                max_gap_secs: 1,
            })
            .next()
            .unwrap()
        })
        .collect();
    server.add_events(late.iter().map(envelope).collect());
    let out = run_ok(sb.ctlookup().args(base(&url)).args(["--since", "2d"]));
    let ids = jsonl_ids(&out.stdout);
    for event in &late {
        assert_eq!(ids.iter().filter(|id| **id == event_id(event)).count(), 1, "the late event, once");
    }
    let direct = run_ok(sb.ctlookup().args(base(&url)).args(["--since", "2d", "--no-store"]));
    assert_eq!(ids, jsonl_ids(&direct.stdout));
}

#[test]
fn events_of_one_second_across_pages_after_runs_stopped_part_way_are_each_printed_once() {
    let sb = Sandbox::new();
    let mut records = records(130, 14, fixed_newest());
    // 80 events of one second: the end of page 1, all of page 2.
    let second = records[20]["eventTime"].clone();
    for record in &mut records[20..100] {
        record["eventTime"] = second.clone();
    }
    let server = serve(&records);
    let url = server.url();
    let all: Vec<String> = records.iter().map(event_id).collect();
    let out = run_ok(sb.ctlookup().args(base(&url)).args(["--max-items", "25"]));
    assert_eq!(jsonl_ids(&out.stdout), all[..25]);
    assert_eq!(sent(&server), 1);
    let out = run_ok(sb.ctlookup().args(base(&url)).args(["--max-items", "70"]));
    assert_eq!(jsonl_ids(&out.stdout), all[..70]);
    let out = run_ok(sb.ctlookup().args(base(&url)));
    assert_eq!(jsonl_ids(&out.stdout), all, "every event once, in the API's order");
    let before = sent(&server);
    // The newest 15 minutes before each fetch are never covered: leave them out.
    let out = run_ok(sb.ctlookup().args(base(&url)).args(["--offline", "--until", "1h"]));
    assert_eq!(jsonl_ids(&out.stdout), all);
    assert_eq!(sent(&server), before);
}

#[test]
fn a_token_printed_from_the_store_resumes_through_the_api() {
    let sb = Sandbox::new();
    let records = records(200, 15, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    let all: Vec<String> = records.iter().map(event_id).collect();
    run_ok(sb.ctlookup().args(base(&url)));
    let out = run_ok(sb.ctlookup().args(base(&url)).args(["--max-items", "60", "-o", "json"]));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = doc["NextToken"].as_str().expect("a token, as without the store");
    let rest = run_ok(sb.ctlookup().args(base(&url)).args(["--starting-token", token]));
    assert_eq!(jsonl_ids(&rest.stdout), all[60..]);
}

#[test]
fn a_killed_sync_then_a_sync_and_a_query_at_once_lose_and_double_nothing() {
    let sb = Sandbox::new();
    let records = records(1500, 16, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    let window = ["--start-time", "2024-07-10T00:00:00Z", "--end-time", "2024-07-22T09:00:00Z"];
    let mut sync = Running::start(sb.std_ctlookup().args(["sync", "--endpoint-url", &url, "--tps", "10"]).args(window));
    wait_until(Duration::from_secs(60), || sent(&server) >= 8);
    sync.kill(); // SIGKILL
    let killed_at = sent(&server);
    assert!(killed_at < 30, "killed before the end");

    let sync = Running::start(sb.std_ctlookup().args(["sync", "--endpoint-url", &url, "--tps", "1000"]).args(window));
    let query =
        Running::start(sb.std_ctlookup().args(["--endpoint-url", &url, "--tps", "1000", "-o", "jsonl"]).args(window));
    let (sync, query) = (sync.finish(), query.finish());
    assert!(sync.status.success(), "{}", String::from_utf8_lossy(&sync.stderr));
    assert!(query.status.success(), "{}", String::from_utf8_lossy(&query.stderr));
    let expected: Vec<String> =
        records.iter().filter(|r| r["eventTime"].as_str().unwrap() >= "2024-07-10T00:00:00Z").map(event_id).collect();
    assert_eq!(jsonl_ids(&query.stdout), expected);
    let before = sent(&server);
    let offline = run_ok(sb.ctlookup().args(base(&url)).args(window).arg("--offline"));
    assert_eq!(jsonl_ids(&offline.stdout), expected);
    assert_eq!(sent(&server), before);
    // The killed sync's pages were kept: the first complete sync did not fetch them again.
    let pages = expected.len().div_ceil(50);
    assert!(before - killed_at < 2 * pages, "{before} - {killed_at} requests for {pages} pages");
}

#[test]
fn another_account_behind_the_same_endpoint_is_never_answered_from_the_first_ones_store() {
    let sb = Sandbox::new();
    let records = records(200, 17, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    server.set_account("AKIDOTHERACCOUNT0000", "210987654321");
    let first = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    let one_run = sent(&server);
    let other = run_ok(sb.ctlookup().env("AWS_ACCESS_KEY_ID", "AKIDOTHERACCOUNT0000").args(base(&url)).args(WINDOW));
    assert_eq!(sent(&server), 2 * one_run, "the other account asks the API");
    assert_eq!(jsonl_ids(&other.stdout), jsonl_ids(&first.stdout));
    assert!(server.requests()[one_run..].iter().all(|r| r.access_key_id.as_deref() == Some("AKIDOTHERACCOUNT0000")));
    let mut offline = sb.ctlookup();
    offline.env("AWS_ACCESS_KEY_ID", "AKIDNEWACCOUNT000000").args(base(&url)).args(WINDOW).arg("--offline");
    let out = run_code(&mut offline, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--offline"));
    assert_eq!(sent(&server), 2 * one_run);
    // Both accounts are listed apart once STS has named them.
    run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    let list = run_ok(sb.ctlookup().args(["store", "-o", "jsonl"]));
    let accounts: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["account"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(accounts, ["123456789012", "210987654321"]);
}

#[test]
fn offline_names_the_part_it_lacks_and_sends_nothing() {
    let sb = Sandbox::new();
    let records = records(200, 18, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    let out = run_code(sb.ctlookup().args(base(&url)).args(WINDOW).arg("--offline"), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--offline: the store does not cover 2024-07-21T00:00:00+00:00 to 2024-07-22T09:00:00+00:00"),
        "{stderr}"
    );
    assert_eq!(sent(&server), 0);
    run_ok(sb.ctlookup().args(base(&url)).args([
        "--start-time",
        "2024-07-22T00:00:00Z",
        "--end-time",
        "2024-07-22T09:00:00Z",
    ]));
    let before = sent(&server);
    let out = run_code(sb.ctlookup().args(base(&url)).args(WINDOW).arg("--offline"), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2024-07-21T00:00:00+00:00 to 2024-07-21T23:59:59+00:00 in us-east-1"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(sent(&server), before);
    assert!(server.sts_requests().is_empty(), "--offline asks STS nothing either");
    run_code(sb.ctlookup().args(base(&url)).args(["--offline", "--no-store"]), 2);
    run_code(sb.ctlookup().args(["--input", "-", "--offline"]), 2);
}

#[test]
fn a_store_that_is_damaged_or_from_another_version_is_rebuilt_and_never_trusted() {
    let sb = Sandbox::new();
    let records = records(300, 19, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    let direct = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW).arg("--no-store"));
    let dir = sb.path(".cache/ctlookup/store");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("events.sqlite");
    std::fs::write(&file, "this is not a database, only text ".repeat(200)).unwrap();
    let out = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rebuilding it"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, direct.stdout);
    let before = sent(&server);
    let out = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    assert_eq!(out.stdout, direct.stdout);
    assert_eq!(sent(&server), before, "the rebuilt store answers");

    // Another version's file.
    rusqlite::Connection::open(&file).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let out = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another version of ctlookup") && stderr.contains("rebuilding it"), "{stderr}");
    assert_eq!(out.stdout, direct.stdout);

    // A damaged coverage bound that claims more than was fetched is caught, not believed.
    run_ok(sb.ctlookup().args(["store", "clear"]));
    let narrow = ["--start-time", "2024-07-22T00:00:00Z", "--end-time", "2024-07-22T09:00:00Z"];
    run_ok(sb.ctlookup().args(base(&url)).args(narrow));
    {
        let db = rusqlite::Connection::open(&file).unwrap();
        db.execute_batch("DROP TRIGGER coverage_changed; UPDATE coverage SET lo = lo - 30 * 86400").unwrap();
    }
    let out = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, direct.stdout);
    let out = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    assert_eq!(out.stdout, direct.stdout);

    // Damage in the middle of the file: a warning at most, and the right events.
    let mut bytes = std::fs::read(&file).unwrap();
    let (from, to) = (bytes.len() / 3, bytes.len() * 2 / 3);
    bytes[from..to].iter_mut().for_each(|b| *b = !*b);
    std::fs::write(&file, bytes).unwrap();
    for _ in 0..2 {
        let out = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
        assert_eq!(out.stdout, direct.stdout);
    }
}

#[cfg(unix)]
#[test]
fn the_store_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let records = records(60, 20, fixed_newest());
    let server = serve(&records);
    let dir = sb.path("elsewhere/store");
    run_ok(sb.ctlookup().env("CTLOOKUP_STORE_DIR", &dir).args(base(&server.url())));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("events.sqlite")), 0o600);
    assert!(!sb.path(".cache/ctlookup/store").exists(), "CTLOOKUP_STORE_DIR is where it goes");
    let text = String::from_utf8_lossy(&std::fs::read(dir.join("events.sqlite")).unwrap()).into_owned();
    assert!(!text.contains("test/secret/key"), "never a secret");
}

#[test]
fn store_lists_what_it_holds_and_clears_it() {
    let sb = Sandbox::new();
    let records = records(300, 21, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    let list = |sb: &Sandbox| -> Vec<Value> {
        let out = run_ok(sb.ctlookup().args(["store", "-o", "jsonl", "--tz", "UTC"]));
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let rows = list(&sb);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["region"], "us-east-1");
    assert_eq!(row["category"], "management");
    assert_eq!(row["windows"], "2024-07-21T00:00:00+00:00 to 2024-07-22T09:00:00+00:00");
    let in_window = records.iter().filter(|r| r["eventTime"].as_str().unwrap() >= "2024-07-21").count();
    assert_eq!(row["events"].as_u64(), Some(in_window as u64));
    assert!(row["bytes"].as_u64().unwrap() > 0);

    run_ok(sb.ctlookup().args(["store", "clear", "--older-than", "2024-07-22T00:00:00Z"]));
    let rows = list(&sb);
    let windows = rows[0]["windows"].as_str().unwrap();
    assert!(windows.ends_with("to 2024-07-22T09:00:00+00:00") && !windows.starts_with("2024-07-21"), "{windows}");

    run_ok(sb.ctlookup().args(["store", "clear"]));
    assert!(list(&sb).is_empty());
    let before = sent(&server);
    run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    assert!(sent(&server) > before, "a cleared store asks the API again");
}

#[test]
fn a_small_size_cap_evicts_the_oldest_and_stays_right() {
    let sb = Sandbox::new();
    let records = records(1500, 22, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    let direct = run_ok(sb.ctlookup().args(base(&url)).arg("--no-store"));
    run_ok(sb.ctlookup().args(base(&url)).args(["--store-max", "150K"]));
    let rows: Vec<Value> = String::from_utf8_lossy(&run_ok(sb.ctlookup().args(["store", "-o", "jsonl"])).stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let bytes = rows[0]["bytes"].as_u64().unwrap();
    assert!(bytes > 0 && bytes <= 150 << 10, "{rows:?}");
    assert!(rows[0]["events"].as_u64().unwrap() < 1500, "the oldest were evicted");
    let before = sent(&server);
    let out = run_ok(sb.ctlookup().args(base(&url)));
    assert_eq!(out.stdout, direct.stdout);
    assert!(sent(&server) > before, "what was evicted is asked again");
    run_code(sb.ctlookup().args(base(&url)).args(["--store-max", "lots"]), 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    /// The store is only a speed-up: after any earlier question over any window, a question prints
    /// what it prints without the store.
    #[test]
    fn the_store_never_changes_the_result(
        first in super::query::expression(),
        second in super::query::expression(),
        seed in 0u64..1000,
        windows in proptest::collection::vec((0i64..40, 0i64..40), 2),
    ) {
        let sb = Sandbox::new();
        let records = records(150, seed, fixed_newest());
        let server = serve(&records);
        let url = server.url();
        let window = |(a, b): (i64, i64)| {
            let time = |h: i64| (fixed_newest() - chrono::Duration::hours(h)).to_rfc3339();
            vec!["--start-time".to_owned(), time(a.max(b)), "--end-time".to_owned(), time(a.min(b))]
        };
        run_ok(sb.ctlookup().args(base(&url)).args(window(windows[0])).args(["--where", &first]));
        let stored = run_ok(sb.ctlookup().args(base(&url)).args(window(windows[1])).args(["--where", &second]));
        let direct =
            run_ok(sb.ctlookup().args(base(&url)).args(window(windows[1])).args(["--where", &second, "--no-store"]));
        prop_assert_eq!(jsonl_ids(&stored.stdout), jsonl_ids(&direct.stdout));
    }
}

fn store_file(sb: &Sandbox) -> std::path::PathBuf {
    sb.path(".cache/ctlookup/store/events.sqlite")
}

/// The full-scan windows `ctlookup store` lists, one string per scope.
fn listed(sb: &Sandbox) -> Vec<Value> {
    let out = run_ok(sb.ctlookup().args(["store", "-o", "jsonl", "--tz", "UTC"]));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_store_locked_by_another_process_is_waited_for_and_never_removed() {
    let sb = Sandbox::new();
    let records = records(300, 31, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    let before = listed(&sb);
    assert_eq!(before.len(), 1);
    let other = ["--start-time", "2024-07-19T00:00:00Z", "--end-time", "2024-07-20T00:00:00Z"];
    let direct = run_ok(sb.ctlookup().args(base(&url)).args(other).arg("--no-store"));

    // Another process writes for 2 s: this one waits its turn, then records as usual.
    let (locked, is_locked) = std::sync::mpsc::channel();
    let lock = std::thread::spawn({
        let file = store_file(&sb);
        move || {
            let db = rusqlite::Connection::open(file).unwrap();
            db.execute_batch("BEGIN IMMEDIATE; UPDATE identities SET account = account;").unwrap();
            locked.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(2));
            db.execute_batch("COMMIT").unwrap();
        }
    });
    is_locked.recv().expect("the other process holds the lock");
    let out = run_ok(sb.ctlookup().args(base(&url)).args(other));
    lock.join().unwrap();
    assert_eq!(out.stdout, direct.stdout);
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let sent_before = sent(&server);
    run_ok(sb.ctlookup().args(base(&url)).args(other));
    assert_eq!(sent(&server), sent_before, "the run that waited recorded its window");

    // Held longer than the wait: one line, the run goes on without the store, and nothing is removed.
    let file = store_file(&sb);
    let db = rusqlite::Connection::open(&file).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE; UPDATE identities SET account = account;").unwrap();
    let third = ["--start-time", "2024-07-18T00:00:00Z", "--end-time", "2024-07-19T00:00:00Z"];
    let out = run_ok(sb.ctlookup().env("CTLOOKUP_STORE_WAIT", "1").args(base(&url)).args(third));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("busy") && !stderr.contains("rebuild"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let out = run_code(sb.ctlookup().env("CTLOOKUP_STORE_WAIT", "1").args(["store", "clear"]), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("busy"), "{}", String::from_utf8_lossy(&out.stderr));
    db.execute_batch("COMMIT").unwrap();
    drop(db);
    let after = listed(&sb);
    assert!(after[0]["windows"].as_str().unwrap().contains("2024-07-21T00:00:00+00:00"), "{after:?}");
}

/// Six queries started at once, the i-th from day `first_day + i` of July 2024 to the fixed newest time.
fn six_at_once(sb: &Sandbox, url: &str, first_day: u32, extra: &[&str]) -> Vec<std::process::Output> {
    let children: Vec<Running> = (0..6)
        .map(|i| {
            let mut cmd = sb.std_ctlookup();
            let start = format!("2024-07-{:02}T00:00:00Z", first_day + i);
            cmd.args(["--endpoint-url", url, "--tps", "1000"]).args(extra);
            cmd.args(["--start-time", &start, "--end-time", "2024-07-22T09:00:00Z"]);
            Running::start(&mut cmd)
        })
        .collect();
    children.into_iter().map(Running::finish).collect()
}

#[test]
fn processes_starting_at_once_on_a_new_store_never_rebuild_it() {
    let records = records(120, 32, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    for round in 0..6 {
        let sb = Sandbox::new();
        for out in six_at_once(&sb, &url, 10, &[]) {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "round {round}: {stderr}");
            assert!(stderr.is_empty(), "round {round}: {stderr}");
        }
        let before = sent(&server);
        run_ok(sb.ctlookup().args(base(&url)).args([
            "--start-time",
            "2024-07-10T00:00:00Z",
            "--end-time",
            "2024-07-22T09:00:00Z",
            "--offline",
        ]));
        assert_eq!(sent(&server), before);
    }
}

#[test]
fn several_queries_at_once_on_one_store_all_use_it() {
    let sb = Sandbox::new();
    let records = records(600, 33, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    for _ in 0..3 {
        for out in six_at_once(&sb, &url, 12, &["-v"]) {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && !stderr.contains("without it") && !stderr.contains("locked"), "{stderr}");
        }
    }
}

/// Runs ctlookup as a user who may read the store but not write it: another uid when the tests run as
/// root (who may write anything), else the store's own files made read-only.
#[cfg(unix)]
#[test]
fn a_read_only_store_is_read_and_never_written() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let records = records(300, 34, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    let direct = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW).arg("--no-store"));
    let file = store_file(&sb);
    let dir = file.parent().unwrap().to_owned();
    let root =
        String::from_utf8_lossy(&std::process::Command::new("id").arg("-u").output().unwrap().stdout).trim() == "0";
    let set = |p: &std::path::Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    let as_reader = |args: Vec<String>| -> std::process::Output {
        let mut cmd = sb.std_ctlookup();
        cmd.args(&args);
        if !root {
            return cmd.output().unwrap();
        }
        let mut wrapped = std::process::Command::new("setpriv");
        wrapped.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(cmd.get_program()).args(&args);
        wrapped.env_clear().envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
        wrapped.output().unwrap()
    };
    if root {
        let mut p = dir.clone();
        while p.starts_with(sb.home.path()) {
            set(&p, 0o755);
            p.pop();
        }
        set(sb.home.path(), 0o755);
        set(&file, 0o644);
    } else {
        set(&file, 0o444);
        set(&dir, 0o555);
    }
    let offline: Vec<String> =
        base(&url).into_iter().chain(WINDOW.map(String::from)).chain(["--offline".into()]).collect();
    let out = as_reader(offline);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(out.stdout, direct.stdout);
    let wider = ["--start-time", "2024-07-19T00:00:00Z", "--end-time", "2024-07-22T09:00:00Z"];
    let out = as_reader(base(&url).into_iter().chain(wider.map(String::from)).collect());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("read-only") && !stderr.contains("rebuild"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    set(&dir, 0o700);
    set(&file, 0o600);
    assert!(file.exists());
    assert_eq!(listed(&sb).len(), 1);
}

#[test]
fn clear_and_eviction_give_the_disk_back() {
    let sb = Sandbox::new();
    let records = records(3000, 35, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    run_ok(sb.ctlookup().args(base(&url)));
    let size = |sb: &Sandbox| std::fs::metadata(store_file(sb)).unwrap().len();
    assert!(size(&sb) > 256 << 10, "{}", size(&sb));
    run_ok(sb.ctlookup().args(["store", "clear"]));
    assert!(size(&sb) <= 64 << 10, "after clear: {} bytes", size(&sb));
    run_ok(sb.ctlookup().args(base(&url)).args(["--store-max", "100K"]));
    assert!(size(&sb) <= 150 << 10, "under a 100K cap: {} bytes", size(&sb));
}

#[test]
fn one_endpoint_written_two_ways_is_one_scope() {
    let sb = Sandbox::new();
    let records = records(120, 36, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    let bare = url.trim_end_matches('/').to_owned();
    let upper = bare.replacen("http://", "HTTP://", 1);
    run_ok(sb.ctlookup().args(["--endpoint-url", &format!("{bare}/"), "--tps", "1000"]).args(WINDOW));
    let before = sent(&server);
    for form in [bare.clone(), upper] {
        run_ok(sb.ctlookup().args(["--endpoint-url", &form, "--tps", "1000"]).args(WINDOW));
        assert_eq!(sent(&server), before, "{form} is the same endpoint");
    }
    assert_eq!(listed(&sb).len(), 1);
}

#[test]
fn store_clear_of_an_account_clears_what_its_key_recorded() {
    let sb = Sandbox::new();
    let records = records(120, 37, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    run_ok(sb.ctlookup().args(["store", "clear", "--account", "123456789012"]));
    assert!(listed(&sb).is_empty(), "{:?}", listed(&sb));
    let before = sent(&server);
    run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    assert!(sent(&server) > before);
}

#[test]
fn offline_without_a_store_says_so_and_creates_nothing() {
    let sb = Sandbox::new();
    let records = records(60, 38, fixed_newest());
    let server = serve(&records);
    let out = run_code(sb.ctlookup().args(base(&server.url())).args(WINDOW).arg("--offline"), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("there is no store") && stderr.contains("does not cover"), "{stderr}");
    assert!(!store_file(&sb).exists());
    assert!(!sb.path(".cache/ctlookup/store").exists());
    run_ok(sb.ctlookup().args(base(&server.url())).args(["--since", "2d"]));
    let out = run_code(
        sb.ctlookup().args(base(&server.url())).args(WINDOW).args(["--offline", "--event-category", "insight"]),
        1,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("insight"), "{stderr}");
}

#[test]
fn options_of_the_source_go_before_or_after_the_subcommand() {
    let sb = Sandbox::new();
    let records = records(120, 39, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    run_ok(sb.ctlookup().args(["--endpoint-url", &url, "--tps", "1000", "sync"]).args(WINDOW));
    let before = sent(&server);
    assert!(before > 0);
    run_ok(sb.ctlookup().args(["--endpoint-url", &url, "sync", "--tps", "1000"]).args(WINDOW));
    assert_eq!(sent(&server), before, "the second sync found the window stored");
    let out = run_ok(sb.ctlookup().args(["--endpoint-url", &url, "--tps", "1000", "denied"]).args(WINDOW));
    drop(out);
}

#[test]
fn store_counts_each_event_it_holds_once() {
    let sb = Sandbox::new();
    let records = records(600, 40, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    // Runs stopped part-way at different places, then a whole one: pages overlap.
    for n in ["70", "130", "260"] {
        run_ok(sb.ctlookup().args(base(&url)).args(["--max-items", n]));
    }
    run_ok(sb.ctlookup().args(base(&url)));
    let rows = listed(&sb);
    assert_eq!(rows[0]["events"].as_u64(), Some(600), "{rows:?}");
}

#[test]
fn a_covered_window_whose_pages_went_missing_is_asked_again_never_answered_short() {
    let sb = Sandbox::new();
    let records = records(900, 41, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    let direct = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW).arg("--no-store"));
    run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    // Something outside ctlookup's rules removes one stored page (a hand edit, a tool, a bug).
    rusqlite::Connection::open(store_file(&sb))
        .unwrap()
        .execute_batch("DELETE FROM chunks WHERE id = (SELECT min(id) FROM chunks)")
        .unwrap();
    let out = run_code(sb.ctlookup().args(base(&url)).args(WINDOW).arg("--offline"), 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lacks") && out.stdout.is_empty(), "{stderr}");
    let before = sent(&server);
    let out = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lacks 1 of the stored pages"), "{stderr}");
    assert_eq!(out.stdout, direct.stdout);
    assert!(sent(&server) > before, "the API was asked for it");
    // What was asked again is covered again, whole.
    let before = sent(&server);
    let out = run_ok(sb.ctlookup().args(base(&url)).args(WINDOW).arg("--offline"));
    assert_eq!(out.stdout, direct.stdout);
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sent(&server), before);
}
