//! Whitelists at the size of a real one: millions of user ids, looked up on
//! every gray-routed request, distributed by the control plane as numbered
//! versions and swapped into a running guard.
//!
//! Why this shape: an id becomes one 64-bit key — a decimal id through the
//! splitmix64 finaliser, a bijection, so numeric ids never collide with each
//! other; any other id through [`sticky_hash`] — and the keys are kept
//! sorted in one `Vec<u64>` (8 bytes an id: 2 million ids are 16 MB) with a
//! bucket index over their top bits (4 bytes per 8 ids). Keys are uniform,
//! so a bucket holds about 8: a lookup reads one index entry and one or two
//! cache lines of keys instead of the ~21 scattered reads of a plain binary
//! search over 16 MB. A sorted set is also what makes versions cheap to
//! ship: the difference between two versions is two sorted lists (added,
//! removed), merged in one pass ([`Whitelist::apply`]).
//!
//! A non-decimal id can share its key with another id: with `n` hashed ids
//! the chance that one given id outside the list is taken for a listed one
//! is `n / 2⁶⁴` (2 million ids: about 1 in 9 · 10¹²).

/// 64-bit FNV-1a of `bytes`, then the splitmix64 finaliser (so sequential
/// ids spread evenly). Stable across versions: the percent bucket of a user
/// must not move when Seawall is upgraded.
#[inline]
pub fn sticky_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// A decimal id without sign or leading `+`, as a number.
#[inline]
pub(crate) fn numeric(id: &str) -> Option<u64> {
    if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// Largest whitelist Seawall keeps (ids); an upload or a file beyond it is
/// refused. 2 million ids need 17 MB; this bound keeps a set under 90 MB.
pub const MAX_IDS: usize = 10_000_000;

/// Longest id (bytes) a whitelist file or upload may hold.
pub const MAX_ID_LEN: usize = 256;

/// Expected keys per bucket of the index.
const PER_BUCKET: usize = 8;

/// Magic of the wire format, version 1.
const MAGIC: &[u8; 4] = b"SWL1";

/// The splitmix64 finaliser: a bijection on `u64` that spreads sequential
/// numbers over the whole range.
#[inline]
fn mix(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The key of a user id in a [`Whitelist`]: a decimal id (up to
/// `u64::MAX`) exactly, through a bijection; any other id by its 64-bit
/// hash. Stable across versions (keys travel between the control plane and
/// sidecars of different versions).
#[inline]
pub fn key_of(id: &str) -> u64 {
    match numeric(id) {
        Some(n) => mix(n),
        None => sticky_hash(id.as_bytes()),
    }
}

/// A versioned, compact set of user ids (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Whitelist {
    version: u64,
    /// Sorted, distinct.
    keys: Vec<u64>,
    /// `index[b]..index[b + 1]`: the keys whose top `bits` bits are `b`.
    index: Vec<u32>,
    bits: u32,
}

impl Whitelist {
    /// The set of `ids` as version `version`.
    pub fn from_ids<'a>(version: u64, ids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut keys: Vec<u64> = ids.into_iter().map(key_of).collect();
        keys.sort_unstable();
        keys.dedup();
        Self::from_sorted(version, keys)
    }

    /// The set of `keys` (sorted and deduplicated here if they are not).
    pub fn from_keys(version: u64, mut keys: Vec<u64>) -> Self {
        if !keys.is_sorted_by(|a, b| a < b) {
            keys.sort_unstable();
            keys.dedup();
        }
        Self::from_sorted(version, keys)
    }

    fn from_sorted(version: u64, mut keys: Vec<u64>) -> Self {
        keys.shrink_to_fit();
        let bits = (keys.len() / PER_BUCKET).max(1).ilog2().min(32);
        let buckets = 1usize << bits;
        let mut index = Vec::with_capacity(buckets + 1);
        let mut at = 0usize;
        for b in 0..buckets as u64 {
            while at < keys.len() && bucket(keys[at], bits) < b {
                at += 1;
            }
            index.push(u32::try_from(at).unwrap_or(u32::MAX));
        }
        index.push(u32::try_from(keys.len()).unwrap_or(u32::MAX));
        Self {
            version,
            keys,
            index,
            bits,
        }
    }

    /// The version (numbered by the control plane; 0 for a local set).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The sorted keys.
    pub fn keys(&self) -> &[u64] {
        &self.keys
    }

    /// Heap bytes the set holds (keys and index).
    pub fn heap_bytes(&self) -> usize {
        self.keys.capacity() * 8 + self.index.capacity() * 4
    }

    /// Whether `id` is in the set.
    #[inline]
    pub fn contains(&self, id: &str) -> bool {
        self.contains_key(key_of(id))
    }

    /// Whether the key `key` is in the set.
    #[inline]
    pub fn contains_key(&self, key: u64) -> bool {
        let b = bucket(key, self.bits) as usize;
        let (Some(&lo), Some(&hi)) = (self.index.get(b), self.index.get(b + 1)) else {
            return false;
        };
        // A run holds a handful of keys: a straight scan (no unpredictable
        // branches, vectorised) beats a binary search.
        self.keys
            .get(lo as usize..hi as usize)
            .is_some_and(|run| run.contains(&key))
    }

    /// The change from `old` to `self`, to ship instead of the whole set.
    pub fn delta_from(&self, old: &Whitelist) -> Delta {
        let (mut added, mut removed) = (Vec::new(), Vec::new());
        let (a, b) = (&old.keys, &self.keys);
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x == y => {
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x < y => {
                    removed.push(*x);
                    i += 1;
                }
                (Some(x), None) => {
                    removed.push(*x);
                    i += 1;
                }
                (_, Some(y)) => {
                    added.push(*y);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        Delta {
            base: old.version,
            version: self.version,
            count: self.keys.len() as u64,
            added,
            removed,
        }
    }

    /// The whole set as a delta from nothing.
    pub fn full(&self) -> Delta {
        Delta {
            base: 0,
            version: self.version,
            count: self.keys.len() as u64,
            added: self.keys.clone(),
            removed: Vec::new(),
        }
    }

    /// The set `delta` leads to from `self` (`delta.base` must be this
    /// set's version, or 0 for a whole set).
    pub fn apply(&self, delta: &Delta) -> Result<Whitelist, WhitelistError> {
        if delta.base == 0 {
            return Whitelist::checked(delta.version, delta.added.clone(), delta.count);
        }
        if delta.base != self.version {
            return Err(WhitelistError::Base {
                base: delta.base,
                have: self.version,
            });
        }
        let mut keys = Vec::with_capacity(self.keys.len() + delta.added.len());
        let (mut removed, mut added) = (delta.removed.iter().peekable(), delta.added.iter());
        let mut next_added = added.next();
        for &k in &self.keys {
            while removed.next_if(|r| **r < k).is_some() {}
            while let Some(&a) = next_added.filter(|a| **a < k) {
                keys.push(a);
                next_added = added.next();
            }
            if removed.next_if(|r| **r == k).is_none() {
                keys.push(k);
            }
        }
        while let Some(&a) = next_added {
            keys.push(a);
            next_added = added.next();
        }
        Whitelist::checked(delta.version, keys, delta.count)
    }

    /// A set from keys that must be sorted, distinct and `count` many.
    fn checked(version: u64, keys: Vec<u64>, count: u64) -> Result<Whitelist, WhitelistError> {
        if !keys.is_sorted_by(|a, b| a < b) {
            return Err(WhitelistError::Corrupt("keys are not sorted and distinct"));
        }
        if keys.len() as u64 != count {
            return Err(WhitelistError::Corrupt(
                "the set does not have the count the sender gave",
            ));
        }
        Ok(Whitelist::from_sorted(version, keys))
    }
}

#[inline]
fn bucket(key: u64, bits: u32) -> u64 {
    key.checked_shr(64 - bits).unwrap_or(0)
}

/// What changed from one whitelist version to another (`base` 0: the whole
/// set, in `added`). Sorted key lists, so that applying one is a merge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// The version this applies to; 0 for a whole set.
    pub base: u64,
    /// The version it leads to.
    pub version: u64,
    /// Number of keys of the resulting set (a check).
    pub count: u64,
    /// Keys added, sorted.
    pub added: Vec<u64>,
    /// Keys removed, sorted.
    pub removed: Vec<u64>,
}

impl Delta {
    /// The wire form: `SWL1`, then `version`, `base`, `count`, the number
    /// of added and of removed keys (each a little-endian `u64`), then the
    /// added and the removed keys, each list as LEB128 varints of the gaps
    /// between consecutive keys (the first from 0).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(44 + (self.added.len() + self.removed.len()) * 9);
        out.extend_from_slice(MAGIC);
        for n in [
            self.version,
            self.base,
            self.count,
            self.added.len() as u64,
            self.removed.len() as u64,
        ] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        for list in [&self.added, &self.removed] {
            let mut prev = 0u64;
            for &k in list.iter() {
                let mut gap = k.wrapping_sub(prev);
                prev = k;
                loop {
                    let byte = (gap & 0x7f) as u8;
                    gap >>= 7;
                    if gap == 0 {
                        out.push(byte);
                        break;
                    }
                    out.push(byte | 0x80);
                }
            }
        }
        out
    }

    /// Reads the wire form; refuses anything malformed or over
    /// [`MAX_IDS`] keys.
    pub fn decode(bytes: &[u8]) -> Result<Delta, WhitelistError> {
        let corrupt = WhitelistError::Corrupt;
        if bytes.get(..4) != Some(MAGIC.as_slice()) {
            return Err(corrupt("not a Seawall whitelist (no `SWL1` magic)"));
        }
        let mut head = [0u64; 5];
        for (i, n) in head.iter_mut().enumerate() {
            let at = 4 + i * 8;
            let word = bytes
                .get(at..at + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .ok_or(corrupt("the header is cut short"))?;
            *n = u64::from_le_bytes(word);
        }
        let [version, base, count, n_added, n_removed] = head;
        let limit = MAX_IDS as u64;
        if count > limit || n_added > limit || n_removed > limit {
            return Err(WhitelistError::TooMany { limit: MAX_IDS });
        }
        let mut rest = bytes.get(44..).unwrap_or_default();
        let mut lists = [Vec::new(), Vec::new()];
        for (list, n) in lists.iter_mut().zip([n_added, n_removed]) {
            // Each key takes at least one byte: never reserve past the input.
            list.reserve(usize::try_from(n).unwrap_or(0).min(rest.len()));
            let mut prev = 0u64;
            for _ in 0..n {
                let mut gap = 0u64;
                let mut shift = 0u32;
                loop {
                    let (&byte, tail) = rest
                        .split_first()
                        .ok_or(corrupt("the key lists are cut short"))?;
                    rest = tail;
                    if shift > 63 {
                        return Err(corrupt("a key gap is longer than 64 bits"));
                    }
                    gap |= u64::from(byte & 0x7f) << shift;
                    shift += 7;
                    if byte & 0x80 == 0 {
                        break;
                    }
                }
                prev = prev.wrapping_add(gap);
                list.push(prev);
            }
            if !list.is_sorted_by(|a, b| a < b) {
                return Err(corrupt("keys are not sorted and distinct"));
            }
        }
        if !rest.is_empty() {
            return Err(corrupt("bytes after the key lists"));
        }
        let [added, removed] = lists;
        Ok(Delta {
            base,
            version,
            count,
            added,
            removed,
        })
    }
}

/// A whitelist or a change to one that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhitelistError {
    /// The bytes are not a whitelist.
    #[error("malformed whitelist: {0}")]
    Corrupt(&'static str),
    /// More ids than Seawall keeps.
    #[error("more than {limit} ids in a whitelist")]
    TooMany {
        /// [`MAX_IDS`].
        limit: usize,
    },
    /// A change to a version this set is not.
    #[error("a change to whitelist version {base}, but version {have} is in force")]
    Base {
        /// The version the change applies to.
        base: u64,
        /// The version in force.
        have: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_exact_strings_hashed() {
        let w = Whitelist::from_ids(3, ["42", "7", "alice", "18446744073709551615"]);
        assert_eq!(w.version(), 3);
        assert_eq!(w.len(), 4);
        assert!(w.contains("42") && w.contains("007") && w.contains("alice"));
        assert!(w.contains("18446744073709551615"));
        assert!(!w.contains("43") && !w.contains("bob") && !w.contains(""));
        assert!(!Whitelist::default().contains("42"));
    }

    #[test]
    fn delta_round_trip() {
        let old = Whitelist::from_ids(1, ["1", "2", "3", "x"]);
        let new = Whitelist::from_ids(2, ["2", "3", "4", "y"]);
        let d = new.delta_from(&old);
        assert_eq!((d.added.len(), d.removed.len()), (2, 2));
        let wire = Delta::decode(&d.encode()).expect("decodes");
        assert_eq!(wire, d);
        assert_eq!(old.apply(&wire).expect("applies"), new);
        let full = Delta::decode(&new.full().encode()).expect("decodes");
        assert_eq!(Whitelist::default().apply(&full).expect("applies"), new);
        assert!(matches!(
            new.apply(&d),
            Err(WhitelistError::Base { base: 1, have: 2 })
        ));
    }

    #[test]
    fn malformed_wire_is_refused() {
        let good = Whitelist::from_ids(1, ["1", "2"]).full().encode();
        assert!(Delta::decode(b"nope").is_err());
        assert!(Delta::decode(&good[..good.len() - 1]).is_err());
        let mut extra = good.clone();
        extra.push(0);
        assert!(Delta::decode(&extra).is_err());
        let mut huge = good;
        huge[28..36].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            Delta::decode(&huge),
            Err(WhitelistError::TooMany { limit: MAX_IDS })
        );
    }
}
