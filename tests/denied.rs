//! `ctlookup denied` and `ctlookup policy`, run as a user runs them: AccessDenied messages in every
//! documented format (texts from the AWS documentation, see src/answers/message.rs), grouped, from
//! files and from the fake server alike; S3 Block Public Access and other reasons beyond policies;
//! EC2's encoded messages decoded through the fake STS; `--policy` never granting what no Allow lifts;
//! the event → IAM action mappings of `policy`, checked against a local Service Reference fetched when
//! needed.

use std::collections::HashMap;

use crate::common::*;
use fake_cloudtrail::http::StaticServer;
use serde_json::{json, Value};

const BOB: &str = "arn:aws:iam::111122223333:user/bob";
const TOM: &str = "arn:aws:sts::111122223333:assumed-role/ReadOnly/Tom";

/// A record of `name` on `source` by `arn` at minute `minute`, failed with `error` when given.
fn record(minute: u32, arn: &str, source: &str, name: &str, error: Option<(&str, &str)>) -> Value {
    let mut r = json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": arn, "accountId": "111122223333", "userName": "x"},
        "eventTime": format!("2024-07-22T08:{minute:02}:00Z"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "eventID": format!("00000000-0000-0000-0000-0000000000{minute:02}"),
        "eventType": "AwsApiCall",
    });
    if let Some((code, message)) = error {
        r["errorCode"] = json!(code);
        r["errorMessage"] = json!(message);
    }
    r
}

fn denied_message(arn: &str, action: &str, resource: Option<&str>, clause: &str) -> String {
    let on = resource.map(|r| format!(" on resource: {r}")).unwrap_or_default();
    format!("User: {arn} is not authorized to perform: {action}{on} {clause}")
}

/// Refusals of every documented kind, some twice, and events that are no refusal.
fn refusals() -> (Vec<Value>, Vec<(&'static str, &'static str, u64)>) {
    let kinds: [(&str, &str, &str); 12] = [
        (
            "no identity-based policy allows",
            "because no identity-based policy allows the {a} action",
            "codecommit:ListRepositories",
        ),
        ("no resource-based policy allows", "because no resource-based policy allows the {a} action", "s3:GetObject"),
        ("no session policy allows", "because no session policy allows the {a} action", "codedeploy:ListDeployments"),
        (
            "no permissions boundary allows",
            "because no permissions boundary allows the {a} action",
            "codedeploy:GetApplication",
        ),
        ("no VPC endpoint policy allows", "because no VPC endpoint policy allows the {a} action", "s3:PutObject"),
        (
            "explicit deny in an identity-based policy",
            "with an explicit deny in an identity-based policy",
            "iam:DeleteRole",
        ),
        (
            "explicit deny in a resource-based policy",
            "with an explicit deny in a resource-based policy",
            "s3:DeleteObject",
        ),
        (
            "explicit deny in a service control policy",
            "with an explicit deny in a service control policy",
            "ec2:RunInstances",
        ),
        (
            "explicit deny in a resource control policy",
            "with an explicit deny in a resource control policy",
            "s3:GetBucketPolicy",
        ),
        (
            "explicit deny in a permissions boundary",
            "with an explicit deny in a permissions boundary",
            "iam:CreateUser",
        ),
        ("explicit deny in a session policy", "with an explicit deny in a session policy", "sqs:SendMessage"),
        ("explicit deny in a VPC endpoint policy", "with an explicit deny in a VPC endpoint policy", "s3:ListBucket"),
    ];
    let mut records = Vec::new();
    let mut want = Vec::new();
    let mut minute = 0;
    for (i, (reason, clause, action)) in kinds.iter().enumerate() {
        let times = if i % 3 == 0 { 2 } else { 1 };
        let (source, name) = action.split_once(':').unwrap();
        for _ in 0..times {
            let message =
                denied_message(TOM, action, Some("arn:aws:s3:::example-bucket"), &clause.replace("{a}", action));
            let code = if i % 2 == 0 { "AccessDenied" } else { "AccessDeniedException" };
            records.push(record(minute, BOB, &format!("{source}.amazonaws.com"), name, Some((code, &message))));
            minute += 1;
        }
        want.push((*reason, *action, times));
    }
    // The older message without a reason; S3's bare "Access Denied" (principal and action from the event).
    let old = "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: iam:ListUsers on resource: arn:aws:iam::111122223333:user/";
    records.push(record(minute, BOB, "iam.amazonaws.com", "ListUsers", Some(("AccessDenied", old))));
    records.push(record(minute + 1, BOB, "s3.amazonaws.com", "ListObjects", Some(("AccessDenied", "Access Denied"))));
    // Not refusals.
    records.push(record(
        minute + 2,
        BOB,
        "s3.amazonaws.com",
        "GetObject",
        Some(("SlowDown", "Please reduce your request rate.")),
    ));
    records.push(record(minute + 3, BOB, "s3.amazonaws.com", "GetObject", None));
    records.reverse();
    (records, want)
}

fn jsonl(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn every_documented_message_grouped_from_files_and_the_api() {
    let (records, want) = refusals();
    let sb = Sandbox::new();
    let file = sb.path("records.jsonl");
    write(&file, &records.iter().map(|r| format!("{r}\n")).collect::<String>());
    let from_file =
        run_ok(sb.ctlookup().args(["denied", "--input", file.to_str().unwrap(), "-o", "jsonl", "--tz", "UTC"]));
    let server = serve(&records);
    let from_api = run_ok(sb.api(&server.url()).args(["denied", "-o", "jsonl", "--tz", "UTC"]));
    assert_eq!(String::from_utf8_lossy(&from_file.stdout), String::from_utf8_lossy(&from_api.stdout));
    let rows = jsonl(&from_file);
    assert_eq!(rows.len(), want.len() + 2, "{rows:#?}");
    for (reason, action, count) in want {
        let row = rows.iter().find(|r| r["reason"] == reason).unwrap_or_else(|| panic!("no row for {reason}"));
        assert_eq!((row["action"].as_str(), row["count"].as_u64()), (Some(action), Some(count)), "{reason}");
        assert_eq!(row["principal"], TOM, "the principal of the message");
        assert_eq!(row["resource"], "arn:aws:s3:::example-bucket");
        if count == 2 {
            assert!(row["first"].as_str() < row["last"].as_str(), "{row}");
        }
        assert!(row["eventID"].as_str().is_some_and(|id| id.starts_with("00000000-")));
    }
    // Largest first.
    assert_eq!(rows[0]["count"], 2);
    let old = rows.iter().find(|r| r["action"] == "iam:ListUsers").unwrap();
    assert_eq!((old["reason"].as_str(), old["resource"].as_str()), (Some(""), Some("arn:aws:iam::111122223333:user/")));
    let bare = rows.iter().find(|r| r["action"] == "s3:ListBucket" && r["reason"] == "").unwrap();
    assert_eq!((bare["principal"].as_str(), bare["resource"].as_str()), (Some(BOB), None), "from the event");
    // The table and csv carry the same rows.
    let csv = run_ok(sb.ctlookup().args(["denied", "--input", file.to_str().unwrap(), "-o", "csv", "--tz", "UTC"]));
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(csv.starts_with("principal,action,resource,reason,count,first,last,eventID\r\n"), "{csv}");
    assert_eq!(csv.lines().count(), rows.len() + 1);
}

const DECODED: &str = r#"{"allowed":false,"explicitDeny":false,"matchedStatements":{"items":[]},"failures":{"items":[]},"context":{"principal":{"id":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/bob"},"action":"ec2:RunInstances","resource":"arn:aws:ec2:us-east-1:111122223333:instance/*","conditions":{"items":[{"key":"ec2:InstanceType","values":{"items":[{"value":"p5.48xlarge"}]}},{"key":"aws:Region","values":{"items":[{"value":"us-east-1"}]}}]}}}"#;

fn encoded_records() -> Vec<Value> {
    let message = |blob: &str| {
        format!("You are not authorized to perform this operation. Encoded authorization failure message: {blob}")
    };
    let mut records = vec![
        record(
            1,
            BOB,
            "ec2.amazonaws.com",
            "RunInstances",
            Some(("Client.UnauthorizedOperation", &message("ENCODED-ONE"))),
        ),
        record(
            2,
            BOB,
            "ec2.amazonaws.com",
            "RunInstances",
            Some(("Client.UnauthorizedOperation", &message("ENCODED-ONE"))),
        ),
        record(
            3,
            BOB,
            "ec2.amazonaws.com",
            "RunInstances",
            Some(("Client.UnauthorizedOperation", &message("ENCODED-TWO"))),
        ),
    ];
    records.reverse();
    records
}

fn decode_requests(server: &fake_cloudtrail::server::FakeCloudTrail) -> usize {
    server.sts_requests().iter().filter(|r| r.action == "DecodeAuthorizationMessage").count()
}

#[test]
fn decode_takes_action_resource_and_conditions_from_sts() {
    let records = encoded_records();
    let server = serve(&records);
    server.add_authorization_message("ENCODED-ONE", DECODED);
    server.add_authorization_message("ENCODED-TWO", DECODED);
    let sb = Sandbox::new();
    let out = run_ok(sb.api(&server.url()).args(["denied", "--decode", "-o", "jsonl", "--tz", "UTC"]));
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 1, "both messages decode to the same row: {rows:#?}");
    let row = &rows[0];
    assert_eq!(row["action"], "ec2:RunInstances");
    assert_eq!(row["resource"], "arn:aws:ec2:us-east-1:111122223333:instance/*");
    assert_eq!(row["conditions"], "ec2:InstanceType = p5.48xlarge; aws:Region = us-east-1");
    assert_eq!((row["count"].as_u64(), row["first"].as_str()), (Some(3), Some("2024-07-22T08:01:00+00:00")));
    assert_eq!(decode_requests(&server), 2, "one call per distinct message");

    // Without --decode: the action from the event, nothing sent to STS.
    let before = decode_requests(&server);
    let out = run_ok(sb.api(&server.url()).args(["denied", "-o", "jsonl"]));
    let rows = jsonl(&out);
    assert_eq!(
        (rows.len(), rows[0]["action"].as_str(), rows[0]["resource"].as_str()),
        (1, Some("ec2:RunInstances"), None)
    );
    assert_eq!(decode_requests(&server), before);

    // From files, STS is reached the SDK's way (AWS_ENDPOINT_URL).
    let file = sb.path("records.jsonl");
    write(&file, &records.iter().map(|r| format!("{r}\n")).collect::<String>());
    let out = run_ok(sb.ctlookup().env("AWS_ENDPOINT_URL", server.url()).args([
        "denied",
        "--decode",
        "--input",
        file.to_str().unwrap(),
        "-o",
        "jsonl",
    ]));
    assert_eq!(jsonl(&out)[0]["conditions"], "ec2:InstanceType = p5.48xlarge; aws:Region = us-east-1");
}

#[test]
fn a_refused_decode_is_said_once_and_the_run_goes_on() {
    let server = serve(&encoded_records());
    server.set_refuse_decode(true);
    let sb = Sandbox::new();
    let out = run_ok(sb.api(&server.url()).args(["denied", "--decode", "-o", "jsonl"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("refused DecodeAuthorizationMessage").count(), 1, "{stderr}");
    assert!(stderr.contains("sts:DecodeAuthorizationMessage"), "{stderr}");
    assert_eq!(decode_requests(&server), 1, "no further message is sent once refused");
    let rows = jsonl(&out);
    assert_eq!(rows.iter().map(|r| r["count"].as_u64().unwrap()).sum::<u64>(), 3);
    assert!(rows.iter().all(|r| r["action"] == "ec2:RunInstances" && r["conditions"].is_null()), "{rows:#?}");
}

/// The services of the Service Reference the tests serve, with the actions each has (as the real
/// reference spells them; a subset).
const SERVICES: &[(&str, &[&str])] = &[
    (
        "s3",
        &[
            "GetObject",
            "PutObject",
            "PutObjectAcl",
            "PutBucketPolicy",
            "ListAllMyBuckets",
            "ListBucket",
            "PutBucketPublicAccessBlock",
            "PutBucketOwnershipControls",
            "GetAnalyticsConfiguration",
            "PutMetricsConfiguration",
            "GetInventoryConfiguration",
            "PutIntelligentTieringConfiguration",
        ],
    ),
    ("iam", &["ListUsers", "DeleteRole"]),
    ("ec2", &["RunInstances", "DescribeInstances"]),
    ("cloudwatch", &["PutMetricAlarm"]),
    ("lambda", &["CreateFunction", "InvokeFunction"]),
    ("kms", &["Decrypt", "ReEncryptFrom", "ReEncryptTo"]),
    ("apigateway", &["DELETE", "GET", "PATCH", "POST", "PUT", "AddCertificateToDomain"]),
    ("cloudformation", &["CreateResource", "CreateStack"]),
    ("rds-data", &["ExecuteStatement"]),
    ("servicecatalog", &["ListApplications"]),
    ("sqs", &["SendMessage", "DeleteMessage", "ChangeMessageVisibility"]),
    ("sns", &["Publish"]),
    ("dynamodb", &["ConditionCheckItem", "DeleteItem", "GetItem", "PutItem", "UpdateItem"]),
];

/// A Service Reference server serving [`SERVICES`].
fn reference() -> StaticServer {
    StaticServer::start(|base| {
        let mut routes = HashMap::new();
        let mut index = Vec::new();
        for (name, actions) in SERVICES {
            let actions: Vec<Value> = actions.iter().map(|a| json!({"Name": a})).collect();
            routes.insert(format!("/{name}.json"), (200, json!({"Name": name, "Actions": actions}).to_string()));
            index.push(json!({"service": name, "url": format!("{base}/{name}.json")}));
        }
        routes.insert("/".to_owned(), (200, Value::from(index).to_string()));
        routes
    })
}

/// `ctlookup` reading the Service Reference from `reference`, with its cache under `cache` in the sandbox
/// (empty until a run fills it).
fn with_reference(sb: &Sandbox, reference: &StaticServer, cache: &str) -> assert_cmd::Command {
    let mut cmd = sb.ctlookup();
    cmd.env("CTLOOKUP_SERVICE_REFERENCE_URL", reference.base()).env("XDG_CACHE_HOME", sb.path(cache));
    cmd
}

/// The services fetched so far, by the path of their file, sorted (the index is `/`).
fn fetched(reference: &StaticServer) -> Vec<String> {
    let mut paths = reference.paths();
    paths.sort();
    paths
}

fn write_records(sb: &Sandbox, records: &[Value]) -> String {
    let file = sb.path("records.jsonl");
    write(&file, &records.iter().map(|r| format!("{r}\n")).collect::<String>());
    file.to_str().unwrap().to_owned()
}

#[test]
fn policy_of_denials_never_allows_an_explicit_deny() {
    let sb = Sandbox::new();
    let reference = reference();
    let alice = "arn:aws:iam::111122223333:user/alice";
    let records = [
        record(
            9,
            alice,
            "s3.amazonaws.com",
            "GetObject",
            Some((
                "AccessDenied",
                &denied_message(
                    alice,
                    "s3:GetObject",
                    Some("\"arn:aws:s3:::b/k\""),
                    "because no identity-based policy allows the s3:GetObject action",
                ),
            )),
        ),
        record(
            8,
            alice,
            "s3.amazonaws.com",
            "PutObject",
            Some((
                "AccessDenied",
                &denied_message(
                    alice,
                    "s3:PutObject",
                    Some("\"arn:aws:s3:::b/k\""),
                    "because no VPC endpoint policy allows the s3:PutObject action",
                ),
            )),
        ),
        record(
            7,
            alice,
            "iam.amazonaws.com",
            "DeleteRole",
            Some((
                "AccessDenied",
                &denied_message(
                    alice,
                    "iam:DeleteRole",
                    Some("arn:aws:iam::111122223333:role/prod"),
                    "with an explicit deny in a service control policy",
                ),
            )),
        ),
        record(
            6,
            BOB,
            "iam.amazonaws.com",
            "ListUsers",
            Some((
                "AccessDenied",
                &denied_message(
                    BOB,
                    "iam:ListUsers",
                    None,
                    "because no identity-based policy allows the iam:ListUsers action",
                ),
            )),
        ),
        record(
            5,
            BOB,
            "iam.amazonaws.com",
            "ListUserz",
            Some((
                "AccessDenied",
                &denied_message(
                    BOB,
                    "iam:ListUserz",
                    None,
                    "because no identity-based policy allows the iam:ListUserz action",
                ),
            )),
        ),
    ];
    let file = sb.path("records.jsonl");
    write(&file, &records.iter().map(|r| format!("{r}\n")).collect::<String>());
    let out = run_ok(with_reference(&sb, &reference, "cache").args([
        "denied",
        "--policy",
        "--input",
        file.to_str().unwrap(),
    ]));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc,
        json!([
            {"principal": alice, "policy": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": ["arn:aws:s3:::b/k"]}]}},
            {"principal": BOB, "policy": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["iam:ListUsers"], "Resource": ["*"]}]}},
        ])
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("iam:DeleteRole on arn:aws:iam::111122223333:role/prod was refused by an explicit deny in a service control policy"), "{stderr}");
    assert!(stderr.contains("service control policies of the account's OUs"), "{stderr}");
    assert!(stderr.contains("no VPC endpoint policy allows it"), "{stderr}");
    assert!(stderr.contains("left out, not actions in the AWS Service Reference: iam:ListUserz"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("DeleteRole"));
}

#[test]
fn policy_maps_events_to_actions() {
    let sb = Sandbox::new();
    let reference = reference();
    let mut console = record(1, BOB, "signin.amazonaws.com", "ConsoleLogin", None);
    console["eventType"] = json!("AwsConsoleSignIn");
    let records = vec![
        record(10, BOB, "monitoring.amazonaws.com", "PutMetricAlarm", None),
        record(9, BOB, "lambda.amazonaws.com", "CreateFunction20150331", None),
        record(8, BOB, "lambda.amazonaws.com", "Invoke", None),
        record(7, BOB, "s3.amazonaws.com", "ListBuckets", None),
        record(6, BOB, "kms.amazonaws.com", "ReEncrypt", None),
        record(5, BOB, "s3.amazonaws.com", "MadeUpCall", None),
        record(
            4,
            BOB,
            "ec2.amazonaws.com",
            "RunInstances",
            Some((
                "Client.UnauthorizedOperation",
                "You are not authorized to perform this operation. Encoded authorization failure message: X",
            )),
        ),
        record(3, BOB, "s3.amazonaws.com", "GetObject", Some(("NoSuchKey", "The specified key does not exist."))),
        record(2, BOB, "signin.amazonaws.com", "SwitchRole", None),
        console,
    ];
    let file = sb.path("records.jsonl");
    write(&file, &records.iter().map(|r| format!("{r}\n")).collect::<String>());
    let run = |extra: &[&str]| {
        let out = run_ok(
            with_reference(&sb, &reference, "cache")
                .args(["policy", "--input", file.to_str().unwrap(), "-o", "jsonl"])
                .args(extra),
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        (doc["Statement"][0]["Action"].clone(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (actions, stderr) = run(&[]);
    assert_eq!(
        actions,
        json!([
            "cloudwatch:PutMetricAlarm",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
            "lambda:CreateFunction",
            "lambda:InvokeFunction",
            "s3:ListAllMyBuckets"
        ])
    );
    assert!(stderr.contains("left out, not actions in the AWS Service Reference: s3:MadeUpCall"), "{stderr}");
    let (actions, _) = run(&["--include-denied"]);
    assert!(actions.as_array().unwrap().contains(&json!("ec2:RunInstances")), "{actions}");
    assert!(!actions.as_array().unwrap().contains(&json!("s3:GetObject")), "a failure that is no refusal: {actions}");
}

#[test]
fn denied_and_policy_refuse_what_they_cannot_print() {
    let sb = Sandbox::new();
    for args in [
        &["denied", "--count-by", "user", "--input", "-"][..],
        &["denied", "--jq", ".", "--input", "-"],
        &["denied", "--policy", "-o", "csv", "--input", "-"],
        &["policy", "-o", "table", "--input", "-"],
        &["policy", "--follow"],
    ] {
        let out = run_code(sb.ctlookup().args(args), 2);
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1, "{args:?}");
    }
}

/// S3 Block Public Access refusals, in the words of the S3 User Guide ("Access denied due to Block Public
/// Access settings") and as S3 also words them; refusals whose reason is none of the documented ones.
fn refusals_beyond_policies() -> Vec<Value> {
    let refused = |minute, source: &str, name: &str, message: String| {
        record(minute, BOB, source, name, Some(("AccessDenied", &message)))
    };
    let s3 = "s3.amazonaws.com";
    vec![
        refused(1, s3, "PutBucketPolicy", format!("User: {BOB} is not authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::b\" because public policies are blocked by the BlockPublicPolicy block public access setting.")),
        refused(2, s3, "PutBucketPolicy", format!("User: {BOB} is not authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::b\" because public policies are prevented by the BlockPublicPolicy setting in S3 Block Public Access.")),
        refused(3, s3, "PutObjectAcl", format!("User: {BOB} is not authorized to perform: s3:PutObjectAcl on resource: \"arn:aws:s3:::b/k\" because public ACLs are prevented by the BlockPublicAcls setting in S3 Block Public Access.")),
        refused(4, s3, "PutObject", format!("User: {BOB} is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::b/k\" because this bucket has blocked upload requests that specify Server Side Encryption with Customer provided keys (SSE-C).")),
        refused(5, "kms.amazonaws.com", "Decrypt", format!("User: {BOB} is not authorized to perform: kms:Decrypt on the resource associated with this ciphertext because the resource does not exist in this Region, no resource-based policies allow access, or a resource-based policy explicitly denies access")),
        refused(6, s3, "GetObject", format!("User: {BOB} is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::b/k\" because no identity-based policy allows the s3:GetObject action")),
    ]
}

#[test]
fn s3_block_public_access_is_its_own_reason_and_the_resource_ends_at_its_quote() {
    let sb = Sandbox::new();
    let file = write_records(&sb, &refusals_beyond_policies());
    let out = run_ok(sb.ctlookup().args(["denied", "--input", &file, "-o", "jsonl"]));
    let rows: Vec<(String, String, String, u64)> = jsonl(&out)
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or("(null)").to_owned();
            (text("action"), text("resource"), text("reason"), r["count"].as_u64().unwrap())
        })
        .collect();
    let row = |action: &str, resource: &str, reason: &str, count| {
        (action.to_owned(), resource.to_owned(), reason.to_owned(), count)
    };
    assert_eq!(
        rows,
        [
            row("s3:PutBucketPolicy", "arn:aws:s3:::b", "blocked by S3 Block Public Access (BlockPublicPolicy)", 2),
            row("kms:Decrypt", "(null)", "the resource does not exist in this Region, no resource-based policies allow access, or a resource-based policy explicitly denies access", 1),
            row("s3:GetObject", "arn:aws:s3:::b/k", "no identity-based policy allows", 1),
            row("s3:PutObject", "arn:aws:s3:::b/k", "this bucket has blocked upload requests that specify Server Side Encryption with Customer provided keys (SSE-C)", 1),
            row("s3:PutObjectAcl", "arn:aws:s3:::b/k", "blocked by S3 Block Public Access (BlockPublicAcls)", 1),
        ]
    );
}

#[test]
fn policy_never_grants_what_an_allow_cannot_lift() {
    let sb = Sandbox::new();
    let reference = reference();
    let file = write_records(&sb, &refusals_beyond_policies());
    let out = run_ok(with_reference(&sb, &reference, "cache").args(["denied", "--policy", "--input", &file]));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc,
        json!([{"principal": BOB, "policy": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/k"]}]}}])
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{BOB}: s3:PutBucketPolicy on arn:aws:s3:::b was blocked by S3 Block Public Access (BlockPublicPolicy) (2 times); no Allow lifts it: look at the Block Public Access settings of the bucket, its access points, the account and the organization")),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "s3:PutObjectAcl on arn:aws:s3:::b/k was blocked by S3 Block Public Access (BlockPublicAcls) (1 times)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{BOB}: s3:PutObject on arn:aws:s3:::b/k was refused because this bucket has blocked upload requests that specify Server Side Encryption with Customer provided keys (SSE-C) (1 times); no Allow written: the message names no policy an Allow would satisfy")),
        "{stderr}"
    );
    assert!(
        stderr.contains("kms:Decrypt on * was refused because the resource does not exist in this Region"),
        "{stderr}"
    );
}

#[test]
fn policy_maps_event_names_to_the_actions_the_service_authorization_reference_names() {
    let sb = Sandbox::new();
    let reference = reference();
    let events: &[(&str, &str)] = &[
        ("apigateway.amazonaws.com", "CreateStage"),
        ("apigateway.amazonaws.com", "GetResource"),
        ("apigateway.amazonaws.com", "UpdateStage"),
        ("apigateway.amazonaws.com", "DeleteStage"),
        ("apigateway.amazonaws.com", "PutIntegration"),
        ("apigateway.amazonaws.com", "TagResource"),
        ("cloudcontrolapi.amazonaws.com", "CreateResource"),
        ("rdsdata.amazonaws.com", "ExecuteStatement"),
        ("servicecatalog-appregistry.amazonaws.com", "ListApplications"),
        ("s3.amazonaws.com", "DeleteBucketPublicAccessBlock"),
        ("s3.amazonaws.com", "DeleteBucketOwnershipControls"),
        ("s3.amazonaws.com", "GetBucketAnalyticsConfiguration"),
        ("s3.amazonaws.com", "DeleteBucketMetricsConfiguration"),
        ("s3.amazonaws.com", "GetBucketInventoryConfiguration"),
        ("s3.amazonaws.com", "DeleteBucketIntelligentTieringConfiguration"),
        ("s3.amazonaws.com", "SelectObjectContent"),
        ("sqs.amazonaws.com", "SendMessageBatch"),
        ("sqs.amazonaws.com", "DeleteMessageBatch"),
        ("sqs.amazonaws.com", "ChangeMessageVisibilityBatch"),
        ("sns.amazonaws.com", "PublishBatch"),
        ("dynamodb.amazonaws.com", "TransactWriteItems"),
        ("dynamodb.amazonaws.com", "TransactGetItems"),
        // Event names that cannot be the name of an action.
        ("s3.amazonaws.com", "https://example.com/GetObject"),
        ("s3.amazonaws.com", "Get Object"),
        ("s3.amazonaws.com", "s3/GetObject"),
    ];
    let mut records: Vec<Value> =
        events.iter().enumerate().map(|(i, (source, name))| record(i as u32, BOB, source, name, None)).collect();
    // Events that are no API call of the caller.
    for (minute, event_type, source, name) in [
        (40, "AwsConsoleAction", "ec2.amazonaws.com", "DescribeInstances"),
        (41, "AwsServiceEvent", "kms.amazonaws.com", "RotateKey"),
        (42, "AwsConsoleSignIn", "signin.amazonaws.com", "ConsoleLogin"),
    ] {
        let mut event = record(minute, BOB, source, name, None);
        event["eventType"] = json!(event_type);
        records.push(event);
    }
    let file = write_records(&sb, &records);
    let out = run_ok(with_reference(&sb, &reference, "cache").args(["policy", "--input", &file, "-o", "jsonl"]));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["Statement"][0]["Action"],
        json!([
            "apigateway:DELETE",
            "apigateway:GET",
            "apigateway:PATCH",
            "apigateway:POST",
            "apigateway:PUT",
            "cloudformation:CreateResource",
            "dynamodb:ConditionCheckItem",
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "rds-data:ExecuteStatement",
            "s3:GetAnalyticsConfiguration",
            "s3:GetInventoryConfiguration",
            "s3:GetObject",
            "s3:PutBucketOwnershipControls",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutIntelligentTieringConfiguration",
            "s3:PutMetricsConfiguration",
            "servicecatalog:ListApplications",
            "sns:Publish",
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:SendMessage",
        ])
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("left out 3 events whose eventName cannot be the name of an IAM action"), "{stderr}");
    assert!(
        stderr.contains(
            "left out 3 events that are no API call of the caller (console actions, sign-ins, service events)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("not checked"), "every service was fetched: {stderr}");
    assert!(!stderr.contains("example.com"), "{stderr}");
}

#[test]
fn the_service_reference_is_fetched_once_when_needed_and_offline_reads_the_cache_only() {
    let sb = Sandbox::new();
    let reference = reference();
    let records = vec![
        record(5, BOB, "s3.amazonaws.com", "GetObject", None),
        record(4, BOB, "s3.amazonaws.com", "MadeUpCall", None),
        record(3, BOB, "lambda.amazonaws.com", "Invoke", None),
        record(2, BOB, "notaservice.amazonaws.com", "DoThing", None),
    ];
    let server = serve(&records);
    let window = ["--start-time", "2024-07-22T08:00:00Z", "--end-time", "2024-07-22T09:00:00Z"];
    let policy = |cache: &str, extra: &[&str]| {
        let mut cmd = with_reference(&sb, &reference, cache);
        cmd.env("CTLOOKUP_STORE_DIR", sb.path("store"))
            .args(["policy", "--endpoint-url", &server.url(), "--tps", FAST_TPS, "-o", "jsonl"])
            .args(window)
            .args(extra);
        let out = run_ok(&mut cmd);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        (doc["Statement"][0]["Action"].clone(), String::from_utf8_lossy(&out.stderr).into_owned())
    };

    // An empty cache: the index and the services the actions need, nothing else.
    let (actions, stderr) = policy("cache", &[]);
    assert_eq!(actions, json!(["lambda:InvokeFunction", "s3:GetObject"]));
    assert_eq!(fetched(&reference), ["/", "/lambda.json", "/s3.json"]);
    assert!(stderr.contains("left out, not actions in the AWS Service Reference: s3:MadeUpCall"), "{stderr}");
    assert!(stderr.contains("left out, not services in the AWS Service Reference: notaservice"), "{stderr}");

    // Cached as `ctlookup actions` caches them: the next run asks nothing.
    let (again, _) = policy("cache", &[]);
    assert_eq!(again, actions);
    assert_eq!(reference.hits(), 3);
    let listed = run_ok(with_reference(&sb, &reference, "cache").args(["actions", "lambda", "-o", "jsonl"]));
    assert!(String::from_utf8_lossy(&listed.stdout).contains("InvokeFunction"));
    assert_eq!(reference.hits(), 3, "`ctlookup actions` reads the same cache");

    // --offline: the cache only; with none, nothing is checked, and stderr says so.
    let (unchecked, stderr) = policy("empty-cache", &["--offline"]);
    assert_eq!(reference.hits(), 3, "--offline fetches nothing");
    assert_eq!(unchecked, json!(["lambda:InvokeFunction", "notaservice:DoThing", "s3:GetObject", "s3:MadeUpCall"]));
    assert!(
        stderr.contains(
            "not checked against the AWS Service Reference (--offline, and not cached): lambda, notaservice, s3"
        ),
        "{stderr}"
    );
    let (checked, _) = policy("cache", &["--offline"]);
    assert_eq!(checked, actions);
    assert_eq!(reference.hits(), 3);
}
