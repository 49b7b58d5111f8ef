//! Dotted paths into a CloudTrail record, and the one walker that follows them, used by the filter, the
//! columns, the unknown-field watch and the counts.
//!
//! The array rule: each step is an object key; an array met before the path ends is walked element by
//! element with the rest of the path (so `resources.ARN` reaches the ARN of every resource). The value at
//! the end is handed over as it is, arrays included; [`leaves`] flattens it for those who compare or
//! print single values. A null is a missing field.

use std::fmt;
use std::ops::ControlFlow;

use serde_json::{Map, Value};

/// A dotted path; each step is an object key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    pub segments: Vec<String>,
}

impl Path {
    pub fn new<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Path {
        Path { segments: segments.into_iter().map(Into::into).collect() }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            // Keywords are quoted so that the printed path reads back as a path.
            let keyword = ["and", "or", "not", "in", "exists", "contains", "true", "false", "null"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(segment));
            if !segment.is_empty() && !keyword && segment.chars().all(|c| c.is_alphanumeric() || c == '_') {
                f.write_str(segment)?;
            } else {
                write!(f, "{segment:?}")?;
            }
        }
        Ok(())
    }
}

/// Where one branch of a walk ended.
pub enum Reached<'v> {
    /// The end of the path: a value that is not null (an array is handed over whole).
    Value(&'v Value),
    /// An object that lacks the next key (or holds null there), after `depth` steps matched.
    Missing { object: &'v Map<String, Value>, depth: usize },
}

/// Follows `path` from `value` by the array rule, calling `visit` at the end of every branch until it
/// breaks. A branch that meets a scalar before its end reaches nothing.
pub fn walk<'v>(
    value: &'v Value,
    path: &[String],
    visit: &mut dyn FnMut(Reached<'v>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    step(value, path, 0, visit)
}

fn step<'v>(
    value: &'v Value,
    path: &[String],
    depth: usize,
    visit: &mut dyn FnMut(Reached<'v>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let Some(key) = path.get(depth) else {
        return if value.is_null() { ControlFlow::Continue(()) } else { visit(Reached::Value(value)) };
    };
    match value {
        Value::Array(items) => items.iter().try_for_each(|item| step(item, path, depth, visit)),
        Value::Object(map) => match map.get(key.as_str()) {
            Some(next) if !next.is_null() => step(next, path, depth + 1, visit),
            _ => visit(Reached::Missing { object: map, depth }),
        },
        _ => ControlFlow::Continue(()),
    }
}

/// The single values inside what a walk reached: an array's elements (nested arrays too), never null.
pub fn leaves<'v>(value: &'v Value, visit: &mut dyn FnMut(&'v Value) -> ControlFlow<()>) -> ControlFlow<()> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|item| leaves(item, visit)),
        Value::Null => ControlFlow::Continue(()),
        single => visit(single),
    }
}

/// Whether any single value the path reaches satisfies `test`.
pub fn any(record: &Value, path: &[String], test: &mut dyn FnMut(&Value) -> bool) -> bool {
    walk(record, path, &mut |reached| match reached {
        Reached::Value(value) => {
            leaves(value, &mut |v| if test(v) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
        }
        Reached::Missing { .. } => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Present and not null; an empty array or object counts as present.
pub fn exists(record: &Value, path: &[String]) -> bool {
    walk(record, path, &mut |reached| match reached {
        Reached::Value(_) => ControlFlow::Break(()),
        Reached::Missing { .. } => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Every single value the path reaches, in record order.
pub fn values<'v>(record: &'v Value, path: &[String]) -> Vec<&'v Value> {
    let mut found = Vec::new();
    let _ = walk(record, path, &mut |reached| {
        if let Reached::Value(value) = reached {
            let _ = leaves(value, &mut |v| {
                found.push(v);
                ControlFlow::Continue(())
            });
        }
        ControlFlow::Continue(())
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segments(path: &str) -> Vec<String> {
        path.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn arrays_on_the_way_and_at_the_end() {
        let record = json!({"resources": [{"ARN": "a"}, {"ARN": "b"}, {"type": "t"}], "tags": [["x", null], "y"],
                            "empty": [], "nothing": null});
        let texts = |path: &str| -> Vec<String> {
            values(&record, &segments(path)).into_iter().map(|v| v.as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(texts("resources.ARN"), ["a", "b"]);
        assert_eq!(texts("tags"), ["x", "y"]);
        assert!(exists(&record, &segments("empty")), "an empty array is present");
        assert!(!exists(&record, &segments("nothing")), "null is missing");
        assert!(!exists(&record, &segments("resources.ARN.deeper")));
        assert!(any(&record, &segments("resources.type"), &mut |v| v == "t"));
    }

    #[test]
    fn a_missing_key_says_where_the_walk_stopped() {
        let record = json!({"userIdentity": {"sessionContext": {"attributes": {}}}});
        let mut stops = Vec::new();
        let _ = walk(&record, &segments("userIdentity.sessionContext.sessionIssuer.userName"), &mut |reached| {
            if let Reached::Missing { object, depth } = reached {
                stops.push((depth, object.keys().cloned().collect::<Vec<_>>()));
            }
            ControlFlow::Continue(())
        });
        assert_eq!(stops, [(2, vec!["attributes".to_owned()])]);
    }

    #[test]
    fn keywords_and_odd_names_are_quoted() {
        assert_eq!(Path::new(["requestParameters", "in", "a-b"]).to_string(), "requestParameters.\"in\".\"a-b\"");
    }
}
