//! `--follow`: events added to the fake server while ctlookup follows are printed once, within two
//! polls; late ones (4 minutes old) too; nothing twice over many polls; no throttling at 2 requests/s;
//! Ctrl-C ends with 130 and complete output.

use std::time::Duration;

use chrono::Utc;
use fake_cloudtrail::generate::{self, GenOptions};
use serde_json::Value;

use super::common::*;

/// Records close together, the newest `ago` seconds before now.
fn recent(count: usize, seed: u64, ago: i64) -> Vec<Value> {
    let newest = Utc::now() - chrono::Duration::seconds(ago);
    generate::records(&GenOptions { seed, count, newest, max_gap_secs: 5 }).collect()
}

/// ctlookup following, its stdout read as it comes.
struct Following {
    running: Running,
}

impl Following {
    fn start(sb: &Sandbox, url: &str, extra: &[&str]) -> Following {
        let mut cmd = sb.std_ctlookup();
        cmd.args(["--endpoint-url", url, "--follow", "--poll", "1"]).args(extra);
        Following { running: Running::start(&mut cmd) }
    }

    fn ids(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.running.stdout())
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|r| event_id(&r))
            .collect()
    }

    /// Waits (at most 30 s, far beyond two polls) until `id` was printed.
    fn wait_for(&self, id: &str) {
        let printed = wait_until(Duration::from_secs(30), || self.ids().iter().any(|i| i == id));
        assert!(printed, "{id} never printed; printed: {:?}", self.ids());
    }

    /// Ctrl-C; the exit status, stderr and all of stdout.
    fn interrupt(mut self) -> (Option<i32>, String, String) {
        self.running.interrupt(SIGINT);
        let out = self.running.finish();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let stdout = String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>().join("\n");
        (out.status.code(), stderr, stdout)
    }
}

#[test]
fn new_and_late_events_are_printed_once_as_they_arrive() {
    let sb = Sandbox::new();
    let records = recent(30, 30, 60);
    let server = serve(&records);
    let following = Following::start(&sb, &server.url(), &["--tps", "1000"]);
    following.wait_for(&event_id(&records[29]));
    let new = recent(1, 31, 0).remove(0);
    server.add_events(vec![envelope(&new)]);
    following.wait_for(&event_id(&new));
    // Delivered now, but 4 minutes old: behind the newest event already printed.
    let late = recent(1, 32, 240).remove(0);
    server.add_events(vec![envelope(&late)]);
    following.wait_for(&event_id(&late));
    let polls = server.requests().len();
    assert!(wait_until(PATIENCE, || server.requests().len() >= polls + 4), "four more polls");
    let ids = following.ids();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "nothing twice over many polls: {ids:?}");
    assert_eq!(ids.len(), 32);
    let (code, stderr, _) = following.interrupt();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(!stderr.contains("--starting-token"), "{stderr}");
}

#[test]
fn following_at_the_services_rate_is_never_throttled_and_json_closes_on_ctrl_c() {
    let sb = Sandbox::new();
    let records = recent(120, 33, 30);
    let server = serve(&records);
    server.set_rate_limit(Some(2.0));
    let following = Following::start(&sb, &server.url(), &["-o", "json"]);
    let mut added = Vec::new();
    for n in 0..3 {
        let event = recent(1, 40 + n, 0).remove(0);
        server.add_events(vec![envelope(&event)]);
        added.push(event);
        std::thread::sleep(Duration::from_millis(1500));
    }
    wait_until(Duration::from_secs(30), || server.requests().len() >= 12);
    let (code, stderr, out) = following.interrupt();
    assert_eq!(code, Some(130), "{stderr}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not one JSON document ({e}): {out}"));
    let ids: Vec<&str> = doc["Events"].as_array().unwrap().iter().map(|e| e["EventId"].as_str().unwrap()).collect();
    for event in records.iter().chain(&added) {
        assert_eq!(ids.iter().filter(|id| **id == event_id(event)).count(), 1);
    }
    let throttled = server.requests().iter().filter(|r| r.error_type.as_deref() == Some("ThrottlingException")).count();
    assert_eq!(throttled, 0);
}

#[test]
fn follow_refuses_what_it_cannot_do() {
    let sb = Sandbox::new();
    for args in [
        &["--follow", "--until", "1h"][..],
        &["--follow", "--input", "-"],
        &["--follow", "--poll", "0"],
        &["--follow", "--lag", "forever"],
        &["--poll", "5"],
        &["--follow", "--count-by", "eventName"],
    ] {
        run_code(sb.ctlookup().args(args), 2);
    }
}
