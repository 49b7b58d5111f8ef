//! One event as it flows through ctlookup: the Event history envelope plus the CloudTrail record.

use std::io;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::time::Stamp;

/// The fields LookupEvents returns beside the record. From trail log files they are derived from the
/// record with the same rules the service uses, so the lookup shorthands mean the same on both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub event_id: Option<String>,
    pub event_name: Option<String>,
    pub read_only: Option<String>,
    pub access_key_id: Option<String>,
    pub event_time: Option<DateTime<Utc>>,
    pub event_source: Option<String>,
    pub username: Option<String>,
    pub resources: Option<Vec<Resource>>,
}

/// An event as Event history lists it and the store keeps it: its envelope and its record's JSON text
/// (`CloudTrailEvent`), not yet decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEvent {
    pub envelope: Envelope,
    pub record: String,
    /// The record is known to be valid JSON on one line (the store checked it when it kept it), so
    /// that decoding need not check it again.
    pub checked: bool,
}

impl HistoryEvent {
    /// Its second (`i64::MIN` without a time), as the store counts.
    pub fn secs(&self) -> i64 {
        self.envelope.event_time.map_or(i64::MIN, |t| t.timestamp())
    }

    pub fn id(&self) -> &str {
        self.envelope.event_id.as_deref().unwrap_or_default()
    }

    pub fn time(&self) -> Option<DateTime<Utc>> {
        self.envelope.event_time
    }
}

/// Event history keeps management and Insights events apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventCategory {
    Management,
    Insight,
}

impl EventCategory {
    /// The category of a record: Insights records say so in `eventCategory`.
    pub fn of(record: &Value) -> EventCategory {
        if record.get("eventCategory").and_then(Value::as_str) == Some("Insight") {
            EventCategory::Insight
        } else {
            EventCategory::Management
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    pub resource_type: Option<String>,
    pub resource_name: Option<String>,
}

/// A matched or candidate event. `raw` is the record's JSON text exactly as the service sent it
/// (one line), so that `jsonl` prints it byte for byte; `record` is that text parsed once.
#[derive(Debug, Clone)]
pub struct Event {
    pub envelope: Envelope,
    pub raw: String,
    pub record: Value,
}

impl Event {
    /// An event read from a trail log or JSON Lines: the envelope is derived from the record.
    pub fn from_record(raw: String, record: Value) -> Event {
        Event { envelope: Envelope::derive(&record), raw, record }
    }

    /// The event's time as precisely as its record wrote `eventTime`: the record's own time where it
    /// gives fractions of a second, else the envelope's, to the second.
    pub fn stamp(&self) -> Option<Stamp> {
        let written = self.record.get("eventTime").and_then(Value::as_str);
        let digits = written.map_or(0, Stamp::digits_in);
        let precise = written
            .filter(|_| digits > 0)
            .and_then(|text| text.parse::<DateTime<Utc>>().ok())
            .map(|at| Stamp { at, digits });
        precise.or_else(|| self.envelope.event_time.map(Stamp::seconds))
    }
}

impl Envelope {
    /// Derives what Event history would list for this record (see docs/files.md).
    pub fn derive(record: &Value) -> Envelope {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        // Insights records carry the name and source of the API they are about in insightDetails.
        let field = |name: &str| {
            record.get(name).or_else(|| record.get("insightDetails").and_then(|d| d.get(name))).and_then(text)
        };
        let identity = record.get("userIdentity");
        let identity_field = |name: &str| identity.and_then(|i| i.get(name)).and_then(text);
        let read_only = match record.get("readOnly") {
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(Value::String(s)) => Some(s.to_ascii_lowercase()),
            _ => None,
        };
        let resources = crate::resources::derive(record)
            .into_iter()
            .map(|(resource_type, resource_name)| Resource { resource_type, resource_name })
            .collect();
        Envelope {
            event_id: field("eventID"),
            event_name: field("eventName"),
            read_only,
            access_key_id: identity_field("accessKeyId").filter(|k| !k.is_empty()),
            event_time: field("eventTime").and_then(|t| t.parse().ok()),
            event_source: field("eventSource"),
            username: derive_username(identity),
            resources: Some(resources),
        }
    }

    /// The resources Event history lists; none when it listed none.
    pub fn resources(&self) -> &[Resource] {
        self.resources.as_deref().unwrap_or_default()
    }
}

/// Event history's user name: the IAM user name, the role session name of an assumed role, `root`, or
/// the invoking service.
fn derive_username(identity: Option<&Value>) -> Option<String> {
    let identity = identity?;
    let get = |name: &str| identity.get(name).and_then(Value::as_str);
    if let Some(name) = get("userName").filter(|n| !n.is_empty()) {
        return Some(name.to_owned());
    }
    let arn_tail = || get("arn").and_then(|arn| arn.rsplit('/').next()).map(str::to_owned);
    match get("type")? {
        "AssumedRole" | "FederatedUser" => arn_tail(),
        "Root" => Some("root".to_owned()),
        "AWSService" => get("invokedBy").map(str::to_owned),
        _ => None,
    }
}

/// Whether a record's text is valid JSON on one line: what decoding would accept as it is.
pub fn is_one_line_json(raw: &str) -> bool {
    memchr::memchr2(b'\n', b'\r', raw.as_bytes()).is_none()
        && serde_json::from_str::<serde::de::IgnoredAny>(raw).is_ok()
}

/// Puts a JSON text on one line by dropping the whitespace between tokens; the text inside strings, and
/// so every value, is untouched. Records are normally compact already and are then returned as is.
/// [`one_line`] of a text already owned: moved, not copied, when it is one line.
pub fn into_one_line(raw: String) -> String {
    if memchr::memchr2(b'\n', b'\r', raw.as_bytes()).is_none() {
        return raw;
    }
    one_line(&raw)
}

pub fn one_line(raw: &str) -> String {
    if memchr::memchr2(b'\n', b'\r', raw.as_bytes()).is_none() {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in raw.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

/// Where matched events go: an output format's writer, the `--jq` writer, or an answer's stage.
pub trait EventWriter {
    fn write(&mut self, event: &Event) -> io::Result<()>;
    /// Pushes buffered output out, so that events appear as pages arrive.
    fn flush(&mut self) -> io::Result<()>;
    /// Completes the output (closes the JSON document) whatever way the run ended. `next_token`
    /// is set when more events may follow.
    fn finish(&mut self, next_token: Option<&str>) -> io::Result<()>;
    /// Events the writer could not print (a --jq runtime error), each already warned about.
    fn failures(&self) -> u64 {
        0
    }
    /// A group counted elsewhere (Athena's GROUP BY for `--count-by`): the values of the fields (None:
    /// missing), how many events, their oldest and newest time. Only the count stage takes groups.
    fn group(
        &mut self,
        _key: &[Option<String>],
        _count: u64,
        _first: Option<Stamp>,
        _last: Option<Stamp>,
    ) -> io::Result<()> {
        Err(io::Error::other("this output takes events, not counted groups"))
    }

    /// Events counted elsewhere (Athena's GROUP BY for `--timeline`): `count` events, `errors` of them
    /// failed, whose time on the `--tz` clock, `offset` seconds from UTC then, fell in the step starting
    /// at `wall` (seconds from 1970-01-01 00:00 on that clock; None: no readable time). Only the
    /// timeline stage takes them.
    fn tally(&mut self, _wall: Option<i64>, _offset: i64, _count: u64, _errors: u64) -> io::Result<()> {
        Err(io::Error::other("this output takes events, not counted time buckets"))
    }

    /// Whether the writer looks at the parsed record (`Event::record`); false for one that prints
    /// the record's text alone, which lets an event whose envelope came beside it go unparsed.
    fn reads_records(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_of_an_assumed_role() {
        let record = json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/AdminRole/alice-session", "accessKeyId": "ASIAEXAMPLE"},
            "eventTime": "2024-07-22T01:02:03Z", "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
            "readOnly": false, "eventID": "e-1",
            "responseElements": {"instancesSet": {"items": [{"instanceId": "i-1"}]}},
            "resources": [{"ARN": "arn:aws:ec2:us-east-1:123456789012:instance/i-1", "accountId": "123456789012", "type": "AWS::EC2::Instance"}]
        });
        let env = Envelope::derive(&record);
        assert_eq!(env.event_id.as_deref(), Some("e-1"));
        assert_eq!(env.username.as_deref(), Some("alice-session"));
        assert_eq!(env.read_only.as_deref(), Some("false"));
        assert_eq!(env.access_key_id.as_deref(), Some("ASIAEXAMPLE"));
        assert_eq!(env.event_time, Some("2024-07-22T01:02:03Z".parse().unwrap()));
        assert_eq!(env.resources()[0].resource_type.as_deref(), Some("AWS::EC2::Instance"));
    }

    #[test]
    fn usernames() {
        let name = |identity: Value| Envelope::derive(&json!({ "userIdentity": identity })).username;
        assert_eq!(name(json!({"type": "IAMUser", "userName": "bob"})).as_deref(), Some("bob"));
        assert_eq!(name(json!({"type": "Root", "arn": "arn:aws:iam::1:root"})).as_deref(), Some("root"));
        assert_eq!(
            name(json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"})).as_deref(),
            Some("ec2.amazonaws.com")
        );
        assert_eq!(
            name(json!({"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/carol"})).as_deref(),
            Some("carol")
        );
        assert_eq!(name(json!({"type": "AWSAccount"})), None);
    }

    #[test]
    fn one_line_keeps_strings() {
        assert_eq!(
            one_line("{\n  \"a b\": \"x\\\" \\n y\",\n  \"c\": [1, 2]\n}"),
            "{\"a b\":\"x\\\" \\n y\",\"c\":[1,2]}"
        );
        assert_eq!(one_line("{\"a\": 1}"), "{\"a\": 1}");
    }
}
