//! Saved data as people really have it: lookup responses from other SDKs, pretty-printed and
//! concatenated documents, bare arrays, byte-order marks, link loops, and damaged files. Each event is
//! read exactly once; what cannot be read is said (a few lines per file at most) and exits 1.

use std::io::Write;

use crate::common::*;
use fake_cloudtrail::generate;
use flate2::write::GzEncoder;
use serde_json::{json, Value};

fn sample(count: usize) -> Vec<Value> {
    records(count, 77, fixed_newest())
}

/// The events as `aws cloudtrail lookup-events` lists them.
fn lookup_events(records: &[Value]) -> Vec<Value> {
    records.iter().map(generate::aws_cli_event).collect()
}

fn ids(records: &[Value]) -> Vec<String> {
    records.iter().map(event_id).collect()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Reads one file, insisting on exit 0 and no warning.
fn read_clean(sb: &Sandbox, name: &str, bytes: &[u8]) -> Vec<String> {
    let path = sb.path(name);
    std::fs::write(&path, bytes).unwrap();
    let out = run_ok(sb.ctlookup().args(["--input", path.to_str().unwrap()]));
    assert_eq!(stderr(&out), "", "{name}");
    jsonl_ids(&out.stdout)
}

#[test]
fn lookup_responses_of_every_sdk_in_any_key_order() {
    let sb = Sandbox::new();
    let recs = sample(60);
    let events = lookup_events(&recs);
    let js_sdk_v3 = json!({"$metadata": {"httpStatusCode": 200, "requestId": "5d3b…", "attempts": 1},
                           "Events": events, "NextToken": "tok"});
    let boto3 = json!({"Events": events, "ResponseMetadata": {"RequestId": "x", "HTTPStatusCode": 200,
                       "HTTPHeaders": {"content-type": "application/x-amz-json-1.1"}, "RetryAttempts": 0}});
    let next_token_first = json!({"NextToken": "abc", "Events": events});
    for (name, doc) in [("js.json", &js_sdk_v3), ("boto3.json", &boto3), ("token.json", &next_token_first)] {
        assert_eq!(read_clean(&sb, name, serde_json::to_string(doc).unwrap().as_bytes()), ids(&recs), "{name}");
        let pretty = serde_json::to_string_pretty(doc).unwrap();
        assert_eq!(read_clean(&sb, name, pretty.as_bytes()), ids(&recs), "{name}, pretty");
    }
}

#[test]
fn trail_documents_with_other_keys_first_and_pretty_printed() {
    let sb = Sandbox::new();
    let recs = sample(40);
    let doc = json!({"Comment": {"Records": "not this one"}, "Records": recs});
    // The key "Records" inside another object is not the document's array.
    let text = serde_json::to_string_pretty(&json!({"meta": {"a": [1, 2]}, "Records": recs})).unwrap();
    assert_eq!(read_clean(&sb, "pretty.json", text.as_bytes()), ids(&recs));
    let out = run_ok(sb.ctlookup().args(["--input", "-"]).write_stdin(doc.to_string()));
    assert_eq!(jsonl_ids(&out.stdout), ids(&recs), "a nested \"Records\" key is no document");
    assert_eq!(stderr(&out), "");
}

#[test]
fn a_byte_order_mark_is_not_data() {
    let sb = Sandbox::new();
    let recs = sample(30);
    let mut doc = b"\xef\xbb\xbf".to_vec();
    doc.extend(serde_json::to_vec_pretty(&json!({"Events": lookup_events(&recs)})).unwrap());
    assert_eq!(read_clean(&sb, "bom.json", &doc), ids(&recs));
    let mut lines = b"\xef\xbb\xbf".to_vec();
    generate::write_records_jsonl(&mut lines, &recs).unwrap();
    assert_eq!(read_clean(&sb, "bom.jsonl", &lines), ids(&recs));
    let out = run_ok(sb.ctlookup().args(["--input", "-"]).write_stdin(lines));
    assert_eq!(jsonl_ids(&out.stdout), ids(&recs), "stdin");
}

#[test]
fn documents_and_records_one_after_another() {
    let sb = Sandbox::new();
    let recs = sample(90);
    let (a, b, c) = (&recs[..30], &recs[30..60], &recs[60..]);
    // `cat a.json b.json c.json | ctlookup --input -`: a trail log, a saved lookup, a pretty trail log.
    let mut text = json!({"Records": a}).to_string();
    text.push_str(&serde_json::to_string_pretty(&json!({"Events": lookup_events(b)})).unwrap());
    text.push('\n');
    text.push_str(&serde_json::to_string_pretty(&json!({"Records": c})).unwrap());
    let out = run_ok(sb.ctlookup().args(["--input", "-"]).write_stdin(text));
    assert_eq!(jsonl_ids(&out.stdout), ids(&recs));
    assert_eq!(stderr(&out), "");

    // `jq . records.jsonl > pretty.json`: pretty records one after another.
    let pretty: String = recs.iter().map(|r| serde_json::to_string_pretty(r).unwrap() + "\n").collect();
    assert_eq!(read_clean(&sb, "pretty.json", pretty.as_bytes()), ids(&recs));

    // A gzip of several members, each a document (as `cat a.json.gz b.json.gz` makes).
    let mut gz = Vec::new();
    for part in [a, b, c] {
        let mut member = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        member.write_all(json!({"Records": part}).to_string().as_bytes()).unwrap();
        gz.extend(member.finish().unwrap());
    }
    assert_eq!(read_clean(&sb, "members.json.gz", &gz), ids(&recs));
}

#[test]
fn bare_arrays_of_records_and_of_lookup_events() {
    let sb = Sandbox::new();
    let recs = sample(25);
    assert_eq!(read_clean(&sb, "records.json", serde_json::to_string(&recs).unwrap().as_bytes()), ids(&recs));
    let events = serde_json::to_string_pretty(&lookup_events(&recs)).unwrap();
    assert_eq!(read_clean(&sb, "events.json", events.as_bytes()), ids(&recs));
}

#[test]
fn wrong_containers_and_trailing_garbage_are_named() {
    let sb = Sandbox::new();
    let recs = sample(5);
    for (name, text) in [
        ("records-object.json", r#"{"Records": {}}"#.to_owned()),
        ("events-string.json", r#"{"Events": "x"}"#.to_owned()),
        ("garbage.json", format!("{} trailing garbage", json!({"Records": recs}))),
    ] {
        let path = sb.path(name);
        write(&path, &text);
        let out = run_code(sb.ctlookup().args(["--input", path.to_str().unwrap()]), 1);
        let said = stderr(&out);
        assert!(said.contains(&format!("{name}: ")), "{name}: {said}");
        if name == "garbage.json" {
            assert_eq!(jsonl_ids(&out.stdout), ids(&recs), "the events before the garbage are printed");
        } else {
            assert!(said.contains("is not an array"), "{said}");
        }
    }
}

#[cfg(unix)]
#[test]
fn link_loops_read_each_file_once() {
    let sb = Sandbox::new();
    let recs = sample(40);
    let root = sb.path("AWSLogs");
    generate::write_trail_tree(&root, &recs).unwrap();
    // Two links back up the tree: without care, every file is read again and again.
    std::os::unix::fs::symlink(&root, root.join("loop")).unwrap();
    std::os::unix::fs::symlink("..", root.join("up")).unwrap();
    let out = run_ok(sb.ctlookup().args(["--input", root.to_str().unwrap()]));
    let mut got = jsonl_ids(&out.stdout);
    got.sort();
    let mut want = ids(&recs);
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_record_without_a_time_is_skipped_aloud_under_a_window() {
    let sb = Sandbox::new();
    let recs = sample(3);
    let mut timeless = recs[1].clone();
    timeless.as_object_mut().unwrap().remove("eventTime");
    let mut unreadable = recs[2].clone();
    unreadable["eventTime"] = json!("yesterday-ish");
    let lines = [&recs[0], &timeless, &unreadable].map(|r| r.to_string()).join("\n") + "\n";
    let path = sb.path("times.jsonl");
    write(&path, &lines);
    // Without a window every record is an event.
    let out = run_ok(sb.ctlookup().args(["--input", path.to_str().unwrap()]));
    assert_eq!(jsonl_ids(&out.stdout).len(), 3);
    let out = run_code(sb.ctlookup().args(["--input", path.to_str().unwrap(), "--since", "2020-01-01"]), 1);
    assert_eq!(jsonl_ids(&out.stdout), ids(&recs[..1]));
    let said = stderr(&out);
    assert!(said.contains("times.jsonl: line 2: ") && said.contains("times.jsonl: line 3: "), "{said}");
    assert!(said.contains("2 unreadable events or records were skipped"), "{said}");
}

#[test]
fn a_saved_lookup_event_without_event_time_uses_the_record() {
    let sb = Sandbox::new();
    let recs = sample(4);
    let mut events = lookup_events(&recs);
    for event in &mut events {
        event.as_object_mut().unwrap().remove("EventTime");
    }
    let path = sb.path("no-time.json");
    write(&path, &json!({"Events": events}).to_string());
    let newest = recs[0]["eventTime"].as_str().unwrap();
    let out = run_ok(sb.ctlookup().args(["--input", path.to_str().unwrap(), "--since", newest]));
    assert_eq!(jsonl_ids(&out.stdout), ids(&recs[..1]));
    let out = run_ok(sb.ctlookup().args(["--input", path.to_str().unwrap(), "-o", "json"]));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["Events"][0]["EventTime"].as_str().is_some_and(|t| t.starts_with(&newest[..19])), "{doc}");
}

#[test]
fn a_bad_file_says_a_few_lines_and_the_count() {
    let sb = Sandbox::new();
    let good = sample(2);
    let mut text = good[0].to_string() + "\n";
    for i in 0..300 {
        text.push_str(&format!("not json {i}\n"));
    }
    text.push_str(&(good[1].to_string() + "\n"));
    let path = sb.path("noisy.jsonl");
    write(&path, &text);
    let out = run_code(sb.ctlookup().args(["--input", path.to_str().unwrap()]), 1);
    assert_eq!(jsonl_ids(&out.stdout), ids(&good));
    let said = stderr(&out);
    let about_it = said.lines().filter(|l| l.contains("noisy.jsonl")).count();
    assert!(about_it <= 6, "{about_it} lines: {said}");
    assert!(said.contains("… and 295 more problems in "), "{said}");
    assert!(said.contains("300 unreadable events or records were skipped"), "{said}");
}

#[test]
fn a_truncated_document_prints_what_came_before_and_fails() {
    let sb = Sandbox::new();
    let recs = sample(50);
    let text = serde_json::to_string_pretty(&json!({"Records": recs})).unwrap();
    let path = sb.path("cut.json");
    write(&path, &text[..text.len() / 2]);
    let out = run_code(sb.ctlookup().args(["--input", path.to_str().unwrap()]), 1);
    let got = jsonl_ids(&out.stdout);
    assert!(!got.is_empty() && got.len() < recs.len());
    assert_eq!(got, ids(&recs[..got.len()]));
    assert!(stderr(&out).contains("cut.json: truncated"), "{}", stderr(&out));
}

#[test]
fn failures_find_sign_ins_and_role_switches_without_an_error_code() {
    let sb = Sandbox::new();
    let base = |id: &str, name: &str| {
        json!({"eventVersion": "1.08", "eventTime": "2024-07-22T01:00:00Z", "eventSource": "signin.amazonaws.com",
               "eventName": name, "eventID": id, "userIdentity": {"type": "IAMUser", "userName": "alice"}})
    };
    let mut failed_login = base("login-failed", "ConsoleLogin");
    failed_login["responseElements"] = json!({"ConsoleLogin": "Failure"});
    failed_login["errorMessage"] = json!("Failed authentication");
    let mut ok_login = base("login-ok", "ConsoleLogin");
    ok_login["responseElements"] = json!({"ConsoleLogin": "Success"});
    let mut failed_switch = base("switch-failed", "SwitchRole");
    failed_switch["responseElements"] = json!({"SwitchRole": "Failure"});
    let mut denied = base("denied", "ListUsers");
    denied["errorCode"] = json!("AccessDenied");
    let lines = [&failed_login, &ok_login, &failed_switch, &denied].map(|r| r.to_string()).join("\n");
    let path = sb.path("signin.jsonl");
    write(&path, &lines);
    let out = run_ok(sb.ctlookup().args(["--input", path.to_str().unwrap(), "--failures"]));
    assert_eq!(jsonl_ids(&out.stdout), ["login-failed", "switch-failed", "denied"]);
    let out = run_ok(sb.ctlookup().args(["--input", path.to_str().unwrap(), "--errors"]));
    assert_eq!(jsonl_ids(&out.stdout), ["denied"], "--errors stays as it was");
}

#[test]
fn a_null_field_was_seen_and_is_no_typo() {
    let sb = Sandbox::new();
    let path = sb.path("null.jsonl");
    write(
        &path,
        &(json!({"eventID": "a", "eventTime": "2024-07-22T01:00:00Z", "requestParameters": null}).to_string() + "\n"),
    );
    let out = run_ok(sb.ctlookup().args(["--input", path.to_str().unwrap(), "--where", "requestParameters exists"]));
    assert_eq!(jsonl_ids(&out.stdout), Vec::<String>::new());
    assert_eq!(stderr(&out), "");
}
