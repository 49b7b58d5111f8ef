//! The decode stage, once for every source: raw item → prefilter → UTF-8 check → parse → envelope, with
//! a warning (and a count) for whatever cannot be read. Sources only read; filters and writers only see
//! events that decoded.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::error::warn;
use crate::event::{one_line, Envelope, Event, Resource};
use crate::query::{FieldWatch, Filter, TextKind};
use crate::source::{Origin, Raw};

pub struct Decoder<'f> {
    filter: &'f Filter,
    watch: FieldWatch,
    /// Events, records, lines and files that could not be read; each was warned about.
    unreadable: u64,
}

impl<'f> Decoder<'f> {
    pub fn new(filter: &'f Filter) -> Decoder<'f> {
        Decoder { filter, watch: FieldWatch::new(&filter.expr), unreadable: 0 }
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
            Raw::Api { envelope, record } => {
                if !self.may_match(record.as_bytes(), TextKind::LookupRecord) {
                    return None;
                }
                let raw = one_line(&record);
                match serde_json::from_str(&raw) {
                    Ok(parsed) => Event { envelope, raw, record: parsed },
                    Err(err) => {
                        let id = envelope.event_id.as_deref().unwrap_or("?");
                        let problem = format_args!("event {id}: CloudTrailEvent is not valid JSON ({err})");
                        return self.skip(origin, &problem);
                    }
                }
            }
        };
        self.watch.observe(&event.record);
        Some(event)
    }

    /// The input itself could not be read from here on.
    pub fn problem(&mut self, file: &str, problem: &dyn fmt::Display) {
        warn(format_args!("{file}: {problem}"));
        self.unreadable += 1;
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
        warn(format_args!("{origin}{problem}; skipped"));
        self.unreadable += 1;
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
        Ok(Some(Event { envelope: saved.envelope(), raw, record }))
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
