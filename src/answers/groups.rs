//! [`Groups`]: events counted per key (a list of field values), with the oldest and newest event time of
//! each group, in memory that grows with the number of groups only; sorted largest first at the end.

use std::collections::HashMap;
use std::hash::Hash;

use crate::time::Stamp;

/// One group: how many events it counted, the oldest and newest of their times, and whatever else the
/// caller keeps per group (`data`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group<T = ()> {
    pub count: u64,
    pub first: Option<Stamp>,
    pub last: Option<Stamp>,
    pub data: T,
}

/// Counts per key. A key is a list of values (one per field grouped by); `T` is extra per-group data,
/// `()` when only the count and times are wanted.
#[derive(Debug, Clone)]
pub struct Groups<K, T = ()> {
    map: HashMap<Vec<K>, Group<T>>,
}

impl<K: Hash + Eq + Ord + Clone, T: Default> Groups<K, T> {
    pub fn new() -> Self {
        Groups { map: HashMap::new() }
    }

    /// Counts one event under `key`, at `time` (None: an event without a readable time, which counts
    /// but moves neither `first` nor `last`). Returns the group, for its `data`.
    pub fn add(&mut self, key: &[K], time: Option<Stamp>) -> &mut Group<T> {
        if !self.map.contains_key(key) {
            self.map.insert(key.to_vec(), Group::default());
        }
        let group = self.map.get_mut(key).expect("inserted above");
        group.count += 1;
        if let Some(t) = time {
            group.first = Some(group.first.map_or(t, |f| f.min(t)));
            group.last = Some(group.last.map_or(t, |l| l.max(t)));
        }
        group
    }

    /// Adds a group counted elsewhere under `key`: counts add up, times widen; an existing group keeps
    /// its `data`. Returns the group.
    pub fn merge(&mut self, key: &[K], other: Group<T>) -> &mut Group<T> {
        if !self.map.contains_key(key) {
            return self.map.entry(key.to_vec()).or_insert(other);
        }
        let group = self.map.get_mut(key).expect("present");
        group.count += other.count;
        group.first = match (group.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        group.last = match (group.last, other.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        group
    }

    /// How many groups there are.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Every group, the largest count first; groups of equal count in the order of their keys.
    pub fn sorted(self) -> Vec<(Vec<K>, Group<T>)> {
        let mut groups: Vec<(Vec<K>, Group<T>)> = self.map.into_iter().collect();
        groups.sort_unstable_by(|(ka, a), (kb, b)| b.count.cmp(&a.count).then_with(|| ka.cmp(kb)));
        groups
    }
}

impl<K: Hash + Eq + Ord + Clone, T: Default> Default for Groups<K, T> {
    fn default() -> Self {
        Groups::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Option<Stamp> {
        Some(Stamp::seconds(s.parse().unwrap()))
    }

    #[test]
    fn counts_first_last_and_order() {
        let mut groups: Groups<&str> = Groups::new();
        groups.add(&["b"], at("2024-07-22T10:00:00Z"));
        groups.add(&["a"], at("2024-07-22T09:00:00Z"));
        groups.add(&["b"], at("2024-07-22T08:00:00Z"));
        groups.add(&["b"], None);
        groups.add(&["c"], None);
        groups.add(&["a"], at("2024-07-22T11:00:00Z"));
        assert_eq!(groups.len(), 3);
        let sorted = groups.sorted();
        let keys: Vec<(&str, u64)> = sorted.iter().map(|(k, g)| (k[0], g.count)).collect();
        assert_eq!(keys, [("b", 3), ("a", 2), ("c", 1)], "largest first, ties by key");
        assert_eq!((sorted[0].1.first, sorted[0].1.last), (at("2024-07-22T08:00:00Z"), at("2024-07-22T10:00:00Z")));
        assert_eq!((sorted[1].1.first, sorted[1].1.last), (at("2024-07-22T09:00:00Z"), at("2024-07-22T11:00:00Z")));
        assert_eq!((sorted[2].1.first, sorted[2].1.last), (None, None));
    }

    #[test]
    fn keys_of_several_values_and_data() {
        let mut groups: Groups<String, Vec<u32>> = Groups::new();
        let key = |a: &str, b: &str| vec![a.to_owned(), b.to_owned()];
        groups.add(&key("alice", "AccessDenied"), None).data.push(1);
        groups.add(&key("alice", "Throttling"), None).data.push(2);
        groups.add(&key("alice", "AccessDenied"), None).data.push(3);
        let sorted = groups.sorted();
        assert_eq!(sorted[0].0, key("alice", "AccessDenied"));
        assert_eq!(sorted[0].1.data, [1, 3]);
        assert_eq!(sorted[1].1.count, 1);
    }
}
