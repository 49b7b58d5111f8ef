//! `services`, `actions`, `completions` and the "did you mean" of a lookup that matched nothing, with a
//! local HTTP server standing in for the AWS Service Reference.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;

use crate::common::*;
use fake_cloudtrail::http::StaticServer;
use serde_json::{json, Value};

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
    server: StaticServer,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture { sb: Sandbox::new(), server: StaticServer::start(routes) }
    }

    fn ctlookup(&self) -> assert_cmd::Command {
        let mut cmd = self.sb.ctlookup();
        cmd.env("CTLOOKUP_SERVICE_REFERENCE_URL", format!("{}/", self.server.url()))
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
    let url = server.url();
    drop(server);
    let mut cmd = sb.ctlookup();
    cmd.env("CTLOOKUP_SERVICE_REFERENCE_URL", format!("{url}/")).env("XDG_CACHE_HOME", sb.path("cache"));
    let offline = run_ok(cmd.args(["actions", "ec2", "-o", "jsonl"]));
    assert_eq!(names(&offline), ["DescribeInstances", "RunInstances", "TerminateInstances"]);
}

#[test]
fn a_broken_or_missing_reference_is_a_clear_error() {
    let sb = Sandbox::new();
    let broken = StaticServer::start(|_| HashMap::from([("/".to_owned(), (200, "<html>oops</html>".to_owned()))]));
    let out = sb
        .ctlookup()
        .env("CTLOOKUP_SERVICE_REFERENCE_URL", format!("{}/", broken.url()))
        .env("XDG_CACHE_HOME", sb.path("cache"))
        .args(["services"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("ctlookup: ") && stderr.lines().count() == 1 && stderr.contains(&broken.url()),
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
    let out = run_ok(fx.ctlookup().args([
        "--endpoint-url",
        &cloudtrail.url(),
        "--tps",
        FAST_TPS,
        "--event-name",
        "DescribeInstances",
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// Runs `services` with this environment and says whether it left its cache under `base/ctlookup`.
fn caches_under(sb: &Sandbox, server: &StaticServer, env: &[(&str, &str)], base: &Path) -> bool {
    let mut cmd = sb.ctlookup();
    // A relative cache directory, were one used, would land in the sandbox, not in the working tree.
    cmd.current_dir(sb.home.path()).env("CTLOOKUP_SERVICE_REFERENCE_URL", server.base());
    for (name, value) in env {
        cmd.env(name, value);
    }
    run_ok(cmd.args(["services", "-o", "jsonl"]));
    base.join("ctlookup/service-reference/index.json").is_file()
}

#[cfg(target_os = "linux")]
#[test]
fn the_cache_is_under_xdg_cache_home_else_home_cache_on_linux() {
    let server = StaticServer::start(routes);
    let sb = Sandbox::new();
    let xdg = sb.path("xdg");
    assert!(caches_under(&sb, &server, &[("XDG_CACHE_HOME", xdg.to_str().unwrap())], &xdg));
    assert!(!sb.path(".cache").exists());

    assert!(caches_under(&sb, &server, &[], &sb.path(".cache")), "without XDG_CACHE_HOME, ~/.cache");
    std::fs::remove_dir_all(sb.path(".cache")).unwrap();
    assert!(caches_under(&sb, &server, &[("XDG_CACHE_HOME", "")], &sb.path(".cache")), "an empty one is unset");
    std::fs::remove_dir_all(sb.path(".cache")).unwrap();
    // The XDG spec: a relative path in these variables is invalid and ignored.
    assert!(caches_under(&sb, &server, &[("XDG_CACHE_HOME", "relative")], &sb.path(".cache")));
    assert!(!sb.path("relative").exists());
}

#[cfg(target_os = "macos")]
#[test]
fn the_cache_is_under_library_caches_on_macos() {
    let server = StaticServer::start(routes);
    let sb = Sandbox::new();
    let xdg = sb.path("xdg");
    assert!(caches_under(&sb, &server, &[("XDG_CACHE_HOME", xdg.to_str().unwrap())], &sb.path("Library/Caches")));
    assert!(!xdg.exists());
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
