//! `ctlookup denied`: the calls refused for lack of permission, one row per (principal, action, resource,
//! reason) with count, first, last and an example event ID; `--decode` reads EC2's encoded messages
//! through STS at the end of the run (the conditions of the request join the row); `--policy` prints,
//! per principal, the Allow statements that would grant what no policy allowed, never for what no Allow
//! lifts (explicit denies, S3 Block Public Access) or a reason in the message's own words.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Write};

use serde_json::{json, Value};

use super::message::{self, Reason};
use super::{actions, Group, Groups, Outside};
use crate::error::{say, warn};
use crate::event::Event;
use crate::output::{EventWriter, Layout, PrintConfig};
use crate::query::expr::{Expr, Literal, Member, Path, Predicate, Target, Test};
use crate::query::{Filter, TimeWindow};

/// The error codes of a refusal for lack of permission. Any other error whose message says "is not
/// authorized to perform" counts too.
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "Client.UnauthorizedOperation",
    // Amazon SNS.
    "AuthorizationError",
    "AuthorizationErrorException",
];

/// The words that mark a refusal in any service's message.
const DENIED_WORDS: &str = "not authorized to perform";

/// What `denied` prints.
#[derive(Debug, Clone)]
pub struct DeniedSpec {
    /// `--decode`: EC2's encoded messages decoded (by the command's [`Outside`]) at the end.
    pub decode: bool,
    /// `--policy`: the Allow statements instead of the rows; `compact`: on one line (`-o jsonl`).
    pub policy: Option<PolicyFormat>,
    /// `--offline`: the Service Reference from the cache only, as the events from the store only.
    pub offline: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct PolicyFormat {
    pub compact: bool,
}

/// The refusal rule, the one copy: an error code of [`DENIED_CODES`], or any error code with a message
/// that says [`DENIED_WORDS`]. The `denied` command narrows its filter with it; the stages test it.
pub fn refusal() -> Expr {
    let error_code = || Target::Record(Path::new(["errorCode"]));
    let codes = DENIED_CODES.iter().map(|c| Member::Value(Literal::String((*c).to_owned()))).collect();
    Expr::or(vec![
        Expr::Pred(Predicate { target: error_code(), test: Test::In(codes) }),
        Expr::and(vec![
            Expr::Pred(Predicate { target: error_code(), test: Test::Exists }),
            Expr::Pred(Predicate {
                target: Target::Record(Path::new(["errorMessage"])),
                test: Test::Contains(DENIED_WORDS.to_owned()),
            }),
        ]),
    ])
}

/// [`refusal`] as a filter.
pub struct Refusal(Filter);

impl Refusal {
    pub fn new() -> Refusal {
        Refusal(Filter::new(refusal(), TimeWindow::default(), None))
    }

    /// Whether an event is a refusal for lack of permission.
    pub fn holds(&self, event: &Event) -> bool {
        self.0.matches(event)
    }
}

/// The actions a refusal names: the message's, else the event's own.
pub fn refused_actions(record: &Value, parsed: &message::Message) -> Vec<String> {
    match &parsed.action {
        Some(action) => vec![action.clone()],
        None => actions::of_event(record),
    }
}

/// The caller's ARN from userIdentity (the service for AWS services).
fn caller(record: &Value) -> Option<String> {
    let identity = record.get("userIdentity")?;
    let text = |key: &str| identity.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    text("arn").or_else(|| text("invokedBy"))
}

/// A row's key: principal, action, resource, reason, conditions (each may be missing).
type Key = Option<String>;

#[derive(Debug, Default, Clone)]
struct Example {
    event_id: Option<String>,
}

/// The stage.
pub struct Denied<'c, W: Write> {
    spec: &'c DeniedSpec,
    outside: &'c dyn Outside,
    refusal: Refusal,
    print: &'c PrintConfig,
    out: W,
    groups: Groups<Key, Example>,
    /// With --decode, refusals with an encoded message, by message: decoded at the end.
    pending: Groups<Key, Example>,
    finished: bool,
}

impl<'c, W: Write> Denied<'c, W> {
    pub fn new(spec: &'c DeniedSpec, print: &'c PrintConfig, out: W, outside: &'c dyn Outside) -> Self {
        Denied {
            spec,
            outside,
            refusal: Refusal::new(),
            print,
            out,
            groups: Groups::new(),
            pending: Groups::new(),
            finished: false,
        }
    }

    /// Decodes the pending messages and files each under its row.
    fn settle_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending).sorted();
        if pending.is_empty() {
            return;
        }
        if !self.spec.decode {
            return;
        }
        let messages: Vec<String> = pending.iter().map(|(k, _)| k[5].clone().unwrap_or_default()).collect();
        let decoded = match self.outside.decode(&messages) {
            Ok(decoded) => decoded,
            Err(err) => {
                warn(format_args!("{err:#}; the encoded messages stay undecoded"));
                vec![None; messages.len()]
            }
        };
        for ((mut key, group), document) in pending.into_iter().zip(decoded) {
            key.truncate(5);
            if let Some(doc) = document.as_deref().and_then(|d| serde_json::from_str::<Value>(d).ok()) {
                apply_decoded(&mut key, &doc);
            }
            let event_id = group.data.event_id.clone();
            let merged = self.groups.merge(&key, group);
            if merged.data.event_id.is_none() {
                merged.data.event_id = event_id;
            }
        }
    }

    fn print_rows(&mut self, groups: &[(Vec<Key>, Group<Example>)]) -> io::Result<()> {
        let decode = self.spec.decode;
        let mut headers = vec!["principal", "action", "resource", "reason"];
        if decode {
            headers.push("conditions");
        }
        headers.extend(["count", "first", "last", "eventID"]);
        // On a narrow terminal the details go first (the example ID, the times), the action is cut last.
        let mut layout = vec![Layout::TEXT; headers.len() - 4];
        layout[1] = Layout::TEXT.cut_last();
        layout.extend([Layout::COUNT, Layout::TIME.spare(), Layout::TIME.spare(), Layout::TEXT.spare()]);
        let time = |t| super::time_cell(self.print, t);
        let mut rows = self.print.row_writer(&headers, &layout, &mut self.out);
        for (key, group) in groups {
            let width = if decode { 5 } else { 4 };
            let mut cells: Vec<Value> = key[..width]
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Some(v) => Value::String(v.clone()),
                    // The reason is empty when the message does not say; anything else missing is null.
                    None if i == 3 => Value::String(String::new()),
                    None => Value::Null,
                })
                .collect();
            cells.extend([Value::from(group.count), time(group.first), time(group.last)]);
            cells.push(group.data.event_id.clone().map_or(Value::Null, Value::String));
            rows.row(&cells)?;
        }
        rows.finish()
    }

    /// `--policy`: per principal, Allow statements for what no policy allowed; what no Allow lifts on stderr.
    fn print_policy(&mut self, groups: &[(Vec<Key>, Group<Example>)], format: PolicyFormat) -> io::Result<()> {
        // principal → action → resources.
        let mut wanted: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        let mut elsewhere: BTreeSet<(String, String, String)> = BTreeSet::new();
        let mut unsaid = 0u64;
        for (key, group) in groups {
            let principal = key[0].clone().unwrap_or_else(|| "(unknown principal)".to_owned());
            let Some(action) = key[1].clone() else { continue };
            let resource = key[2].clone().unwrap_or_else(|| "*".to_owned());
            let times = group.count;
            // Whether an Allow in the principal's policies is (part of) what it lacks.
            let an_allow_helps = match key[3].as_deref().and_then(Reason::from_text) {
                Some(denied @ Reason::ExplicitDeny(kind)) => {
                    say(format_args!(
                        "{principal}: {action} on {resource} was refused by an {} ({times} times); no Allow grants \
                         it: look at {}",
                        denied.text(),
                        kind.where_to_look()
                    ));
                    false
                }
                Some(Reason::ExplicitDenyUnsaid) => {
                    say(format_args!(
                        "{principal}: {action} on {resource} was refused by an explicit deny ({times} times); no \
                         Allow grants it: look at every policy that applies: the principal's, the resource's, the \
                         permissions boundary, the session policy, the organization's SCPs and RCPs, the VPC \
                         endpoint's"
                    ));
                    false
                }
                Some(blocked @ Reason::BlockPublicAccess(_)) => {
                    say(format_args!(
                        "{principal}: {action} on {resource} was {} ({times} times); no Allow lifts it: look at {}",
                        blocked.text(),
                        message::BLOCK_PUBLIC_ACCESS_WHERE
                    ));
                    false
                }
                Some(Reason::Said(words)) => {
                    say(format_args!(
                        "{principal}: {action} on {resource} was refused because {words} ({times} times); no Allow \
                         written: the message names no policy an Allow would satisfy"
                    ));
                    false
                }
                Some(Reason::NoAllow(kind)) => {
                    if kind != message::Kind::IdentityBased {
                        elsewhere.insert((principal.clone(), action.clone(), kind.text().to_owned()));
                    }
                    true
                }
                None => {
                    unsaid += times;
                    true
                }
            };
            if an_allow_helps {
                wanted.entry(principal).or_default().entry(action).or_default().insert(resource);
            }
        }
        let mut known =
            KnownActions::of(wanted.values().flat_map(|actions| actions.keys()), self.spec.offline, self.outside);
        let wanted: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = wanted
            .into_iter()
            .map(|(principal, actions)| {
                let mut checked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
                for (action, resources) in actions {
                    if let Some(action) = known.check(&action) {
                        checked.entry(action).or_default().extend(resources);
                    }
                }
                (principal, checked)
            })
            .filter(|(_, actions)| !actions.is_empty())
            .collect();
        for (principal, action, kind) in &elsewhere {
            say(format_args!(
                "{principal}: {action} was refused because no {kind} allows it: the {kind} must allow it too"
            ));
        }
        if unsaid > 0 {
            say(format_args!(
                "{unsaid} refusals did not say which policy refused them (older or encoded messages; try --decode): \
                 they are granted below, but an explicit deny would still refuse them"
            ));
        }
        known.report();
        let out: Vec<Value> = wanted
            .into_iter()
            .map(|(principal, actions)| json!({"principal": principal, "policy": policy_document(actions)}))
            .collect();
        let text = if format.compact { serde_json::to_string(&out) } else { serde_json::to_string_pretty(&out) };
        writeln!(self.out, "{}", text.map_err(io::Error::other)?)?;
        self.out.flush()
    }
}

/// One policy document: actions that share their resources go in one statement.
pub fn policy_document(actions: BTreeMap<String, BTreeSet<String>>) -> Value {
    let mut by_resources: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (action, resources) in actions {
        let resources: Vec<String> =
            if resources.contains("*") { vec!["*".to_owned()] } else { resources.into_iter().collect() };
        by_resources.entry(resources).or_default().push(action);
    }
    let statements: Vec<Value> = by_resources
        .into_iter()
        .map(|(resources, actions)| json!({"Effect": "Allow", "Action": actions, "Resource": resources}))
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The actions of the services a policy names, from the Service Reference, to check actions against:
/// an action the service does not have, or of a service the reference does not have, is left out; a
/// service that could not be read is not checked.
pub struct KnownActions {
    /// Lowercased prefix → lowercased action → the action as the reference spells it.
    services: HashMap<String, HashMap<String, String>>,
    /// Lowercased prefixes the Service Reference does not have.
    not_services: BTreeSet<String>,
    /// Why a service could not be read: offline and not cached, or the fetch's error.
    unread_because: String,
    left_out: BTreeSet<String>,
    left_out_services: BTreeSet<String>,
    unchecked: BTreeSet<String>,
}

impl KnownActions {
    /// The services `actions` name, read once each: from the cache when fresh, else fetched (and
    /// cached); with `offline`, from the cache only.
    pub fn of<'a>(actions: impl IntoIterator<Item = &'a String>, offline: bool, outside: &dyn Outside) -> KnownActions {
        let prefixes: BTreeSet<String> =
            actions.into_iter().filter_map(|a| a.split_once(':')).map(|(p, _)| p.to_ascii_lowercase()).collect();
        let mut known = KnownActions {
            services: HashMap::new(),
            not_services: BTreeSet::new(),
            unread_because: if offline { "--offline, and not cached".to_owned() } else { String::new() },
            left_out: BTreeSet::new(),
            left_out_services: BTreeSet::new(),
            unchecked: BTreeSet::new(),
        };
        if prefixes.is_empty() {
            return known;
        }
        let read = outside.actions_of(&prefixes, offline);
        for (prefix, actions) in read.actions {
            let spelt = actions.into_iter().map(|a| (a.to_ascii_lowercase(), a)).collect();
            known.services.insert(prefix, spelt);
        }
        known.not_services.extend(read.not_services);
        if let Some(problem) = read.problem {
            known.unread_because = problem;
        }
        known
    }

    /// The action as the reference spells it; None (and remembered) when it is not one.
    pub fn check(&mut self, action: &str) -> Option<String> {
        let Some((prefix, name)) = action.split_once(':') else {
            self.left_out.insert(action.to_owned());
            return None;
        };
        let lower = prefix.to_ascii_lowercase();
        if self.not_services.contains(&lower) {
            self.left_out_services.insert(prefix.to_owned());
            return None;
        }
        match self.services.get(&lower) {
            Some(known) => match known.get(&name.to_ascii_lowercase()) {
                Some(spelt) => Some(format!("{prefix}:{spelt}")),
                None => {
                    self.left_out.insert(action.to_owned());
                    None
                }
            },
            None => {
                self.unchecked.insert(prefix.to_owned());
                Some(action.to_owned())
            }
        }
    }

    /// Says what was left out and what could not be checked.
    pub fn report(&self) {
        let list = |names: &BTreeSet<String>| names.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
        if !self.left_out.is_empty() {
            say(format_args!("left out, not actions in the AWS Service Reference: {}", list(&self.left_out)));
        }
        if !self.left_out_services.is_empty() {
            say(format_args!("left out, not services in the AWS Service Reference: {}", list(&self.left_out_services)));
        }
        if !self.unchecked.is_empty() {
            say(format_args!(
                "not checked against the AWS Service Reference ({}): {}",
                self.unread_because,
                list(&self.unchecked)
            ));
        }
    }
}

/// What a decoded authorization message adds: its principal, action and resource where the message
/// had none, the conditions of the request, and whether an explicit deny refused it.
fn apply_decoded(key: &mut [Key], doc: &Value) {
    let context = &doc["context"];
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    if let Some(arn) = text(&context["principal"]["arn"]) {
        key[0] = Some(arn);
    }
    if let Some(action) = text(&context["action"]) {
        key[1] = Some(action);
    }
    if let Some(resource) = text(&context["resource"]) {
        key[2] = Some(resource);
    }
    if key[3].is_none() && doc["explicitDeny"].as_bool() == Some(true) {
        key[3] = Some(Reason::ExplicitDenyUnsaid.text());
    }
    let mut conditions = Vec::new();
    for item in context["conditions"]["items"].as_array().into_iter().flatten() {
        let Some(name) = item["key"].as_str() else { continue };
        let values: Vec<&str> =
            item["values"]["items"].as_array().into_iter().flatten().filter_map(|v| v["value"].as_str()).collect();
        conditions.push(format!("{name} = {}", values.join(", ")));
    }
    if !conditions.is_empty() {
        key[4] = Some(conditions.join("; "));
    }
}

impl<W: Write> EventWriter for Denied<'_, W> {
    fn write(&mut self, event: &Event) -> io::Result<()> {
        let record = &event.record;
        if !self.refusal.holds(event) {
            return Ok(());
        }
        let text = record.get("errorMessage").and_then(Value::as_str).unwrap_or("");
        let parsed = message::parse(text);
        let principal = parsed.principal.clone().or_else(|| caller(record));
        let reason = parsed.reason.as_ref().map(Reason::text);
        let time = event.stamp();
        let mut actions = refused_actions(record, &parsed);
        if actions.is_empty() {
            actions.push(String::new());
        }
        for action in actions {
            let action = (!action.is_empty()).then_some(action);
            let mut key = vec![principal.clone(), action, parsed.resource.clone(), reason.clone(), None];
            let groups = match (&self.spec.decode, &parsed.encoded) {
                (true, Some(encoded)) => {
                    key.push(Some(encoded.clone()));
                    &mut self.pending
                }
                _ => &mut self.groups,
            };
            let group = groups.add(&key, time);
            if group.data.event_id.is_none() {
                group.data.event_id = event.envelope.event_id.clone();
            }
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
        self.settle_pending();
        let groups = std::mem::take(&mut self.groups).sorted();
        match self.spec.policy {
            Some(format) => self.print_policy(&groups, format),
            None => self.print_rows(&groups),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_share_resources() {
        let mut actions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        actions.entry("s3:GetObject".into()).or_default().insert("arn:aws:s3:::b/k".into());
        actions.entry("s3:PutObject".into()).or_default().insert("arn:aws:s3:::b/k".into());
        actions.entry("ec2:DescribeInstances".into()).or_default().insert("*".into());
        actions.entry("ec2:DescribeInstances".into()).or_default().insert("arn:x".into());
        let doc = policy_document(actions);
        assert_eq!(
            doc,
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": ["*"]},
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": ["arn:aws:s3:::b/k"]},
            ]})
        );
    }

    #[test]
    fn decoded_documents_fill_the_row() {
        let doc: Value = serde_json::from_str(r#"{"allowed":false,"explicitDeny":true,"matchedStatements":{"items":[]},"failures":{"items":[]},"context":{"principal":{"id":"AIDA:x","arn":"arn:aws:iam::111122223333:user/bob"},"action":"ec2:RunInstances","resource":"arn:aws:ec2:us-east-1:111122223333:instance/*","conditions":{"items":[{"key":"ec2:InstanceType","values":{"items":[{"value":"p5.48xlarge"}]}},{"key":"aws:Region","values":{"items":[{"value":"us-east-1"}]}}]}}}"#).unwrap();
        let mut key: Vec<Key> = vec![None, Some("ec2:RunInstances".into()), None, None, None];
        apply_decoded(&mut key, &doc);
        assert_eq!(key[0].as_deref(), Some("arn:aws:iam::111122223333:user/bob"));
        assert_eq!(key[2].as_deref(), Some("arn:aws:ec2:us-east-1:111122223333:instance/*"));
        assert_eq!(key[3].as_deref(), Some("explicit deny"));
        assert_eq!(key[4].as_deref(), Some("ec2:InstanceType = p5.48xlarge; aws:Region = us-east-1"));
    }
}
