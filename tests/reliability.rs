//! The source under stress: throttling, server faults, broken connections, latency, a service that stops
//! answering, and Ctrl-C. Every case ends with every event exactly once, or with exit 1 (130 for Ctrl-C),
//! a valid document, and a token that completes the set exactly.

use std::time::Duration;

use crate::common::*;
use serde_json::Value;

fn all_ids(records: &[Value]) -> Vec<String> {
    records.iter().map(event_id).collect()
}

#[test]
fn throttling_faults_broken_connections_and_latency_lose_nothing() {
    let sb = Sandbox::new();
    let records = records(260, 60, fixed_newest());
    type Setup<'a> = &'a dyn Fn(&fake_cloudtrail::server::FakeCloudTrail);
    let cases: [(&str, Setup, &[&str]); 4] = [
        // Asking faster than the server allows: throttled, slowed down, retried.
        ("throttling", &|s| s.set_rate_limit(Some(2.0)), &["--tps", "20", "--retries", "10"]),
        ("5xx every 3rd request", &|s| s.set_fault_every(Some(3)), &["--tps", "50"]),
        ("broken connection every 4th request", &|s| s.set_drop_every(Some(4)), &["--tps", "50"]),
        ("latency", &|s| s.set_latency(Duration::from_millis(150)), &["--tps", "50"]),
    ];
    for (name, setup, args) in cases {
        let server = serve(&records);
        setup(&server);
        let out = run_ok(sb.ctlookup().args(["--endpoint-url", &server.url()]).args(args));
        assert_eq!(jsonl_ids(&out.stdout), all_ids(&records), "{name}: every event once, newest first");
        let failed = server.requests().iter().filter(|r| r.status != 200).count();
        assert!(failed > 0 || name == "latency", "{name}: the server did fail some requests");
    }
}

#[test]
fn the_default_rate_is_never_throttled() {
    let sb = Sandbox::new();
    let records = records(260, 61, fixed_newest());
    let server = serve(&records);
    server.set_rate_limit(Some(2.0));
    let out = run_ok(sb.ctlookup().args(["--endpoint-url", &server.url()]));
    assert_eq!(jsonl_ids(&out.stdout), all_ids(&records));
    let requests = server.requests();
    assert_eq!(requests.len(), 6, "six pages, no retries");
    assert!(requests.iter().all(|r| r.status == 200));
}

/// Starts ctlookup and waits until its first output byte, so that the scan is surely under way.
fn start_and_wait_for_output(sb: &Sandbox, args: &[&str]) -> Running {
    let mut running = Running::start_unread(sb.std_ctlookup().args(args));
    running.first_output();
    running
}

/// The exit code, all of stdout and stderr.
fn finish(running: Running) -> (Option<i32>, Vec<u8>, String) {
    let out = running.finish();
    (out.status.code(), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_service_that_stops_answering_ends_with_exit_1_a_valid_document_and_a_working_token() {
    let sb = Sandbox::new();
    let records = records(300, 62, fixed_newest());
    let server = serve(&records);
    server.set_latency(Duration::from_millis(100));
    let url = server.url();
    let running =
        start_and_wait_for_output(&sb, &["--endpoint-url", &url, "-o", "json", "--retries", "2", "--tps", "2"]);
    // The first page is printed; from now on every request fails.
    server.set_fault_every(Some(1));
    let (code, stdout, stderr) = finish(running);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("InternalFailure"), "{stderr}");
    let doc: Value = serde_json::from_slice(&stdout).expect("the document is complete");
    let printed: Vec<String> =
        doc["Events"].as_array().unwrap().iter().map(|e| e["EventId"].as_str().unwrap().to_owned()).collect();
    assert!(!printed.is_empty() && printed.len() < records.len());

    server.set_fault_every(None);
    let rest = run_ok(sb.ctlookup().args(["--endpoint-url", &url, "--starting-token", &token_in(&stderr)]));
    let mut all = printed;
    all.extend(jsonl_ids(&rest.stdout));
    assert_eq!(all, all_ids(&records), "printed + resumed = every event exactly once");
}

#[test]
fn ctrl_c_completes_the_document_and_exits_130() {
    let sb = Sandbox::new();
    let records = records(400, 63, fixed_newest());
    let server = serve(&records);
    server.set_latency(Duration::from_millis(200));
    let url = server.url();
    let mut running = start_and_wait_for_output(&sb, &["--endpoint-url", &url, "-o", "json"]);
    let started = running.interrupt(SIGINT);
    let (code, stdout, stderr) = finish(running);
    assert!(started.elapsed() < Duration::from_secs(3), "Ctrl-C stops promptly");
    assert_eq!(code, Some(130), "{stderr}");
    let doc: Value = serde_json::from_slice(&stdout).expect("a complete JSON document after Ctrl-C");
    let printed: Vec<String> =
        doc["Events"].as_array().unwrap().iter().map(|e| e["EventId"].as_str().unwrap().to_owned()).collect();
    assert!(printed.len() < records.len());
    assert!(stderr.contains("interrupted"), "{stderr}");
    let rest = run_ok(sb.ctlookup().args(["--endpoint-url", &url, "--starting-token", &token_in(&stderr)]));
    let mut all = printed;
    all.extend(jsonl_ids(&rest.stdout));
    assert_eq!(all, all_ids(&records));
}

#[test]
fn the_global_service_hint() {
    let sb = Sandbox::new();
    let server = serve(&records(10, 64, fixed_newest()));
    let out = run_ok(sb.ctlookup().args([
        "--endpoint-url",
        &server.url(),
        "--region",
        "eu-west-1",
        "--event-source",
        "iam.amazonaws.com",
    ]));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("us-east-1"), "{stderr}");
    let out = run_ok(sb.ctlookup().args([
        "--endpoint-url",
        &server.url(),
        "--region",
        "us-east-1",
        "--event-source",
        "iam.amazonaws.com",
    ]));
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");
}

#[test]
fn progress_ends_with_a_summary_line() {
    let sb = Sandbox::new();
    let records = records(120, 65, fixed_newest());
    let server = serve(&records);
    let out = run_ok(sb.ctlookup().args([
        "--endpoint-url",
        &server.url(),
        "--tps",
        "50",
        "--progress",
        "--username",
        "alice",
    ]));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let matched = jsonl_ids(&out.stdout).len();
    assert!(stderr.contains(&format!("ctlookup: {matched} matched of ")), "{stderr}");
    assert!(stderr.contains(" pages · 1 region · "), "{stderr}");
    let out = run_ok(sb.ctlookup().args(["--endpoint-url", &server.url(), "--tps", "50"]));
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "", "no progress when stderr is not a terminal");
}

#[test]
fn several_regions_are_merged_newest_first_and_resume_together() {
    let sb = Sandbox::new();
    let records = records(300, 66, fixed_newest());
    let server = serve(&records);
    server.set_partition_by_region(true);
    let url = server.url();
    let in_regions = |regions: &[&str]| -> Vec<String> {
        records.iter().filter(|r| regions.contains(&r["awsRegion"].as_str().unwrap())).map(event_id).collect()
    };
    let both = in_regions(&["us-east-1", "us-west-2"]);
    assert!(both.len() > in_regions(&["us-east-1"]).len() && !in_regions(&["us-west-2"]).is_empty());

    let out = run_ok(sb.ctlookup().args(["--endpoint-url", &url, "--tps", "50", "--region", "us-east-1,us-west-2"]));
    assert_eq!(jsonl_ids(&out.stdout), both);
    let regions: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["awsRegion"].as_str().unwrap().to_owned())
        .collect();
    assert!(regions.iter().any(|r| r == "us-west-2") && regions.iter().any(|r| r == "us-east-1"));

    // Page through both regions with one token.
    let mut collected = Vec::new();
    let mut token: Option<String> = None;
    let mut first_token = None;
    loop {
        let mut cmd = sb.ctlookup();
        cmd.args(["--endpoint-url", &url, "--tps", "50", "--region", "us-east-1", "--region", "us-west-2"]);
        cmd.args(["--max-items", "40"]);
        if let Some(t) = &token {
            cmd.args(["--starting-token", t]);
        }
        let out = run_ok(&mut cmd);
        collected.extend(jsonl_ids(&out.stdout));
        let stderr = String::from_utf8(out.stderr).unwrap();
        match stderr.split("--starting-token ").nth(1) {
            Some(t) => token = Some(t.trim().to_owned()),
            None => break,
        }
        first_token.get_or_insert_with(|| token.clone().unwrap());
        assert!(collected.len() <= both.len());
    }
    assert_eq!(collected, both);
    // A token of the two-region query does not fit a one-region query.
    let requests = server.requests().len();
    let out = sb
        .ctlookup()
        .args(["--endpoint-url", &url, "--region", "us-east-1", "--starting-token", &first_token.unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("belongs to another query"));
    assert_eq!(server.requests().len(), requests);
}
