//! Gray routing: a compact whitelist of user ids, a sticky percent bucket,
//! and header matches.
//!
//! The whitelist is two sorted `Vec<u64>`s searched by binary search:
//! decimal ids (the common case: numeric user ids) are stored exactly, any
//! other id as a 64-bit hash. That is 8 bytes per id (a million ids = 8 MB,
//! ~20 comparisons per lookup) for sparse 64-bit ids of any shape, with no
//! dependency; a roaring bitmap would be smaller only for dense ids below
//! 2³², which user ids often are not. Hashed ids can collide: with a million
//! hashed ids the chance that a given other id is taken for one of them is
//! about 5 · 10⁻¹⁴. A whitelist of millions of ids does not belong in a
//! rules document: the control plane distributes it as a versioned
//! [`Whitelist`] (see `whitelist.rs`) that the guard installs beside the
//! rule and consults after the inline one.

use std::sync::Arc;

use crate::rules::{GrayIsolation, GrayRule};
use crate::whitelist::{Whitelist, numeric, sticky_hash};

/// The bucket (0–9,999) of a user id: the user is in a `p`% gray if
/// `bucket < p × 100`.
#[inline]
pub fn gray_bucket(user_id: &str) -> u64 {
    sticky_hash(user_id.as_bytes()) % 10_000
}

/// A set of user ids.
#[derive(Debug, Default, Clone)]
pub(crate) struct IdSet {
    numbers: Vec<u64>,
    hashes: Vec<u64>,
}

impl IdSet {
    pub(crate) fn new<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = Self::default();
        for id in ids {
            match numeric(id) {
                Some(n) => set.numbers.push(n),
                None => set.hashes.push(sticky_hash(id.as_bytes())),
            }
        }
        set.numbers.sort_unstable();
        set.numbers.dedup();
        set.hashes.sort_unstable();
        set.hashes.dedup();
        set
    }

    #[inline]
    pub(crate) fn contains(&self, id: &str) -> bool {
        match numeric(id) {
            Some(n) => self.numbers.binary_search(&n).is_ok(),
            None => self
                .hashes
                .binary_search(&sticky_hash(id.as_bytes()))
                .is_ok(),
        }
    }
}

/// Why a request was sent to the gray upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrayReason {
    /// Its user id is on the whitelist.
    Whitelist,
    /// Its user id falls in the percent bucket.
    Percent,
    /// A header matched.
    Header,
}

/// A compiled gray rule.
#[derive(Debug)]
pub(crate) struct Gray {
    pub(crate) id: Arc<str>,
    pub(crate) user_header: String,
    whitelist: IdSet,
    /// The service's distributed whitelist (control plane), if any.
    external: Option<Arc<Whitelist>>,
    /// Gray requests are shadow traffic (`isolation: shadow`).
    pub(crate) shadow: bool,
    /// Buckets below this are gray (percent × 100).
    below: u64,
    /// Lower-cased header names with their values.
    headers: Vec<(String, String)>,
}

impl Gray {
    pub(crate) fn new(rule: &GrayRule, external: Option<Arc<Whitelist>>) -> Self {
        Self {
            id: Arc::from(rule.id.as_str()),
            user_header: rule.user_header.to_ascii_lowercase(),
            whitelist: IdSet::new(rule.whitelist.iter().map(String::as_str)),
            external,
            shadow: rule.isolation == GrayIsolation::Shadow,
            below: (rule.percent.clamp(0.0, 100.0) * 100.0).round() as u64,
            headers: rule
                .headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), h.value.clone()))
                .collect(),
        }
    }

    /// Whether the request goes to gray, and why.
    #[inline]
    pub(crate) fn decide<'h>(
        &self,
        user: Option<&str>,
        header: impl Fn(&str) -> Option<&'h str>,
    ) -> Option<GrayReason> {
        if let Some(u) = user.filter(|u| !u.is_empty()) {
            if self.whitelist.contains(u) || self.external.as_ref().is_some_and(|w| w.contains(u)) {
                return Some(GrayReason::Whitelist);
            }
            if self.below > 0 && gray_bucket(u) < self.below {
                return Some(GrayReason::Percent);
            }
        }
        self.headers
            .iter()
            .any(|(n, v)| header(n) == Some(v.as_str()))
            .then_some(GrayReason::Header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitelist_holds_numbers_exactly_and_strings_by_hash() {
        let set = IdSet::new(["42", "7", "alice", "007", "18446744073709551615"]);
        assert!(set.contains("42"));
        assert!(set.contains("7"));
        assert!(set.contains("007"));
        assert!(set.contains("alice"));
        assert!(set.contains("18446744073709551615"));
        assert!(!set.contains("43"));
        assert!(!set.contains("bob"));
        assert!(!set.contains(""));
        assert!(!set.contains("-7"));
        // Too large for u64: stored and looked up by hash.
        let big = IdSet::new(["99999999999999999999"]);
        assert!(big.contains("99999999999999999999"));
    }

    #[test]
    fn hash_is_stable() {
        // Pinned (computed independently): a user's bucket must never move
        // between versions.
        assert_eq!(sticky_hash(b""), 0xf52a_15e9_a9b5_e89b);
        assert_eq!(gray_bucket("10001"), 4205);
        assert_eq!(gray_bucket("alice"), 572);
    }
}
