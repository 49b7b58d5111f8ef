//! Answers instead of events: `--count-by`, `--timeline`, `denied` and `policy`, stages between the filter
//! and the writer. Stages are pure: what they need from outside (STS, the Service Reference) the
//! command hands them behind [`Outside`].
//! Each takes the matched events as a writer would, holds one entry per group or time bucket (never the
//! events), and prints its rows when the run ends, through the same row printers as every listing.

pub mod actions;
mod count;
pub mod denied;
pub mod groups;
pub mod message;
pub mod policy;
pub mod timeline;

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::Value;

use crate::output::columns::Column;
use crate::output::{EventWriter, OutputFormat, PrintConfig};
use crate::reference::ServiceActions;
use crate::time::Stamp;

pub use denied::{DeniedSpec, PolicyFormat};
pub use groups::{Group, Groups};
pub use policy::PolicySpec;
pub use timeline::{Bucket, TimelineSpec};

/// What the answer stages need from outside, handed to them by the command: no stage calls STS or
/// reads a cache itself.
pub trait Outside {
    /// The decoded documents of EC2's encoded authorization messages, in order; None where one could
    /// not be decoded.
    fn decode(&self, messages: &[String]) -> anyhow::Result<Vec<Option<String>>>;
    /// The actions of the services `prefixes` name; `offline`: from the cache only.
    fn actions_of(&self, prefixes: &BTreeSet<String>, offline: bool) -> ServiceActions;
}

/// What to answer instead of printing the events.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `--count-by FIELDS [--top N]`.
    Count { fields: Vec<Column>, top: Option<usize> },
    /// `--timeline [BUCKET]`.
    Timeline(TimelineSpec),
    /// `ctlookup denied`.
    Denied(DeniedSpec),
    /// `ctlookup policy`.
    Policy(PolicySpec),
}

/// A time cell of an answer: JSON gets full RFC 3339 times in the zone; the table and spreadsheets
/// get the plain form, as for eventTime; either as precisely as the record wrote it; no time is null.
fn time_cell(print: &PrintConfig, time: Option<Stamp>) -> Value {
    match time {
        Some(t) if matches!(print.format, OutputFormat::Json | OutputFormat::Jsonl) => {
            Value::String(print.zone.format_stamp_rfc3339(t))
        }
        Some(t) => Value::String(print.zone.format_stamp_plain(t)),
        None => Value::Null,
    }
}

impl Answer {
    /// The stage that takes the matched events and prints the answer to `out` at the end.
    pub fn stage<'w, W: Write + 'w>(
        &'w self,
        print: &'w PrintConfig,
        out: W,
        outside: &'w dyn Outside,
    ) -> Box<dyn EventWriter + 'w> {
        match self {
            Answer::Count { fields, top } => Box::new(count::Counter::new(fields, *top, print, out)),
            Answer::Timeline(spec) => Box::new(timeline::Timeline::new(spec, print, out)),
            Answer::Denied(spec) => Box::new(denied::Denied::new(spec, print, out, outside)),
            Answer::Policy(spec) => Box::new(policy::Policy::new(*spec, out, outside)),
        }
    }
}
