//! Coverage arithmetic: which whole seconds of a window the store has proved it holds every event
//! of, and which parts are left for the API. Spans are inclusive ranges of epoch seconds (Event
//! history times are whole seconds).

/// Every second from `lo` to `hi`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub lo: i64,
    pub hi: i64,
}

impl Span {
    /// None when empty (`lo > hi`).
    pub fn new(lo: i64, hi: i64) -> Option<Span> {
        (lo <= hi).then_some(Span { lo, hi })
    }

    #[cfg(test)]
    pub fn contains(self, t: i64) -> bool {
        self.lo <= t && t <= self.hi
    }
}

/// A part of a window, newest first in [`split`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Covered: the store answers it.
    Stored(Span),
    /// Not covered: the API answers it.
    Missing(Span),
}

impl Part {
    pub fn span(self) -> Span {
        match self {
            Part::Stored(s) | Part::Missing(s) => s,
        }
    }
}

/// The spans merged: sorted oldest first, overlapping or touching spans joined.
pub fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort();
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.lo <= last.hi.saturating_add(1) => last.hi = last.hi.max(span.hi),
            _ => merged.push(span),
        }
    }
    merged
}

/// The window cut into stored and missing parts, newest first (the order pages come in).
pub fn split(window: Span, covered: &[Span]) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut next = window.hi;
    for span in union(covered.to_vec()).iter().rev() {
        if span.lo > next || span.hi < window.lo {
            continue;
        }
        let hi = span.hi.min(next);
        if hi < next {
            parts.push(Part::Missing(Span { lo: hi + 1, hi: next }));
        }
        let lo = span.lo.max(window.lo);
        parts.push(Part::Stored(Span { lo, hi }));
        if lo == window.lo {
            return parts;
        }
        next = lo - 1;
    }
    parts.push(Part::Missing(Span { lo: window.lo, hi: next }));
    parts
}

/// What the parts leave out of `spans` (the window's missing parts), for messages.
pub fn missing(parts: &[Part]) -> Vec<Span> {
    parts.iter().filter_map(|p| if let Part::Missing(s) = p { Some(*s) } else { None }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(lo: i64, hi: i64) -> Span {
        Span { lo, hi }
    }

    #[test]
    fn union_joins_overlapping_and_touching() {
        assert_eq!(union(vec![s(5, 9), s(0, 2), s(3, 4), s(20, 30), s(25, 26)]), vec![s(0, 9), s(20, 30)]);
    }

    #[test]
    fn split_newest_first() {
        let parts = split(s(0, 100), &[s(10, 20), s(50, 200)]);
        assert_eq!(
            parts,
            vec![Part::Stored(s(50, 100)), Part::Missing(s(21, 49)), Part::Stored(s(10, 20)), Part::Missing(s(0, 9))]
        );
        assert_eq!(split(s(0, 10), &[]), vec![Part::Missing(s(0, 10))]);
        assert_eq!(split(s(0, 10), &[s(-5, 50)]), vec![Part::Stored(s(0, 10))]);
        assert_eq!(split(s(0, 10), &[s(20, 30)]), vec![Part::Missing(s(0, 10))]);
    }

    proptest! {
        /// The parts tile the window exactly, newest first, and a second is stored exactly when some
        /// coverage holds it.
        #[test]
        fn split_tiles_the_window(lo in -50i64..50, len in 0i64..100, covered in proptest::collection::vec((-80i64..150, 0i64..40), 0..6)) {
            let window = s(lo, lo + len);
            let covered: Vec<Span> = covered.into_iter().map(|(a, l)| s(a, a + l)).collect();
            let parts = split(window, &covered);
            let mut expect = window.hi;
            for part in &parts {
                prop_assert_eq!(part.span().hi, expect);
                expect = part.span().lo - 1;
            }
            prop_assert_eq!(expect, window.lo - 1);
            for part in &parts {
                for t in part.span().lo..=part.span().hi {
                    let held = covered.iter().any(|c| c.contains(t));
                    prop_assert_eq!(held, matches!(part, Part::Stored(_)));
                }
            }
            for pair in parts.windows(2) {
                prop_assert!(std::mem::discriminant(&pair[0]) != std::mem::discriminant(&pair[1]));
            }
        }
    }
}
