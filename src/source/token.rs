//! Resume tokens. One lookup: the aws CLI's own format (base64 of `{"NextToken": …,
//! "boto_truncate_amount": N}`), so that a token printed by either tool resumes the other. Several
//! lookups or regions: ctlookup's own, bound to the query that printed it (a fingerprint of its
//! regions, lookups and category, and its time window in clear), so that another query's token is
//! refused before any request instead of resuming the wrong lookups. A read of trails in S3: the object
//! being read and how many of its records were handed on, bound the same way to the buckets, prefixes
//! and pruning of the run.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// A place in a lookup: the API page to ask for, and how many events of it were already consumed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none", default)]
    pub next_token: Option<String>,
    #[serde(rename = "boto_truncate_amount", skip_serializing_if = "is_zero", default)]
    pub skip: usize,
    /// Set instead of the two above where the store answered part of the window: a place in time,
    /// which any later run can ask the API for.
    #[serde(rename = "ctlookup_before", skip_serializing_if = "Option::is_none", default)]
    pub before: Option<Before>,
}

/// The events at or before `time` (epoch seconds), except the `ids` of that very second, which were
/// handed out already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Before {
    pub time: i64,
    pub ids: Vec<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Position {
    pub fn encode(&self) -> String {
        STANDARD.encode(serde_json::to_vec(self).expect("a position serializes"))
    }

    /// Reads a token printed by ctlookup or the aws CLI; anything else is taken as a raw API NextToken,
    /// which the service itself will judge.
    pub fn decode(token: &str) -> Position {
        STANDARD
            .decode(token.trim())
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Position>(&bytes).ok())
            .unwrap_or_else(|| Position { next_token: Some(token.trim().to_owned()), skip: 0, before: None })
    }
}

/// What a token of several lookups is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Fingerprint of the regions, the lookups (in plan order) and the event category.
    pub query: String,
    /// The time window, epoch milliseconds; kept in clear so that a refusal can say which it was.
    pub window: [Option<i64>; 2],
}

impl Binding {
    /// `regions` in the order their lookups run, `lookups` as `Key=Value` (None: no attribute).
    pub fn new(regions: &[String], lookups: &[Option<String>], insight: bool, window: [Option<i64>; 2]) -> Binding {
        Binding::of(&(regions, lookups, insight), window)
    }

    /// Bound to whatever `query` serializes as (its JSON), and to `window`.
    pub fn of<T: Serialize + ?Sized>(query: &T, window: [Option<i64>; 2]) -> Binding {
        let canonical = serde_json::to_vec(query).expect("a query serializes");
        Binding { query: format!("{:016x}", fnv1a(&canonical)), window }
    }

    /// Refuses a token bound to another query (`other` says what differs) or window.
    fn check(&self, query: Option<&str>, window: [Option<i64>; 2], other: &str) -> Result<(), String> {
        if query != Some(self.query.as_str()) {
            return Err(format!("{OTHER} ({other}): {REPEAT}"));
        }
        if window != self.window {
            return Err(format!(
                "{OTHER} (another time window: {}): {REPEAT}, with these times (a relative time such as 2h moves \
                 with the clock)",
                describe_window(window)
            ));
        }
        Ok(())
    }
}

const OTHER: &str = "--starting-token belongs to another query";
const REPEAT: &str = "repeat the options of the run that printed it";

/// FNV-1a, 64 bits: stable across builds and platforms (std's hashers promise neither). A guard
/// against mistakes, not against forgery: a forged token only resumes the forger's own query.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Where each of several merged lookups stands; `None` for one that is finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Merged {
    #[serde(rename = "ctlookup_lookups")]
    lookups: Vec<Option<Position>>,
    /// Absent from tokens of earlier versions, which are refused: they cannot be checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query: Option<String>,
    #[serde(default)]
    window: [Option<i64>; 2],
}

/// The token for a plan's lookups: the aws CLI's format for one lookup, ctlookup's own for several.
pub fn encode(positions: &[Option<Position>], binding: &Binding) -> String {
    match positions {
        [Some(one)] => one.encode(),
        many => {
            let merged = Merged { lookups: many.to_vec(), query: Some(binding.query.clone()), window: binding.window };
            STANDARD.encode(serde_json::to_vec(&merged).expect("positions serialize"))
        }
    }
}

/// Reads a token for a plan of `count` lookups bound as `binding`; a token of another query is refused
/// with a message that says why.
pub fn decode(token: &str, count: usize, binding: &Binding) -> Result<Vec<Option<Position>>, String> {
    let merged = STANDARD.decode(token.trim()).ok().and_then(|bytes| serde_json::from_slice::<Merged>(&bytes).ok());
    let Some(merged) = merged else {
        if count == 1 {
            return Ok(vec![Some(Position::decode(token))]);
        }
        return Err(format!(
            "--starting-token is not a token ctlookup printed for a query of several lookups or regions \
             (this one runs {count}): {REPEAT}"
        ));
    };
    let other = "other regions, lookups or event category";
    if merged.lookups.len() != count {
        return Err(format!("{OTHER} ({other}): {REPEAT}"));
    }
    binding.check(merged.query.as_deref(), merged.window, other)?;
    Ok(merged.lookups)
}

/// A place in a read of trail files in S3: the `input`-th S3 input (`s3://…` or `--trail`, counted in
/// command-line order), the object being read when the run stopped, and how many of its records were
/// handed on already (the objects before it, in the order they are read, were finished).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectPosition {
    pub input: usize,
    pub key: String,
    pub skip: u64,
}

#[derive(Serialize, Deserialize)]
struct InObjects {
    #[serde(rename = "ctlookup_objects")]
    at: ObjectPosition,
    query: String,
    window: [Option<i64>; 2],
}

/// The token of a read of S3 objects stopped at `at`.
pub fn encode_objects(at: &ObjectPosition, binding: &Binding) -> String {
    let token = InObjects { at: at.clone(), query: binding.query.clone(), window: binding.window };
    STANDARD.encode(serde_json::to_vec(&token).expect("a position serializes"))
}

/// Reads a token printed by a read of S3 objects bound as `binding`; any other token is refused with a
/// message that says why.
pub fn decode_objects(token: &str, binding: &Binding) -> Result<ObjectPosition, String> {
    let Some(token) =
        STANDARD.decode(token.trim()).ok().and_then(|bytes| serde_json::from_slice::<InObjects>(&bytes).ok())
    else {
        return Err(format!("--starting-token is not a token ctlookup printed for a read of trails in S3: {REPEAT}"));
    };
    binding.check(Some(&token.query), token.window, "other buckets, prefixes, accounts, regions or event category")?;
    Ok(token.at)
}

fn describe_window(window: [Option<i64>; 2]) -> String {
    let time = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    };
    match window {
        [None, None] => "it was printed without --start-time and --end-time".to_owned(),
        [Some(s), None] => format!("it was printed for --start-time {}", time(s)),
        [None, Some(e)] => format!("it was printed for --end-time {}", time(e)),
        [Some(s), Some(e)] => format!("it was printed for --start-time {} --end-time {}", time(s), time(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> Binding {
        let lookups = vec![Some("EventName=A".to_owned()), Some("EventName=B".to_owned())];
        Binding::new(&["us-east-1".to_owned()], &lookups, false, [Some(1_000), None])
    }

    #[test]
    fn round_trip_and_aws_cli_tokens() {
        let p = Position { next_token: Some("abc==".into()), skip: 3, before: None };
        assert_eq!(Position::decode(&p.encode()), p);
        // What the aws CLI prints for `--max-items 2` inside a page (Python's json.dumps spacing).
        let aws = STANDARD.encode(br#"{"NextToken": "tok", "boto_truncate_amount": 2}"#);
        assert_eq!(Position::decode(&aws), Position { next_token: Some("tok".into()), skip: 2, before: None });
        let first_page = STANDARD.encode(br#"{"boto_truncate_amount": 7}"#);
        assert_eq!(Position::decode(&first_page), Position { next_token: None, skip: 7, before: None });
        assert_eq!(
            Position::decode("raw-api-token"),
            Position { next_token: Some("raw-api-token".into()), skip: 0, before: None }
        );
        // One lookup: the aws CLI's format, whatever the binding.
        assert_eq!(
            decode(&aws, 1, &binding()),
            Ok(vec![Some(Position { next_token: Some("tok".into()), skip: 2, before: None })])
        );
        assert_eq!(encode(&[Some(p.clone())], &binding()), p.encode());
    }

    #[test]
    fn several_lookups() {
        let positions = vec![Some(Position { next_token: Some("a".into()), skip: 2, before: None }), None];
        let token = encode(&positions, &binding());
        assert_eq!(decode(&token, 2, &binding()), Ok(positions));
        assert!(decode(&token, 1, &binding()).is_err());
        assert!(decode(&encode(&[Some(Position::default())], &binding()), 2, &binding()).is_err());
        assert!(decode("garbage", 2, &binding()).unwrap_err().contains("not a token ctlookup printed"));
    }

    #[test]
    fn a_token_is_bound_to_its_query() {
        let token = encode(&[None, Some(Position::default())], &binding());
        let other_lookups = Binding::new(
            &["us-east-1".to_owned()],
            &[Some("EventName=A".to_owned()), Some("EventName=C".to_owned())],
            false,
            [Some(1_000), None],
        );
        let other_region =
            Binding { query: Binding::new(&["eu-west-1".to_owned()], &[], false, [None; 2]).query, ..binding() };
        let insight = Binding::new(
            &["us-east-1".to_owned()],
            &[Some("EventName=A".to_owned()), Some("EventName=B".to_owned())],
            true,
            [Some(1_000), None],
        );
        for other in [other_lookups, other_region, insight] {
            assert!(decode(&token, 2, &other).unwrap_err().contains("belongs to another query"));
        }
        let window = Binding { window: [Some(2_000), None], ..binding() };
        let err = decode(&token, 2, &window).unwrap_err();
        assert!(err.contains("another time window") && err.contains("--start-time 1970-01-01T00:00:01Z"), "{err}");
        // A token of an earlier version carries no binding.
        let old = STANDARD.encode(br#"{"ctlookup_lookups":[null,{}]}"#);
        assert!(decode(&old, 2, &binding()).is_err());
        // The fingerprint does not change between builds or platforms: FNV-1a of the canonical JSON
        // `[["us-east-1"],["EventName=A","EventName=B"],false]`.
        assert_eq!(binding().query, "17e9f5f84b15b23f");
    }

    #[test]
    fn objects_tokens_are_bound_to_their_read() {
        let bound =
            |prefix: &str, start: Option<i64>| Binding::of(&(["s3://b/".to_owned() + prefix], false), [start, None]);
        let at = ObjectPosition { input: 1, key: "AWSLogs/x.json.gz".into(), skip: 7 };
        let token = encode_objects(&at, &bound("org", Some(5)));
        assert_eq!(decode_objects(&token, &bound("org", Some(5))), Ok(at));
        assert!(decode_objects(&token, &bound("plain", Some(5))).unwrap_err().contains("other buckets, prefixes"));
        assert!(decode_objects(&token, &bound("org", None)).unwrap_err().contains("another time window"));
        let api = Position { next_token: Some("a".into()), skip: 0, before: None }.encode();
        assert!(decode_objects(&api, &bound("org", Some(5))).unwrap_err().contains("not a token ctlookup printed"));
    }
}
