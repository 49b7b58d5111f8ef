//! The one "did you mean": the known names nearest to a misspelt one, for lookup attribute keys, field
//! paths, event names and sources, and service prefixes alike.

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
