//! The decode stage, once for every source: raw item → prefilter → UTF-8 check → parse → envelope, with
//! a warning (and a count) for whatever cannot be read. Sources only read; filters and writers only see
//! events that decoded.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::error::warn;
use crate::event::{into_one_line, one_line, Envelope, Event, Resource};
use crate::path::Path;
use crate::query::expr::{Expr, Target};
use crate::query::{record_paths, FieldWatch, Filter, Screen, TextKind};
use crate::source::{Origin, Raw};

/// Warnings about one file (or the API's answers) printed before the rest are only counted.
const WARNINGS_PER_FILE: u64 = 5;

pub struct Decoder<'f> {
    filter: &'f Filter,
    watch: FieldWatch,
    /// Events, records, lines and files that could not be read; each was warned about or counted.
    unreadable: u64,
    /// The file the last problems were in (None: the API), and how many it had.
    problems_in: Option<String>,
    problems: u64,
    /// Whether an event whose envelope came beside its record (the API's, the store's) has its record
    /// parsed: always, unless [`Decoder::writer_reads_records`] learnt that nothing looks into it.
    parse_api_records: bool,
    /// The top-level keys of the record the filter reads, when only the filter reads records (not
    /// the writer, not the category): then an API (or stored) event's record is parsed into those
    /// keys alone, once the field watch has seen every path it watches.
    filter_keys: Option<Vec<String>>,
}

impl<'f> Decoder<'f> {
    /// `watch_also`: paths besides the filter's whose absence from every event is worth a warning.
    pub fn new(filter: &'f Filter, watch_also: &[Path]) -> Decoder<'f> {
        let watch = FieldWatch::new(&filter.expr, watch_also);
        Decoder {
            filter,
            watch,
            unreadable: 0,
            problems_in: None,
            problems: 0,
            parse_api_records: true,
            filter_keys: None,
        }
    }

    /// Says whether the writer the events go to looks at parsed records: when neither it nor the
    /// filter does, an API (or stored) event's record is only checked to be JSON, not parsed into a
    /// value (its `record` is then `null`, and nothing reads it).
    pub fn writer_reads_records(&mut self, reads: bool) {
        let filter = &self.filter;
        let filter_reads = names_record(&filter.expr) || filter.category.is_some() || !self.watch.keys().is_empty();
        self.parse_api_records = reads || filter_reads;
        self.filter_keys =
            (!reads && filter.category.is_none()).then(|| top_keys(&filter.expr)).filter(|k| !k.is_empty());
    }

    /// The event in `raw`, or None when the prefilter rules it out or it cannot be read (warned).
    pub fn decode(&mut self, raw: Raw<'_>, origin: Origin<'_>) -> Option<Event> {
        let event = match raw {
            Raw::Record(bytes) => {
                if !self.may_match(bytes, TextKind::Record) {
                    return None;
                }
                let text = self.utf8(bytes, origin)?;
                match serde_json::from_str::<Value>(text) {
                    Ok(record) if record.is_object() => Event::from_record(one_line(text), record),
                    Ok(_) => return self.skip(origin, &"not a JSON object"),
                    Err(err) => return self.skip(origin, &format_args!("not JSON ({err})")),
                }
            }
            Raw::SavedLookupEvent(bytes) => {
                if !self.may_match(bytes, TextKind::SavedLookupEvent) {
                    return None;
                }
                let text = self.utf8(bytes, origin)?;
                match self.saved_lookup_event(text) {
                    Ok(event) => event?,
                    Err(problem) => return self.skip(origin, &problem),
                }
            }
            Raw::Api { envelope, record, checked } => {
                if !self.may_match(record.as_bytes(), TextKind::LookupRecord) {
                    return None;
                }
                let raw = into_one_line(record);
                let parsed = if let (Some(keys), true) = (&self.filter_keys, self.watch.settled()) {
                    parse_keys(&raw, keys)
                } else if self.parse_api_records {
                    serde_json::from_str(&raw)
                } else if checked {
                    Ok(Value::Null)
                } else {
                    serde_json::from_str::<serde::de::IgnoredAny>(&raw).map(|_| Value::Null)
                };
                match parsed {
                    Ok(parsed) => Event { envelope, raw, record: parsed },
                    Err(err) => {
                        let id = envelope.event_id.as_deref().unwrap_or("?");
                        let problem = format_args!("event {id}: CloudTrailEvent is not valid JSON ({err})");
                        return self.skip(origin, &problem);
                    }
                }
            }
        };
        // Without a time an event cannot be placed in a window; dropping it unsaid would lose it.
        let windowed = self.filter.window.start.is_some() || self.filter.window.end.is_some();
        if windowed && event.envelope.event_time.is_none() {
            let id = event.envelope.event_id.as_deref().unwrap_or("?");
            let problem = format_args!("event {id}: no readable eventTime to place it in the time window");
            return self.skip(origin, &problem);
        }
        self.watch.observe(&event.record);
        Some(event)
    }

    /// The prefilter for the reading threads: texts it rules out need not be handed to [`Decoder::decode`]
    /// at all (only counted, with [`Decoder::screened`]). None when there is no prefilter of any kind of text.
    pub fn screen(&self) -> Option<Screen> {
        let kinds = [TextKind::Record, TextKind::LookupRecord, TextKind::SavedLookupEvent];
        let prefilters = kinds.map(|kind| self.filter.prefilter(kind).cloned());
        if prefilters.iter().all(Option::is_none) {
            return None;
        }
        Some(Screen::new(prefilters, self.watch.keys()))
    }

    /// `count` texts were ruled out by a [`Screen`] on a reading thread, unparsed.
    pub fn screened(&mut self, count: u64) {
        self.watch.observe_skipped(count);
    }

    /// Something in the input could not be read (the message says what is skipped).
    pub fn problem(&mut self, file: &str, problem: &dyn fmt::Display) {
        self.unreadable += 1;
        self.report(Some(file), format_args!("{file}: {problem}"));
    }

    /// Says how many problems of the last file were not shown; call at the end of the run.
    pub fn finish(&mut self) {
        if self.problems > WARNINGS_PER_FILE {
            let hidden = self.problems - WARNINGS_PER_FILE;
            match &self.problems_in {
                Some(file) => warn(format_args!("… and {hidden} more problems in {file}")),
                None => warn(format_args!("… and {hidden} more problems in the API's answers")),
            }
        }
        self.problems = 0;
    }

    /// Prints a problem unless its file has had its share already.
    fn report(&mut self, file: Option<&str>, message: fmt::Arguments<'_>) {
        if self.problems_in.as_deref() != file || self.problems == 0 {
            self.finish();
            self.problems_in = file.map(str::to_owned);
        }
        self.problems += 1;
        if self.problems <= WARNINGS_PER_FILE {
            warn(message);
        }
    }

    /// How many things could not be read.
    pub fn unreadable(&self) -> u64 {
        self.unreadable
    }

    /// The end-of-run warnings about field names no event had.
    pub fn field_warnings(&self) -> Vec<String> {
        self.watch.warnings()
    }

    fn may_match(&mut self, text: &[u8], kind: TextKind) -> bool {
        let may = self.filter.may_match(text, kind);
        if !may {
            self.watch.observe_unparsed(text, kind);
        }
        may
    }

    fn utf8<'b>(&mut self, bytes: &'b [u8], origin: Origin<'_>) -> Option<&'b str> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(_) => self.skip(origin, &"not UTF-8 text"),
        }
    }

    fn skip<T>(&mut self, origin: Origin<'_>, problem: &dyn fmt::Display) -> Option<T> {
        self.unreadable += 1;
        self.report(origin.file(), format_args!("{origin}{problem}; skipped"));
        None
    }

    /// A saved lookup event: the envelope as given, the record parsed from its string unless the
    /// prefilter rules it out (`Ok(None)`).
    fn saved_lookup_event(&mut self, text: &str) -> Result<Option<Event>, String> {
        let saved: SavedLookupEvent =
            serde_json::from_str(text).map_err(|err| format!("not a lookup event ({err})"))?;
        let id = saved.event_id.as_deref().unwrap_or("?");
        let record_text =
            saved.cloud_trail_event.as_deref().ok_or_else(|| format!("event {id}: no CloudTrailEvent"))?;
        if !self.may_match(record_text.as_bytes(), TextKind::LookupRecord) {
            return Ok(None);
        }
        let record: Value = serde_json::from_str(record_text)
            .map_err(|err| format!("event {id}: CloudTrailEvent is not valid JSON ({err})"))?;
        let raw = one_line(record_text);
        let mut envelope = saved.envelope();
        if envelope.event_time.is_none() {
            envelope.event_time = record.get("eventTime").and_then(Value::as_str).and_then(|t| t.parse().ok());
        }
        Ok(Some(Event { envelope, raw, record }))
    }
}

/// The first keys of the expression's record paths, each once.
fn top_keys(expr: &Expr) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for path in record_paths(expr) {
        if let Some(first) = path.segments.into_iter().next().filter(|f| !keys.contains(f)) {
            keys.push(first);
        }
    }
    keys
}

/// A record with only the top-level `keys` parsed (the rest checked to be JSON and skipped): what the
/// filter sees of it is the same, for a fraction of the parse. Anything but an object, and JSON that
/// is not valid, is parsed whole, for the same value or the same error as ever.
fn parse_keys(text: &str, keys: &[String]) -> Result<Value, serde_json::Error> {
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

    struct Keys<'k>(&'k [String]);
    impl<'de> DeserializeSeed<'de> for Keys<'_> {
        type Value = serde_json::Map<String, Value>;
        fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Keys<'_> {
        type Value = serde_json::Map<String, Value>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut kept = serde_json::Map::new();
            while let Some(Key(key)) = map.next_key()? {
                if self.0.iter().any(|k| *k == key) {
                    kept.insert(key.into_owned(), map.next_value()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(kept)
        }
    }
    /// A key, borrowed from the text unless it holds an escape.
    struct Key<'de>(Cow<'de, str>);
    impl<'de> Deserialize<'de> for Key<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Text;
            impl<'de> Visitor<'de> for Text {
                type Value = Cow<'de, str>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a key")
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                    Ok(Cow::Borrowed(v))
                }
                fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                    Ok(Cow::Owned(v.to_owned()))
                }
            }
            deserializer.deserialize_str(Text).map(Key)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    match Keys(keys).deserialize(&mut deserializer).and_then(|kept| deserializer.end().map(|()| kept)) {
        Ok(kept) => Ok(Value::Object(kept)),
        Err(_) => serde_json::from_str(text),
    }
}

/// Whether the expression looks into the record (a field path), not only the envelope.
fn names_record(expr: &Expr) -> bool {
    match expr {
        Expr::And(parts) | Expr::Or(parts) => parts.iter().any(names_record),
        Expr::Not(inner) => names_record(inner),
        Expr::Pred(predicate) => matches!(predicate.target, Target::Record(_)),
    }
}

/// An element of `{"Events":[…]}` as saved by the aws CLI, borrowed from the text where it can be.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedLookupEvent<'a> {
    #[serde(borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    read_only: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    access_key_id: Option<Cow<'a, str>>,
    /// ISO 8601 from aws CLI v2, epoch seconds from v1.
    #[serde(default)]
    event_time: Option<Value>,
    #[serde(borrow, default)]
    event_source: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    username: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    resources: Option<Vec<SavedResource<'a>>>,
    #[serde(borrow, rename = "CloudTrailEvent")]
    cloud_trail_event: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedResource<'a> {
    #[serde(borrow, default)]
    resource_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    resource_name: Option<Cow<'a, str>>,
}

impl SavedLookupEvent<'_> {
    fn envelope(&self) -> Envelope {
        let owned = |c: &Option<Cow<str>>| c.as_deref().map(str::to_owned);
        let event_time = match &self.event_time {
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc)),
            Some(Value::Number(n)) => {
                n.as_f64().and_then(|secs| DateTime::from_timestamp_millis((secs * 1000.0).round() as i64))
            }
            _ => None,
        };
        Envelope {
            event_id: owned(&self.event_id),
            event_name: owned(&self.event_name),
            read_only: owned(&self.read_only),
            access_key_id: owned(&self.access_key_id),
            event_time,
            event_source: owned(&self.event_source),
            username: owned(&self.username),
            resources: self.resources.as_ref().map(|list| {
                list.iter()
                    .map(|r| Resource {
                        resource_type: owned(&r.resource_type),
                        resource_name: owned(&r.resource_name),
                    })
                    .collect()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_parsed_into_the_filters_keys_holds_what_the_filter_reads() {
        let keys = vec!["errorCode".to_owned(), "userIdentity".to_owned()];
        let text = r#"{"eventName":"A","errorCode":"AccessDenied","userIdentity":{"type":"IAMUser","arn":"x"},"n":[1,{"a":2}]}"#;
        let kept = parse_keys(text, &keys).unwrap();
        assert_eq!(
            kept,
            serde_json::json!({"errorCode": "AccessDenied", "userIdentity": {"type": "IAMUser", "arn": "x"}})
        );
        let escaped = r#"{"error\u0043ode":"X","errorCode":"Y"}"#;
        assert_eq!(
            parse_keys(escaped, &keys).unwrap(),
            serde_json::json!({"errorCode": "Y"}),
            "the last of a repeated key"
        );
        for whole in ["[1,2]", "\"text\"", "null"] {
            assert_eq!(parse_keys(whole, &keys).unwrap(), serde_json::from_str::<Value>(whole).unwrap());
        }
        for bad in [r#"{"errorCode":"A""#, r#"{"a":tru}"#, r#"{"a":1} x"#] {
            let expected = serde_json::from_str::<Value>(bad).unwrap_err().to_string();
            assert_eq!(parse_keys(bad, &keys).unwrap_err().to_string(), expected, "{bad}");
        }
    }
}
