//! `ctlookup policy`: least privilege from what was done. The IAM actions of the matched successful
//! calls (and, with `--include-denied`, of the refused ones) as one policy document, each action checked
//! against the Service Reference (fetched when not cached); events that are no IAM action are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde_json::Value;

use super::denied::{policy_document, refused_actions, KnownActions, PolicyFormat, Refusal};
use super::{actions, message, Outside};
use crate::error::say;
use crate::event::Event;
use crate::output::EventWriter;

/// What `policy` prints.
#[derive(Debug, Clone, Copy)]
pub struct PolicySpec {
    pub include_denied: bool,
    pub format: PolicyFormat,
    /// `--offline`: the Service Reference from the cache only, as the events from the store only.
    pub offline: bool,
}

/// The stage: the set of actions seen, printed as one document at the end.
pub struct Policy<'c, W: Write> {
    spec: PolicySpec,
    outside: &'c dyn Outside,
    refusal: Refusal,
    out: W,
    actions: BTreeSet<String>,
    /// The events that stand for no IAM action, by why: counted on stderr.
    left_out: BTreeMap<actions::NoAction, u64>,
    finished: bool,
}

impl<'c, W: Write> Policy<'c, W> {
    pub fn new(spec: PolicySpec, out: W, outside: &'c dyn Outside) -> Self {
        Policy {
            spec,
            outside,
            refusal: Refusal::new(),
            out,
            actions: BTreeSet::new(),
            left_out: BTreeMap::new(),
            finished: false,
        }
    }
}

impl<W: Write> EventWriter for Policy<'_, W> {
    fn write(&mut self, event: &Event) -> io::Result<()> {
        let record = &event.record;
        let failed = record.get("errorCode").is_some_and(|c| !c.is_null());
        let found = if !failed {
            actions::needed(record)
        } else if self.spec.include_denied && self.refusal.holds(event) {
            let text = record.get("errorMessage").and_then(Value::as_str).unwrap_or("");
            Ok(refused_actions(record, &message::parse(text)))
        } else {
            Ok(Vec::new())
        };
        match found {
            Ok(found) => self.actions.extend(found),
            Err(why) => *self.left_out.entry(why).or_default() += 1,
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, _next_token: Option<&str>) -> io::Result<()> {
        if std::mem::replace(&mut self.finished, true) {
            return Ok(());
        }
        let mut known = KnownActions::of(&self.actions, self.spec.offline, self.outside);
        let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for action in std::mem::take(&mut self.actions) {
            if let Some(action) = known.check(&action) {
                granted.entry(action).or_default().insert("*".to_owned());
            }
        }
        for (why, count) in &self.left_out {
            say(format_args!("left out {count} events {}", why.describe()));
        }
        known.report();
        if granted.is_empty() {
            say("no IAM action among the matched events: the policy has no statement");
        }
        let doc = policy_document(granted);
        let text =
            if self.spec.format.compact { serde_json::to_string(&doc) } else { serde_json::to_string_pretty(&doc) };
        writeln!(self.out, "{}", text.map_err(io::Error::other)?)?;
        self.out.flush()
    }
}
