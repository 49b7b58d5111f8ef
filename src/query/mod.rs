//! What to match and how to ask for it: the local filter and the plan that pushes one attribute to the API.

pub mod attribute;

use std::fmt;

use chrono::{DateTime, Utc};

pub use attribute::Attribute;

use crate::event::Event;

/// Inclusive time bounds; `None` is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl TimeWindow {
    pub fn contains(&self, t: Option<DateTime<Utc>>) -> bool {
        if self.start.is_none() && self.end.is_none() {
            return true;
        }
        t.is_some_and(|t| self.start.is_none_or(|s| s <= t) && self.end.is_none_or(|e| t <= e))
    }
}

/// One attribute and the values it may take (several values of one shorthand are an OR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub attribute: Attribute,
    pub values: Vec<String>,
}

impl Clause {
    fn matches(&self, event: &Event) -> bool {
        self.values.iter().any(|v| self.attribute.matches(&event.envelope, v))
    }
}

impl fmt::Display for Clause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alternatives: Vec<String> = self.values.iter().map(|v| format!("{}={v}", self.attribute)).collect();
        f.write_str(&alternatives.join(" or "))
    }
}

/// Everything an event must satisfy: the clauses (all of them) and the time window. It is always
/// evaluated in full on every event, so what the API was asked never changes the result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub clauses: Vec<Clause>,
    pub window: TimeWindow,
}

impl Filter {
    pub fn matches(&self, event: &Event) -> bool {
        self.window.contains(event.envelope.event_time) && self.clauses.iter().all(|c| c.matches(event))
    }
}

/// The lookup attribute sent to the API, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub pushed: Option<(Attribute, String)>,
}

impl Plan {
    /// `explicit` is `--lookup-attribute`, sent as given. Otherwise the most selective single-valued
    /// clause goes to the API; an OR of values cannot be one lookup, so it stays local.
    pub fn new(filter: &Filter, explicit: Option<(Attribute, String)>, pushdown: bool) -> Plan {
        if explicit.is_some() {
            return Plan { pushed: explicit };
        }
        if !pushdown {
            return Plan { pushed: None };
        }
        let pushed = Attribute::BY_SELECTIVITY.into_iter().find_map(|attribute| {
            filter
                .clauses
                .iter()
                .find(|c| c.attribute == attribute && c.values.len() == 1)
                .map(|c| (attribute, c.values[0].clone()))
        });
        Plan { pushed }
    }

    /// The `-v` description: what goes to the API and what is tested here.
    pub fn describe(&self, filter: &Filter) -> String {
        let api = match &self.pushed {
            Some((attribute, value)) => format!("API lookup {attribute}={value}"),
            None => "API lookup with no attribute (full scan of the window)".to_owned(),
        };
        let local: Vec<String> = filter
            .clauses
            .iter()
            .filter(|c| self.pushed.as_ref().is_none_or(|(a, v)| !(c.attribute == *a && c.values == [v.clone()])))
            .map(Clause::to_string)
            .collect();
        if local.is_empty() {
            format!("plan: {api}; nothing left to test locally")
        } else {
            format!("plan: {api}; tested locally: {}", local.join(" and "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(attribute: Attribute, values: &[&str]) -> Clause {
        Clause { attribute, values: values.iter().map(|v| v.to_string()).collect() }
    }

    #[test]
    fn pushes_the_most_selective_single_value() {
        let filter = Filter {
            clauses: vec![
                clause(Attribute::EventSource, &["ec2.amazonaws.com"]),
                clause(Attribute::Username, &["alice"]),
                clause(Attribute::EventName, &["A", "B"]),
            ],
            window: TimeWindow::default(),
        };
        let plan = Plan::new(&filter, None, true);
        assert_eq!(plan.pushed, Some((Attribute::Username, "alice".to_owned())));
        assert_eq!(
            plan.describe(&filter),
            "plan: API lookup Username=alice; tested locally: EventSource=ec2.amazonaws.com and EventName=A or EventName=B"
        );
        assert_eq!(Plan::new(&filter, None, false).pushed, None);
        let explicit = Some((Attribute::ReadOnly, "true".to_owned()));
        assert_eq!(Plan::new(&filter, explicit.clone(), true).pushed, explicit);
    }

    #[test]
    fn window_is_inclusive() {
        let t = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
        let w = TimeWindow { start: t("2024-07-22T00:00:00Z"), end: t("2024-07-22T01:00:00Z") };
        assert!(w.contains(t("2024-07-22T00:00:00Z")));
        assert!(w.contains(t("2024-07-22T01:00:00Z")));
        assert!(!w.contains(t("2024-07-22T01:00:01Z")));
        assert!(!w.contains(None));
        assert!(TimeWindow::default().contains(None));
    }
}
