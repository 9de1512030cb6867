//! Metric handles found by borrowed label values, so a span's observations allocate nothing.
//!
//! Recording a counter through prometheus-client's `Family` takes an owned label set: every
//! observation built its label `String`s (after the cardinality guard copied each value once
//! more), hashed them and dropped them again. That was most of the agent metrics' cost per span.
//! A [`SeriesCache`] maps the label values, as borrowed from the span, to the handles the family
//! returned for them (a `Counter` or `Histogram` shares its value with the family's series).
//!
//! Invariants:
//! - A handle is cached only when every label value of its set was admitted by the cardinality
//!   guard as itself. A value replaced by `__other__` takes the slow path on every observation,
//!   so its overflow is still counted once per observation.
//! - Admitted sets only grow, so a cached entry stays right for the life of the process: a hit
//!   records exactly what the slow path would have recorded.
//! - Keys are the values as the guard keeps them (cut to [`truncate`]'s length), so the cache
//!   holds at most one entry per series of the family behind it and is bounded by the guard's
//!   caps, whatever clients send.

use std::hash::{Hash, Hasher};

use hashbrown::{Equivalent, HashMap};
use parking_lot::RwLock;

use crate::guard::truncate;

/// Handles of one family (or of a few families recorded together), by label values.
#[derive(Debug)]
pub(crate) struct SeriesCache<const N: usize, H> {
    map: RwLock<HashMap<[Box<str>; N], H, foldhash::fast::RandomState>>,
}

impl<const N: usize, H> Default for SeriesCache<N, H> {
    fn default() -> Self {
        Self {
            map: RwLock::default(),
        }
    }
}

/// Label values borrowed from a span; hashes exactly as the owned key does (an array hashes
/// its length and then each element, and `Box<str>` hashes as `str`).
struct Borrowed<'a, const N: usize>([&'a str; N]);

impl<const N: usize> Hash for Borrowed<'_, N> {
    fn hash<S: Hasher>(&self, state: &mut S) {
        self.0.hash(state);
    }
}

impl<const N: usize> Equivalent<[Box<str>; N]> for Borrowed<'_, N> {
    fn equivalent(&self, key: &[Box<str>; N]) -> bool {
        self.0.iter().zip(key).all(|(a, b)| *a == &**b)
    }
}

impl<const N: usize, H> SeriesCache<N, H> {
    /// Records through the handles cached for `labels`; on a miss, `resolve` admits the values
    /// and returns the handles and whether every value was admitted as itself (then they are
    /// cached).
    pub(crate) fn record(
        &self,
        labels: [&str; N],
        resolve: impl FnOnce() -> (H, bool),
        record: impl FnOnce(&H),
    ) {
        let labels = labels.map(truncate);
        if let Some(handles) = self.map.read().get(&Borrowed(labels)) {
            record(handles);
            return;
        }
        let (handles, admitted) = resolve();
        record(&handles);
        if admitted {
            self.map.write().insert(labels.map(Box::from), handles);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn borrowed_and_owned_keys_hash_alike() {
        let state = foldhash::fast::RandomState::default();
        use std::hash::BuildHasher;
        let owned: [Box<str>; 3] = ["a".into(), "bc".into(), String::new().into()];
        let borrowed = Borrowed(["a", "bc", ""]);
        assert_eq!(state.hash_one(&owned), state.hash_one(&borrowed));
        // The end marker each string hashes with keeps ("ab", "c") apart from ("a", "bc").
        assert_ne!(
            state.hash_one(Borrowed(["ab", "c"])),
            state.hash_one(Borrowed(["a", "bc"]))
        );
        assert!(!Borrowed(["ab", "c"]).equivalent(&["a".into(), "bc".into()]));
    }

    #[test]
    fn resolves_once_when_admitted_and_every_time_when_not() {
        let cache = SeriesCache::<2, u32>::default();
        let resolved = Cell::new(0);
        let recorded = Cell::new(0);
        let observe = |labels: [&str; 2], admitted: bool| {
            cache.record(
                labels,
                || {
                    resolved.set(resolved.get() + 1);
                    (7, admitted)
                },
                |h| recorded.set(recorded.get() + h),
            );
        };
        observe(["agent", "tool"], true);
        observe(["agent", "tool"], true);
        assert_eq!((resolved.get(), recorded.get(), cache.len()), (1, 14, 1));
        observe(["agent", "other"], false);
        observe(["agent", "other"], false);
        assert_eq!((resolved.get(), recorded.get(), cache.len()), (3, 28, 1));
    }

    #[test]
    fn long_values_share_the_entry_of_their_kept_prefix() {
        let cache = SeriesCache::<1, ()>::default();
        let long = "x".repeat(crate::guard::MAX_LABEL_VALUE_BYTES);
        for suffix in ["a", "b", "c"] {
            cache.record([&format!("{long}{suffix}")], || ((), true), |()| {});
        }
        assert_eq!(cache.len(), 1);
    }
}
