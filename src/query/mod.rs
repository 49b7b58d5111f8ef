//! What to match and how to ask for it: the expression, its local evaluation, the byte prefilter, the
//! plan that pushes lookups to the API, and the watch for field names no event had.

pub mod attribute;
pub mod ddl;
mod eval;
pub mod expr;
mod fields;
pub mod parse;
pub mod plan;
mod prefilter;
pub mod sql;

use chrono::{DateTime, Utc};

pub use attribute::Attribute;
pub use fields::{record_paths, FieldWatch};
pub use plan::Plan;

use crate::event::{Event, EventCategory};
use expr::Expr;
pub use prefilter::TextKind;
pub use prefilter::{Prefilter, Screen, Screened};

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

/// Everything an event must satisfy: the whole expression and the time window, evaluated on every event
/// whatever the API was asked.
pub struct Filter {
    pub expr: Expr,
    pub window: TimeWindow,
    /// Only events of this category; None: any (trail logs hold both).
    pub category: Option<EventCategory>,
    /// One prefilter per kind of text, indexed by `TextKind as usize`.
    prefilters: [Option<Prefilter>; 3],
}

impl Filter {
    pub fn new(expr: Expr, window: TimeWindow, category: Option<EventCategory>) -> Filter {
        let prefilters = [TextKind::Record, TextKind::LookupRecord, TextKind::SavedLookupEvent]
            .map(|kind| Prefilter::new(&expr, kind));
        Filter { expr, window, category, prefilters }
    }

    pub fn matches(&self, event: &Event) -> bool {
        self.window.contains(event.envelope.event_time)
            && self.category.is_none_or(|c| EventCategory::of(&event.record) == c)
            && eval::eval(&self.expr, event)
    }

    /// False when the JSON text cannot hold a matching event, so it need not be parsed.
    pub fn may_match(&self, text: &[u8], kind: TextKind) -> bool {
        self.prefilters[kind as usize].as_ref().is_none_or(|p| p.may_match(text))
    }

    /// The prefilter of a kind of text, when there is one: what [`Filter::may_match`] runs.
    pub fn prefilter(&self, kind: TextKind) -> Option<&Prefilter> {
        self.prefilters[kind as usize].as_ref()
    }
}

/// The literal event names and sources an expression asks for with `=` or `in (…)`, outside any `not`:
/// what the global-service hint and the "did you mean" look at.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AskedNames {
    pub event_names: Vec<String>,
    pub event_sources: Vec<String>,
}

impl AskedNames {
    pub fn of(expr: &Expr) -> AskedNames {
        let mut asked = AskedNames::default();
        asked.collect(expr);
        asked
    }

    fn collect(&mut self, expr: &Expr) {
        use expr::{CompareOp, Literal, Member, Predicate, Target, Test};
        match expr {
            Expr::And(parts) | Expr::Or(parts) => parts.iter().for_each(|p| self.collect(p)),
            Expr::Not(_) => {}
            Expr::Pred(Predicate { target, test }) => {
                let list = match target {
                    Target::Envelope(Attribute::EventName) => &mut self.event_names,
                    Target::Envelope(Attribute::EventSource) => &mut self.event_sources,
                    Target::Record(path) if path.segments == ["eventName"] => &mut self.event_names,
                    Target::Record(path) if path.segments == ["eventSource"] => &mut self.event_sources,
                    _ => return,
                };
                let literals: Vec<&Literal> = match test {
                    Test::Compare(CompareOp::Eq, literal) => vec![literal],
                    Test::In(members) => members
                        .iter()
                        .filter_map(|m| match m {
                            Member::Value(literal) => Some(literal),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                for literal in literals {
                    if let expr::Literal::String(s) = literal {
                        if !list.contains(s) {
                            list.push(s.clone());
                        }
                    }
                }
            }
        }
    }
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter").field("expr", &self.expr.to_string()).field("window", &self.window).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
