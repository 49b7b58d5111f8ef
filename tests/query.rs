//! `--where` and the planner, through the built binary against the fake server: the right events, and
//! pushdown visible in the requests the server saw.

use crate::common::*;
use proptest::prelude::*;
use serde_json::Value;

fn str_at<'a>(record: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.').try_fold(record, |v, key| v.get(key)).and_then(Value::as_str)
}

#[test]
fn an_event_id_costs_one_request_not_a_scan() {
    let sb = Sandbox::new();
    let records = records(400, 40, fixed_newest());
    let server = serve(&records);
    let wanted = event_id(&records[333]);
    let expr = format!("eventID = \"{wanted}\"");
    let out = run_ok(sb.ctlookup().args(["--endpoint-url", &server.url(), "--tps", "100", "--where", &expr]));
    assert_eq!(jsonl_ids(&out.stdout), std::slice::from_ref(&wanted));
    assert_eq!(sent_attributes(&server), [Some(("EventId".to_owned(), wanted.clone()))]);

    // The same question without pushdown reads the whole history: 8 pages.
    let out = run_ok(sb.ctlookup().args([
        "--endpoint-url",
        &server.url(),
        "--tps",
        "100",
        "--where",
        &expr,
        "--no-pushdown",
    ]));
    assert_eq!(jsonl_ids(&out.stdout), [wanted]);
    assert_eq!(server.requests().len(), 1 + 8);
}

#[test]
fn several_event_names_are_parallel_lookups_merged_newest_first() {
    let sb = Sandbox::new();
    let records = records(500, 41, fixed_newest());
    let server = serve(&records);
    let out = run_ok(sb.api(&server.url()).args(["--event-name", "ConsoleLogin", "--event-name", "AssumeRole", "-v"]));
    let expected = ids_where(&records, |r| ["ConsoleLogin", "AssumeRole"].contains(&r["eventName"].as_str().unwrap()));
    assert_eq!(jsonl_ids(&out.stdout), expected);
    let sent = sent_attributes(&server);
    assert!(sent.iter().all(|a| matches!(a, Some((k, _)) if k == "EventName")), "{sent:?}");
    assert!(sent.contains(&Some(("EventName".into(), "ConsoleLogin".into()))));
    assert!(sent.contains(&Some(("EventName".into(), "AssumeRole".into()))));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 API lookups run together"), "{stderr}");
}

#[test]
fn overlapping_lookups_print_each_event_once_and_resume_exactly() {
    let sb = Sandbox::new();
    let records = records(300, 42, fixed_newest());
    let server = serve(&records);
    // alice's console logins match both branches.
    let expr = "eventName = ConsoleLogin or userIdentity.userName = alice";
    let env = |r: &Value| envelope(r);
    let expected = ids_where(&records, |r| {
        r["eventName"] == "ConsoleLogin" || str_at(r, "userIdentity.userName") == Some("alice")
    });
    let both = ids_where(&records, |r| r["eventName"] == "ConsoleLogin" && env(r)["Username"] == "alice");
    assert!(!both.is_empty(), "the sample has events matching both branches");
    let url = server.url();
    let base = ["--endpoint-url", url.as_str(), "--tps", "100", "--where", expr];
    // `userIdentity.userName` is not a lookup attribute: this is one EventName lookup plus local tests.
    let out = run_ok(sb.ctlookup().args(base));
    assert_eq!(jsonl_ids(&out.stdout), expected);

    // Both branches are lookups here, and the merge removes the overlap, page after page.
    let expr = "eventName = ConsoleLogin or eventSource = signin.amazonaws.com";
    let expected =
        ids_where(&records, |r| r["eventName"] == "ConsoleLogin" || r["eventSource"] == "signin.amazonaws.com");
    let overlap =
        ids_where(&records, |r| r["eventName"] == "ConsoleLogin" && r["eventSource"] == "signin.amazonaws.com");
    assert!(!overlap.is_empty());
    let mut collected = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut cmd = sb.ctlookup();
        cmd.args(["--endpoint-url", &url, "--tps", "100", "--where", expr, "--max-items", "3", "-o", "json"]);
        if let Some(t) = &token {
            cmd.args(["--starting-token", t]);
        }
        let out = run_ok(&mut cmd);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        collected.extend(doc["Events"].as_array().unwrap().iter().map(|e| e["EventId"].as_str().unwrap().to_owned()));
        match doc.get("NextToken").and_then(Value::as_str) {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
        assert!(collected.len() <= expected.len(), "resuming must not repeat events");
    }
    assert_eq!(collected, expected);
}

#[test]
fn where_filters_on_any_field() {
    let sb = Sandbox::new();
    let records = records(300, 43, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    type Expected = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(&str, Expected)> = vec![
        ("errorCode = AccessDenied", Box::new(|r| r["errorCode"] == "AccessDenied")),
        ("errorCode exists", Box::new(|r| r.get("errorCode").is_some_and(|v| !v.is_null()))),
        ("not errorCode exists", Box::new(|r| r.get("errorCode").is_none_or(Value::is_null))),
        (
            r#"errorCode =~ "(?i)accessdenied|unauthorized""#,
            Box::new(|r| {
                r["errorCode"].as_str().is_some_and(|c| {
                    let c = c.to_lowercase();
                    c.contains("accessdenied") || c.contains("unauthorized")
                })
            }),
        ),
        (
            "userIdentity.sessionContext.sessionIssuer.userName = AdminRole",
            Box::new(|r| str_at(r, "userIdentity.sessionContext.sessionIssuer.userName") == Some("AdminRole")),
        ),
        (
            "sourceIPAddress in (203.0.113.0/24, 2001:db8::/32)",
            Box::new(|r| {
                let ip = r["sourceIPAddress"].as_str().unwrap_or("");
                ip.starts_with("203.0.113.") || ip.starts_with("2001:db8:")
            }),
        ),
        (
            "userAgent contains HYPERLINK",
            Box::new(|r| r["userAgent"].as_str().is_some_and(|u| u.contains("HYPERLINK"))),
        ),
        (
            "eventSource = ec2.amazonaws.com AND (readOnly = false OR errorCode exists)",
            Box::new(|r| {
                r["eventSource"] == "ec2.amazonaws.com" && (r["readOnly"] == false || r.get("errorCode").is_some())
            }),
        ),
        (
            "resources.type = AWS::EC2::Instance",
            Box::new(|r| {
                r["resources"].as_array().is_some_and(|list| list.iter().any(|x| x["type"] == "AWS::EC2::Instance"))
            }),
        ),
    ];
    for (expr, keep) in cases {
        let expected = ids_where(&records, &keep);
        assert!(!expected.is_empty(), "{expr} matches something in the sample");
        let out = run_ok(sb.ctlookup().args(["--endpoint-url", &url, "--tps", "100", "--where", expr]));
        assert_eq!(jsonl_ids(&out.stdout), expected, "--where {expr}");
    }

    // The shorthands are predicates of the same tree.
    let out =
        run_ok(sb.ctlookup().args(["--endpoint-url", &url, "--tps", "100", "--errors", "--source-ip", "10.0.0.0/8"]));
    let expected = ids_where(&records, |r| {
        r.get("errorCode").is_some() && r["sourceIPAddress"].as_str().is_some_and(|ip| ip.starts_with("10."))
    });
    assert_eq!(jsonl_ids(&out.stdout), expected);
    let out = run_ok(sb.ctlookup().args([
        "--endpoint-url",
        &url,
        "--tps",
        "100",
        "--error-code",
        "AccessDenied",
        "--error-code",
        "ThrottlingException",
    ]));
    assert_eq!(
        jsonl_ids(&out.stdout),
        ids_where(&records, |r| r["errorCode"] == "AccessDenied" || r["errorCode"] == "ThrottlingException")
    );
}

#[test]
fn a_bad_expression_points_at_the_column_and_sends_nothing() {
    let sb = Sandbox::new();
    let server = serve(&records(5, 44, fixed_newest()));
    for (expr, expected) in [
        ("(errorCode exists", "column"),
        ("errorCode =", "column 12"),
        (r#"errorCode =~ "(""#, "regex"),
        ("sourceIPAddress in (10.0.0.0/33)", "network"),
        ("errorCode AccessDenied", "operator"),
    ] {
        let out = sb.api(&server.url()).args(["--where", expr]).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{expr}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("--where") && stderr.contains(expected) && stderr.contains("<-- HERE"),
            "{expr}: {stderr}"
        );
    }
    let out = sb.api(&server.url()).args(["--source-ip", "10.0.0.300"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(server.requests().is_empty());
}

#[test]
fn a_field_no_event_had_is_reported_with_the_real_name() {
    let sb = Sandbox::new();
    let records = records(100, 45, fixed_newest());
    let saved = sb.path("events.json");
    let mut doc = Vec::new();
    fake_cloudtrail::generate::write_aws_cli_document(&mut doc, &records).unwrap();
    std::fs::write(&saved, doc).unwrap();
    let out = run_ok(sb.ctlookup().args(["--input", saved.to_str().unwrap(), "--where", "errorcode = AccessDenied"]));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("errorcode") && stderr.contains("did you mean errorCode?"), "{stderr}");
    // A real field that simply did not match says nothing.
    let out = run_ok(sb.ctlookup().args(["--input", saved.to_str().unwrap(), "--where", "errorCode = NoSuchCode"]));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// Expressions built from fields and values the generator uses, so that they match some events.
pub fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop::sample::select(vec![
            "ConsoleLogin",
            "AssumeRole",
            "RunInstances",
            "GetCallerIdentity",
            "PutBucketPolicy"
        ])
        .prop_map(|v| format!("eventName = {v}")),
        prop::sample::select(vec!["ec2.amazonaws.com", "s3.amazonaws.com", "sts.amazonaws.com", "iam.amazonaws.com"])
            .prop_map(|v| format!("eventSource = {v}")),
        prop::sample::select(vec!["true", "false"]).prop_map(|v| format!("readOnly = {v}")),
        Just("errorCode exists".to_owned()),
        prop::sample::select(vec!["AccessDenied", "Client.UnauthorizedOperation"])
            .prop_map(|v| format!("errorCode = \"{v}\"")),
        prop::sample::select(vec!["alice", "bob"]).prop_map(|v| format!("userIdentity.userName = {v}")),
        Just("sourceIPAddress in (203.0.113.0/24, 2001:db8::/32)".to_owned()),
        Just("awsRegion =~ \"^us-\"".to_owned()),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Pushdown is only a speed-up: through the fake server, results with it equal results without it.
    #[test]
    fn pushdown_never_changes_the_result(expr in expression(), seed in 0u64..1000, count in 20usize..160) {
        let sb = Sandbox::new();
        let records = records(count, seed, fixed_newest());
        let server = serve(&records);
        let url = server.url();
        let run = |extra: &[&str]| {
            let out = run_ok(sb.ctlookup().args(["--endpoint-url", &url, "--tps", "1000", "--where", &expr]).args(extra));
            jsonl_ids(&out.stdout)
        };
        let pushed = run(&[]);
        let local = run(&["--no-pushdown"]);
        prop_assert_eq!(&pushed, &local, "--where {}", expr);
        let requests = server.requests();
        let full_scans = requests.iter().filter(|r| r.body.get("LookupAttributes").is_none()).count();
        prop_assert!(full_scans >= 1);
    }
}

/// Found by the property above: two events of one second, one lookup holding both (in the API's
/// order) and the other only the later one. The merge must not hand out the later one first.
#[test]
fn events_of_one_second_keep_the_apis_order_across_lookups() {
    let sb = Sandbox::new();
    let records = records(34, 205, fixed_newest());
    let server = serve(&records);
    let expr = "(eventSource = ec2.amazonaws.com) or ((readOnly = true) and (awsRegion =~ \"^us-\"))";
    let run = |extra: &[&str]| {
        let out =
            run_ok(sb.ctlookup().args(["--endpoint-url", &server.url(), "--tps", "1000", "--where", expr]).args(extra));
        jsonl_ids(&out.stdout)
    };
    let pushed = run(&["--no-store"]);
    assert_eq!(pushed, run(&["--no-store", "--no-pushdown"]));
    assert_eq!(pushed, run(&[]), "through the store");
}
