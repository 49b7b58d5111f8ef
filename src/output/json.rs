//! `json`: the document `aws cloudtrail lookup-events --output json` prints, written as events arrive
//! and closed whatever way the run ends, so that it always parses.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::PrettyFormatter;
use serde_json::{Map, Value};

use super::EventWriter;
use crate::event::Event;
use crate::time::Zone;

/// The aws CLI indents by four spaces; events sit two levels deep.
const INDENT: &[u8] = b"    ";
const EVENT_INDENT: &str = "        ";

pub struct JsonWriter<W> {
    out: W,
    zone: Zone,
    events: u64,
    buffer: Vec<u8>,
}

impl<W: Write> JsonWriter<W> {
    pub fn new(out: W, zone: Zone) -> Self {
        JsonWriter { out, zone, events: 0, buffer: Vec::new() }
    }

    /// The event in the API's field order, with EventTime in the chosen zone.
    fn lookup_event(&self, event: &Event) -> Value {
        let envelope = &event.envelope;
        let mut fields = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                fields.insert(key.to_owned(), value);
            }
        };
        let string = |s: &Option<String>| s.clone().map(Value::String);
        put("EventId", string(&envelope.event_id));
        put("EventName", string(&envelope.event_name));
        put("ReadOnly", string(&envelope.read_only));
        put("AccessKeyId", string(&envelope.access_key_id));
        put("EventTime", envelope.event_time.map(|t| Value::String(self.zone.format_rfc3339(t))));
        put("EventSource", string(&envelope.event_source));
        put("Username", string(&envelope.username));
        put(
            "Resources",
            envelope.resources.as_ref().map(|list| {
                list.iter()
                    .map(|r| {
                        let mut resource = Map::new();
                        if let Some(t) = &r.resource_type {
                            resource.insert("ResourceType".to_owned(), Value::String(t.clone()));
                        }
                        if let Some(n) = &r.resource_name {
                            resource.insert("ResourceName".to_owned(), Value::String(n.clone()));
                        }
                        Value::Object(resource)
                    })
                    .collect()
            }),
        );
        put("CloudTrailEvent", Some(Value::String(event.raw.clone())));
        Value::Object(fields)
    }
}

impl<W: Write> EventWriter for JsonWriter<W> {
    fn write(&mut self, event: &Event) -> io::Result<()> {
        let value = self.lookup_event(event);
        self.buffer.clear();
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut self.buffer,
            PrettyFormatter::with_indent(INDENT),
        ))?;
        let text = std::str::from_utf8(&self.buffer).expect("serde_json writes UTF-8");
        self.out.write_all(if self.events == 0 { b"{\n    \"Events\": [\n" } else { b",\n" })?;
        for (i, line) in text.lines().enumerate() {
            if i > 0 {
                self.out.write_all(b"\n")?;
            }
            self.out.write_all(EVENT_INDENT.as_bytes())?;
            self.out.write_all(line.as_bytes())?;
        }
        self.events += 1;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, next_token: Option<&str>) -> io::Result<()> {
        if self.events == 0 {
            self.out.write_all(b"{\n    \"Events\": []")?;
        } else {
            self.out.write_all(b"\n    ]")?;
        }
        if let Some(token) = next_token {
            write!(self.out, ",\n    \"NextToken\": {}", Value::String(token.to_owned()))?;
        }
        self.out.write_all(b"\n}\n")?;
        self.out.flush()
    }
}
