//! Endpoints that misbehave on purpose (silence, headers and then silence, endless or huge answers,
//! pages in a loop, answers that are not CloudTrail's, a failing region), resume tokens of another
//! query, credentials of a named profile, and SIGTERM / SIGHUP. Each case ends by itself, with one line
//! on stderr and the right exit code, and never prints an event twice.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use fake_cloudtrail::hostile::{response, Answer, HostileRequest, HostileServer};
use serde_json::{json, Value};

/// What a run left behind.
struct Ran {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    took: Duration,
}

/// Runs to the end, or kills the process at `limit` and fails the test: a run that does not end by
/// itself is the bug these tests are about.
fn run_within(mut cmd: Command, limit: Duration) -> Ran {
    let started = Instant::now();
    let out = Running::start(&mut cmd).finish_within(limit);
    let took = started.elapsed();
    Ran { code: out.status.code(), stdout: out.stdout, stderr: String::from_utf8_lossy(&out.stderr).into_owned(), took }
}

/// One line on stderr, `ctlookup: ` first, nothing raw from outside (no control characters).
fn one_clean_line(ran: &Ran) -> &str {
    let line = ran.stderr.trim_end_matches('\n');
    assert!(!line.contains('\n'), "one line on stderr, got: {}", ran.stderr);
    assert!(line.starts_with("ctlookup: "), "{line}");
    assert!(!line.chars().any(|c| c.is_control() || ('\u{80}'..='\u{9f}').contains(&c)), "raw control: {line:?}");
    assert!(!line.contains('\u{202e}'), "raw bidi override: {line:?}");
    line
}

/// `count` API-shaped events, newest first.
fn api_events(count: usize, seed: u64) -> Vec<Value> {
    records(count, seed, fixed_newest()).iter().map(envelope).collect()
}

fn ids(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["EventId"].as_str().unwrap().to_owned()).collect()
}

/// The EventIds of a JSON Lines output.
fn printed(stdout: &[u8]) -> Vec<String> {
    jsonl_ids(stdout)
}

/// Pages of `events`, 50 each, with tokens `page-N`: a well-behaved endpoint in the hostile server.
fn page_of(events: &[Value], request: &HostileRequest) -> Answer {
    let n: usize = request.next_token().and_then(|t| t.strip_prefix("page-")).and_then(|n| n.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = events.iter().skip(n * 50).take(50).cloned().collect();
    let mut body = json!({ "Events": page });
    if (n + 1) * 50 < events.len() {
        body["NextToken"] = json!(format!("page-{}", n + 1));
    }
    Answer::json(&body)
}

fn cmd(sb: &Sandbox, url: &str, args: &[&str]) -> Command {
    let mut cmd = sb.std_ctlookup();
    cmd.args(["--endpoint-url", url]).args(args);
    cmd
}

// ---------------------------------------------------------------------------------------------
// Timeouts

#[test]
fn an_endpoint_that_never_answers_times_out_retries_and_ends() {
    let sb = Sandbox::new();
    let server = HostileServer::start(|_| Answer::Silence);
    let ran =
        run_within(cmd(&sb, &server.url(), &["--read-timeout", "0.4", "--retries", "2"]), Duration::from_secs(30));
    let line = one_clean_line(&ran);
    assert_eq!(ran.code, Some(1), "{line}");
    assert!(line.contains("timed out waiting for the answer"), "{line}");
    assert!(!line.contains("cannot reach"), "{line}");
    assert_eq!(server.requests().len(), 3, "the first attempt and 2 retries");
    // 3 × 0.4 s plus at most 0.8 + 1.6 s of backoff.
    assert!(ran.took < Duration::from_secs(10), "{:?}", ran.took);
}

#[test]
fn headers_and_then_nothing_is_a_timeout_not_cannot_reach() {
    let sb = Sandbox::new();
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: 5000\r\n\r\n{\"Ev";
    let server = HostileServer::start(move |_| Answer::ThenSilence(head.to_vec()));
    let ran =
        run_within(cmd(&sb, &server.url(), &["--read-timeout", "0.5", "--retries", "1"]), Duration::from_secs(30));
    let line = one_clean_line(&ran);
    assert_eq!(ran.code, Some(1), "{line}");
    assert!(line.contains("timed out waiting for the answer"), "{line}");
    assert!(!line.contains("cannot reach"), "{line}");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_timeout_after_some_pages_exits_1_with_a_valid_document_and_a_token_that_resumes() {
    let sb = Sandbox::new();
    let events = api_events(180, 90);
    let silent = Arc::new(AtomicBool::new(false));
    let (served, gate) = (events.clone(), silent.clone());
    let server = HostileServer::start(move |request| {
        // Two pages, then silence until the test lets it answer again.
        if request.index >= 2 && gate.load(Ordering::SeqCst) {
            return Answer::Silence;
        }
        page_of(&served, request)
    });
    silent.store(true, Ordering::SeqCst);
    let url = server.url();
    let ran = run_within(
        cmd(&sb, &url, &["-o", "json", "--read-timeout", "0.3", "--retries", "1", "--tps", "50"]),
        Duration::from_secs(30),
    );
    let line = one_clean_line(&ran);
    assert_eq!(ran.code, Some(1), "{line}");
    assert!(line.contains("timed out waiting for the answer"), "{line}");
    let doc: Value = serde_json::from_slice(&ran.stdout).expect("a complete document");
    let first: Vec<String> = ids(doc["Events"].as_array().unwrap());
    assert_eq!(first, ids(&events[..100]));

    silent.store(false, Ordering::SeqCst);
    let rest =
        run_within(cmd(&sb, &url, &["--tps", "50", "--starting-token", &token_in(line)]), Duration::from_secs(30));
    assert_eq!(rest.code, Some(0), "{}", rest.stderr);
    let mut all = first;
    all.extend(printed(&rest.stdout));
    assert_eq!(all, ids(&events));
}

#[test]
fn a_connection_that_is_never_accepted_times_out() {
    // A listener whose accept queue is full: the kernel drops further SYNs, so connecting hangs.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    let filled = (0..4096).all(|_| match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
        Ok(stream) => {
            held.push(stream);
            true
        }
        Err(_) => false,
    });
    if filled {
        eprintln!("skipped: this kernel accepts every connection to a listener that never accepts");
        return;
    }
    let sb = Sandbox::new();
    let url = format!("http://{addr}");
    let ran = run_within(
        cmd(&sb, &url, &["--connect-timeout", "0.5", "--read-timeout", "5", "--retries", "1"]),
        Duration::from_secs(30),
    );
    let line = one_clean_line(&ran);
    assert_eq!(ran.code, Some(1), "{line}");
    assert!(line.contains(&format!("cannot reach {url}")) && line.contains("no connection within 0.5 s"), "{line}");
    assert!(ran.took < Duration::from_secs(4), "{:?}", ran.took);
    drop(listener);
}

#[test]
fn timeouts_must_be_positive_numbers() {
    let sb = Sandbox::new();
    for (option, value) in [("--read-timeout", "0"), ("--connect-timeout", "-1"), ("--read-timeout", "inf")] {
        let out = sb
            .ctlookup()
            .args(["--endpoint-url", "http://127.0.0.1:9", &format!("{option}={value}")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{option} {value}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(option) && stderr.contains("seconds above 0"), "{stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// Unbounded answers

#[test]
fn an_answer_declared_over_the_cap_is_refused_before_it_is_read() {
    let sb = Sandbox::new();
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: 1073741824\r\n\r\n";
    let server = HostileServer::start(move |_| Answer::Endless {
        head: head.to_vec(),
        chunk: vec![b' '; 64 * 1024],
        limit: 1 << 30,
    });
    let ran = run_within(cmd(&sb, &server.url(), &[]), Duration::from_secs(60));
    let line = one_clean_line(&ran);
    assert_eq!(ran.code, Some(1), "{line}");
    assert!(line.contains("1073741824 bytes") && line.contains("over the 32 MiB"), "{line}");
    assert_eq!(server.requests().len(), 1, "a too large answer is not retried");
    assert!(server.streamed() < 64 << 20, "read {} bytes", server.streamed());
}

#[test]
fn an_endless_chunked_answer_is_cut_at_the_cap() {
    let sb = Sandbox::new();
    let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ntransfer-encoding: chunked\r\n\r\n";
    let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
    chunk.extend(std::iter::repeat_n(b' ', 64 * 1024));
    chunk.extend_from_slice(b"\r\n");
    let server =
        HostileServer::start(move |_| Answer::Endless { head: head.to_vec(), chunk: chunk.clone(), limit: 256 << 20 });
    let ran = run_within(cmd(&sb, &server.url(), &[]), Duration::from_secs(60));
    let line = one_clean_line(&ran);
    assert_eq!(ran.code, Some(1), "{line}");
    assert!(line.contains("over the 32 MiB"), "{line}");
    assert_eq!(server.requests().len(), 1, "a too large answer is not retried");
    // The cap plus what the sockets hold: never the whole answer.
    assert!(server.streamed() < 48 << 20, "the server wrote {} bytes", server.streamed());
}

// ---------------------------------------------------------------------------------------------
// Pagination that never ends

/// An endpoint that answers the same two events on every page, with the NextToken `next` gives.
fn looping(name: &str, next: impl Fn(Option<&str>) -> String + Send + Sync + 'static) {
    let sb = Sandbox::new();
    let events = api_events(2, 91);
    let server = HostileServer::start(move |request| {
        Answer::json(&json!({ "Events": events, "NextToken": next(request.next_token()) }))
    });
    let ran = run_within(cmd(&sb, &server.url(), &["--tps", "100"]), Duration::from_secs(30));
    let line = one_clean_line(&ran);
    assert_eq!(ran.code, Some(1), "{name}: {line}");
    assert!(line.contains("in a loop"), "{name}: {line}");
    let out = printed(&ran.stdout);
    let mut unique = out.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), out.len(), "{name}: an event printed twice: {out:?}");
    assert!(!out.is_empty(), "{name}: the first page is printed");
    assert!(server.requests().len() < 10, "{name}: {} requests", server.requests().len());
}

#[test]
fn the_same_next_token_forever_ends_with_exit_1() {
    looping("same token", |_| "same".to_owned());
}

#[test]
fn two_alternating_next_tokens_end_with_exit_1() {
    looping("alternating", |token| if token == Some("A") { "B".to_owned() } else { "A".to_owned() });
}

#[test]
fn fresh_tokens_over_the_same_events_end_with_exit_1() {
    let counter = std::sync::atomic::AtomicUsize::new(0);
    looping("fresh tokens", move |_| format!("t{}", counter.fetch_add(1, Ordering::SeqCst)));
}

// ---------------------------------------------------------------------------------------------
// Answers that are not CloudTrail's

#[test]
fn answers_that_are_not_cloudtrails_say_what_came_back() {
    let sb = Sandbox::new();
    let redirect = response(307, &[("location", "https://login.example.com/sso")], b"\x1b]0;pwned\x07");
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "html",
            response(200, &[("content-type", "text/html")], b"<html><body>Captive portal</body></html>"),
            &["HTTP 200", "text/html", "<html><body>Captive portal"],
        ),
        (
            "binary",
            response(200, &[("content-type", "application/octet-stream")], b"\x1b[31m\x07\x00\xc2\x9b\xe2\x80\xaeevil"),
            &["HTTP 200", "application/octet-stream", "\\u{1b}[31m", "evil"],
        ),
        (
            "wrong shape",
            response(200, &[("content-type", "application/x-amz-json-1.1")], br#"{"Events":"x"}"#),
            &["HTTP 200", r#"{"Events":"x"}"#],
        ),
        ("redirect", redirect, &["HTTP 307", "login.example.com/sso", "redirect", "\\u{1b}]0;pwned\\u{7}"]),
        ("not HTTP", b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(), &["not HTTP"]),
        ("empty", response(200, &[("content-type", "application/x-amz-json-1.1")], b""), &["HTTP 200", "empty"]),
        ("empty 403", response(403, &[], b""), &["HTTP 403", "empty"]),
    ];
    for (name, bytes, expected) in cases {
        let server = HostileServer::start(move |_| Answer::Raw(bytes.clone()));
        let ran = run_within(cmd(&sb, &server.url(), &["--retries", "0"]), Duration::from_secs(30));
        let line = one_clean_line(&ran);
        assert_eq!(ran.code, Some(1), "{name}: {line}");
        assert!(line.contains("not a CloudTrail answer"), "{name}: {line}");
        for part in expected {
            assert!(line.contains(part), "{name}: expected {part:?} in: {line}");
        }
        assert!(ran.stdout.is_empty(), "{name}");
    }
}

#[test]
fn a_proxy_error_page_is_retried_then_shown() {
    let sb = Sandbox::new();
    let page = response(502, &[("content-type", "text/html")], b"<h1>502 Bad Gateway</h1>");
    let server = HostileServer::start(move |_| Answer::Raw(page.clone()));
    let ran = run_within(cmd(&sb, &server.url(), &["--retries", "2"]), Duration::from_secs(30));
    let line = one_clean_line(&ran);
    assert_eq!(ran.code, Some(1), "{line}");
    assert!(line.contains("HTTP 502") && line.contains("<h1>502 Bad Gateway</h1>"), "{line}");
    assert_eq!(server.requests().len(), 3, "a 5xx passes: retried");
}

// ---------------------------------------------------------------------------------------------
// One region failing

#[test]
fn a_failing_region_leaves_the_healthy_ones_complete_and_a_token_for_itself() {
    let sb = Sandbox::new();
    let records = records(300, 92, fixed_newest());
    let server = fake_cloudtrail::server::FakeCloudTrail::start(records.iter().map(envelope).collect());
    server.set_partition_by_region(true);
    server.set_failing_regions(&["us-west-2"]);
    let url = server.url();
    let in_region = |region: &str| -> Vec<String> {
        records.iter().filter(|r| r["awsRegion"] == region).map(event_id).collect::<Vec<_>>()
    };
    let (east, west) = (in_region("us-east-1"), in_region("us-west-2"));
    assert!(east.len() > 50 && !west.is_empty());

    let ran = run_within(cmd(&sb, &url, &["--tps", "50", "--region", "us-east-1,us-west-2"]), Duration::from_secs(60));
    let line = one_clean_line(&ran).to_owned();
    assert_eq!(ran.code, Some(1), "{line}");
    assert_eq!(printed(&ran.stdout), east, "every event of the healthy region");
    assert!(line.contains("us-west-2") && line.contains("UnrecognizedClientException"), "{line}");
    assert!(line.contains("us-east-1 is complete"), "{line}");

    server.set_failing_regions(&[]);
    let before = server.requests().len();
    let rest = run_within(
        cmd(&sb, &url, &["--tps", "50", "--region", "us-east-1,us-west-2", "--starting-token", &token_in(&line)]),
        Duration::from_secs(60),
    );
    assert_eq!(rest.code, Some(0), "{}", rest.stderr);
    assert_eq!(printed(&rest.stdout), west, "the resumed run prints the failed region, and only it");
    let regions: Vec<Option<String>> = server.requests()[before..].iter().map(|r| r.region.clone()).collect();
    assert!(regions.iter().all(|r| r.as_deref() == Some("us-west-2")), "{regions:?}");

    // Stopped by --max-items while a region had failed: still exit 1, and the token continues both.
    server.set_failing_regions(&["us-west-2"]);
    let both = ["--tps", "50", "--region", "us-east-1,us-west-2"];
    let ran = run_within(cmd(&sb, &url, &[&both[..], &["--max-items", "5"]].concat()), Duration::from_secs(60));
    let line = one_clean_line(&ran).to_owned();
    assert_eq!(ran.code, Some(1), "{line}");
    assert!(line.contains("us-west-2") && line.contains("to continue") && !line.contains("complete"), "{line}");
    assert_eq!(printed(&ran.stdout), east[..5]);
    server.set_failing_regions(&[]);
    let rest = run_within(
        cmd(&sb, &url, &[&both[..], &["--starting-token", &token_in(&line)]].concat()),
        Duration::from_secs(60),
    );
    assert_eq!(rest.code, Some(0), "{}", rest.stderr);
    let mut got = printed(&ran.stdout);
    got.extend(printed(&rest.stdout));
    got.sort();
    let mut all: Vec<String> = east.iter().chain(&west).cloned().collect();
    all.sort();
    assert_eq!(got, all, "printed + resumed = both regions, each event once");

    // Every region failing alike is said once.
    server.set_failing_regions(&["us-east-1", "us-west-2"]);
    let ran = run_within(cmd(&sb, &url, &both), Duration::from_secs(60));
    let line = one_clean_line(&ran);
    assert_eq!(ran.code, Some(1), "{line}");
    assert_eq!(line.matches("UnrecognizedClientException").count(), 1, "{line}");
    assert!(line.contains("(in us-east-1 and us-west-2)") && !line.contains("to resume"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// Resume tokens

#[test]
fn a_token_of_another_query_is_a_usage_error_before_any_request() {
    let sb = Sandbox::new();
    let records = records(300, 93, fixed_newest());
    let server = serve(&records);
    server.set_partition_by_region(true);
    let url = server.url();
    let base = ["--tps", "50", "--until", "2024-07-23"];
    let first = run_ok(
        sb.ctlookup()
            .args(["--endpoint-url", &url])
            .args(base)
            .args(["--since", "2024-07-01", "--event-name", "ConsoleLogin", "--event-name", "AssumeRole"])
            .args(["--max-items", "2"]),
    );
    let token = token_in(&String::from_utf8(first.stderr).unwrap());
    let requests = server.requests().len();
    let same = ["--since", "2024-07-01", "--event-name", "ConsoleLogin", "--event-name", "AssumeRole"];
    let others: [&[&str]; 5] = [
        &["--since", "2024-07-01", "--event-name", "ConsoleLogin", "--event-name", "GetObject"],
        &["--since", "2024-07-01", "--event-name", "AssumeRole", "--event-name", "ConsoleLogin"],
        &[
            "--region",
            "eu-west-1",
            "--since",
            "2024-07-01",
            "--event-name",
            "ConsoleLogin",
            "--event-name",
            "AssumeRole",
        ],
        &[
            "--event-category",
            "insight",
            "--since",
            "2024-07-01",
            "--event-name",
            "ConsoleLogin",
            "--event-name",
            "AssumeRole",
        ],
        &["--since", "2024-07-02", "--event-name", "ConsoleLogin", "--event-name", "AssumeRole"],
    ];
    for other in others {
        let out = sb
            .ctlookup()
            .args(["--endpoint-url", &url])
            .args(base)
            .args(other)
            .args(["--starting-token", &token])
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{other:?}: {stderr}");
        assert!(stderr.contains("belongs to another query"), "{other:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    assert_eq!(server.requests().len(), requests, "nothing sent");
    // The same query resumes.
    let out =
        run_ok(sb.ctlookup().args(["--endpoint-url", &url]).args(base).args(same).args(["--starting-token", &token]));
    assert!(!out.stdout.is_empty());
}

#[test]
fn a_garbage_token_is_not_offered_back() {
    let sb = Sandbox::new();
    let server = serve(&records(20, 94, fixed_newest()));
    let url = server.url();
    // One lookup: a raw API NextToken is passed on, and the service refuses it.
    let ran = run_within(cmd(&sb, &url, &["--starting-token", "garbage"]), Duration::from_secs(30));
    let line = one_clean_line(&ran);
    assert_eq!(ran.code, Some(1), "{line}");
    assert!(line.contains("InvalidNextTokenException"), "{line}");
    assert!(!line.contains("to resume"), "the refused token, even re-encoded, is no way to resume: {line}");
    // Several lookups: refused before any request.
    let before = server.requests().len();
    let ran = run_within(
        cmd(&sb, &url, &["--event-name", "A", "--event-name", "B", "--starting-token", "garbage"]),
        Duration::from_secs(30),
    );
    let line = one_clean_line(&ran);
    assert_eq!(ran.code, Some(2), "{line}");
    assert!(!line.contains("--starting-token garbage"), "{line}");
    assert_eq!(server.requests().len(), before);
}

// ---------------------------------------------------------------------------------------------
// Credentials

#[test]
fn a_named_profile_wins_over_the_environments_keys() {
    let sb = Sandbox::new();
    write(
        &sb.path("aws-credentials"),
        "[other]\naws_access_key_id = AKIDOTHERPROFILE0000\naws_secret_access_key = other/secret\n",
    );
    write(&sb.path("aws-config"), "[profile other]\nregion = eu-west-1\n");
    let server = serve(&records(20, 95, fixed_newest()));
    run_ok(sb.ctlookup().args(["--endpoint-url", &server.url(), "--profile", "other"]));
    let keys: Vec<Option<String>> = server.requests().iter().map(|r| r.access_key_id.clone()).collect();
    assert!(!keys.is_empty() && keys.iter().all(|k| k.as_deref() == Some("AKIDOTHERPROFILE0000")), "{keys:?}");
    // Without --profile, the environment's keys sign, as before.
    let before = server.requests().len();
    run_ok(sb.ctlookup().args(["--endpoint-url", &server.url()]));
    assert!(server.requests()[before..].iter().all(|r| r.access_key_id.as_deref() == Some("AKIDTESTEXAMPLE00000")));

    let before = server.requests().len();
    let ran = run_within(cmd(&sb, &server.url(), &["--profile", "nosuch"]), Duration::from_secs(30));
    let line = one_clean_line(&ran);
    assert!(matches!(ran.code, Some(1 | 2)), "{line}");
    assert!(line.contains("nosuch"), "{line}");
    assert_eq!(server.requests().len(), before, "nothing sent");
}

#[test]
fn a_password_in_the_endpoint_url_is_never_shown() {
    let sb = Sandbox::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let failing = HostileServer::start(|_| Answer::http(503, "text/plain", "busy"));
    let failing_addr = failing.addr();
    for addr in [closed, failing_addr] {
        let url = format!("http://alice:s3cr3tpw@{addr}");
        let ran = run_within(cmd(&sb, &url, &["--retries", "0"]), Duration::from_secs(30));
        let line = one_clean_line(&ran);
        assert_eq!(ran.code, Some(1), "{line}");
        assert!(!line.contains("s3cr3tpw"), "{line}");
        assert!(line.contains(&addr.to_string()), "the endpoint is still named: {line}");
    }
}

// ---------------------------------------------------------------------------------------------
// Signals

fn signal_completes_the_document(signal: &str, number: Signal, code: i32) {
    let sb = Sandbox::new();
    let records = records(400, 96, fixed_newest());
    let server = serve(&records);
    server.set_latency(Duration::from_millis(200));
    let url = server.url();
    let mut running = Running::start_unread(sb.std_ctlookup().args(["--endpoint-url", &url, "-o", "json"]));
    running.first_output();
    let started = running.interrupt(number);
    let out = running.finish();
    let (status, stdout, stderr) = (out.status, out.stdout, String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(started.elapsed() < Duration::from_secs(3), "{signal} stops promptly");
    assert_eq!(status.code(), Some(code), "{signal}: {stderr}");
    let doc: Value = serde_json::from_slice(&stdout).unwrap_or_else(|e| panic!("{signal}: broken JSON: {e}"));
    let first = ids(doc["Events"].as_array().unwrap());
    assert!(first.len() < records.len());
    assert!(stderr.contains(signal), "{stderr}");
    let rest = run_ok(sb.ctlookup().args(["--endpoint-url", &url, "--starting-token", &token_in(&stderr)]));
    let mut all = first;
    all.extend(jsonl_ids(&rest.stdout));
    assert_eq!(all, records.iter().map(event_id).collect::<Vec<_>>());
}

#[test]
fn sigterm_completes_the_document_and_exits_143() {
    signal_completes_the_document("TERM", SIGTERM, 143);
}

#[test]
fn sighup_completes_the_document_and_exits_129() {
    signal_completes_the_document("HUP", SIGHUP, 129);
}
