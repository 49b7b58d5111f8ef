//! Protocol tests for the fake CloudTrail server, spoken over raw HTTP/1.1 so that they check the wire
//! format the AWS SDK and botocore see, not just the Rust API.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_cloudtrail::server::{load_aws_cli_events, FakeCloudTrail};
use serde_json::{json, Value};

const TARGET: &str = "CloudTrail_20131101.LookupEvents";
const BOTOCORE_TARGET: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240722/us-east-1/cloudtrail/aws4_request, \
                    SignedHeaders=host;x-amz-date;x-amz-target, Signature=0123abcd";
const T0: i64 = 1_721_606_400; // 2024-07-22T00:00:00Z

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn error_type(&self) -> &str {
        self.body["__type"].as_str().unwrap_or("")
    }
    fn event_ids(&self) -> Vec<String> {
        self.body["Events"].as_array().unwrap().iter().map(|e| e["EventId"].as_str().unwrap().to_string()).collect()
    }
}

/// A keep-alive client connection that writes requests by hand.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(server: &FakeCloudTrail) -> Client {
        let address = server.url().trim_start_matches("http://").to_string();
        let stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client { reader: BufReader::new(stream) }
    }

    fn send(&mut self, target: Option<&str>, signed: bool, body: &str) -> std::io::Result<Answer> {
        self.send_with(target, signed.then_some(AUTH), body)
    }

    /// Sends with this `Authorization` header (None = unsigned).
    fn send_with(&mut self, target: Option<&str>, authorization: Option<&str>, body: &str) -> std::io::Result<Answer> {
        let mut request = String::from("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        request += "Content-Type: application/x-amz-json-1.1\r\n";
        if let Some(target) = target {
            request += &format!("X-Amz-Target: {target}\r\n");
        }
        if let Some(authorization) = authorization {
            request += &format!("Authorization: {authorization}\r\nX-Amz-Date: 20240722T000000Z\r\n");
        }
        request += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.reader.get_mut().write_all(request.as_bytes())?;

        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        let status = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let length: usize =
            headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("content-length")).unwrap().1.parse().unwrap();
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok(Answer { status, headers, body: serde_json::from_slice(&body).unwrap() })
    }

    fn lookup(&mut self, body: Value) -> Answer {
        self.send(Some(TARGET), true, &body.to_string()).unwrap()
    }

    /// A lookup signed for `region`, as the SDK signs it.
    fn lookup_in(&mut self, region: &str, body: Value) -> Answer {
        self.send_with(Some(TARGET), Some(&auth_for(region)), &body.to_string()).unwrap()
    }

    /// Every event ID of a lookup in `region`, following NextToken to the end.
    fn all_ids_in(&mut self, region: &str, mut body: Value) -> Vec<String> {
        let mut ids = Vec::new();
        loop {
            let answer = self.lookup_in(region, body.clone());
            assert_eq!(answer.status, 200, "{region}: {}", answer.body);
            ids.extend(answer.event_ids());
            match answer.body.get("NextToken") {
                Some(token) => body["NextToken"] = token.clone(),
                None => return ids,
            }
        }
    }
}

/// An `Authorization` header signed for `region`.
fn auth_for(region: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240722/{region}/cloudtrail/aws4_request, \
         SignedHeaders=host;x-amz-date;x-amz-target, Signature=0123abcd"
    )
}

/// An API-shaped management event `n` seconds after T0.
fn event(n: i64, name: &str, user: &str, bucket: Option<&str>) -> Value {
    let record = json!({"eventVersion": "1.09", "eventTime": n, "eventName": name, "eventCategory": "Management"});
    let mut event = json!({
        "EventId": format!("id-{n:04}"),
        "EventName": name,
        "ReadOnly": if name.starts_with("Get") || name.starts_with("List") { "true" } else { "false" },
        "AccessKeyId": format!("ASIA{user}"),
        "EventTime": T0 + n,
        "EventSource": "s3.amazonaws.com",
        "Username": user,
        "CloudTrailEvent": record.to_string(),
    });
    if let Some(bucket) = bucket {
        event["Resources"] = json!([{"ResourceType": "AWS::S3::Bucket", "ResourceName": bucket}]);
    }
    event
}

fn insight_event(n: i64) -> Value {
    let record = json!({"eventVersion": "1.07", "eventCategory": "Insight", "eventType": "AwsCloudTrailInsight"});
    json!({"EventId": format!("insight-{n}"), "EventName": "PutObject", "ReadOnly": "false", "EventTime": T0 + n,
           "EventSource": "s3.amazonaws.com", "CloudTrailEvent": record.to_string()})
}

/// 120 events one second apart, given to the server in shuffled order.
fn many_events() -> Vec<Value> {
    let mut events: Vec<Value> = (0..120)
        .map(|n| match n % 3 {
            0 => event(n, "GetObject", "alice", Some("logs")),
            1 => event(n, "PutObject", "bob", Some("data")),
            _ => event(n, "ListBuckets", "alice", None),
        })
        .collect();
    fastrand::Rng::with_seed(7).shuffle(&mut events);
    events
}

#[test]
fn unsigned_requests_are_refused() {
    let server = FakeCloudTrail::start(many_events());
    let answer = Client::connect(&server).send(Some(TARGET), false, "{}").unwrap();
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error_type(), "MissingAuthenticationTokenException");
    assert_eq!(answer.header("content-type"), Some("application/x-amz-json-1.1"));
    assert!(answer.body["message"].is_string());
    let recorded = server.requests();
    assert_eq!(recorded.len(), 1);
    assert!(!recorded[0].signed);
    assert_eq!(recorded[0].error_type.as_deref(), Some("MissingAuthenticationTokenException"));
}

#[test]
fn both_target_forms_are_accepted_on_one_kept_alive_connection() {
    let server = FakeCloudTrail::start(many_events());
    let mut client = Client::connect(&server);
    for target in [TARGET, BOTOCORE_TARGET] {
        let answer = client.send(Some(target), true, r#"{"MaxResults":5}"#).unwrap();
        assert_eq!(answer.status, 200, "{target}: {}", answer.body);
        assert_eq!(answer.header("content-type"), Some("application/x-amz-json-1.1"));
        assert!(answer.header("x-amzn-requestid").is_some_and(|id| id.len() == 36));
        assert_eq!(answer.event_ids().len(), 5);
    }
    for target in [Some("CloudTrail_20131101.DescribeTrails"), None] {
        let answer = client.send(target, true, "{}").unwrap();
        assert_eq!((answer.status, answer.error_type()), (400, "UnknownOperationException"));
    }
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, [TARGET, BOTOCORE_TARGET, "CloudTrail_20131101.DescribeTrails", ""]);
}

#[test]
fn paging_returns_every_event_once_newest_first() {
    let server = FakeCloudTrail::start(many_events());
    let mut client = Client::connect(&server);
    let mut sizes = Vec::new();
    let mut times = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({});
        if let Some(token) = &token {
            body["NextToken"] = json!(token);
        }
        let answer = client.lookup(body);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let events = answer.body["Events"].as_array().unwrap();
        sizes.push(events.len());
        times.extend(events.iter().map(|e| e["EventTime"].as_i64().unwrap()));
        match answer.body.get("NextToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(sizes, [50, 50, 20]);
    let expected: Vec<i64> = (0..120).rev().map(|n| T0 + n).collect();
    assert_eq!(times, expected, "newest first, each exactly once");
}

#[test]
fn lookup_attributes_filter_exactly() {
    let server = FakeCloudTrail::start(many_events());
    let mut client = Client::connect(&server);
    let count = |client: &mut Client, key: &str, value: &str| {
        let body = json!({"LookupAttributes": [{"AttributeKey": key, "AttributeValue": value}]});
        let answer = client.lookup(body);
        assert_eq!(answer.status, 200, "{}", answer.body);
        let events = answer.body["Events"].as_array().unwrap().clone();
        let mut total = events.len();
        let mut token = answer.body.get("NextToken").cloned();
        while let Some(t) = token {
            let body = json!({"LookupAttributes": [{"AttributeKey": key, "AttributeValue": value}], "NextToken": t});
            let answer = client.lookup(body);
            total += answer.body["Events"].as_array().unwrap().len();
            token = answer.body.get("NextToken").cloned();
        }
        (total, events)
    };
    let (n, events) = count(&mut client, "EventName", "PutObject");
    assert_eq!(n, 40);
    assert!(events.iter().all(|e| e["EventName"] == "PutObject"));
    assert_eq!(count(&mut client, "EventName", "putobject").0, 0, "case-sensitive");
    assert_eq!(count(&mut client, "Username", "alice").0, 80);
    assert_eq!(count(&mut client, "ReadOnly", "true").0, 80);
    assert_eq!(count(&mut client, "ResourceName", "logs").0, 40);
    assert_eq!(count(&mut client, "ResourceType", "AWS::S3::Bucket").0, 80);
    assert_eq!(count(&mut client, "AccessKeyId", "ASIAbob").0, 40);
    let (n, events) = count(&mut client, "EventId", "id-0007");
    assert_eq!((n, events[0]["EventName"].as_str()), (1, Some("PutObject")));
    assert_eq!(count(&mut client, "EventSource", "s3.amazonaws.com").0, 120);
}

#[test]
fn bad_lookup_attributes_are_refused() {
    let server = FakeCloudTrail::start(many_events());
    let mut client = Client::connect(&server);
    let two = json!({"LookupAttributes": [
        {"AttributeKey": "EventName", "AttributeValue": "PutObject"},
        {"AttributeKey": "Username", "AttributeValue": "bob"}]});
    let unknown = json!({"LookupAttributes": [{"AttributeKey": "UserAgent", "AttributeValue": "x"}]});
    for body in [two, unknown] {
        let answer = client.lookup(body);
        assert_eq!((answer.status, answer.error_type()), (400, "InvalidLookupAttributesException"));
    }
    for (body, code) in [
        (json!({"MaxResults": 51}), "InvalidMaxResultsException"),
        (json!({"MaxResults": 0}), "InvalidMaxResultsException"),
        (json!({"EventCategory": "data"}), "InvalidEventCategoryException"),
        (json!({"StartTime": T0 + 10, "EndTime": T0 + 5}), "InvalidTimeRangeException"),
    ] {
        let answer = client.lookup(body);
        assert_eq!((answer.status, answer.error_type()), (400, code));
    }
}

#[test]
fn next_token_is_bound_to_its_query() {
    let server = FakeCloudTrail::start(many_events());
    let mut client = Client::connect(&server);
    let query =
        json!({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "alice"}], "MaxResults": 10});
    let token = client.lookup(query.clone()).body["NextToken"].as_str().unwrap().to_string();

    let mut other_attribute = query.clone();
    other_attribute["LookupAttributes"][0]["AttributeValue"] = json!("bob");
    let mut other_time = query.clone();
    other_time["EndTime"] = json!(T0 + 100);
    let mut other_category = query.clone();
    other_category["EventCategory"] = json!("insight");
    for mut body in [other_attribute, other_time, other_category, json!({})] {
        body["NextToken"] = json!(token);
        let answer = client.lookup(body);
        assert_eq!((answer.status, answer.error_type()), (400, "InvalidNextTokenException"), "{}", answer.body);
    }
    for garbage in ["not a token", "eyJxIjoxfQ==", ""] {
        let answer = client.lookup(json!({"NextToken": garbage}));
        assert_eq!((answer.status, answer.error_type()), (400, "InvalidNextTokenException"));
    }
    // The same query may change its page size.
    let mut same = query.clone();
    same["NextToken"] = json!(token);
    same["MaxResults"] = json!(50);
    let answer = client.lookup(same.clone());
    assert_eq!(answer.status, 200);
    assert_eq!(answer.event_ids().len(), 50);
    same["NextToken"] = answer.body["NextToken"].clone();
    let last = client.lookup(same);
    assert_eq!(last.event_ids().len(), 20, "80 of alice's events in all");
    assert!(last.body.get("NextToken").is_none());
}

#[test]
fn time_window_is_inclusive_and_accepts_fractions() {
    let server = FakeCloudTrail::start(many_events());
    let mut client = Client::connect(&server);
    let answer = client.lookup(json!({"StartTime": T0 + 10, "EndTime": T0 + 20}));
    let times: Vec<i64> =
        answer.body["Events"].as_array().unwrap().iter().map(|e| e["EventTime"].as_i64().unwrap()).collect();
    assert_eq!(times, (10..=20).rev().map(|n| T0 + n).collect::<Vec<_>>());
    let answer = client.lookup(json!({"StartTime": T0 as f64 + 9.5, "EndTime": T0 as f64 + 12.5}));
    assert_eq!(answer.event_ids(), ["id-0012", "id-0011", "id-0010"]);
    let answer = client.lookup(json!({"StartTime": T0 + 30, "EndTime": T0 + 30}));
    assert_eq!(answer.event_ids(), ["id-0030"]);
}

#[test]
fn insight_events_only_with_the_insight_category() {
    let mut events = many_events();
    events.push(insight_event(5));
    events.push(insight_event(500));
    let server = FakeCloudTrail::start(events);
    let mut client = Client::connect(&server);
    assert_eq!(client.lookup(json!({"EventCategory": "insight"})).event_ids(), ["insight-500", "insight-5"]);
    let management = client.lookup(json!({"MaxResults": 50}));
    assert!(management.event_ids().iter().all(|id| id.starts_with("id-")));
}

#[test]
fn rate_limit_answers_throttling_exception() {
    let server = FakeCloudTrail::start(many_events());
    server.set_rate_limit(Some(2.0));
    let mut client = Client::connect(&server);
    let codes: Vec<String> = (0..5).map(|_| client.lookup(json!({"MaxResults": 1})).error_type().to_string()).collect();
    assert_eq!(codes, ["", "", "ThrottlingException", "ThrottlingException", "ThrottlingException"]);
    let throttled = client.lookup(json!({}));
    assert_eq!(throttled.status, 400);
    assert_eq!(throttled.body, json!({"__type": "ThrottlingException", "message": "Rate exceeded"}));
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(client.lookup(json!({})).status, 200, "refilled after half a second");
    server.set_rate_limit(None);
    assert!((0..10).all(|_| client.lookup(json!({"MaxResults": 1})).status == 200));
}

#[test]
fn fault_every_answers_500() {
    let server = FakeCloudTrail::start(many_events());
    server.set_fault_every(Some(3));
    let mut client = Client::connect(&server);
    let statuses: Vec<u16> = (0..6).map(|_| client.lookup(json!({})).status).collect();
    assert_eq!(statuses, [200, 200, 500, 200, 200, 500]);
    server.set_fault_every(Some(1));
    let answer = client.lookup(json!({}));
    assert_eq!((answer.status, answer.error_type()), (500, "InternalFailure"));
    server.set_fault_every(None);
    assert_eq!(client.lookup(json!({})).status, 200);
}

#[test]
fn drop_every_breaks_the_connection() {
    let server = FakeCloudTrail::start(many_events());
    server.set_drop_every(Some(2));
    let mut client = Client::connect(&server);
    assert_eq!(client.lookup(json!({})).status, 200);
    assert!(client.send(Some(TARGET), true, "{}").is_err(), "second request gets no answer");
    let mut client = Client::connect(&server);
    assert_eq!(client.lookup(json!({})).status, 200);
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 0, 200]);
}

#[test]
fn latency_delays_answers() {
    let server = FakeCloudTrail::start(many_events());
    server.set_latency(Duration::from_millis(200));
    let mut client = Client::connect(&server);
    let started = Instant::now();
    assert_eq!(client.lookup(json!({})).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn aws_cli_output_loads_with_epoch_times() {
    let saved = r#"{"Events": [
        {"EventId": "a", "EventName": "ConsoleLogin", "ReadOnly": "false", "EventTime": "2024-07-22T09:00:00+09:00",
         "EventSource": "signin.amazonaws.com", "Resources": [], "CloudTrailEvent": "{\"eventVersion\":\"1.09\"}"},
        {"EventId": "b", "EventName": "GetObject", "ReadOnly": "true", "EventTime": "2024-07-22T00:00:01.500000+00:00",
         "EventSource": "s3.amazonaws.com", "CloudTrailEvent": "{}"},
        {"EventId": "c", "EventName": "GetObject", "ReadOnly": "true", "EventTime": 1721606402,
         "EventSource": "s3.amazonaws.com", "CloudTrailEvent": "{}"}
    ], "NextToken": "ignored"}"#;
    let events = load_aws_cli_events(saved).unwrap();
    let times: Vec<f64> = events.iter().map(|e| e["EventTime"].as_f64().unwrap()).collect();
    assert_eq!(times, [T0 as f64, T0 as f64 + 1.5, T0 as f64 + 2.0]);
    assert!(events[0]["EventTime"].is_i64());
    assert!(load_aws_cli_events("[]").is_err());
    assert!(load_aws_cli_events(r#"{"Events":[{"EventTime":"yesterday"}]}"#).is_err());

    let server = FakeCloudTrail::start(events);
    let answer = Client::connect(&server).lookup(json!({"StartTime": T0, "EndTime": T0 as f64 + 1.5}));
    assert_eq!(answer.event_ids(), ["b", "a"]);
}

/// An API-shaped event `n` seconds after T0 whose record is in `region` (None: no awsRegion at all).
fn regional_event(n: i64, region: Option<&str>) -> Value {
    let mut record = json!({"eventVersion": "1.09", "eventTime": n, "eventName": "DescribeInstances"});
    if let Some(region) = region {
        record["awsRegion"] = json!(region);
    }
    json!({"EventId": format!("{}-{n:03}", region.unwrap_or("none")), "EventName": "DescribeInstances",
           "ReadOnly": "true", "EventTime": T0 + n, "EventSource": "ec2.amazonaws.com",
           "CloudTrailEvent": record.to_string()})
}

/// 60 events in us-east-1 and 45 in us-west-2, interleaved in time, and 2 without a region.
fn regional_events() -> Vec<Value> {
    let mut events: Vec<Value> = (0..105)
        .map(|n| regional_event(n, Some(if n % 7 < 4 { "us-east-1" } else { "us-west-2" })))
        .chain([regional_event(200, None), regional_event(201, None)])
        .collect();
    fastrand::Rng::with_seed(3).shuffle(&mut events);
    events
}

/// The IDs `regional_events` puts in `region`, newest first.
fn expected_ids(region: &str) -> Vec<String> {
    let mut ids: Vec<(i64, String)> = regional_events()
        .iter()
        .filter(|e| e["CloudTrailEvent"].as_str().unwrap().contains(&format!("\"awsRegion\":\"{region}\"")))
        .map(|e| (e["EventTime"].as_i64().unwrap(), e["EventId"].as_str().unwrap().to_string()))
        .collect();
    ids.sort_by_key(|(time, _)| std::cmp::Reverse(*time));
    ids.into_iter().map(|(_, id)| id).collect()
}

#[test]
fn region_partition_is_off_by_default() {
    let server = FakeCloudTrail::start(regional_events());
    let mut client = Client::connect(&server);
    for region in ["us-east-1", "us-west-2", "eu-west-1"] {
        assert_eq!(client.all_ids_in(region, json!({})).len(), 107, "{region} sees every event");
    }
    // Without the partition, a signature whose region cannot be read is still accepted.
    let answer = client.send_with(Some(TARGET), Some("AWS4-HMAC-SHA256 Signature=0123abcd"), "{}").unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let regions: Vec<Option<String>> = server.requests().into_iter().map(|r| r.region).collect();
    assert_eq!(regions[0].as_deref(), Some("us-east-1"), "the signing region is recorded");
    assert_eq!(regions.last().unwrap(), &None);
}

#[test]
fn region_partition_shows_each_region_only_its_own_events() {
    let server = FakeCloudTrail::start(regional_events());
    server.set_partition_by_region(true);
    let mut client = Client::connect(&server);
    let east = client.all_ids_in("us-east-1", json!({}));
    let west = client.all_ids_in("us-west-2", json!({}));
    assert_eq!((east.len(), west.len()), (60, 45));
    assert_eq!(east, expected_ids("us-east-1"), "every us-east-1 event once, newest first");
    assert_eq!(west, expected_ids("us-west-2"));
    assert_eq!(client.all_ids_in("eu-west-1", json!({})), Vec::<String>::new(), "a region without events");
    // Pages are full although the region's events are spread among the others'.
    let first = client.lookup_in("us-west-2", json!({"MaxResults": 20}));
    assert_eq!(first.event_ids(), expected_ids("us-west-2")[..20]);
    // Attributes and time bounds still apply, within the region.
    let window = json!({"StartTime": T0 + 10, "EndTime": T0 + 20,
                        "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "DescribeInstances"}]});
    let east_window = ["us-east-1-017", "us-east-1-016", "us-east-1-015", "us-east-1-014", "us-east-1-010"];
    assert_eq!(client.all_ids_in("us-east-1", window), east_window);
    // Switched off again, every region sees everything.
    server.set_partition_by_region(false);
    assert_eq!(client.all_ids_in("us-east-1", json!({})).len(), 107);
}

#[test]
fn region_partition_binds_the_next_token_to_its_region() {
    let server = FakeCloudTrail::start(regional_events());
    server.set_partition_by_region(true);
    let mut client = Client::connect(&server);
    let token = client.lookup_in("us-east-1", json!({"MaxResults": 10})).body["NextToken"].clone();
    assert!(token.is_string());
    for region in ["us-west-2", "eu-west-1"] {
        let answer = client.lookup_in(region, json!({"MaxResults": 10, "NextToken": token}));
        assert_eq!((answer.status, answer.error_type()), (400, "InvalidNextTokenException"), "{region}");
    }
    let same = client.lookup_in("us-east-1", json!({"MaxResults": 10, "NextToken": token}));
    assert_eq!(same.event_ids(), expected_ids("us-east-1")[10..20]);
    // Tokens of the unpartitioned server are not valid in a region, nor the other way round.
    server.set_partition_by_region(false);
    let unpartitioned = client.lookup_in("us-east-1", json!({"MaxResults": 10})).body["NextToken"].clone();
    let answer = client.lookup_in("us-east-1", json!({"MaxResults": 10, "NextToken": token}));
    assert_eq!(answer.error_type(), "InvalidNextTokenException");
    server.set_partition_by_region(true);
    let answer = client.lookup_in("us-east-1", json!({"MaxResults": 10, "NextToken": unpartitioned}));
    assert_eq!(answer.error_type(), "InvalidNextTokenException");
}

#[test]
fn region_partition_refuses_requests_without_a_readable_region() {
    let server = FakeCloudTrail::start(regional_events());
    server.set_partition_by_region(true);
    let mut client = Client::connect(&server);
    for authorization in [
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=0123abcd",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240722//cloudtrail/aws4_request, Signature=0123abcd",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240722/cloudtrail/aws4_request, Signature=0123abcd",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240722/us-east-1/cloudtrail, Signature=0123abcd",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/yesterday/us-east-1/cloudtrail/aws4_request, Signature=0",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240722/US East/cloudtrail/aws4_request, Signature=0",
    ] {
        let answer = client.send_with(Some(TARGET), Some(authorization), "{}").unwrap();
        assert_eq!((answer.status, answer.error_type()), (400, "InvalidSignatureException"), "{authorization}");
        assert!(answer.body["message"].as_str().unwrap().contains("region"));
    }
    // Checked after the signature's presence and before the target.
    let unsigned = client.send_with(Some(TARGET), None, "{}").unwrap();
    assert_eq!(unsigned.error_type(), "MissingAuthenticationTokenException");
    let both = client.send_with(None, Some("AWS4-HMAC-SHA256 Signature=0"), "{}").unwrap();
    assert_eq!(both.error_type(), "InvalidSignatureException");
    // The botocore header form (no space after the commas) is read too.
    let compact = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240722/us-west-2/cloudtrail/aws4_request,\
                   SignedHeaders=host;x-amz-date,Signature=0123abcd";
    let answer = client.send_with(Some(BOTOCORE_TARGET), Some(compact), r#"{"MaxResults":50}"#).unwrap();
    assert_eq!(answer.event_ids(), expected_ids("us-west-2"));
}

#[test]
fn region_partition_gives_each_region_its_own_rate_limit() {
    let server = FakeCloudTrail::start(regional_events());
    server.set_rate_limit(Some(2.0));
    server.set_partition_by_region(true);
    let mut client = Client::connect(&server);
    let codes = |client: &mut Client, region: &str| -> Vec<String> {
        (0..3).map(|_| client.lookup_in(region, json!({"MaxResults": 1})).error_type().to_string()).collect()
    };
    assert_eq!(codes(&mut client, "us-east-1"), ["", "", "ThrottlingException"]);
    assert_eq!(codes(&mut client, "us-west-2"), ["", "", "ThrottlingException"], "a bucket of its own");
    // Unpartitioned, all regions share one bucket again (switching refills it).
    server.set_partition_by_region(false);
    let mixed: Vec<String> = ["us-east-1", "us-west-2", "eu-west-1"]
        .iter()
        .map(|region| client.lookup_in(region, json!({"MaxResults": 1})).error_type().to_string())
        .collect();
    assert_eq!(mixed, ["", "", "ThrottlingException"]);
}

/// A `Write` the test can read back while the server holds it.
#[derive(Clone, Default)]
struct SharedLog(Arc<Mutex<Vec<u8>>>);

impl Write for SharedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedLog {
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }
}

#[test]
fn request_log_has_one_json_line_per_request() {
    let server = FakeCloudTrail::start(regional_events());
    let log = SharedLog::default();
    server.set_request_log(Some(Box::new(log.clone())));
    server.set_rate_limit(Some(2.0));
    server.set_partition_by_region(true);
    let mut client = Client::connect(&server);
    client.lookup_in("us-west-2", json!({"MaxResults": 7}));
    client.lookup_in("us-west-2", json!({"MaxResults": 50}));
    client.lookup_in("us-west-2", json!({}));
    client.send_with(Some(TARGET), Some("AWS4-HMAC-SHA256 Signature=0"), "{}").unwrap();
    server.set_drop_every(Some(1));
    let dropped = client.send_with(Some(TARGET), Some(&auth_for("us-east-1")), "{}");
    assert!(dropped.is_err(), "the connection was dropped");
    let lines = log.lines();
    assert_eq!(lines.len(), 5, "{lines:?}");
    let summary: Vec<(Value, Value, Value, Value)> = lines
        .iter()
        .map(|l| (l["region"].clone(), l["status"].clone(), l["error"].clone(), l["events"].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (json!("us-west-2"), json!(200), json!(null), json!(7)),
            (json!("us-west-2"), json!(200), json!(null), json!(45)),
            (json!("us-west-2"), json!(400), json!("ThrottlingException"), json!(null)),
            (json!(null), json!(400), json!("InvalidSignatureException"), json!(null)),
            (json!("us-east-1"), json!(0), json!(null), json!(null)),
        ]
    );
    assert!(lines.iter().all(|l| l["target"] == TARGET));
    let times: Vec<f64> = lines.iter().map(|l| l["ms"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    server.set_request_log(None);
    client = Client::connect(&server);
    server.set_drop_every(None);
    client.lookup_in("us-east-1", json!({}));
    assert_eq!(log.lines().len(), 5, "logging stopped");
}

#[test]
fn the_binary_partitions_by_region_and_logs_requests() {
    let dir = std::env::temp_dir().join(format!("fake-cloudtrail-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("events.json");
    std::fs::write(&events, json!({"Events": regional_events()}).to_string()).unwrap();
    let log = dir.join("requests.jsonl");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fake-cloudtrail"))
        .arg("--events")
        .arg(&events)
        .args(["--partition-by-region", "--rate-limit", "2", "--log-requests"])
        .arg(&log)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut url).unwrap();
    let address = url.trim().trim_start_matches("http://").to_string();
    let stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut client = Client { reader: BufReader::new(stream) };
    let west = client.lookup_in("us-west-2", json!({}));
    let east = client.lookup_in("us-east-1", json!({}));
    let throttled = client.lookup_in("us-east-1", json!({})).error_type().to_string();
    let refused = client.lookup_in("us-east-1", json!({})).error_type().to_string();
    child.kill().unwrap();
    child.wait().unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    assert_eq!(west.event_ids(), expected_ids("us-west-2"));
    assert_eq!(east.event_ids(), expected_ids("us-east-1")[..50]);
    assert_eq!((throttled.as_str(), refused.as_str()), ("", "ThrottlingException"));
    let errors: Vec<Value> =
        logged.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["error"].clone()).collect();
    assert_eq!(errors, [json!(null), json!(null), json!(null), json!("ThrottlingException")]);
}
