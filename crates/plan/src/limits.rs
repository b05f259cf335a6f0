//! The limits the plan reader puts on a YAML file.
//!
//! A plan may come from anyone who can push to the control plane, and YAML
//! has constructs whose cost is out of proportion to their size: aliases
//! that expand to billions of values ("billion laughs"), thousands of nested
//! brackets, millions of tiny scalars. The reader therefore refuses a file
//! that crosses any of these limits, before the document is built, with
//! diagnostic E003 naming the limit, its value and what to do.
//!
//! The limits are sized for real plans with room to spare: the largest plan
//! Seawall is built for — 10,000 services and 50,000 dependency edges, about
//! 4 MB of YAML and 620,000 YAML values (see `generate::yaml`) — uses about a
//! quarter of the byte and value limits; the deepest plan key is 7 levels
//! down. The same table is in `docs/plan-reference.md` ("Parser limits").

use std::fmt;

use serde::Serialize;

/// Largest plan file read, in bytes (16 MiB).
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// Most YAML values (maps, lists and scalars, keys included) in a file.
pub const MAX_NODES: usize = 2_500_000;
/// Deepest nesting of maps and lists (block or flow).
pub const MAX_DEPTH: usize = 32;
/// Most aliases (`*name`) in a file.
pub const MAX_ALIASES: usize = 100_000;
/// Most anchors (`&name`) in a file.
pub const MAX_ANCHORS: usize = 100_000;
/// Most YAML events all aliases together may expand to.
pub const MAX_ALIAS_EXPANSION: usize = 1_000_000;
/// Deepest chain of aliases whose anchors contain aliases.
pub const MAX_ALIAS_NESTING: usize = 16;
/// Most merge keys (`<<`) in a file.
pub const MAX_MERGE_KEYS: usize = 100_000;
/// Most bytes of scalar text (after unescaping) in a file.
pub const MAX_SCALAR_BYTES: usize = MAX_BYTES;

/// One of the reader's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// [`MAX_BYTES`].
    Bytes,
    /// [`MAX_NODES`].
    Nodes,
    /// [`MAX_DEPTH`].
    Depth,
    /// [`MAX_ALIASES`].
    Aliases,
    /// [`MAX_ANCHORS`].
    Anchors,
    /// [`MAX_ALIAS_EXPANSION`].
    AliasExpansion,
    /// [`MAX_ALIAS_NESTING`].
    AliasNesting,
    /// [`MAX_MERGE_KEYS`].
    MergeKeys,
    /// [`MAX_SCALAR_BYTES`].
    ScalarBytes,
}

impl Limit {
    /// Every limit, in the order of the documentation.
    pub const ALL: [Limit; 9] = [
        Limit::Bytes,
        Limit::Nodes,
        Limit::Depth,
        Limit::Aliases,
        Limit::Anchors,
        Limit::AliasExpansion,
        Limit::AliasNesting,
        Limit::MergeKeys,
        Limit::ScalarBytes,
    ];

    /// The limit's name as documented and shown in E003.
    pub const fn name(self) -> &'static str {
        match self {
            Limit::Bytes => "max_bytes",
            Limit::Nodes => "max_nodes",
            Limit::Depth => "max_depth",
            Limit::Aliases => "max_aliases",
            Limit::Anchors => "max_anchors",
            Limit::AliasExpansion => "max_alias_expansion",
            Limit::AliasNesting => "max_alias_nesting",
            Limit::MergeKeys => "max_merge_keys",
            Limit::ScalarBytes => "max_scalar_bytes",
        }
    }

    /// The limit's value.
    pub const fn value(self) -> usize {
        match self {
            Limit::Bytes => MAX_BYTES,
            Limit::Nodes => MAX_NODES,
            Limit::Depth => MAX_DEPTH,
            Limit::Aliases => MAX_ALIASES,
            Limit::Anchors => MAX_ANCHORS,
            Limit::AliasExpansion => MAX_ALIAS_EXPANSION,
            Limit::AliasNesting => MAX_ALIAS_NESTING,
            Limit::MergeKeys => MAX_MERGE_KEYS,
            Limit::ScalarBytes => MAX_SCALAR_BYTES,
        }
    }

    /// What the limit counts, for the message.
    pub const fn counts(self) -> &'static str {
        match self {
            Limit::Bytes => "bytes in the file",
            Limit::Nodes => "YAML values (maps, lists and scalars, keys included)",
            Limit::Depth => "levels of nested maps and lists",
            Limit::Aliases => "aliases (`*name`)",
            Limit::Anchors => "anchors (`&name`)",
            Limit::AliasExpansion => "YAML events produced by expanding aliases",
            Limit::AliasNesting => "aliases expanded inside other aliases",
            Limit::MergeKeys => "merge keys (`<<`)",
            Limit::ScalarBytes => "bytes of scalar text",
        }
    }

    /// What to do when a plan crosses the limit.
    pub const fn help(self) -> &'static str {
        match self {
            Limit::Bytes | Limit::Nodes | Limit::ScalarBytes => {
                "the plan is larger than Seawall reads (a 10,000-service, 50,000-edge plan \
                 uses about a quarter of this limit): remove what the event does not need, \
                 or split it into one plan per event; limits are listed in \
                 docs/plan-reference.md#parser-limits"
            }
            Limit::Depth => {
                "no plan key is more than 7 levels deep: look for runaway indentation or \
                 unclosed brackets here; limits are listed in \
                 docs/plan-reference.md#parser-limits"
            }
            Limit::Aliases | Limit::Anchors | Limit::MergeKeys => {
                "write the values out, or share fewer of them through anchors and aliases; \
                 limits are listed in docs/plan-reference.md#parser-limits"
            }
            Limit::AliasExpansion | Limit::AliasNesting => {
                "the aliases here expand to far more than the file holds (an alias bomb, \
                 or anchors that nest aliases): write the values out instead of nesting \
                 aliases; limits are listed in docs/plan-reference.md#parser-limits"
            }
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The serde-saphyr options that enforce these limits.
pub(crate) fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = MAX_NODES;
    // Every node is at most one start and one end event, every alias one
    // event, plus the stream and document markers: the node limit is always
    // reached first, so it is the one users see.
    budget.max_events = MAX_NODES
        .saturating_mul(2)
        .saturating_add(MAX_ALIASES)
        .saturating_add(16);
    budget.max_depth = MAX_DEPTH;
    // One more than the depth limit, so the depth budget (a clear E003)
    // trips before the scanner's own "recursion limit exceeded".
    budget.flow_nesting_limit = MAX_DEPTH + 1;
    budget.max_aliases = MAX_ALIASES;
    budget.max_anchors = MAX_ANCHORS;
    budget.max_merge_keys = MAX_MERGE_KEYS;
    budget.max_total_scalar_bytes = MAX_SCALAR_BYTES;
    budget.max_reader_input_bytes = Some(MAX_BYTES);
    budget.max_recorded_anchor_events = MAX_ALIAS_EXPANSION;
    budget.max_recorded_anchor_bytes = MAX_BYTES;
    // The ratio heuristic refuses a plan that shares one block of defaults
    // through a hundred aliases; the expansion limit below bounds the real
    // cost of aliases instead.
    budget.enforce_alias_anchor_ratio = false;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_ALIAS_EXPANSION;
    options.alias_limits.max_replay_stack_depth = MAX_ALIAS_NESTING;
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_values_positive() {
        let mut names: Vec<&str> = Limit::ALL.iter().map(|l| l.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Limit::ALL.len());
        for l in Limit::ALL {
            assert!(l.value() > 0, "{l}");
            assert!(l.help().contains("docs/plan-reference.md"), "{l}");
        }
    }

    #[test]
    fn node_limit_is_reached_before_the_event_limit() {
        let o = yaml_options();
        let b = o.budget.expect("budget set");
        assert!(b.max_events >= 2 * b.max_nodes + b.max_aliases);
    }
}
