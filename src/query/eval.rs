//! Evaluating an expression on one event: the typed comparison rules, on the values the path walker reaches.

use std::cmp::Ordering;
use std::net::IpAddr;

use serde_json::Value;

use super::expr::{CompareOp, Expr, Literal, Member, Predicate, Target, Test};
use crate::event::{Envelope, Event};
use crate::path;
use crate::query::Attribute;

pub fn eval(expr: &Expr, event: &Event) -> bool {
    match expr {
        Expr::And(parts) => parts.iter().all(|p| eval(p, event)),
        Expr::Or(parts) => parts.iter().any(|p| eval(p, event)),
        Expr::Not(inner) => !eval(inner, event),
        Expr::Pred(predicate) => holds(predicate, event),
    }
}

fn holds(predicate: &Predicate, event: &Event) -> bool {
    match &predicate.target {
        Target::Record(field) => {
            if let Test::Exists = predicate.test {
                return path::exists(&event.record, &field.segments);
            }
            path::any(&event.record, &field.segments, &mut |v| test_value(&predicate.test, v))
        }
        Target::Envelope(attribute) => envelope_holds(*attribute, &predicate.test, &event.envelope),
    }
}

/// The envelope's values for an attribute, for the shorthand options; ReadOnly compares without case,
/// like the API.
fn envelope_holds(attribute: Attribute, test: &Test, envelope: &Envelope) -> bool {
    if let Test::Compare(CompareOp::Eq, literal) = test {
        return attribute.matches(envelope, &literal_text(literal));
    }
    let values: Vec<&str> = match attribute {
        Attribute::ResourceName => envelope.resources().iter().filter_map(|r| r.resource_name.as_deref()).collect(),
        Attribute::ResourceType => envelope.resources().iter().filter_map(|r| r.resource_type.as_deref()).collect(),
        _ => attribute.field(envelope).into_iter().collect(),
    };
    match test {
        Test::Exists => !values.is_empty(),
        _ => values.into_iter().any(|s| test_value(test, &Value::String(s.to_owned()))),
    }
}

/// One value against one test; `value` is never null or an array here.
fn test_value(test: &Test, value: &Value) -> bool {
    match test {
        Test::Exists => true,
        Test::Compare(CompareOp::Eq, literal) => equals(value, literal),
        Test::Compare(CompareOp::Ne, literal) => !equals(value, literal),
        Test::Compare(op, literal) => order(value, literal).is_some_and(|ordering| match op {
            CompareOp::Lt => ordering == Ordering::Less,
            CompareOp::Le => ordering != Ordering::Greater,
            CompareOp::Gt => ordering == Ordering::Greater,
            CompareOp::Ge => ordering != Ordering::Less,
            CompareOp::Eq | CompareOp::Ne => unreachable!("handled above"),
        }),
        Test::Regex { regex, negate } => scalar_text(value).is_some_and(|text| regex.is_match(&text) != *negate),
        Test::Contains(needle) => scalar_text(value).is_some_and(|text| text.contains(needle.as_str())),
        Test::In(members) => members.iter().any(|member| match member {
            Member::Value(literal) => equals(value, literal),
            Member::Network(net) => {
                ip_of(value).is_some_and(|ip| net.contains(&ip) || net.contains(&ip.to_canonical()))
            }
            Member::Address(address) => {
                ip_of(value).is_some_and(|ip| ip == *address || ip.to_canonical() == address.to_canonical())
            }
        }),
    }
}

/// Strings as strings, numbers as numbers, a boolean equals `true` or `"true"`.
fn equals(value: &Value, literal: &Literal) -> bool {
    match (value, literal) {
        (Value::String(s), _) => *s == literal_text(literal),
        (Value::Number(n), Literal::Number { text, .. }) => same_number(n, text),
        (Value::Number(n), Literal::String(s)) => same_number(n, s.trim()),
        (Value::Bool(b), Literal::Bool(l)) => b == l,
        (Value::Bool(b), Literal::String(s)) => s.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        _ => false,
    }
}

/// A whole number of the record and a whole literal compare exactly (account IDs, sizes and counters
/// beyond 2^53 lose digits as f64); anything else compares as f64.
fn same_number(n: &serde_json::Number, text: &str) -> bool {
    match (whole(n), text.parse::<i128>()) {
        (Some(a), Ok(b)) => a == b,
        _ => text.parse::<f64>().ok().is_some_and(|v| n.as_f64() == Some(v)),
    }
}

fn whole(n: &serde_json::Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

/// Numbers compare as numbers when both sides are numeric, anything else as strings.
fn order(value: &Value, literal: &Literal) -> Option<Ordering> {
    let literal_number = match literal {
        Literal::Number { value, .. } => Some(*value),
        Literal::String(s) => s.trim().parse::<f64>().ok(),
        Literal::Bool(_) => None,
    };
    if let (Value::Number(n), Some(l)) = (value, literal_number) {
        let exact = match literal {
            Literal::Number { text, .. } | Literal::String(text) => text.trim().parse::<i128>().ok(),
            Literal::Bool(_) => None,
        };
        if let (Some(a), Some(b)) = (whole(n), exact) {
            return Some(a.cmp(&b));
        }
        return n.as_f64()?.partial_cmp(&l);
    }
    let text = scalar_text(value)?;
    Some(text.as_ref().cmp(literal_text(literal).as_str()))
}

fn literal_text(literal: &Literal) -> String {
    match literal {
        Literal::String(s) => s.clone(),
        Literal::Number { text, .. } => text.clone(),
        Literal::Bool(b) => b.to_string(),
    }
}

/// The text of a string, number or boolean; objects have none.
fn scalar_text(value: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        Value::String(s) => Some(s.as_str().into()),
        Value::Number(n) => Some(n.to_string().into()),
        Value::Bool(b) => Some(b.to_string().into()),
        _ => None,
    }
}

fn ip_of(value: &Value) -> Option<IpAddr> {
    value.as_str()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::expr::Path;
    use regex::Regex;
    use serde_json::json;

    fn event(record: Value) -> Event {
        Event::from_record(record.to_string(), record)
    }

    fn pred(path: &str, test: Test) -> Expr {
        Expr::Pred(Predicate { target: Target::Record(Path::new(path.split('.'))), test })
    }

    fn eq(path: &str, literal: Literal) -> Expr {
        pred(path, Test::Compare(CompareOp::Eq, literal))
    }

    fn s(text: &str) -> Literal {
        Literal::String(text.to_owned())
    }

    fn num(text: &str) -> Literal {
        Literal::Number { value: text.parse().unwrap(), text: text.to_owned() }
    }

    fn sample() -> Event {
        event(json!({
            "eventName": "RunInstances",
            "errorCode": "Client.UnauthorizedOperation",
            "readOnly": false,
            "sourceIPAddress": "2001:db8::7",
            "requestParameters": {"maxCount": 2, "tags": [{"key": "env", "value": "本番"}, {"key": "team", "value": "ops"}]},
            "resources": [{"ARN": "arn:aws:ec2:us-east-1:1:instance/i-1", "type": "AWS::EC2::Instance"}, {"ARN": "arn:x", "type": "AWS::EC2::Volume"}],
            "additionalEventData": null,
            "emptyList": [],
            "eventTime": "2024-07-22T01:00:00Z"
        }))
    }

    #[test]
    fn types_compare_by_their_kind() {
        let e = sample();
        assert!(eval(&eq("eventName", s("RunInstances")), &e));
        assert!(!eval(&eq("eventName", s("runinstances")), &e), "case-sensitive");
        assert!(eval(&eq("requestParameters.maxCount", num("2")), &e));
        assert!(eval(&eq("requestParameters.maxCount", num("2.0")), &e));
        let big = event(json!({"n": 9007199254740993u64}));
        assert!(eval(&eq("n", num("9007199254740993")), &big));
        assert!(!eval(&eq("n", num("9007199254740992")), &big), "beyond 2^53, exactly");
        assert!(eval(&pred("n", Test::Compare(CompareOp::Gt, num("9007199254740992"))), &big));
        assert!(eval(&eq("requestParameters.maxCount", s("2")), &e));
        assert!(eval(&eq("readOnly", Literal::Bool(false)), &e));
        assert!(eval(&eq("readOnly", s("false")), &e));
        assert!(!eval(&eq("readOnly", s("no")), &e));
        let gt = |path: &str, l: Literal| pred(path, Test::Compare(CompareOp::Gt, l));
        assert!(!eval(&gt("requestParameters.maxCount", num("10")), &e));
        assert!(eval(&gt("requestParameters.maxCount", num("1.5")), &e));
        assert!(eval(&pred("eventTime", Test::Compare(CompareOp::Ge, s("2024-07-22T00:00:00Z"))), &e));
        assert!(!eval(&pred("eventTime", Test::Compare(CompareOp::Lt, s("2024-07-22T00:00:00Z"))), &e));
    }

    #[test]
    fn missing_and_null_fields_match_neither_equal_nor_unequal() {
        let e = sample();
        for path in ["nope", "additionalEventData", "additionalEventData.MFAUsed", "eventName.deeper"] {
            assert!(!eval(&eq(path, s("x")), &e), "{path} =");
            assert!(!eval(&pred(path, Test::Compare(CompareOp::Ne, s("x"))), &e), "{path} !=");
            assert!(!eval(&pred(path, Test::Exists), &e), "{path} exists");
        }
        assert!(eval(&pred("errorCode", Test::Exists), &e));
        assert!(eval(&pred("emptyList", Test::Exists), &e));
        assert!(eval(&Expr::Not(Box::new(pred("nope", Test::Exists))), &e));
    }

    #[test]
    fn arrays_match_when_any_element_does() {
        let e = sample();
        assert!(eval(&eq("resources.type", s("AWS::EC2::Volume")), &e));
        assert!(eval(&eq("requestParameters.tags.value", s("本番")), &e));
        assert!(eval(&pred("requestParameters.tags.key", Test::Compare(CompareOp::Ne, s("env"))), &e), "team != env");
        assert!(!eval(&eq("resources.type", s("AWS::S3::Bucket")), &e));
    }

    #[test]
    fn regex_contains_and_in() {
        let e = sample();
        let re = |p: &str, negate| Test::Regex { regex: Regex::new(p).unwrap(), negate };
        assert!(eval(&pred("errorCode", re("Unauthorized|AccessDenied", false)), &e));
        assert!(eval(&pred("errorCode", re("(?i)^client\\.", false)), &e));
        assert!(!eval(&pred("errorCode", re("Unauthorized", true)), &e));
        assert!(!eval(&pred("nope", re("x", true)), &e), "!~ on a missing field is false");
        assert!(eval(&pred("errorCode", Test::Contains("Unauthorized".into())), &e));
        let within = |net: &str| Test::In(vec![Member::Network(net.parse().unwrap())]);
        assert!(eval(&pred("sourceIPAddress", within("2001:db8::/32")), &e));
        assert!(!eval(&pred("sourceIPAddress", within("10.0.0.0/8")), &e));
        let v4 = event(json!({"sourceIPAddress": "203.0.113.9"}));
        assert!(eval(&pred("sourceIPAddress", within("203.0.113.0/24")), &v4));
        assert!(!eval(&pred("sourceIPAddress", within("203.0.114.0/24")), &v4));
        let at = Test::In(vec![Member::Address("203.0.113.9".parse().unwrap())]);
        assert!(eval(&pred("sourceIPAddress", at), &v4));
        let mapped = event(json!({"sourceIPAddress": "::ffff:203.0.113.9"}));
        assert!(eval(&pred("sourceIPAddress", within("203.0.113.0/24")), &mapped), "IPv4-mapped IPv6");
        let at_mapped = Test::In(vec![Member::Address("203.0.113.9".parse().unwrap())]);
        assert!(eval(&pred("sourceIPAddress", at_mapped), &mapped));
        let names = Test::In(vec![Member::Value(s("StopInstances")), Member::Value(s("RunInstances"))]);
        assert!(eval(&pred("eventName", names), &e));
        let service = event(json!({"sourceIPAddress": "ec2.amazonaws.com"}));
        assert!(!eval(&pred("sourceIPAddress", within("0.0.0.0/0")), &service), "a name is not an address");
    }

    #[test]
    fn envelope_targets_follow_the_api() {
        let e = event(json!({"userIdentity": {"type": "IAMUser", "userName": "alice"}, "readOnly": true}));
        let env = |attribute, value: &str| {
            Expr::Pred(Predicate { target: Target::Envelope(attribute), test: Test::Compare(CompareOp::Eq, s(value)) })
        };
        assert!(eval(&env(Attribute::Username, "alice"), &e));
        assert!(eval(&env(Attribute::ReadOnly, "TRUE"), &e));
        assert!(!eval(&env(Attribute::Username, "Alice"), &e));
    }
}
