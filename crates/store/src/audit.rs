//! The hash-chained audit log: each entry's hash covers its fields and the
//! previous entry's hash, so editing or deleting any entry breaks every
//! hash after it. Backends compute hashes with [`entry_hash`] when they
//! append; [`verify`] checks a whole log (from the API or the database).
//!
//! A chain cannot show that entries were cut off its end. [`verify`]
//! returns the head (last sequence number and hash) so it can be written
//! down elsewhere (a ticket, the review) and compared later.

use serde::Serialize;

use crate::AuditEntry;

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an entry: SHA-256 over its fields, newline-separated and
/// length-prefixed so no two different entries share an input.
pub fn entry_hash(
    seq: i64,
    at_ms: i64,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
    prev_hash: &str,
) -> String {
    let mut input = String::with_capacity(128 + detail.len());
    input.push_str("seawall.audit/v1\n");
    input.push_str(&seq.to_string());
    input.push('\n');
    input.push_str(&at_ms.to_string());
    input.push('\n');
    for field in [actor, action, target, detail, prev_hash] {
        input.push_str(&field.len().to_string());
        input.push(':');
        input.push_str(field);
        input.push('\n');
    }
    crate::sha256_hex(input.as_bytes())
}

/// Compact JSON text of `detail` with object keys sorted (serde_json's
/// default map is ordered), exactly what is stored and hashed.
pub fn detail_text(detail: &serde_json::Value) -> String {
    // Serializing a `Value` cannot fail.
    serde_json::to_string(detail).unwrap_or_else(|_| "null".to_owned())
}

/// The last entry of a verified log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    /// Number of entries (= last seq).
    pub entries: i64,
    /// Last entry's hash ([`GENESIS`] for an empty log).
    pub hash: String,
}

/// Where a log stops being intact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum Break {
    /// An entry's seq is not the previous one's plus one: entries were
    /// deleted (or inserted).
    #[error("audit entry {found} follows entry {expected_after}: entries are missing")]
    Gap {
        /// Seq of the previous entry (0 at the start).
        expected_after: i64,
        /// Seq found.
        found: i64,
    },
    /// An entry's `prev_hash` is not the previous entry's hash.
    #[error("audit entry {seq} does not link to the entry before it (deleted or rewritten)")]
    Link {
        /// Seq of the entry.
        seq: i64,
    },
    /// An entry's hash does not match its content: it was edited.
    #[error("audit entry {seq} was edited: its hash does not match its content")]
    Edited {
        /// Seq of the entry.
        seq: i64,
    },
}

/// Check a whole log, in seq order from the first entry.
pub fn verify(entries: &[AuditEntry]) -> Result<Head, Break> {
    let mut prev_seq = 0;
    let mut prev_hash = GENESIS.to_owned();
    for entry in entries {
        if entry.seq != prev_seq + 1 {
            return Err(Break::Gap {
                expected_after: prev_seq,
                found: entry.seq,
            });
        }
        if entry.prev_hash != prev_hash {
            return Err(Break::Link { seq: entry.seq });
        }
        let hash = entry_hash(
            entry.seq,
            entry.at_ms,
            &entry.actor,
            &entry.action,
            &entry.target,
            &entry.detail,
            &entry.prev_hash,
        );
        if hash != entry.hash {
            return Err(Break::Edited { seq: entry.seq });
        }
        prev_seq = entry.seq;
        prev_hash = hash;
    }
    Ok(Head {
        entries: prev_seq,
        hash: prev_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let detail = format!("{{\"n\":{seq}}}");
                let hash = entry_hash(seq, seq * 10, "ana", "plan.push", "event:e", &detail, &prev);
                let entry = AuditEntry {
                    seq,
                    at_ms: seq * 10,
                    actor: "ana".into(),
                    action: "plan.push".into(),
                    target: "event:e".into(),
                    detail,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                entry
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies_to_its_head() {
        let log = chain(5);
        let head = verify(&log).expect("intact");
        assert_eq!(head.entries, 5);
        assert_eq!(head.hash, log[4].hash);
        assert_eq!(verify(&[]).expect("empty").hash, GENESIS);
    }

    #[test]
    fn edits_deletions_and_relinks_are_found() {
        let mut edited = chain(5);
        edited[2].actor = "mallory".into();
        assert_eq!(verify(&edited), Err(Break::Edited { seq: 3 }));

        let mut deleted = chain(5);
        deleted.remove(1);
        assert_eq!(
            verify(&deleted),
            Err(Break::Gap {
                expected_after: 1,
                found: 3
            })
        );

        // Deleting an entry and renumbering the rest breaks the link.
        let mut renumbered = chain(5);
        renumbered.remove(1);
        for (i, e) in renumbered.iter_mut().enumerate() {
            e.seq = i as i64 + 1;
        }
        assert_eq!(verify(&renumbered), Err(Break::Link { seq: 2 }));
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let a = entry_hash(1, 1, "ab", "c", "t", "{}", GENESIS);
        let b = entry_hash(1, 1, "a", "bc", "t", "{}", GENESIS);
        assert_ne!(a, b);
    }
}
