//! The one "did you mean": the known names nearest to a misspelt one, for lookup attribute keys, field
//! paths, event names and sources, and service prefixes alike; and the hints for a lookup that matched
//! nothing because of a misspelt event name or source.

/// How alike (Jaro-Winkler, ignoring case) a known name must be to be suggested.
const THRESHOLD: f64 = 0.8;

/// Up to `most` known names nearest to `wanted`, best first: the same name in another case, then the
/// most alike (ties in name order). Empty when nothing is alike enough.
pub fn nearest<'a>(wanted: &str, known: impl IntoIterator<Item = &'a str>, most: usize) -> Vec<&'a str> {
    let wanted = wanted.trim().to_lowercase();
    let mut scored: Vec<(f64, &str)> = known
        .into_iter()
        .map(|name| {
            let lower = name.to_lowercase();
            let score = if lower == wanted { 2.0 } else { strsim::jaro_winkler(&wanted, &lower) };
            (score, name)
        })
        .filter(|(score, _)| *score >= THRESHOLD)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(most).map(|(_, name)| name).collect()
}

/// For a lookup that matched nothing: the event names and sources it asked for that the Service
/// Reference does not know (`known_sources`, and `actions` as (event source, action) pairs), each
/// with the nearest known names.
pub fn did_you_mean(
    names: &[String],
    sources: &[String],
    known_sources: &[String],
    actions: Vec<(String, String)>,
) -> Vec<String> {
    let mut hints = Vec::new();
    if !known_sources.is_empty() {
        for source in sources.iter().filter(|s| !known_sources.contains(s)) {
            hints.push(hint("event source", source, known_sources));
        }
    }
    if !actions.is_empty() {
        // Within the asked event sources when they are known, else across every cached service.
        let in_sources: Vec<String> =
            actions.iter().filter(|(s, _)| sources.contains(s)).map(|(_, a)| a.clone()).collect();
        let candidates = if in_sources.is_empty() { actions.into_iter().map(|(_, a)| a).collect() } else { in_sources };
        for name in names.iter().filter(|n| !candidates.contains(n)) {
            hints.push(hint("event name", name, &candidates));
        }
    }
    hints
}

fn hint(what: &str, wanted: &str, known: &[String]) -> String {
    match nearest(wanted, known.iter().map(String::as_str), 3).as_slice() {
        [] => format!("nothing matched: '{wanted}' is not an {what} in the AWS Service Reference"),
        names => format!(
            "nothing matched: '{wanted}' is not an {what} in the AWS Service Reference (did you mean {}?)",
            names.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_name_in_another_case_comes_first() {
        assert_eq!(nearest("errorcode", ["errorMessage", "errorCode"], 1), ["errorCode"]);
        assert_eq!(nearest("RunInstance", ["RunInstances", "StopInstances", "DescribeVpcs"], 3)[0], "RunInstances");
    }

    #[test]
    fn nothing_alike_suggests_nothing() {
        assert!(nearest("zzz", ["eventName", "eventSource"], 3).is_empty());
        assert_eq!(nearest("EventNam", ["EventName", "EventName"], 3), ["EventName"], "no duplicates");
    }
}
