//! Shared pieces of the integration tests: the binary with a cleaned environment, generated events,
//! and the fake CloudTrail server holding them.
#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;
use chrono::{DateTime, Utc};
use fake_cloudtrail::generate::{self, GenOptions};
use fake_cloudtrail::server::FakeCloudTrail;
use serde_json::Value;
use tempfile::TempDir;

/// A scratch HOME, so that no real AWS configuration or credentials are ever read.
pub struct Sandbox {
    pub home: TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { home: tempfile::tempdir().expect("temp dir") }
    }

    /// `ctlookup` with only the variables a test means to give it: dummy credentials, a region, UTC,
    /// and the instance metadata service off (the SDK must never look beyond loopback).
    pub fn ctlookup(&self) -> Command {
        Command::from_std(self.std_ctlookup())
    }

    /// The same as a plain `std::process::Command`, for tests that drive the pipes themselves.
    pub fn std_ctlookup(&self) -> std::process::Command {
        let mut cmd = self.std_bare();
        cmd.env("AWS_ACCESS_KEY_ID", "AKIDTESTEXAMPLE00000")
            .env("AWS_SECRET_ACCESS_KEY", "test/secret/key")
            .env("AWS_REGION", "us-east-1");
        cmd
    }

    /// `ctlookup` with no credentials and no region at all.
    pub fn bare(&self) -> Command {
        Command::from_std(self.std_bare())
    }

    fn std_bare(&self) -> std::process::Command {
        let home = self.home.path();
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("ctlookup"));
        cmd.env_clear()
            .env("HOME", home)
            .env("AWS_CONFIG_FILE", home.join("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("TZ", "UTC");
        cmd
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.home.path().join(name)
    }
}

/// `count` realistic records, newest first, the newest at `newest`.
pub fn records(count: usize, seed: u64, newest: DateTime<Utc>) -> Vec<Value> {
    generate::records(&GenOptions { seed, count, newest, max_gap_secs: 600 }).collect()
}

/// A fixed point in time for tests that do not depend on "now".
pub fn fixed_newest() -> DateTime<Utc> {
    "2024-07-22T09:00:00Z".parse().unwrap()
}

pub fn serve(records: &[Value]) -> FakeCloudTrail {
    FakeCloudTrail::start(records.iter().map(generate::api_event).collect())
}

pub fn event_id(record: &Value) -> String {
    record["eventID"].as_str().expect("eventID").to_owned()
}

/// The eventIDs of JSON Lines output, in order.
pub fn jsonl_ids(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
            event_id(&record)
        })
        .collect()
}

/// The lookup attributes of every LookupEvents request the server saw.
pub fn sent_attributes(server: &FakeCloudTrail) -> Vec<Option<(String, String)>> {
    server
        .requests()
        .iter()
        .map(|r| {
            r.body["LookupAttributes"].as_array().and_then(|list| list.first()).map(|a| {
                (a["AttributeKey"].as_str().unwrap().to_owned(), a["AttributeValue"].as_str().unwrap().to_owned())
            })
        })
        .collect()
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write file");
}

/// The records' envelopes as the API would list them.
pub fn envelope(record: &Value) -> Value {
    generate::api_event(record)
}

/// Runs to completion and insists on success, showing stderr when it fails.
pub fn run_ok(cmd: &mut assert_cmd::Command) -> std::process::Output {
    let out = cmd.output().expect("run ctlookup");
    assert!(out.status.success(), "exit {:?}, stderr: {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
    out
}

/// The eventIDs of the records that `keep` accepts, in order.
pub fn ids_where(records: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    records.iter().filter(|r| keep(r)).map(event_id).collect()
}

/// Runs to completion and insists on the exit status `code`, showing stderr when it differs.
pub fn run_code(cmd: &mut assert_cmd::Command, code: i32) -> std::process::Output {
    let out = cmd.output().expect("run ctlookup");
    assert_eq!(out.status.code(), Some(code), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    out
}
