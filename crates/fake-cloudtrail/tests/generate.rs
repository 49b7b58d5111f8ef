//! Tests of the CloudTrail record generator: determinism, IDs, order, realism, the LookupEvents envelope
//! rules (one test per userIdentity type), the aws CLI document, JSON Lines, gzip trail logs and trees,
//! the `gen-events` binary, and that `examples/lookup-events.json` is what the generator produces.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, TimeZone, Utc};
use fake_cloudtrail::generate::{
    self, api_event, aws_cli_event, records, write_aws_cli_document, write_records_jsonl, write_trail_log_gz,
    write_trail_tree, GenOptions,
};
use serde_json::{json, Value};

fn opts(seed: u64, count: usize) -> GenOptions {
    GenOptions { seed, count, newest: Utc.with_ymd_and_hms(2024, 7, 22, 9, 0, 0).unwrap(), max_gap_secs: 120 }
}

fn sample(seed: u64, count: usize) -> Vec<Value> {
    records(&opts(seed, count)).collect()
}

fn s<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.').try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

fn time_of(r: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s(r, "eventTime").unwrap()).unwrap().with_timezone(&Utc)
}

/// A unique scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "fake-cloudtrail-{name}-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn gunzip_json(path: &Path) -> Value {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut text).unwrap();
    assert!(!text.contains('\n'), "a trail log file is one line");
    serde_json::from_str(&text).unwrap()
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
}

// ---------------------------------------------------------------------------------------------------
// The stream

#[test]
fn same_seed_same_records_and_other_seed_other_records() {
    assert_eq!(sample(42, 500), sample(42, 500));
    assert_ne!(sample(42, 500), sample(43, 500));
    // A shorter run is a prefix of a longer one.
    assert_eq!(sample(42, 120)[..], sample(42, 500)[..120]);
}

#[test]
fn count_is_respected() {
    assert_eq!(records(&opts(1, 0)).count(), 0);
    assert_eq!(records(&opts(1, 1)).count(), 1);
    assert_eq!(records(&opts(1, 1234)).count(), 1234);
}

#[test]
fn event_ids_are_unique_and_uuid_shaped() {
    let mut seen = HashSet::new();
    for r in records(&opts(9, 50_000)) {
        let id = s(&r, "eventID").unwrap().to_string();
        assert!(is_uuid(&id), "{id}");
        assert_eq!(&id[14..15], "4", "version 4: {id}");
        assert!(seen.insert(id.clone()), "duplicate {id}");
    }
}

#[test]
fn newest_first_starting_at_newest_with_bounded_gaps() {
    let o = GenOptions {
        newest: Utc.with_ymd_and_hms(2024, 7, 22, 9, 0, 0).unwrap() + chrono::Duration::milliseconds(750),
        max_gap_secs: 30,
        ..opts(3, 3000)
    };
    let all: Vec<Value> = records(&o).collect();
    assert_eq!(s(&all[0], "eventTime"), Some("2024-07-22T09:00:00Z"));
    for pair in all.windows(2) {
        let gap = (time_of(&pair[0]) - time_of(&pair[1])).num_seconds();
        assert!((0..=30).contains(&gap), "gap {gap}");
    }
    for r in &all {
        let t = s(r, "eventTime").unwrap();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z'));
    }
}

#[test]
fn records_have_the_fields_of_real_management_events() {
    let keys = [
        "eventVersion",
        "userIdentity",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "requestParameters",
        "responseElements",
        "eventID",
        "readOnly",
        "eventType",
        "managementEvent",
        "recipientAccountId",
        "eventCategory",
    ];
    for r in records(&opts(5, 2000)) {
        for k in keys {
            assert!(r.get(k).is_some(), "{k} missing in {r}");
        }
        let obj = r.as_object().unwrap();
        let order: Vec<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(&order[..3], ["eventVersion", "userIdentity", "eventTime"]);
        assert!(matches!(s(&r, "eventVersion"), Some("1.08" | "1.09")));
        assert_eq!(s(&r, "eventCategory"), Some("Management"));
        assert!(r["readOnly"].is_boolean());
        assert_eq!(r["managementEvent"], json!(true));
        if r.get("errorCode").is_some() {
            assert!(r.get("errorMessage").is_some());
            assert!(r["responseElements"].is_null());
        }
        let name = s(&r, "eventName").unwrap();
        if matches!(name, "ConsoleLogin" | "SwitchRole") {
            assert_eq!(s(&r, "eventType"), Some("AwsConsoleSignIn"));
        } else {
            assert_eq!(s(&r, "eventType"), Some("AwsApiCall"));
            assert!(r.get("requestID").is_some());
        }
        let source = s(&r, "eventSource").unwrap();
        if matches!(source, "iam.amazonaws.com" | "sts.amazonaws.com" | "signin.amazonaws.com") {
            assert_eq!(s(&r, "awsRegion"), Some("us-east-1"), "{name}");
        }
    }
}

#[test]
fn mix_of_identities_sources_regions_addresses_and_failures() {
    let all = sample(11, 10_000);
    let set = |f: &dyn Fn(&Value) -> Option<String>| -> HashSet<String> { all.iter().filter_map(f).collect() };
    let types = set(&|r| s(r, "userIdentity.type").map(String::from));
    for t in ["IAMUser", "AssumedRole", "Root", "AWSService", "FederatedUser"] {
        assert!(types.contains(t), "{t}");
    }
    let sources = set(&|r| s(r, "eventSource").map(String::from));
    for src in [
        "ec2.amazonaws.com",
        "s3.amazonaws.com",
        "iam.amazonaws.com",
        "sts.amazonaws.com",
        "signin.amazonaws.com",
        "kms.amazonaws.com",
        "lambda.amazonaws.com",
        "monitoring.amazonaws.com",
        "cloudtrail.amazonaws.com",
    ] {
        assert!(sources.contains(src), "{src}");
    }
    let regions = set(&|r| s(r, "awsRegion").map(String::from));
    for region in ["us-east-1", "ap-northeast-1", "us-west-2"] {
        assert!(regions.contains(region), "{region}");
    }
    let ips = set(&|r| s(r, "sourceIPAddress").map(String::from));
    assert!(ips.iter().any(|ip| ip.starts_with("203.0.113.")));
    assert!(ips.iter().any(|ip| ip.starts_with("198.51.100.")));
    assert!(ips.iter().any(|ip| ip.starts_with("10.0.")));
    assert!(ips.iter().any(|ip| ip.starts_with("2001:db8:")));
    assert!(ips.contains("ec2.amazonaws.com") || ips.contains("lambda.amazonaws.com"));
    let codes = set(&|r| s(r, "errorCode").map(String::from));
    for code in ["AccessDenied", "Client.UnauthorizedOperation", "AccessDeniedException", "ThrottlingException"] {
        assert!(codes.contains(code), "{code}");
    }
    let failed = all.iter().filter(|r| r.get("errorCode").is_some() || r.get("errorMessage").is_some()).count();
    let pct = failed as f64 * 100.0 / all.len() as f64;
    assert!((10.0..=20.0).contains(&pct), "failures {pct}%");
    let users = set(&|r| s(r, "userIdentity.userName").map(String::from));
    assert!(users.contains("alice") && users.contains("bob"));
    assert!(all
        .iter()
        .filter(|r| s(r, "userIdentity.type") == Some("IAMUser"))
        .filter_map(|r| s(r, "userIdentity.accessKeyId"))
        .any(|k| k.starts_with("AKIA") && k.len() == 20));
}

/// The hard cases planted in every block of 50 records.
fn hard_cases(block: &[Value]) -> Vec<(&'static str, bool)> {
    let any = |f: &dyn Fn(&Value) -> bool| block.iter().any(f);
    let text = |r: &Value| serde_json::to_string(r).unwrap();
    vec![
        ("ConsoleLogin Success", any(&|r| s(r, "responseElements.ConsoleLogin") == Some("Success"))),
        (
            "ConsoleLogin Failure",
            any(&|r| {
                s(r, "responseElements.ConsoleLogin") == Some("Failure")
                    && s(r, "errorMessage") == Some("Failed authentication")
            }),
        ),
        ("AccessDenied", any(&|r| s(r, "errorCode") == Some("AccessDenied"))),
        ("Client.UnauthorizedOperation", any(&|r| s(r, "errorCode") == Some("Client.UnauthorizedOperation"))),
        ("ThrottlingException", any(&|r| s(r, "errorCode") == Some("ThrottlingException"))),
        ("formula userAgent", any(&|r| s(r, "userAgent") == Some(generate::FORMULA_USER_AGENT))),
        ("ANSI userAgent", any(&|r| s(r, "userAgent").is_some_and(|ua| ua.contains("\u{1b}[31m")))),
        ("Japanese text", any(&|r| text(r).contains(generate::JAPANESE_TEXT))),
        (
            "comma, quote and newline in one value",
            any(&|r| {
                s(r, "requestParameters.description")
                    .is_some_and(|d| d.contains(',') && d.contains('"') && d.contains('\n'))
            }),
        ),
        (
            "assumed role with sessionContext",
            any(&|r| {
                s(r, "userIdentity.type") == Some("AssumedRole")
                    && s(r, "userIdentity.sessionContext.sessionIssuer.type") == Some("Role")
                    && s(r, "userIdentity.sessionContext.attributes.mfaAuthenticated").is_some()
            }),
        ),
        (
            "RunInstances with resources",
            any(&|r| {
                s(r, "eventName") == Some("RunInstances") && r["resources"][0]["type"] == json!("AWS::EC2::Instance")
            }),
        ),
        ("Root", any(&|r| s(r, "userIdentity.type") == Some("Root"))),
        ("AWSService", any(&|r| s(r, "userIdentity.type") == Some("AWSService"))),
        ("FederatedUser", any(&|r| s(r, "userIdentity.type") == Some("FederatedUser"))),
        ("SwitchRole", any(&|r| s(r, "eventName") == Some("SwitchRole"))),
        ("alice", any(&|r| s(r, "userIdentity.userName") == Some("alice"))),
        ("bob", any(&|r| s(r, "userIdentity.userName") == Some("bob"))),
    ]
}

#[test]
fn every_block_of_fifty_has_the_hard_cases() {
    for seed in [1, 2, 77] {
        let all = sample(seed, 150);
        for block in all.chunks(generate::BLOCK) {
            for (case, found) in hard_cases(block) {
                assert!(found, "seed {seed}: {case} missing from a block");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The LookupEvents envelope

fn first(all: &[Value], pred: impl Fn(&Value) -> bool) -> &Value {
    all.iter().find(|r| pred(r)).expect("a matching record")
}

fn check_common_envelope(record: &Value, env: &Value) {
    let keys: Vec<&str> = env.as_object().unwrap().keys().map(String::as_str).collect();
    let expected: Vec<&str> = [
        "EventId",
        "EventName",
        "ReadOnly",
        "AccessKeyId",
        "EventTime",
        "EventSource",
        "Username",
        "Resources",
        "CloudTrailEvent",
    ]
    .into_iter()
    .filter(|k| env.get(*k).is_some())
    .collect();
    assert_eq!(keys, expected, "envelope key order");
    assert_eq!(env["EventId"], record["eventID"]);
    assert_eq!(env["EventName"], record["eventName"]);
    assert_eq!(env["EventSource"], record["eventSource"]);
    assert_eq!(env["ReadOnly"], json!(record["readOnly"].as_bool().unwrap().to_string()));
    assert_eq!(env["EventTime"], json!(time_of(record).timestamp()));
    let trail = env["CloudTrailEvent"].as_str().unwrap();
    assert_eq!(trail, serde_json::to_string(record).unwrap());
    let back: Value = serde_json::from_str(trail).unwrap();
    assert_eq!(&back, record);
    let back_keys: Vec<&String> = back.as_object().unwrap().keys().collect();
    let rec_keys: Vec<&String> = record.as_object().unwrap().keys().collect();
    assert_eq!(back_keys, rec_keys, "CloudTrailEvent keeps the record's key order");
    // Event history names the resources that appear in the request and response; where ctlookup knows
    // no rule for the call it falls back to the record's `resources` (src/resources.rs).
    let named = format!("{}{}", record["requestParameters"], record["responseElements"]);
    let arns: Vec<&Value> =
        record.get("resources").and_then(Value::as_array).into_iter().flatten().map(|r| &r["ARN"]).collect();
    for resource in env["Resources"].as_array().unwrap() {
        let name = &resource["ResourceName"];
        assert!(named.contains(&name.to_string()) || arns.contains(&name), "{name} is in the record: {resource}");
        assert!(resource.get("ResourceType").is_none_or(Value::is_string), "{resource}");
    }
    match s(record, "userIdentity.accessKeyId") {
        Some(k) if !k.is_empty() => assert_eq!(env["AccessKeyId"], json!(k)),
        _ => assert!(env.get("AccessKeyId").is_none()),
    }
}

#[test]
fn envelope_iam_user() {
    let all = sample(21, 3000);
    let r = first(&all, |r| {
        s(r, "userIdentity.type") == Some("IAMUser")
            && s(r, "userIdentity.userName") == Some("alice")
            && r.get("resources").is_some()
    });
    let env = api_event(r);
    check_common_envelope(r, &env);
    assert_eq!(env["Username"], json!("alice"));
    assert!(env["AccessKeyId"].as_str().unwrap().starts_with("AKIA"));
    assert!(!env["Resources"].as_array().unwrap().is_empty());
}

#[test]
fn envelope_iam_user_console_login_with_empty_access_key() {
    let all = sample(21, 3000);
    let r = first(&all, |r| {
        s(r, "eventName") == Some("ConsoleLogin")
            && s(r, "userIdentity.type") == Some("IAMUser")
            && s(r, "userIdentity.accessKeyId") == Some("")
    });
    let env = api_event(r);
    check_common_envelope(r, &env);
    assert!(env.get("AccessKeyId").is_none());
    assert_eq!(env["Username"], json!("bob"));
    assert_eq!(env["Resources"], json!([]));
}

#[test]
fn envelope_assumed_role_is_the_session_name() {
    let all = sample(22, 3000);
    let r = first(&all, |r| s(r, "userIdentity.sessionContext.sessionIssuer.userName") == Some("deploy-role"));
    let env = api_event(r);
    check_common_envelope(r, &env);
    assert_eq!(env["Username"], json!("GitHubActions"));
    assert!(env["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    let admin =
        first(&all, |r| s(r, "userIdentity.arn") == Some("arn:aws:sts::111122223333:assumed-role/AdminRole/alice"));
    assert_eq!(api_event(admin)["Username"], json!("alice"));
}

#[test]
fn envelope_federated_user_is_the_last_arn_segment() {
    let all = sample(23, 3000);
    let r = first(&all, |r| s(r, "userIdentity.type") == Some("FederatedUser"));
    let env = api_event(r);
    check_common_envelope(r, &env);
    assert_eq!(env["Username"], json!("carol"));
}

#[test]
fn envelope_root_is_root() {
    let all = sample(24, 3000);
    let r = first(&all, |r| s(r, "userIdentity.type") == Some("Root"));
    let env = api_event(r);
    check_common_envelope(r, &env);
    assert_eq!(env["Username"], json!("root"));
}

#[test]
fn envelope_aws_service_is_invoked_by() {
    let all = sample(25, 3000);
    let r = first(&all, |r| s(r, "userIdentity.type") == Some("AWSService"));
    let env = api_event(r);
    check_common_envelope(r, &env);
    assert_eq!(env["Username"], json!(s(r, "userIdentity.invokedBy").unwrap()));
    assert!(env.get("AccessKeyId").is_none());
}

#[test]
fn envelope_other_identity_types_have_no_username_and_missing_fields_are_omitted() {
    let record = json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AWSAccount", "principalId": "AIDAEXAMPLE", "accountId": "999988887777", "accessKeyId": ""},
        "eventTime": "2024-07-22T01:02:03Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "eventID": "8c5c1a7e-1111-4222-8333-944445555666"
    });
    let env = api_event(&record);
    assert_eq!(
        env,
        json!({
            "EventId": "8c5c1a7e-1111-4222-8333-944445555666",
            "EventName": "GetObject",
            "EventTime": 1721610123,
            "EventSource": "s3.amazonaws.com",
            "Resources": [],
            "CloudTrailEvent": serde_json::to_string(&record).unwrap()
        })
    );
    // userName wins over the type rule.
    let named = json!({"userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/R/s", "userName": "explicit"}});
    assert_eq!(api_event(&named)["Username"], json!("explicit"));
}

#[test]
fn aws_cli_event_has_an_rfc3339_event_time_with_offset() {
    let all = sample(26, 10);
    for r in &all {
        let api = api_event(r);
        let cli = aws_cli_event(r);
        let t = time_of(r);
        assert_eq!(cli["EventTime"], json!(t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()));
        let mut without = cli.clone();
        without["EventTime"] = api["EventTime"].clone();
        assert_eq!(without, api);
    }
    assert_eq!(aws_cli_event(&all[0])["EventTime"], json!("2024-07-22T09:00:00+00:00"));
}

// ---------------------------------------------------------------------------------------------------
// Writers

#[test]
fn aws_cli_document_parses_and_is_shaped_like_the_aws_cli_output() {
    let all = sample(27, 120);
    let mut buf = Vec::new();
    write_aws_cli_document(&mut buf, &all).unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert!(text.starts_with("{\n    \"Events\": [\n        {\n            \"EventId\": \""));
    assert!(text.ends_with("        }\n    ]\n}\n"));
    assert!(text.contains(generate::JAPANESE_TEXT), "non-ASCII text is not escaped");
    assert!(text.contains("\\u001b[31m"), "control characters are escaped");
    assert!(!text.contains('\u{1b}'));
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc.as_object().unwrap().len(), 1);
    let events = doc["Events"].as_array().unwrap();
    assert_eq!(events.len(), all.len());
    for (event, record) in events.iter().zip(&all) {
        assert_eq!(event, &aws_cli_event(record));
        let back: Value = serde_json::from_str(event["CloudTrailEvent"].as_str().unwrap()).unwrap();
        assert_eq!(&back, record);
    }
    // Same bytes as a pretty printer with a 4-space indent (what the aws CLI's json.dumps(indent=4) gives).
    let mut pretty = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut pretty, serde_json::ser::PrettyFormatter::with_indent(b"    "));
    serde::Serialize::serialize(&doc, &mut ser).unwrap();
    pretty.push(b'\n');
    assert_eq!(String::from_utf8(pretty).unwrap(), text);
}

#[test]
fn empty_aws_cli_document() {
    let mut buf = Vec::new();
    write_aws_cli_document(&mut buf, &[]).unwrap();
    assert_eq!(String::from_utf8(buf).unwrap(), "{\n    \"Events\": []\n}\n");
}

#[test]
fn jsonl_is_one_compact_record_per_line() {
    let all = sample(28, 200);
    let mut buf = Vec::new();
    write_records_jsonl(&mut buf, &all).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), all.len());
    assert!(text.ends_with('\n'));
    for (line, record) in lines.iter().zip(&all) {
        assert_eq!(*line, serde_json::to_string(record).unwrap());
    }
}

#[test]
fn trail_log_gz_is_one_compact_records_document() {
    let dir = Scratch::new("log");
    let all = sample(29, 30);
    let path = dir.0.join("one.json.gz");
    write_trail_log_gz(&path, &all).unwrap();
    let doc = gunzip_json(&path);
    assert_eq!(doc, json!({ "Records": all }));
}

#[test]
fn trail_tree_files_are_gzip_json_records_grouped_by_account_region_and_five_minutes() {
    let dir = Scratch::new("tree");
    let all = sample(30, 800);
    write_trail_tree(&dir.0, &all).unwrap();
    let files = files_under(&dir.0);
    assert!(files.len() > 10, "{} files", files.len());
    let mut ids = HashSet::new();
    for file in &files {
        let rel = file.strip_prefix(&dir.0).unwrap();
        let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        assert_eq!(parts.len(), 8, "{rel:?}");
        assert_eq!(parts[0], "AWSLogs");
        let (account, region) = (&parts[1], &parts[3]);
        assert_eq!(parts[2], "CloudTrail");
        let name = &parts[7];
        let prefix = format!("{account}_CloudTrail_{region}_");
        assert!(name.starts_with(&prefix) && name.ends_with(".json.gz"), "{name}");
        let rest = &name[prefix.len()..name.len() - ".json.gz".len()];
        let (stamp, random) = rest.split_once('_').unwrap();
        assert_eq!(random.len(), 16);
        assert!(random.chars().all(|c| c.is_ascii_alphanumeric()));
        let start = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%MZ")
            .expect("timestamp like 20240722T0855Z")
            .and_utc();
        assert_eq!(start.timestamp() % 300, 0);
        assert_eq!(format!("{}/{}/{}", parts[4], parts[5], parts[6]), start.format("%Y/%m/%d").to_string());
        let doc = gunzip_json(file);
        let records = doc["Records"].as_array().unwrap();
        assert!(!records.is_empty());
        let mut previous = None;
        for r in records {
            assert_eq!(s(r, "recipientAccountId"), Some(account.as_str()));
            assert_eq!(s(r, "awsRegion"), Some(region.as_str()));
            let t = time_of(r);
            assert!(t >= start && t < start + chrono::Duration::minutes(5), "{t} in {name}");
            if let Some(p) = previous {
                assert!(t >= p, "oldest first within a file");
            }
            previous = Some(t);
            assert!(ids.insert(s(r, "eventID").unwrap().to_string()));
        }
    }
    assert_eq!(ids.len(), all.len(), "every record is written exactly once");
    let accounts: HashSet<String> = files
        .iter()
        .map(|f| f.strip_prefix(&dir.0).unwrap().iter().nth(1).unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(accounts.len(), 2, "{accounts:?}");

    // Deterministic: the same records give the same tree.
    let again = Scratch::new("tree-again");
    write_trail_tree(&again.0, &all).unwrap();
    let names = |d: &Path| -> Vec<PathBuf> {
        files_under(d).iter().map(|f| f.strip_prefix(d).unwrap().to_path_buf()).collect()
    };
    assert_eq!(names(&dir.0), names(&again.0));
}

#[test]
fn streaming_trail_tree_writer_writes_the_same_tree() {
    let all = sample(32, 600);
    let whole = Scratch::new("tree-whole");
    write_trail_tree(&whole.0, &all).unwrap();
    let streamed = Scratch::new("tree-streamed");
    let mut w = generate::TrailTreeWriter::new(&streamed.0);
    for r in &all {
        w.push(r.clone()).unwrap();
    }
    w.finish().unwrap();
    let a = files_under(&whole.0);
    let b = files_under(&streamed.0);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.strip_prefix(&whole.0).unwrap(), y.strip_prefix(&streamed.0).unwrap());
        assert_eq!(gunzip_json(x), gunzip_json(y));
    }

    // Out of order: a window that comes back gets its own file, nothing is overwritten.
    let shuffled = Scratch::new("tree-shuffled");
    let mut w = generate::TrailTreeWriter::new(&shuffled.0);
    for r in all.iter().step_by(2).chain(all.iter().skip(1).step_by(2)) {
        w.push(r.clone()).unwrap();
    }
    w.finish().unwrap();
    let total: usize =
        files_under(&shuffled.0).iter().map(|f| gunzip_json(f)["Records"].as_array().unwrap().len()).sum();
    assert_eq!(total, all.len());
}

// ---------------------------------------------------------------------------------------------------
// Insights

#[test]
fn insight_records_pair_end_and_start_newest_first() {
    let all: Vec<Value> = generate::insight_records(&opts(31, 40)).collect();
    assert_eq!(all.len(), 40);
    assert_eq!(all, generate::insight_records(&opts(31, 40)).collect::<Vec<_>>());
    for pair in all.windows(2) {
        assert!(time_of(&pair[0]) >= time_of(&pair[1]));
    }
    for pair in all.chunks(2) {
        assert_eq!(s(&pair[0], "insightDetails.state"), Some("End"));
        assert_eq!(s(&pair[1], "insightDetails.state"), Some("Start"));
        assert_eq!(pair[0]["sharedEventID"], pair[1]["sharedEventID"]);
    }
    for r in &all {
        assert_eq!(s(r, "eventCategory"), Some("Insight"));
        assert_eq!(s(r, "eventType"), Some("AwsCloudTrailInsight"));
        let env = api_event(r);
        assert_eq!(env["EventName"], r["insightDetails"]["eventName"]);
        assert_eq!(env["EventSource"], r["insightDetails"]["eventSource"]);
        assert!(env.get("ReadOnly").is_none() && env.get("Username").is_none());
        assert_eq!(env["Resources"], json!([]));
    }
}

// ---------------------------------------------------------------------------------------------------
// The gen-events binary

fn gen_events() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gen-events"))
}

#[test]
fn gen_events_bad_arguments_exit_2_with_one_line() {
    for args in [
        vec!["--format", "jsonl"],
        vec!["--count", "3"],
        vec!["--count", "x", "--format", "jsonl"],
        vec!["--count", "3", "--format", "xml"],
        vec!["--count", "3", "--format", "jsonl", "--newest", "yesterday"],
        vec!["--count", "3", "--format", "trail-tree"],
        vec!["--count", "3", "--format", "jsonl", "--bogus"],
        vec!["--count"],
    ] {
        let out = gen_events().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn gen_events_formats_match_the_library() {
    let o = GenOptions { newest: Utc.with_ymd_and_hms(2024, 7, 1, 0, 0, 0).unwrap(), max_gap_secs: 10, ..opts(8, 75) };
    let all: Vec<Value> = records(&o).collect();
    let run = |format: &str| {
        let out = gen_events()
            .args(["--count", "75", "--seed", "8", "--newest", "2024-07-01T09:00:00+09:00"])
            .args(["--max-gap-secs=10", "--format", format])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let mut expected = Vec::new();
    write_aws_cli_document(&mut expected, &all).unwrap();
    assert_eq!(run("aws-cli"), String::from_utf8(expected).unwrap());
    let mut expected = Vec::new();
    write_records_jsonl(&mut expected, &all).unwrap();
    assert_eq!(run("jsonl"), String::from_utf8(expected).unwrap());
    let api: Vec<Value> = run("api").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(api, all.iter().map(api_event).collect::<Vec<_>>());

    let dir = Scratch::new("bin-tree");
    let out = gen_events()
        .args(["--count", "75", "--seed", "8", "--newest", "2024-07-01T00:00:00Z"])
        .args(["--max-gap-secs", "10", "--format", "trail-tree", "--out"])
        .arg(&dir.0)
        .output()
        .unwrap();
    assert!(out.status.success());
    let total: usize = files_under(&dir.0).iter().map(|f| gunzip_json(f)["Records"].as_array().unwrap().len()).sum();
    assert_eq!(total, 75);
}

// ---------------------------------------------------------------------------------------------------
// The example file

/// `examples/lookup-events.json` is `gen-events --count 60 --seed 1 --newest 2024-07-22T09:00:00Z
/// --format aws-cli`. When the generator changes on purpose, regenerate it with that command.
#[test]
fn example_file_is_current_and_has_the_hard_cases() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lookup-events.json");
    let text = std::fs::read_to_string(&path).expect("examples/lookup-events.json");
    let all = sample(1, 60);
    let mut expected = Vec::new();
    write_aws_cli_document(&mut expected, &all).unwrap();
    assert!(
        text == String::from_utf8(expected).unwrap(),
        "examples/lookup-events.json is stale: run `cargo run -p fake-cloudtrail --bin gen-events -- --count 60 --seed 1 --newest 2024-07-22T09:00:00Z --format aws-cli --out examples/lookup-events.json`"
    );
    for (case, found) in hard_cases(&all) {
        assert!(found, "{case} missing from the example");
    }
}
