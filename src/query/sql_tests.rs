//! Tests of the SQL compiler: golden queries, and a property test that runs random compiled queries on a
//! real engine (DuckDB, through tests/athena/duckdb_run.py) and compares event for event with the local
//! evaluator.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use super::*;
use crate::event::Event;
use crate::query::ddl::{create_table, TableSettings};
use crate::query::expr::Path;
use crate::query::parse::parse;
use crate::query::Filter;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn window(start: Option<&str>, end: Option<&str>) -> TimeWindow {
    TimeWindow { start: start.map(at), end: end.map(at) }
}

fn sql_of(expr: &str) -> Compiled {
    compile(&parse(expr).unwrap(), &TimeWindow::default(), &[], &[], "cloudtrail_logs", DEFAULT_LAG)
}

/// The expression part of the query.
fn condition(expr: &str) -> String {
    let sql = sql_of(expr).sql;
    sql.split_once("\nFROM \"cloudtrail_logs\"\nWHERE ").map_or("", |(_, c)| c).to_owned()
}

#[test]
fn since_three_days_username_and_errors_prune_and_push_everything() {
    // `--since 3d --username alice --errors`, as config.rs lowers them.
    let expr = Expr::and(vec![
        Expr::Pred(Predicate {
            target: Target::Envelope(Attribute::Username),
            test: Test::Compare(CompareOp::Eq, Literal::String("alice".into())),
        }),
        Expr::Pred(Predicate { target: Target::Record(Path::new(["errorCode"])), test: Test::Exists }),
    ]);
    let w = window(Some("2024-07-19T09:00:00Z"), Some("2024-07-22T09:00:00Z"));
    let compiled = compile(&expr, &w, &[], &[], "audit.cloudtrail_logs", DEFAULT_LAG);
    assert_eq!(
        compiled.sql.strip_prefix(&format!("SELECT {}\n", select_list())).unwrap(),
        "FROM \"audit\".\"cloudtrail_logs\"\n\
         WHERE \"timestamp\" BETWEEN '2024/07/19' AND '2024/07/22'\n  \
         AND from_iso8601_timestamp(eventtime) >= from_iso8601_timestamp('2024-07-19T09:00:00Z')\n  \
         AND from_iso8601_timestamp(eventtime) <= from_iso8601_timestamp('2024-07-22T09:00:00Z')\n  \
         AND ((CASE WHEN useridentity.username <> '' THEN useridentity.username \
         WHEN useridentity.type IN ('AssumedRole', 'FederatedUser') THEN element_at(split(useridentity.arn, '/'), -1) \
         WHEN useridentity.type = 'Root' THEN 'root' WHEN useridentity.type = 'AWSService' THEN useridentity.invokedby END) = 'alice') \
         AND (errorcode IS NOT NULL)"
    );
    assert_eq!(compiled.pushed, ["Username = \"alice\"", "errorCode exists"]);
    assert!(compiled.local.is_empty());
    assert!(compiled.complete);
}

#[test]
fn partitions_follow_the_window_the_lag_and_the_lists() {
    let days = |w: TimeWindow| {
        let c = compile(&Expr::always(), &w, &[], &[], "t", DEFAULT_LAG);
        c.sql.lines().nth(2).unwrap_or("").to_owned()
    };
    assert_eq!(
        days(window(Some("2024-07-22T01:00:00Z"), Some("2024-07-22T22:59:59Z"))),
        "WHERE \"timestamp\" BETWEEN '2024/07/22' AND '2024/07/22'"
    );
    // Within the lag of midnight: the next day's files may hold the window's last events.
    assert_eq!(
        days(window(Some("2024-07-22T01:00:00Z"), Some("2024-07-22T23:00:00Z"))),
        "WHERE \"timestamp\" BETWEEN '2024/07/22' AND '2024/07/23'"
    );
    assert_eq!(days(window(Some("2024-07-22T01:00:00Z"), None)), "WHERE \"timestamp\" >= '2024/07/22'");
    assert_eq!(days(window(None, Some("2024-07-31T23:30:00Z"))), "WHERE \"timestamp\" <= '2024/08/01'");
    let c = compile(
        &Expr::always(),
        &TimeWindow::default(),
        &["111122223333".into()],
        &["us-east-1".into(), "eu-west-1".into()],
        "t",
        DEFAULT_LAG,
    );
    assert_eq!(
        c.sql.split_once('\n').unwrap().1,
        "FROM \"t\"\nWHERE account IN ('111122223333')\n  AND region IN ('us-east-1', 'eu-west-1')"
    );
    assert!(c.complete);
    let none = compile(&Expr::always(), &TimeWindow::default(), &[], &[], "t", DEFAULT_LAG);
    assert_eq!(none.sql.split_once('\n').unwrap().1, "FROM \"t\"");
    // A bound finer than a millisecond is widened to whole milliseconds, and the SQL is then not exact.
    let fine = compile(
        &Expr::always(),
        &window(Some("2024-07-22T01:00:00.0005Z"), Some("2024-07-22T02:00:00.0005Z")),
        &[],
        &[],
        "t",
        DEFAULT_LAG,
    );
    assert!(fine.sql.contains(">= from_iso8601_timestamp('2024-07-22T01:00:00Z')"), "{}", fine.sql);
    assert!(fine.sql.contains("<= from_iso8601_timestamp('2024-07-22T02:00:00.001Z')"), "{}", fine.sql);
    assert!(!fine.complete);
}

#[test]
fn what_cannot_be_said_weakens_the_sql_and_never_strengthens_it() {
    // managementEvent is no column of the table: local.
    let and = sql_of("eventName = A and managementEvent = true");
    assert_eq!(and.pushed, ["eventName = \"A\""]);
    assert_eq!(and.local, ["managementEvent = true"]);
    assert!(!and.complete);
    assert_eq!(condition("eventName = A and managementEvent = true"), "eventname = 'A'");
    // An OR with a local branch goes whole.
    let or = sql_of("eventName = A or managementEvent = true");
    assert_eq!(or.sql.split_once('\n').unwrap().1, "FROM \"cloudtrail_logs\"");
    assert!(or.pushed.is_empty());
    assert_eq!(or.local, ["eventName = \"A\"", "managementEvent = true"]);
    // Under NOT, an AND with a local part goes whole; an OR keeps its SQL part.
    assert_eq!(condition("not (eventName = A and managementEvent = true)"), "");
    assert_eq!(condition("not (eventName = A or managementEvent = true)"), "NOT COALESCE(eventname = 'A', FALSE)");
    assert_eq!(condition("not not (eventName = A or managementEvent = true)"), "");
    // A record path is mapped only as CloudTrail spells it.
    assert_eq!(condition("eventname = A"), "");
    assert_eq!(condition("eventName = \"O'Brien\""), "eventname = 'O''Brien'");
}

#[test]
fn fields_map_onto_the_columns() {
    assert_eq!(
        condition("userIdentity.sessionContext.sessionIssuer.userName = AdminRole"),
        "useridentity.sessioncontext.sessionissuer.username = 'AdminRole'"
    );
    assert_eq!(condition("resources.ARN contains ':role/'"), "any_match(resources, r -> strpos(r.arn, ':role/') > 0)");
    assert_eq!(condition("readOnly = TRUE"), "readonly = 'true'");
    assert_eq!(condition("readOnly = yes"), "FALSE");
    assert_eq!(
        condition("sourceIPAddress in (10.0.0.0/8)"),
        format!("contains('10.0.0.0/8', TRY_CAST(trim(BOTH '{WHITE_SPACE}' FROM sourceipaddress) AS IPADDRESS))")
    );
    assert_eq!(condition("errorCode =~ '^Access'"), "regexp_like(errorcode, '\\AAccess')");
    assert_eq!(condition("errorCode =~ '(?i)^access'"), "");
    let json = condition("requestParameters.\"x-amz-acl\" = private");
    assert!(json.starts_with("any_match(COALESCE(TRY_CAST(json_parse(requestparameters) AS ARRAY(JSON)), ARRAY[json_parse(requestparameters)]), e0 -> "), "{json}");
    assert!(json.contains("json_extract(e0, '$[\"x-amz-acl\"]')"), "{json}");
    assert!(json.contains("THEN json_extract_scalar(e1, '$') = 'private'"), "{json}");
    assert!(!sql_of("requestParameters.bucketName = b").complete, "arrays inside arrays could be there");
    assert_eq!(
        condition("requestParameters exists"),
        "(json_parse(requestparameters) IS NOT NULL AND json_format(json_parse(requestparameters)) <> 'null')"
    );
}

#[test]
fn regexes_in_the_shared_syntax() {
    let t = |p: &str| trino_regex(p);
    assert_eq!(t("^us-").as_deref(), Some("\\Aus\\-"));
    assert_eq!(t("a.b$").as_deref(), Some("a[^\\n]b\\z"));
    assert_eq!(t("^(Get|List)[A-Z][a-z0-9_]*s?$").as_deref(), Some("\\A(Get|List)[A-Z][a-z0-9_]*s?\\z"));
    assert_eq!(t("x{2,3}?y+?(?:z)").as_deref(), Some("x{2,3}?y+?(?:z)"));
    assert_eq!(t("\\.\\*[\\]\\-]").as_deref(), Some("\\.\\*[\\]\\-]"));
    assert_eq!(t("本番|x]").as_deref(), Some("本番|x\\]"));
    for local in [
        "(?i)a",
        "\\d",
        "\\w+",
        "\\bword",
        "\\p{L}",
        "[[:alpha:]]",
        "[a&&b]",
        "[a-]",
        "a{1000}",
        "\\x41",
        "(?P<n>a)",
        "\\<",
    ] {
        assert_eq!(t(local), None, "{local}");
    }
}

// ---------------------------------------------------------------------------------------------------
// On a real engine

const MAIN: &str = fake_cloudtrail::generate::MAIN_ACCOUNT;
const DEV: &str = fake_cloudtrail::generate::DEV_ACCOUNT;

/// Records the generator does not write: IPv6 and mapped addresses, padded text, quotes and newlines,
/// empty and missing names, arrays inside arrays, fractions, big numbers, nulls and a parameter array.
fn odd_records() -> Vec<Value> {
    let base = |id: &str, time: &str, extra: Value| {
        let mut record = json!({
            "eventVersion": "1.09", "eventTime": time, "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
            "awsRegion": "us-east-1", "recipientAccountId": MAIN, "eventID": id, "readOnly": true,
            "userIdentity": {"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::111122223333:user/alice", "accessKeyId": ""},
            "sourceIPAddress": "2001:db8::7", "userAgent": "aws-cli/2", "eventType": "AwsApiCall",
        });
        for (key, value) in extra.as_object().unwrap() {
            record[key] = value.clone();
        }
        record
    };
    vec![
        base(
            "odd-1",
            "2024-07-22T23:55:00Z",
            json!({
                "requestParameters": {"matrix": [["a", "b"], ["c"]], "threshold": 2.5, "nothing": null, "flag": true, "n": 7,
                                      "big": 12345678901234567890u64, "s": "7", "x-amz-acl": "private", "obj": {"k": "v"},
                                      "tags": [{"key": "Name", "value": "x"}, "loose", null, 3]},
                "errorCode": null
            }),
        ),
        base(
            "odd-2",
            "2024-07-22T12:00:00Z",
            json!({
                "sourceIPAddress": "::ffff:203.0.113.9", "readOnly": false,
                "userIdentity": {"type": "AssumedRole", "userName": "", "arn": "arn:aws:sts::111122223333:assumed-role/R/sess-9"},
                "requestParameters": [{"bucketName": "arr-bucket"}, {"bucketName": "second"}],
                "errorCode": "AccessDenied", "errorMessage": "it's \"denied\",\nreally"
            }),
        ),
        base(
            "odd-3",
            "2024-07-22T06:30:00Z",
            json!({
                "sourceIPAddress": " 198.51.100.7\u{a0}", "eventName": "O'Brien", "userAgent": "line1\nline2 =SUM(A1)",
                "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root"},
                "requestParameters": {"maxCount": 2, "durationSeconds": 3600, "bucketName": "logs-bucket-logs"}
            }),
        ),
        base(
            "odd-4",
            "2024-07-23T00:05:00Z",
            json!({
                "sourceIPAddress": "ec2.amazonaws.com", "awsRegion": "us-west-2", "recipientAccountId": DEV,
                "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
                "readOnly": null, "requestParameters": null, "resources": [{"ARN": "arn:aws:iam::444455556666:role/x", "accountId": DEV, "type": "AWS::IAM::Role"}, {}]
            }),
        ),
        base(
            "odd-5",
            "2024-07-22T00:00:00Z",
            json!({
                "sourceIPAddress": "2001:db8:1::1", "requestParameters": {"maxCount": -3, "ratio": 1e3, "durationSeconds": "900", "nested": {"deep": [{"x": [1, [2]]}]}},
                "additionalEventData": {"bytesTransferredIn": 0, "MFAUsed": "No"}
            }),
        ),
    ]
}

fn data() -> Vec<Value> {
    let opts = fake_cloudtrail::generate::GenOptions {
        seed: 27,
        count: 600,
        newest: Utc.with_ymd_and_hms(2024, 7, 23, 0, 40, 0).unwrap(),
        max_gap_secs: 300,
    };
    let mut records: Vec<Value> = fake_cloudtrail::generate::records(&opts).collect();
    records.extend(odd_records());
    records
}

/// Predicates of every kind: each operator, top-level, struct and array columns, parameters (numbers,
/// booleans, arrays, odd names), the envelope, and what must stay local.
const LEAVES: &[&str] = &[
    "eventName = ConsoleLogin",
    "eventName != DescribeInstances",
    "eventName in (AssumeRole, RunInstances, GetObject, \"O'Brien\")",
    "eventName =~ '^(Get|List)'",
    "eventName !~ 'Describe.*s$'",
    "eventName =~ '(?i)^get'",
    "eventSource =~ '^s3\\.'",
    "userAgent =~ '\\d'",
    "userAgent =~ 'line1.line2'",
    "userAgent contains \"=\"",
    "errorCode exists",
    "errorCode = AccessDenied",
    "errorMessage contains \"not authorized\"",
    "errorMessage contains ''",
    "eventTime >= \"2024-07-22T12:00:00Z\"",
    "eventTime < \"2024-07-22T03:00:00Z\"",
    "awsRegion <= us-east-1",
    "recipientAccountId = 444455556666",
    "readOnly = true",
    "readOnly = \"FALSE\"",
    "readOnly != true",
    "readOnly in (false, 1)",
    "readOnly > false",
    "sourceIPAddress in (10.0.0.0/8, 203.0.113.0/24)",
    "sourceIPAddress in (2001:db8::/32)",
    "sourceIPAddress in (::/0)",
    "sourceIPAddress in (198.51.100.7, ec2.amazonaws.com)",
    "sourceIPAddress in (203.0.113.9)",
    "sourceIPAddress in (::ffff:203.0.113.9)",
    "sourceIPAddress =~ '^203\\.0\\.113\\.[0-9]+$'",
    "userIdentity.type = AssumedRole",
    "userIdentity.userName exists",
    "userIdentity.userName = alice",
    "userIdentity.accessKeyId =~ '^AKIA'",
    "userIdentity.sessionContext.sessionIssuer.userName in (AdminRole, deploy-role)",
    "userIdentity.sessionContext.attributes.mfaAuthenticated = true",
    "userIdentity.sessionContext exists",
    "resources.type = \"AWS::EC2::Instance\"",
    "resources.ARN contains \":role/\"",
    "resources.accountId != 111122223333",
    "resources.ARN exists",
    "tlsDetails.tlsVersion = \"TLSv1.3\"",
    "vpcEndpointId exists",
    "managementEvent = true",
    "eventname = ConsoleLogin",
    "requestParameters exists",
    "requestParameters != x",
    "responseElements exists",
    "requestParameters.bucketName exists",
    "requestParameters.bucketName =~ '-logs$'",
    "requestParameters.bucketName in (arr-bucket, second)",
    "requestParameters.maxCount = 1",
    "requestParameters.maxCount >= 2",
    "requestParameters.maxCount < \" 0 \"",
    "requestParameters.durationSeconds > 900",
    "requestParameters.durationSeconds = \"3600\"",
    "requestParameters.durationSeconds = 3600.0",
    "requestParameters.durationSeconds <= 9e2",
    "requestParameters.durationSeconds < abc",
    "requestParameters.tags.key = Name",
    "requestParameters.tags != loose",
    "requestParameters.tags contains o",
    "requestParameters.instancesSet.items.instanceId exists",
    "requestParameters.instancesSet.items.maxCount = 1",
    "requestParameters.alarmNames = \"prod-api-5xx\"",
    "requestParameters.publish = false",
    "requestParameters.flag = \"TRUE\"",
    "requestParameters.matrix = c",
    "requestParameters.threshold > 2",
    "requestParameters.big > 5",
    "requestParameters.n =~ '^7$'",
    "requestParameters.s = 7",
    "requestParameters.obj != v",
    "requestParameters.nothing exists",
    "requestParameters.\"x-amz-acl\" = private",
    "requestParameters.lookupAttributes.attributeValue = alice",
    "requestParameters.nested.deep.x = 2",
    "requestParameters.ratio = 1000",
    "responseElements.ConsoleLogin = Success",
    "responseElements.instancesSet.items.currentState.code = 0",
    "additionalEventData.MFAUsed = \"No\"",
    "additionalEventData.bytesTransferredIn < 100",
    "additionalEventData.\"x-amz-id-2\" contains \"=\"",
];

fn envelope(attribute: Attribute, test: Test) -> Expr {
    Expr::Pred(Predicate { target: Target::Envelope(attribute), test })
}

fn leaves() -> Vec<Expr> {
    let mut all: Vec<Expr> = LEAVES.iter().map(|text| parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))).collect();
    let s = |v: &str| Literal::String(v.to_owned());
    for name in ["alice", "root", "GitHubActions", "sess-9", "ec2.amazonaws.com", ""] {
        all.push(envelope(Attribute::Username, Test::Compare(CompareOp::Eq, s(name))));
    }
    all.push(envelope(Attribute::Username, Test::Regex { regex: regex::Regex::new("^a").unwrap(), negate: false }));
    all.push(envelope(Attribute::Username, Test::Exists));
    all.push(envelope(Attribute::EventName, Test::Compare(CompareOp::Eq, s("ConsoleLogin"))));
    all.push(envelope(Attribute::ReadOnly, Test::Compare(CompareOp::Eq, s("TRUE"))));
    all.push(envelope(Attribute::ReadOnly, Test::Compare(CompareOp::Ne, s("true"))));
    all.push(envelope(Attribute::AccessKeyId, Test::Exists));
    all.push(envelope(Attribute::ResourceType, Test::Compare(CompareOp::Eq, s("AWS::EC2::Instance"))));
    all
}

fn expression() -> impl Strategy<Value = Expr> {
    prop::sample::select(leaves()).prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::and),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

fn windows() -> impl Strategy<Value = TimeWindow> {
    let base = Utc.with_ymd_and_hms(2024, 7, 21, 23, 0, 0).unwrap();
    let time = move |s: i64| base + Duration::seconds(s);
    let span = 0i64..27 * 3600;
    prop_oneof![
        1 => Just(TimeWindow::default()),
        3 => (span.clone(), 0i64..12 * 3600).prop_map(move |(s, len)| TimeWindow { start: Some(time(s)), end: Some(time(s + len)) }),
        1 => span.clone().prop_map(move |s| TimeWindow { start: Some(time(s)), end: None }),
        1 => span.clone().prop_map(move |s| TimeWindow { start: None, end: Some(time(s)) }),
        // Ends just before a midnight: the next day's files hold some of the window's events.
        3 => (0i64..5 * 3600, 0i64..4200, any::<bool>()).prop_map(|(len, before, second)| {
            let midnight = Utc.with_ymd_and_hms(2024, 7, if second { 23 } else { 22 }, 0, 0, 0).unwrap();
            let end = midnight - Duration::seconds(before);
            TimeWindow { start: Some(end - Duration::seconds(len)), end: Some(end) }
        }),
        // Bounds finer than a millisecond.
        1 => (span, 1i64..3600 * 1_000_000).prop_map(move |(s, micros)| {
            TimeWindow { start: Some(time(s) + Duration::microseconds(7)), end: Some(time(s) + Duration::microseconds(micros)) }
        }),
    ]
}

fn selection() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let accounts = prop::sample::select(vec![strings(&[]), strings(&[MAIN]), strings(&[DEV]), strings(&[MAIN, DEV])]);
    let regions =
        prop::sample::select(vec![strings(&[]), strings(&["us-east-1"]), strings(&["us-west-2", "ap-northeast-1"])]);
    (accounts, regions)
}

struct Case {
    expr: Expr,
    window: TimeWindow,
    accounts: Vec<String>,
    regions: Vec<String>,
    upper: Compiled,
    lower: Compiled,
}

/// The python of target/venv, made by scripts/python-env.sh if missing; a failure to make it fails the
/// test.
fn python() -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash").arg(format!("{root}/scripts/python-env.sh")).output().expect("bash runs");
    assert!(out.status.success(), "scripts/python-env.sh failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("a path").trim().to_owned()
}

#[test]
fn duckdb_agrees_with_the_local_evaluator_on_random_queries() {
    const CASES: usize = 320;
    let records = data();
    let events: Vec<Event> = records.iter().map(|r| Event::from_record(r.to_string(), r.clone())).collect();
    let dir = tempfile::tempdir().unwrap();
    let records_path = dir.path().join("records.jsonl");
    let lines: Vec<String> = records.iter().map(Value::to_string).collect();
    std::fs::write(&records_path, lines.join("\n") + "\n").unwrap();
    let ddl_path = dir.path().join("table.sql");
    let ddl = create_table(&TableSettings { bucket: "s3://trail-bucket".into(), ..TableSettings::default() }).unwrap();
    std::fs::write(&ddl_path, ddl).unwrap();

    let mut runner =
        TestRunner::new(Config { rng_seed: proptest::test_runner::RngSeed::Fixed(27), ..Config::default() });
    let strategy = (expression(), windows(), selection());
    let mut cases = Vec::new();
    let mut queries = String::new();
    for i in 0..CASES {
        let (expr, window, (accounts, regions)) = strategy.new_tree(&mut runner).unwrap().current();
        let make = |lower| build(&expr, &window, &accounts, &regions, "cloudtrail_logs", DEFAULT_LAG, lower);
        let (upper, lower) = (make(false), make(true));
        for (kind, c) in [("u", &upper), ("l", &lower)] {
            queries.push_str(&json!({"id": format!("{kind}{i}"), "sql": c.sql}).to_string());
            queries.push('\n');
        }
        cases.push(Case { expr, window, accounts, regions, upper, lower });
    }
    let queries_path = dir.path().join("queries.jsonl");
    std::fs::write(&queries_path, queries).unwrap();

    let script = format!("{}/tests/athena/duckdb_run.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python())
        .arg(script)
        .arg("--ddl")
        .arg(&ddl_path)
        .arg(&records_path)
        .arg("--batch")
        .arg(&queries_path)
        .output()
        .expect("python runs");
    assert!(out.status.success(), "duckdb_run.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let mut answers: HashMap<String, Result<BTreeSet<String>, String>> = HashMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let answer: Value = serde_json::from_str(line).unwrap();
        let id = answer["id"].as_str().unwrap().to_owned();
        let result = match answer.get("ids") {
            Some(ids) => Ok(ids.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()),
            None => Err(answer["error"].to_string()),
        };
        answers.insert(id, result);
    }

    let mut failures = Vec::new();
    let (mut complete, mut matched, mut narrowed) = (0, 0, 0);
    for (i, case) in cases.iter().enumerate() {
        let filter = Filter::new(case.expr.clone(), case.window, None);
        let selected = |e: &Event| {
            let field = |k: &str| e.record.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            (case.accounts.is_empty() || case.accounts.contains(&field("recipientAccountId")))
                && (case.regions.is_empty() || case.regions.contains(&field("awsRegion")))
        };
        let id = |e: &Event| e.envelope.event_id.clone().unwrap_or_default();
        let local: BTreeSet<String> = events.iter().filter(|e| selected(e) && filter.matches(e)).map(id).collect();
        let by_id: HashMap<String, &Event> = events.iter().map(|e| (id(e), e)).collect();
        let describe = |what: &str, got: &BTreeSet<String>, sql: &str| {
            format!(
                "case {i}: {what}\n  expr: {}\n  window: {:?}\n  accounts {:?} regions {:?}\n  local {} events, sql {}: only local {:?}, only sql {:?}\n  sql: {sql}",
                case.expr,
                case.window,
                case.accounts,
                case.regions,
                local.len(),
                got.len(),
                local.difference(got).take(5).collect::<Vec<_>>(),
                got.difference(&local).take(5).collect::<Vec<_>>(),
            )
        };
        let get = |kind: &str| answers.get(&format!("{kind}{i}")).cloned().unwrap_or(Err("no answer".into()));
        match get("u") {
            Err(e) => failures
                .push(format!("case {i}: upper query failed: {e}\n  expr: {}\n  sql: {}", case.expr, case.upper.sql)),
            Ok(upper) => {
                let refiltered: BTreeSet<String> =
                    upper.iter().filter(|id| by_id.get(*id).is_some_and(|e| filter.matches(e))).cloned().collect();
                if refiltered != local {
                    failures.push(describe("SQL then local differs from local alone", &refiltered, &case.upper.sql));
                }
                if case.upper.complete {
                    complete += 1;
                    if upper != local {
                        failures.push(describe(
                            "complete, yet the SQL alone differs from local",
                            &upper,
                            &case.upper.sql,
                        ));
                    }
                }
                matched += usize::from(!local.is_empty());
                narrowed += usize::from(upper.len() < events.len());
            }
        }
        match get("l") {
            Err(e) => failures
                .push(format!("case {i}: lower query failed: {e}\n  expr: {}\n  sql: {}", case.expr, case.lower.sql)),
            Ok(lower) if !lower.is_subset(&local) => {
                failures.push(describe("the lower bound holds an event local does not", &lower, &case.lower.sql));
            }
            Ok(_) => {}
        }
    }
    eprintln!("{CASES} random queries: {complete} complete, {matched} with matches, {narrowed} narrowed by SQL");
    assert!(
        failures.is_empty(),
        "{} of {CASES} cases failed:\n{}",
        failures.len(),
        failures.iter().take(4).cloned().collect::<Vec<_>>().join("\n\n")
    );
    assert!(
        complete >= CASES / 20 && matched >= CASES / 4 && narrowed >= CASES / 2,
        "too weak a sample: {complete} {matched} {narrowed}"
    );
}

#[test]
fn count_by_groups_text_columns_when_the_sql_decides_alone() {
    let compiled = sql_of("eventName = A");
    let paths = [Path::new(["eventName"]), Path::new(["userIdentity", "arn"])];
    let grouped = count_by(&compiled, &paths.iter().collect::<Vec<_>>()).unwrap();
    assert_eq!(
        grouped,
        "SELECT eventname AS k0, useridentity.arn AS k1, count(*) AS events, \
         min_by(eventtime, from_iso8601_timestamp(eventtime)) AS first, \
         max_by(eventtime, from_iso8601_timestamp(eventtime)) AS last\n\
         FROM \"cloudtrail_logs\"\nWHERE eventname = 'A'\nGROUP BY 1, 2"
    );
    // Not a text column, or a filter the SQL does not decide alone: counted locally.
    assert_eq!(count_by(&compiled, &[&Path::new(["readOnly"])]), None);
    assert_eq!(count_by(&compiled, &[&Path::new(["resources", "ARN"])]), None);
    assert_eq!(count_by(&sql_of("errorCode =~ '(?i)x'"), &[&Path::new(["eventName"])]), None);
}

#[test]
fn timelines_group_by_the_step_on_the_clock_when_the_sql_decides_alone() {
    let grouped = timeline(&sql_of("eventName = A"), 3600, "America/New_York").unwrap();
    assert!(grouped.starts_with("SELECT clock - clock % 3600 AS bucket, clock - utc AS utc_offset, "), "{grouped}");
    assert!(grouped.contains("AT TIME ZONE 'America/New_York' AS TIMESTAMP)) AS clock, "), "{grouped}");
    assert!(grouped.ends_with("WHERE eventname = 'A') AS timed\nGROUP BY 1, 2"), "{grouped}");
    assert_eq!(timeline(&sql_of("errorCode =~ '(?i)x'"), 3600, "UTC"), None);
    assert_eq!(timeline(&sql_of("eventName = A"), 0, "UTC"), None);
    assert_eq!(timeline(&sql_of("eventName = A"), 60, "Bad\0Zone"), None);
}
