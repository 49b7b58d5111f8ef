//! `services`, `actions`, `completions` and the "did you mean" of a lookup that matched nothing, with a
//! local HTTP server standing in for the AWS Service Reference.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common::*;
use serde_json::{json, Value};

/// Answers GET requests from a fixed table of paths, one connection at a time, until dropped.
struct ReferenceServer {
    url: String,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl ReferenceServer {
    /// `routes` gets the server's own address, which the index's URLs name.
    fn start(routes: impl FnOnce(&str) -> HashMap<String, (u16, String)>) -> ReferenceServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let routes = routes(&url);
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (hits2, stop2) = (hits.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut header = String::new();
                while reader.read_line(&mut header).map(|n| n > 2).unwrap_or(false) {
                    header.clear();
                }
                hits2.fetch_add(1, Ordering::SeqCst);
                let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body) = routes.get(&path).cloned().unwrap_or((404, "not found".to_owned()));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        ReferenceServer { url, hits, stop }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn routes(base: &str) -> HashMap<String, (u16, String)> {
    let service = |name: &str, actions: &[&str]| {
        let actions: Vec<Value> = actions.iter().map(|a| json!({"Name": a})).collect();
        (200, json!({"Name": name, "Actions": actions}).to_string())
    };
    let index = json!([
        {"service": "ec2", "url": format!("{base}/ec2.json")},
        {"service": "cloudwatch", "url": format!("{base}/cloudwatch.json")},
        {"service": "s3", "url": format!("{base}/s3.json")},
    ]);
    HashMap::from([
        ("/".to_owned(), (200, index.to_string())),
        ("/ec2.json".to_owned(), service("ec2", &["RunInstances", "TerminateInstances", "DescribeInstances"])),
        ("/cloudwatch.json".to_owned(), service("cloudwatch", &["PutMetricAlarm", "DescribeAlarms"])),
        ("/s3.json".to_owned(), service("s3", &["CreateBucket", "PutBucketPolicy"])),
    ])
}

struct Fixture {
    sb: Sandbox,
    server: ReferenceServer,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture { sb: Sandbox::new(), server: ReferenceServer::start(routes) }
    }

    fn ctlookup(&self) -> assert_cmd::Command {
        let mut cmd = self.sb.ctlookup();
        cmd.env("CTLOOKUP_SERVICE_REFERENCE_URL", format!("{}/", self.server.url))
            .env("XDG_CACHE_HOME", self.sb.path("cache"));
        cmd
    }
}

fn lines(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn services_list_event_sources_and_are_cached() {
    let fx = Fixture::new();
    let out = run_ok(fx.ctlookup().args(["services", "-o", "jsonl"]));
    assert_eq!(
        lines(&out),
        [
            json!({"service": "cloudwatch", "eventSource": "monitoring.amazonaws.com"}),
            json!({"service": "ec2", "eventSource": "ec2.amazonaws.com"}),
            json!({"service": "s3", "eventSource": "s3.amazonaws.com"}),
        ]
    );
    let hits = fx.server.hits();
    let again = run_ok(fx.ctlookup().args(["services", "-o", "jsonl"]));
    assert_eq!(lines(&again), lines(&out));
    assert_eq!(fx.server.hits(), hits, "the second run reads the cache");
    let refreshed = run_ok(fx.ctlookup().args(["services", "--refresh", "-o", "csv"]));
    assert!(fx.server.hits() > hits, "--refresh fetches again");
    assert!(String::from_utf8(refreshed.stdout)
        .unwrap()
        .starts_with("service,eventSource\r\ncloudwatch,monitoring.amazonaws.com\r\n"));
}

#[test]
fn actions_by_prefix_or_event_source_and_offline_from_the_cache() {
    let fx = Fixture::new();
    let names = |out: &std::process::Output| -> Vec<String> {
        lines(out).iter().map(|v| v["eventName"].as_str().unwrap().to_owned()).collect()
    };
    let by_prefix = run_ok(fx.ctlookup().args(["actions", "ec2", "-o", "jsonl"]));
    assert_eq!(names(&by_prefix), ["DescribeInstances", "RunInstances", "TerminateInstances"]);
    let by_source = run_ok(fx.ctlookup().args(["actions", "monitoring.amazonaws.com", "-o", "jsonl"]));
    assert_eq!(names(&by_source), ["DescribeAlarms", "PutMetricAlarm"]);
    let every = run_ok(fx.ctlookup().args(["actions", "-o", "jsonl"]));
    let every = lines(&every);
    assert_eq!(every.len(), 7, "every action of every service");
    assert!(every.contains(&json!({"eventSource": "monitoring.amazonaws.com", "eventName": "PutMetricAlarm"})));
    let unknown = fx.ctlookup().args(["actions", "ec3"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("ec2"), "suggests the nearest service");

    // The server goes away: what was cached still answers.
    let Fixture { sb, server } = fx;
    let url = server.url.clone();
    drop(server);
    let mut cmd = sb.ctlookup();
    cmd.env("CTLOOKUP_SERVICE_REFERENCE_URL", format!("{url}/")).env("XDG_CACHE_HOME", sb.path("cache"));
    let offline = run_ok(cmd.args(["actions", "ec2", "-o", "jsonl"]));
    assert_eq!(names(&offline), ["DescribeInstances", "RunInstances", "TerminateInstances"]);
}

#[test]
fn a_broken_or_missing_reference_is_a_clear_error() {
    let sb = Sandbox::new();
    let broken = ReferenceServer::start(|_| HashMap::from([("/".to_owned(), (200, "<html>oops</html>".to_owned()))]));
    let out = sb
        .ctlookup()
        .env("CTLOOKUP_SERVICE_REFERENCE_URL", format!("{}/", broken.url))
        .env("XDG_CACHE_HOME", sb.path("cache"))
        .args(["services"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("ctlookup: ") && stderr.lines().count() == 1 && stderr.contains(&broken.url),
        "{stderr}"
    );

    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = sb
        .ctlookup()
        .env("CTLOOKUP_SERVICE_REFERENCE_URL", format!("http://{closed}/"))
        .env("XDG_CACHE_HOME", sb.path("empty-cache"))
        .args(["services"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Service Reference") && stderr.lines().count() == 1, "{stderr}");
}

#[test]
fn a_lookup_that_matched_nothing_names_the_real_event_name() {
    let fx = Fixture::new();
    run_ok(fx.ctlookup().args(["services", "-o", "jsonl"]));
    run_ok(fx.ctlookup().args(["actions", "ec2", "-o", "jsonl"]));
    let hits = fx.server.hits();
    let cloudtrail = serve(&records(60, 70, fixed_newest()));
    for (args, expected) in [
        (vec!["--event-name", "RunInstance"], "did you mean RunInstances"),
        (vec!["--event-name", "runinstances", "--event-source", "ec2.amazonaws.com"], "did you mean RunInstances"),
        (vec!["--event-source", "ec2.amazonaws.co"], "did you mean ec2.amazonaws.com"),
        (vec!["--where", "eventName = TerminateInstance"], "did you mean TerminateInstances"),
    ] {
        let out = run_ok(fx.ctlookup().args(["--endpoint-url", &cloudtrail.url(), "--tps", "50"]).args(&args));
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(fx.server.hits(), hits, "no Service Reference request during a lookup");
    // A known name that simply matched nothing says nothing.
    let out = run_ok(fx.ctlookup().args(["--endpoint-url", &cloudtrail.url(), "--event-name", "DescribeInstances"]));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn completion_scripts() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run_ok(sb.ctlookup().args(["completions", shell]));
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("ctlookup") && script.contains("event-name"), "{shell}");
    }
    let out = sb.ctlookup().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
