//! A byte-level test that rules records out before they are parsed: when every event the expression can
//! match must contain one of a few literals in its JSON text, a text that contains none of them (and no
//! JSON escape that could spell one) is skipped unparsed. It never rules out a record that could match.

use memchr::memmem::Finder;

use super::expr::{CompareOp, Expr, Literal, Member, Predicate, Target, Test};
use super::Attribute;

#[derive(Clone)]
pub struct Prefilter {
    /// A record may match only if its text contains at least one of these.
    alternatives: Vec<Finder<'static>>,
    /// Whether some literal has a `/`, which JSON may also write as `\/`.
    slash: bool,
}

/// `\u` can spell any character, so a text containing it is always parsed.
static UNICODE_ESCAPE: std::sync::LazyLock<Finder<'static>> = std::sync::LazyLock::new(|| Finder::new(b"\\u"));
static SLASH_ESCAPE: std::sync::LazyLock<Finder<'static>> = std::sync::LazyLock::new(|| Finder::new(b"\\/"));

/// What a text tested by the prefilter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A record whose envelope is derived from it (trail logs, JSON Lines of records).
    Record,
    /// A record whose envelope comes beside it (the API's CloudTrailEvent).
    LookupRecord,
    /// A whole saved lookup event: envelope fields, and the record inside as an escaped JSON string.
    SavedLookupEvent,
}

impl Prefilter {
    pub fn new(expr: &Expr, kind: TextKind) -> Option<Prefilter> {
        let literals = required(expr, kind)?;
        let slash = literals.iter().any(|l| l.contains('/'));
        let alternatives = literals.into_iter().map(|l| Finder::new(l.as_bytes()).into_owned()).collect();
        Some(Prefilter { alternatives, slash })
    }

    /// False only when the record cannot match.
    pub fn may_match(&self, text: &[u8]) -> bool {
        self.alternatives.iter().any(|f| f.find(text).is_some())
            || UNICODE_ESCAPE.find(text).is_some()
            || (self.slash && SLASH_ESCAPE.find(text).is_some())
    }

    #[cfg(test)]
    fn literals(&self) -> Vec<String> {
        self.alternatives.iter().map(|f| String::from_utf8_lossy(f.needle()).into_owned()).collect()
    }
}

/// The decode stage's prefilter (`crate::decode::Decoder::screen`), run where the texts are read (on the reading threads) so that a text
/// that cannot match is neither copied nor handed over. It rules out exactly what `Decoder::decode`
/// would have ruled out unparsed; a ruled-out text that names a watched field's key (for the end-of-run
/// "no event had the field" warning) is still handed on, the first one of each key of each input.
pub struct Screen {
    record: Option<Prefilter>,
    lookup: Option<Prefilter>,
    saved: Option<Prefilter>,
    /// Each watched key, as written in a record and inside a saved lookup event's string.
    keys: Vec<(Finder<'static>, Finder<'static>)>,
}

/// What one reading thread's screen has handed on so far, in one input.
#[derive(Default)]
pub struct Screened {
    /// The keys of [`Screen::keys`] a handed-on text named.
    named: Vec<bool>,
}

impl Screen {
    /// The prefilters of each [`TextKind`], in its order, and the watched keys.
    pub fn new(
        [record, lookup, saved]: [Option<Prefilter>; 3],
        keys: Vec<(Finder<'static>, Finder<'static>)>,
    ) -> Screen {
        Screen { record, lookup, saved, keys }
    }

    /// Whether `text` (of `kind`) must be handed to the decoder.
    pub fn pass(&self, text: &[u8], kind: TextKind, state: &mut Screened) -> bool {
        let prefilter = match kind {
            TextKind::Record => &self.record,
            TextKind::LookupRecord => &self.lookup,
            TextKind::SavedLookupEvent => &self.saved,
        };
        let Some(prefilter) = prefilter else { return true };
        if prefilter.may_match(text) {
            return true;
        }
        if state.named.len() < self.keys.len() {
            state.named.resize(self.keys.len(), false);
        }
        let escaped = kind == TextKind::SavedLookupEvent;
        let mut pass = false;
        for ((key, bare), named) in self.keys.iter().zip(&mut state.named) {
            if !*named && if escaped { bare } else { key }.find(text).is_some() {
                *named = true;
                pass = true;
            }
        }
        pass
    }
}

/// Literals one of which every matching record's text contains, or None when there is no such set.
fn required(expr: &Expr, kind: TextKind) -> Option<Vec<String>> {
    match expr {
        Expr::Pred(predicate) => predicate_literals(predicate, kind),
        // Any conjunct's set will do: take the one that rules out most, judged by its shortest literal.
        Expr::And(parts) => parts
            .iter()
            .filter_map(|p| required(p, kind))
            .max_by_key(|set| (set.iter().map(String::len).min().unwrap_or(0), std::cmp::Reverse(set.len()))),
        Expr::Or(parts) => {
            let mut all = Vec::new();
            for part in parts {
                all.extend(required(part, kind)?);
            }
            (!all.is_empty()).then_some(all)
        }
        Expr::Not(_) => None,
    }
}

fn predicate_literals(predicate: &Predicate, kind: TextKind) -> Option<Vec<String>> {
    if let Target::Envelope(attribute) = predicate.target {
        // Envelope values are in the text when it is derived from the record (copied from its string
        // fields) or saved beside it; ReadOnly compares without case.
        if kind == TextKind::LookupRecord || attribute == Attribute::ReadOnly {
            return None;
        }
    }
    let literals = match &predicate.test {
        Test::Exists => match &predicate.target {
            // Inside an escaped string the key's quotes are written `\"`.
            Target::Record(path) if kind == TextKind::SavedLookupEvent => vec![path.segments.last()?.clone()],
            Target::Record(path) => vec![format!("\"{}\"", path.segments.last()?)],
            Target::Envelope(_) => return None,
        },
        Test::Compare(CompareOp::Eq, literal) => vec![literal_text(literal)?],
        Test::Contains(needle) => vec![needle.clone()],
        Test::In(members) => members
            .iter()
            .map(|m| match m {
                Member::Value(literal) => literal_text(literal),
                Member::Network(_) | Member::Address(_) => None,
            })
            .collect::<Option<Vec<_>>>()?,
        Test::Compare(..) | Test::Regex { .. } => return None,
    };
    literals.iter().all(|l| plain(l)).then_some(literals)
}

/// The text a matching value must contain. Numbers can be written many ways (`2`, `2.0`, `2e0`).
fn literal_text(literal: &Literal) -> Option<String> {
    match literal {
        // A boolean field equals "TRUE" too, and is written `true`.
        Literal::String(s) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => None,
        Literal::String(s) if s.trim().parse::<f64>().is_err() => Some(s.clone()),
        Literal::String(_) | Literal::Number { .. } => None,
        Literal::Bool(b) => Some(b.to_string()),
    }
}

/// Non-empty and written as itself in JSON (no quote, backslash or control character needs escaping),
/// apart from the quotes an `exists` key literal is built with.
fn plain(literal: &str) -> bool {
    let inner = literal.strip_prefix('"').and_then(|l| l.strip_suffix('"')).unwrap_or(literal);
    !inner.is_empty() && !inner.chars().any(|c| c == '"' || c == '\\' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::expr::Path;

    fn pred(path: &str, test: Test) -> Expr {
        Expr::Pred(Predicate { target: Target::Record(Path::new(path.split('.'))), test })
    }

    fn eq(path: &str, value: &str) -> Expr {
        pred(path, Test::Compare(CompareOp::Eq, Literal::String(value.to_owned())))
    }

    #[test]
    fn literals_follow_the_logic() {
        let lits = |e: &Expr| Prefilter::new(e, TextKind::Record).map(|p| p.literals());
        assert_eq!(lits(&eq("errorCode", "AccessDenied")), Some(vec!["AccessDenied".to_owned()]));
        assert_eq!(lits(&pred("errorCode", Test::Exists)), Some(vec!["\"errorCode\"".to_owned()]));
        let and = Expr::and(vec![eq("eventSource", "ec2.amazonaws.com"), eq("errorCode", "AccessDenied")]);
        assert_eq!(lits(&and), Some(vec!["ec2.amazonaws.com".to_owned()]), "the longest literal rules out most");
        let or = Expr::or(vec![eq("eventName", "A1"), eq("eventName", "B2")]);
        assert_eq!(lits(&or), Some(vec!["A1".to_owned(), "B2".to_owned()]));
        let half = Expr::or(vec![eq("eventName", "A1"), Expr::Not(Box::new(eq("x", "y")))]);
        assert_eq!(lits(&half), None, "an OR needs a literal in every branch");
        assert_eq!(lits(&eq("requestParameters.maxCount", "2")), None, "numbers are written many ways");
        assert_eq!(lits(&eq("userAgent", "say \"hi\"")), None, "quotes are escaped in JSON");
        assert_eq!(lits(&Expr::always()), None);
    }

    #[test]
    fn escapes_are_never_ruled_out() {
        let p = Prefilter::new(&eq("errorCode", "AccessDenied"), TextKind::Record).unwrap();
        assert!(p.may_match(br#"{"errorCode":"AccessDenied"}"#));
        assert!(!p.may_match(br#"{"errorCode":"Throttling"}"#));
        assert!(p.may_match(br#"{"errorCode":"\u0041ccessDenied"}"#));
        let slash = Prefilter::new(&eq("userAgent", "aws-cli/2.15"), TextKind::Record).unwrap();
        assert!(slash.may_match(br#"{"userAgent":"aws-cli\/2.15"}"#));
        assert!(!slash.may_match(br#"{"userAgent":"Boto3"}"#));
    }

    #[test]
    fn envelope_literals_only_when_derived_from_the_record() {
        let user = Expr::Pred(Predicate {
            target: Target::Envelope(Attribute::Username),
            test: Test::Compare(CompareOp::Eq, Literal::String("alice".into())),
        });
        assert!(Prefilter::new(&user, TextKind::Record).is_some());
        assert!(Prefilter::new(&user, TextKind::SavedLookupEvent).is_some());
        assert!(Prefilter::new(&user, TextKind::LookupRecord).is_none());
    }

    #[test]
    fn saved_lookup_events_hold_the_record_escaped() {
        let exists = pred("errorCode", Test::Exists);
        let p = Prefilter::new(&exists, TextKind::SavedLookupEvent).unwrap();
        assert_eq!(p.literals(), ["errorCode"]);
        let saved = br#"{"EventId": "1", "CloudTrailEvent": "{"errorCode":"AccessDenied"}"}"#;
        assert!(p.may_match(saved));
        let p = Prefilter::new(&eq("errorCode", "AccessDenied"), TextKind::SavedLookupEvent).unwrap();
        assert!(p.may_match(saved));
        assert!(!p.may_match(br#"{"EventId": "1", "CloudTrailEvent": "{"eventName":"X"}"}"#));
    }

    #[test]
    fn the_screen_hands_on_what_may_match_and_the_first_text_naming_each_watched_key() {
        let record = Prefilter::new(&eq("errorCode", "AccessDenied"), TextKind::Record);
        let keys = vec![(Finder::new(b"\"errorCode\"").into_owned(), Finder::new(b"errorCode").into_owned())];
        let lookup = Prefilter::new(&eq("errorCode", "AccessDenied"), TextKind::LookupRecord);
        let screen = Screen::new([record, lookup, None], keys);
        let mut state = Screened::default();
        assert!(screen.pass(br#"{"errorCode":"AccessDenied"}"#, TextKind::Record, &mut state));
        assert!(!screen.pass(br#"{"eventName":"X"}"#, TextKind::Record, &mut state));
        assert!(screen.pass(br#"{"errorCode":"Other"}"#, TextKind::Record, &mut state), "the first naming the key");
        assert!(!screen.pass(br#"{"errorCode":"Other"}"#, TextKind::Record, &mut state));
        assert!(screen.pass(br#"{"EventId":"1"}"#, TextKind::SavedLookupEvent, &mut state), "no prefilter: all pass");
        assert!(!screen.pass(br#"{"errorCode":"Other"}"#, TextKind::LookupRecord, &mut state));
        assert!(screen.pass(br#"{"errorCode":"AccessDenied"}"#, TextKind::LookupRecord, &mut state));
    }
}
