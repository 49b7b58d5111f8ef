//! The end-of-run warning for field paths that no event had: a typo must not silently match nothing.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use memchr::memmem::Finder;
use serde_json::Value;

use super::expr::{Expr, Path, Target};
use super::TextKind;
use crate::path::{self, Reached};
use crate::suggest;

/// Misses whose neighbouring keys are collected for suggestions; enough to see every usual field.
const SAMPLES: usize = 500;

pub struct FieldWatch {
    pending: Vec<Watched>,
    examined: u64,
}

struct Watched {
    path: Path,
    /// `"lastKey"`: a text without it cannot have the field, so skipped texts need not be parsed to tell.
    key: Finder<'static>,
    /// `lastKey`, for records held inside an escaped string (saved lookup events).
    bare_key: Finder<'static>,
    /// Real paths beside the point where the walk failed, for "did you mean".
    neighbours: BTreeSet<String>,
    samples: usize,
}

impl FieldWatch {
    /// Watches the record paths of `expr`, and `also` (the `--columns` asked for).
    pub fn new(expr: &Expr, also: &[Path]) -> FieldWatch {
        let mut paths = record_paths(expr);
        for path in also {
            if !paths.contains(path) {
                paths.push(path.clone());
            }
        }
        let pending = paths
            .into_iter()
            .filter_map(|path| {
                let last = path.segments.last()?;
                let key = Finder::new(format!("\"{last}\"").as_bytes()).into_owned();
                let bare_key = Finder::new(last.as_bytes()).into_owned();
                Some(Watched { path, key, bare_key, neighbours: BTreeSet::new(), samples: 0 })
            })
            .collect();
        FieldWatch { pending, examined: 0 }
    }

    /// A parsed record: paths it has are no longer in question.
    pub fn observe(&mut self, record: &Value) {
        self.examined += 1;
        if self.pending.is_empty() {
            return;
        }
        self.pending.retain_mut(|w| {
            let segments = &w.path.segments;
            let mut neighbours = Vec::new();
            // A field that is there but null was seen all the same: the name is right.
            let seen = path::walk(record, segments, &mut |reached| match reached {
                Reached::Value(_) => ControlFlow::Break(()),
                Reached::Missing { object, depth }
                    if depth + 1 == segments.len() && object.contains_key(&segments[depth]) =>
                {
                    ControlFlow::Break(())
                }
                Reached::Missing { object, depth } => {
                    neighbours.extend(
                        object
                            .keys()
                            .map(|k| Path::new(segments[..depth].iter().cloned().chain([k.clone()])).to_string()),
                    );
                    ControlFlow::Continue(())
                }
            })
            .is_break();
            if seen {
                return false;
            }
            if w.samples < SAMPLES {
                w.samples += 1;
                w.neighbours.extend(neighbours);
            }
            true
        });
    }

    /// A record skipped unparsed: if its text names the field's key, the field may well be there.
    pub fn observe_unparsed(&mut self, text: &[u8], kind: TextKind) {
        self.examined += 1;
        let escaped = kind == TextKind::SavedLookupEvent;
        self.pending.retain(|w| if escaped { &w.bare_key } else { &w.key }.find(text).is_none());
    }

    /// The keys of the paths still in question, as [`FieldWatch::observe_unparsed`] looks for them in
    /// a record's text (`"lastKey"`) and in a saved lookup event's (`lastKey`): a text ruled out before
    /// it reaches this watch must still be handed on when it names one of them.
    pub fn keys(&self) -> Vec<(Finder<'static>, Finder<'static>)> {
        self.pending.iter().map(|w| (w.key.clone(), w.bare_key.clone())).collect()
    }

    /// Whether every watched path has been seen: then nothing more is learnt from the records.
    pub fn settled(&self) -> bool {
        self.pending.is_empty()
    }

    /// `count` records ruled out unparsed before they reached this watch, none of them naming a key of
    /// [`FieldWatch::keys`] that was not handed on to [`FieldWatch::observe_unparsed`].
    pub fn observe_skipped(&mut self, count: u64) {
        self.examined += count;
    }

    /// One warning per path no examined event had, with the nearest real path.
    pub fn warnings(&self) -> Vec<String> {
        if self.examined == 0 {
            return Vec::new();
        }
        self.pending
            .iter()
            .map(|w| {
                let wanted = w.path.to_string();
                let hint = nearest(&wanted, &w.neighbours).map(|n| format!(" (did you mean {n}?)")).unwrap_or_default();
                format!("no event examined ({}) had the field {wanted}{hint}", self.examined)
            })
            .collect()
    }
}

/// The record paths of the expression, each once, in order: what the watch watches, and what the
/// decode stage parses when only the filter reads records.
pub fn record_paths(expr: &Expr) -> Vec<Path> {
    let mut paths = Vec::new();
    collect(expr, &mut paths);
    paths
}

fn collect(expr: &Expr, paths: &mut Vec<Path>) {
    match expr {
        Expr::And(parts) | Expr::Or(parts) => parts.iter().for_each(|p| collect(p, paths)),
        Expr::Not(inner) => collect(inner, paths),
        Expr::Pred(predicate) => {
            if let Target::Record(path) = &predicate.target {
                if !paths.contains(path) {
                    paths.push(path.clone());
                }
            }
        }
    }
}

/// The same name in another case, or the most alike.
fn nearest(wanted: &str, candidates: &BTreeSet<String>) -> Option<String> {
    suggest::nearest(wanted, candidates.iter().map(String::as_str), 1).first().map(|s| (*s).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::expr::{Predicate, Test};
    use serde_json::json;

    fn exists_expr(path: &str) -> Expr {
        Expr::Pred(Predicate { target: Target::Record(Path::new(path.split('.'))), test: Test::Exists })
    }

    #[test]
    fn suggests_the_real_name() {
        let expr = Expr::and(vec![
            exists_expr("errorcode"),
            exists_expr("userIdentity.sessionContext.sessionIssuer.usrName"),
            exists_expr("eventName"),
        ]);
        let mut watch = FieldWatch::new(&expr, &[]);
        let issuer = json!({"type": "Role", "userName": "AdminRole"});
        watch.observe(
            &json!({"eventName": "A", "errorCode": "X", "userIdentity": {"sessionContext": {"sessionIssuer": issuer}}}),
        );
        watch.observe(&json!({"eventName": "B"}));
        assert_eq!(
            watch.warnings(),
            [
                "no event examined (2) had the field errorcode (did you mean errorCode?)",
                "no event examined (2) had the field userIdentity.sessionContext.sessionIssuer.usrName \
                 (did you mean userIdentity.sessionContext.sessionIssuer.userName?)",
            ]
        );
    }

    #[test]
    fn a_skipped_text_naming_the_key_clears_it() {
        let mut watch = FieldWatch::new(&exists_expr("errorCode"), &[]);
        watch.observe(&json!({"eventName": "A"}));
        watch.observe_unparsed(br#"{"errorCode":"X"}"#, TextKind::Record);
        assert!(watch.warnings().is_empty());
    }
}
