//! The newest-first merge of event streams, for every source that merges (API lookups, stored
//! pages): which stream's head goes next, and each event once. Streams are newest first, so a
//! duplicate can only come at the same time as the event it repeats.

use std::collections::HashSet;

/// The stream whose head is newest, from `(stream, head time)` pairs; the first on a tie, which keeps
/// one stream's order across its page boundaries.
pub fn newest<T: PartialOrd>(heads: impl IntoIterator<Item = (usize, T)>) -> Option<usize> {
    heads
        .into_iter()
        .fold(None, |best: Option<(usize, T)>, (i, t)| match best {
            Some((_, ref bt)) if *bt >= t => best,
            _ => Some((i, t)),
        })
        .map(|(i, _)| i)
}

/// The IDs handed out at the newest time seen.
#[derive(Debug)]
pub struct Seen<T> {
    pub time: Option<T>,
    pub ids: HashSet<String>,
}

impl<T> Default for Seen<T> {
    fn default() -> Self {
        Seen { time: None, ids: HashSet::new() }
    }
}

impl<T: PartialEq> Seen<T> {
    /// Records the event; false if it was handed out already.
    pub fn first(&mut self, time: T, id: &str) -> bool {
        if self.time.as_ref() != Some(&time) {
            self.time = Some(time);
            // Most seconds hold one event: its ID's memory is used again for the next one.
            if self.ids.len() == 1 {
                let mut kept = self.ids.drain().next().expect("one ID");
                kept.clear();
                kept.push_str(id);
                self.ids.insert(kept);
                return true;
            }
            self.ids.clear();
        }
        self.ids.insert(id.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_head_goes_first_and_the_first_stream_on_a_tie() {
        assert_eq!(newest([(0, 5), (1, 7), (2, 7)]), Some(1));
        assert_eq!(newest([(3, Some(1)), (4, None)]), Some(3));
        assert_eq!(newest(Vec::<(usize, i64)>::new()), None);
    }

    #[test]
    fn an_event_is_handed_out_once_per_second() {
        let mut seen = Seen::default();
        assert!(seen.first(10, "a"));
        assert!(!seen.first(10, "a"));
        assert!(seen.first(10, "b"));
        assert!(seen.first(9, "a"), "another second: the same ID is another event's");
    }
}
