//! The query plan: which lookup attribute(s) go to the API. The local filter always evaluates the whole
//! expression, so a plan changes the number of requests, never the result.

use super::attribute::check_value;
use super::expr::{CompareOp, Expr, Literal, Member, Predicate, Target, Test};
use super::Attribute;

/// One API lookup: an attribute and value, or none (every event of the window).
pub type Lookup = Option<(Attribute, String)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Run concurrently and merged newest first; always at least one.
    pub lookups: Vec<Lookup>,
}

impl Plan {
    /// `explicit` is `--lookup-attribute`, sent as given.
    pub fn new(expr: &Expr, explicit: Lookup, pushdown: bool) -> Plan {
        if explicit.is_some() {
            return Plan { lookups: vec![explicit] };
        }
        if !pushdown {
            return Plan { lookups: vec![None] };
        }
        let conjuncts: &[Expr] = match expr {
            Expr::And(parts) => parts,
            other => std::slice::from_ref(other),
        };
        let single = best_single(conjuncts);
        let split = conjuncts.iter().filter_map(split).min_by_key(|lookups| weakest(lookups));
        match (single, split) {
            (Some(single), Some(split)) if weakest(&split) < rank(single.0) => Plan::of(split),
            (Some(single), _) => Plan { lookups: vec![Some(single)] },
            (None, Some(split)) => Plan::of(split),
            (None, None) => Plan { lookups: vec![None] },
        }
    }

    fn of(split: Vec<(Attribute, String)>) -> Plan {
        Plan { lookups: split.into_iter().map(Some).collect() }
    }

    /// The `-v` line.
    pub fn describe(&self, expr: &Expr) -> String {
        let api = match self.lookups.as_slice() {
            [None] => "API lookup with no attribute (every event of the window)".to_owned(),
            [Some((attribute, value))] => format!("API lookup {attribute}={value}"),
            many => {
                let each: Vec<String> =
                    many.iter().flatten().map(|(attribute, value)| format!("{attribute}={value}")).collect();
                format!("{} API lookups run together, merged newest first: {}", many.len(), each.join(", "))
            }
        };
        format!("plan: {api}; tested locally: {expr}")
    }
}

fn rank(attribute: Attribute) -> usize {
    Attribute::BY_SELECTIVITY.iter().position(|a| *a == attribute).expect("every attribute is ranked")
}

/// A split is as good as its least selective lookup.
fn weakest(lookups: &[(Attribute, String)]) -> usize {
    lookups.iter().map(|(a, _)| rank(*a)).max().unwrap_or(usize::MAX)
}

/// The most selective pushable equality among ANDed expressions.
fn best_single(conjuncts: &[Expr]) -> Option<(Attribute, String)> {
    conjuncts
        .iter()
        .filter_map(|e| match e {
            Expr::Pred(p) => pushable(p),
            Expr::And(parts) => best_single(parts),
            _ => None,
        })
        .min_by_key(|(attribute, _)| rank(*attribute))
}

/// An OR whose every branch has a pushable equality, or an `in (…)` on a pushable field: one lookup each.
fn split(expr: &Expr) -> Option<Vec<(Attribute, String)>> {
    let mut lookups = match expr {
        Expr::Or(branches) => {
            branches.iter().map(|b| best_single(std::slice::from_ref(b))).collect::<Option<Vec<_>>>()?
        }
        Expr::Pred(Predicate { target, test: Test::In(members) }) => {
            let attribute = pushable_target(target)?;
            members
                .iter()
                .map(|m| match m {
                    Member::Value(literal) => api_value(attribute, literal),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?
                .into_iter()
                .map(|v| (attribute, v))
                .collect()
        }
        _ => return None,
    };
    let mut seen = std::collections::HashSet::new();
    lookups.retain(|l| seen.insert(l.clone()));
    Some(lookups)
}

/// `field = value` where the API can look the field up with exactly the same meaning.
fn pushable(predicate: &Predicate) -> Option<(Attribute, String)> {
    let Test::Compare(CompareOp::Eq, literal) = &predicate.test else { return None };
    let attribute = pushable_target(&predicate.target)?;
    Some((attribute, api_value(attribute, literal)?))
}

/// The record fields whose value the service copies into a lookup attribute, and the envelope itself.
fn pushable_target(target: &Target) -> Option<Attribute> {
    match target {
        Target::Envelope(attribute) => Some(*attribute),
        Target::Record(path) => match path.segments.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["eventName"] => Some(Attribute::EventName),
            ["eventSource"] => Some(Attribute::EventSource),
            ["eventID"] => Some(Attribute::EventId),
            ["readOnly"] => Some(Attribute::ReadOnly),
            ["userIdentity", "accessKeyId"] => Some(Attribute::AccessKeyId),
            _ => None,
        },
    }
}

/// The value to send: a string the API compares the same way; ReadOnly only as `true` or `false`; and
/// nothing the API would refuse (over its length limit), which then stays a local test.
fn api_value(attribute: Attribute, literal: &Literal) -> Option<String> {
    let value = match (attribute, literal) {
        (Attribute::ReadOnly, Literal::Bool(b)) => b.to_string(),
        (Attribute::ReadOnly, Literal::String(s))
            if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
        {
            s.to_ascii_lowercase()
        }
        (Attribute::ReadOnly, _) => return None,
        (_, Literal::String(s)) => s.clone(),
        (_, Literal::Number { text, .. }) => text.clone(),
        (_, Literal::Bool(_)) => return None,
    };
    check_value(attribute, &value).ok().map(|()| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::expr::Path;

    fn eq(path: &str, value: &str) -> Expr {
        Expr::Pred(Predicate {
            target: Target::Record(Path::new(path.split('.'))),
            test: Test::Compare(CompareOp::Eq, Literal::String(value.to_owned())),
        })
    }

    fn env(attribute: Attribute, value: &str) -> Expr {
        Expr::Pred(Predicate {
            target: Target::Envelope(attribute),
            test: Test::Compare(CompareOp::Eq, Literal::String(value.to_owned())),
        })
    }

    fn lookups(expr: &Expr) -> Vec<String> {
        Plan::new(expr, None, true)
            .lookups
            .iter()
            .map(|l| l.as_ref().map_or("-".to_owned(), |(a, v)| format!("{a}={v}")))
            .collect()
    }

    #[test]
    fn the_most_selective_equality_of_the_top_and() {
        let e = Expr::and(vec![
            eq("eventSource", "ec2.amazonaws.com"),
            env(Attribute::Username, "alice"),
            eq("errorCode", "X"),
        ]);
        assert_eq!(lookups(&e), ["Username=alice"]);
        assert_eq!(lookups(&eq("eventID", "abc")), ["EventId=abc"]);
        assert_eq!(lookups(&eq("userIdentity.accessKeyId", "AKIA1")), ["AccessKeyId=AKIA1"]);
        assert_eq!(lookups(&eq("errorCode", "AccessDenied")), ["-"], "not a lookup attribute");
        assert_eq!(lookups(&Expr::Not(Box::new(eq("eventName", "A")))), ["-"]);
        assert_eq!(lookups(&eq("readOnly", "TRUE")), ["ReadOnly=true"]);
        assert_eq!(lookups(&eq("eventName", &"x".repeat(2001))), ["-"], "over the API limit stays local");
    }

    #[test]
    fn an_or_of_pushable_equalities_splits() {
        let or = Expr::or(vec![eq("eventName", "A"), eq("eventName", "B")]);
        assert_eq!(lookups(&or), ["EventName=A", "EventName=B"]);
        let mixed = Expr::or(vec![
            Expr::and(vec![eq("eventName", "A"), eq("errorCode", "X")]),
            Expr::and(vec![env(Attribute::Username, "bob"), eq("eventSource", "s3.amazonaws.com")]),
        ]);
        assert_eq!(lookups(&mixed), ["EventName=A", "Username=bob"]);
        let not_all = Expr::or(vec![eq("eventName", "A"), eq("errorCode", "X")]);
        assert_eq!(lookups(&not_all), ["-"]);
        // A single equality at least as selective as the split's weakest branch wins.
        let with_id = Expr::and(vec![or.clone(), eq("eventID", "e1")]);
        assert_eq!(lookups(&with_id), ["EventId=e1"]);
        let with_source = Expr::and(vec![or, eq("eventSource", "ec2.amazonaws.com")]);
        assert_eq!(lookups(&with_source), ["EventName=A", "EventName=B"]);
        let dup = Expr::or(vec![eq("eventName", "A"), eq("eventName", "A")]);
        assert_eq!(lookups(&dup), ["EventName=A"]);
    }

    #[test]
    fn explicit_and_no_pushdown() {
        let e = eq("eventName", "A");
        assert_eq!(Plan::new(&e, None, false).lookups, vec![None]);
        let explicit = Some((Attribute::ResourceType, "AWS::S3::Bucket".to_owned()));
        assert_eq!(Plan::new(&e, explicit.clone(), true).lookups, vec![explicit]);
    }
}
