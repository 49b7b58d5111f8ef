//! Columns of the csv, tsv and table outputs: paths into the record (as `--where` writes them), plus the
//! derived `user` and `resources`, and `account`, the short name of `recipientAccountId`. A cell is
//! plain text; each writer escapes it its own way.

use serde_json::Value;

use crate::event::Event;
use crate::path::{self, Path};
use crate::query::parse;
use crate::time::Zone;

/// What a troubleshooter reads first, in a terminal.
pub const TABLE_DEFAULT: &str = "eventTime,user,eventName,eventSource,sourceIPAddress,errorCode";

/// Enough to answer who, what, when, from where and why it failed, in a spreadsheet.
pub const CSV_DEFAULT: &str = "eventTime,user,eventName,eventSource,awsRegion,sourceIPAddress,errorCode,errorMessage,\
                               userAgent,userIdentity.type,userIdentity.accessKeyId,resources,eventID";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// `eventTime`, printed in the chosen zone.
    EventTime,
    User,
    Resources,
    Path(Path),
}

impl Column {
    /// Reads `--columns`: names separated by commas; a name is `user`, `resources`, `account` or a path.
    pub fn parse_list(spec: &str) -> Result<Vec<Column>, String> {
        Column::parse_option("--columns", spec)
    }

    /// Reads a list of column names given to `option` (`--columns`, `--count-by`), which the errors name:
    /// paths as `--where` writes them, or a derived name. A column is named by its path as `--where`
    /// would print it, so that it reads back.
    pub fn parse_option(option: &str, spec: &str) -> Result<Vec<Column>, String> {
        let paths = parse::parse_paths(spec).map_err(|e| format!("{option}: {e}"))?;
        let columns = paths
            .into_iter()
            .map(|path| {
                let name = path.to_string();
                let kind = match name.as_str() {
                    "eventTime" => Kind::EventTime,
                    "user" => Kind::User,
                    "resources" => Kind::Resources,
                    "account" => Kind::Path(Path::new(["recipientAccountId"])),
                    _ => Kind::Path(path),
                };
                Column { name, kind }
            })
            .collect();
        Ok(columns)
    }

    /// The record path the column shows, if it is one (not a derived column).
    pub fn path(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Path(path) => Some(path),
            _ => None,
        }
    }

    /// Whether a table must never cut this column (a cut time reads as a different time).
    pub fn keep_whole(&self) -> bool {
        self.kind == Kind::EventTime
    }

    pub fn header(&self) -> &str {
        &self.name
    }

    /// The cell's text: strings as they are, numbers and booleans as JSON writes them, objects as
    /// compact JSON, the values found through arrays joined with ", ", nothing for a missing field.
    pub fn value(&self, event: &Event, zone: Zone) -> String {
        let values = self.values(event, zone);
        if let [single] = values.as_slice() {
            return single.text();
        }
        values.iter().map(Cell::text).collect::<Vec<_>>().join(", ")
    }

    /// Each single value the column holds for an event, in record order: the values a path reaches
    /// (through arrays, by the array rule), the derived `user`, each of the `resources`; none for a
    /// missing field. The cells and the counts both read columns through this.
    pub fn values<'e>(&self, event: &'e Event, zone: Zone) -> Vec<Cell<'e>> {
        match &self.kind {
            Kind::EventTime => {
                event.envelope.event_time.map(|t| Cell::Text(zone.format_plain(t))).into_iter().collect()
            }
            Kind::User => Some(user(&event.record)).filter(|u| !u.is_empty()).map(Cell::Text).into_iter().collect(),
            Kind::Resources => event
                .envelope
                .resources()
                .iter()
                .filter_map(|r| match (&r.resource_name, &r.resource_type) {
                    (Some(name), Some(kind)) => Some(format!("{name} ({kind})")),
                    (Some(name), None) => Some(name.clone()),
                    (None, Some(kind)) => Some(kind.clone()),
                    (None, None) => None,
                })
                .map(Cell::Text)
                .collect(),
            Kind::Path(field) => path::values(&event.record, &field.segments).into_iter().map(Cell::Json).collect(),
        }
    }
}

/// One value of a column: a value of the record, or text derived from it (`user`, `resources`, times).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'e> {
    Json(&'e Value),
    Text(String),
}

impl Cell<'_> {
    /// As a cell shows it: strings as they are, anything else as compact JSON.
    pub fn text(&self) -> String {
        match self {
            Cell::Json(Value::String(s)) => s.clone(),
            Cell::Json(other) => other.to_string(),
            Cell::Text(text) => text.clone(),
        }
    }
}

/// The best human name for the caller: the IAM user; role/session for an assumed role; `root`; the
/// service that acted; else whatever identifies the principal.
pub fn user(record: &Value) -> String {
    let identity = &record["userIdentity"];
    let get = |path: &[&str]| path.iter().try_fold(identity, |v, key| v.get(key)).and_then(Value::as_str);
    let arn_tail = || get(&["arn"]).and_then(|arn| arn.rsplit('/').next());
    let name = match get(&["type"]) {
        Some("Root") => Some("root".to_owned()),
        Some("AssumedRole") => {
            let role = get(&["sessionContext", "sessionIssuer", "userName"]);
            let session = arn_tail();
            match (role, session) {
                (Some(role), Some(session)) => Some(format!("{role}/{session}")),
                (role, session) => role.or(session).map(str::to_owned),
            }
        }
        Some("AWSService") => get(&["invokedBy"]).map(str::to_owned),
        Some("FederatedUser") => arn_tail().map(str::to_owned),
        _ => None,
    };
    name.or_else(|| get(&["userName"]).map(str::to_owned))
        .or_else(|| arn_tail().map(str::to_owned))
        .or_else(|| get(&["principalId"]).map(str::to_owned))
        .or_else(|| get(&["invokedBy"]).map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(record: Value) -> Event {
        Event::from_record(record.to_string(), record)
    }

    #[test]
    fn users() {
        let who = |identity: Value| user(&json!({ "userIdentity": identity }));
        assert_eq!(who(json!({"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::1:user/alice"})), "alice");
        assert_eq!(who(json!({"type": "Root", "arn": "arn:aws:iam::1:root"})), "root");
        assert_eq!(
            who(json!({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/AdminRole/alice",
                       "sessionContext": {"sessionIssuer": {"userName": "AdminRole"}}})),
            "AdminRole/alice"
        );
        assert_eq!(who(json!({"type": "AWSService", "invokedBy": "lambda.amazonaws.com"})), "lambda.amazonaws.com");
        assert_eq!(who(json!({"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/carol"})), "carol");
        assert_eq!(who(json!({"type": "AWSAccount", "principalId": "AIDAX:bob"})), "AIDAX:bob");
        assert_eq!(user(&json!({})), "");
    }

    #[test]
    fn cells() {
        let e = event(json!({
            "eventTime": "2024-07-22T00:00:00Z",
            "requestParameters": {"tags": [{"key": "a"}, {"key": "b"}], "n": 2, "flag": true, "obj": {"x": [1]}},
            "resources": [{"ARN": "arn:1", "type": "AWS::S3::Bucket"}],
            "nothing": null
        }));
        let cell = |spec: &str| Column::parse_list(spec).unwrap()[0].value(&e, "Asia/Tokyo".parse().unwrap());
        assert_eq!(cell("eventTime"), "2024-07-22 09:00:00");
        assert_eq!(cell("requestParameters.tags.key"), "a, b");
        assert_eq!(cell("requestParameters.n"), "2");
        assert_eq!(cell("requestParameters.flag"), "true");
        assert_eq!(cell("requestParameters.obj"), r#"{"x":[1]}"#);
        assert_eq!(cell("nothing"), "");
        assert_eq!(cell("missing.path"), "");
        assert_eq!(cell("resources"), "arn:1 (AWS::S3::Bucket)");
        assert!(Column::parse_list("a,,b").is_err());
        assert!(Column::parse_list("a..b").is_err());
    }
}
