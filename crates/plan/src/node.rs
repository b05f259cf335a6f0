//! A YAML document as a tree of nodes that remember where they were written.
//!
//! serde-saphyr parses the text and hands every value to us wrapped in
//! `Spanned`; keeping the whole document as such a tree lets the decoder
//! report *all* problems (unknown keys, wrong types, bad references) instead
//! of stopping at the first one, as a derived `Deserialize` would.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::diag::Loc;
use crate::limits::{self, Limit};

/// A located YAML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) loc: Loc,
    pub(crate) kind: Kind,
}

/// The shape of a YAML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Kind {
    /// What the value is, for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Kind::Null => "nothing (null)",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a map",
        }
    }
}

/// The raw value of a node; wrapped by [`Located`] while deserializing.
struct Raw(Kind);

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw(Kind::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw(Kind::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw(Kind::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw(Kind::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw(match i64::try_from(v) {
            Ok(i) => Kind::Int(i),
            Err(_) => Kind::Float(v as f64),
        }))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw(match i64::try_from(v) {
            Ok(i) => Kind::Int(i),
            Err(_) => Kind::Float(v as f64),
        }))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw(match i64::try_from(v) {
            Ok(i) => Kind::Int(i),
            Err(_) => Kind::Float(v as f64),
        }))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw(Kind::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw(Kind::Str(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw(Kind::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(Located(item)) = a.next_element::<Located>()? {
            items.push(item);
        }
        Ok(Raw(Kind::Seq(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some((Located(k), Located(v))) = a.next_entry::<Located, Located>()? {
            items.push((k, v));
        }
        Ok(Raw(Kind::Map(items)))
    }
}

/// A node read with its location.
///
/// serde-saphyr gives a value's location to a newtype struct named
/// [`SPAN_PROTOCOL`] (what its own `Spanned<T>` asks for), as a map of a
/// marker, the value, and where it was referenced and defined. Reading
/// that map here, borrowing the field names and stopping after the
/// referenced location, skips most of `Spanned`'s generic decoding (a
/// `String` key and two full `Location` structs per value): about 50 ms of
/// CPU on a 590,000-value plan (`docs/benchmarks.md`, "Large plans").
/// `tests::keeps_locations_of_keys_and_values` fails if a serde-saphyr
/// release changes the protocol.
struct Located(Node);

/// serde-saphyr's newtype name for "this value with its location".
const SPAN_PROTOCOL: &str = "__yaml_spanned";

impl<'de> Deserialize<'de> for Located {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_newtype_struct(SPAN_PROTOCOL, LocatedVisitor)
    }
}

struct LocatedVisitor;

impl<'de> Visitor<'de> for LocatedVisitor {
    type Value = Located;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a YAML value with its location")
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Located, D::Error> {
        d.deserialize_any(SpanMapVisitor)
    }
}

/// The fields of serde-saphyr's span map.
enum SpanField {
    Marker,
    Value,
    Referenced,
    Other,
}

impl<'de> Deserialize<'de> for SpanField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SpanField;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a span field")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SpanField, E> {
                Ok(match v {
                    "value" => SpanField::Value,
                    "referenced" => SpanField::Referenced,
                    m if m.starts_with("__") => SpanField::Marker,
                    _ => SpanField::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

struct SpanMapVisitor;

impl<'de> Visitor<'de> for SpanMapVisitor {
    type Value = Located;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a YAML value with its location")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Located, A::Error> {
        let mut kind = None;
        let mut loc = Loc::default();
        while let Some(field) = a.next_key::<SpanField>()? {
            match field {
                SpanField::Marker => {
                    a.next_value::<de::IgnoredAny>()?;
                }
                SpanField::Value => kind = Some(a.next_value::<Raw>()?.0),
                SpanField::Referenced => {
                    loc = a.next_value::<LineColumn>()?.0;
                    break;
                }
                SpanField::Other => break,
            }
        }
        let kind = kind.ok_or_else(|| de::Error::missing_field("value"))?;
        Ok(Located(Node { loc, kind }))
    }
}

/// The line and column of serde-saphyr's location map (its span and source
/// are not read).
struct LineColumn(Loc);

impl<'de> Deserialize<'de> for LineColumn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LineColumn;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a location")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<LineColumn, A::Error> {
                let (mut line, mut column) = (0u64, 0u64);
                while let Some(field) = a.next_key::<LocField>()? {
                    match field {
                        LocField::Line => line = a.next_value()?,
                        LocField::Column => column = a.next_value()?,
                        LocField::Other => break,
                    }
                }
                Ok(LineColumn(Loc::new(
                    u32::try_from(line).unwrap_or(u32::MAX),
                    u32::try_from(column).unwrap_or(u32::MAX),
                )))
            }
        }
        d.deserialize_struct("Location", &["line", "column"], V)
    }
}

/// The fields of serde-saphyr's location map.
enum LocField {
    Line,
    Column,
    Other,
}

impl<'de> Deserialize<'de> for LocField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LocField;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a location field")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LocField, E> {
                Ok(match v {
                    "line" => LocField::Line,
                    "column" => LocField::Column,
                    _ => LocField::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub(crate) loc: Loc,
    pub(crate) message: String,
    /// The reader's limit the file crossed, when that is what went wrong
    /// (then `message` is a detail, possibly empty).
    pub(crate) limit: Option<Limit>,
}

/// Parse YAML text into a located tree. An empty document is a null node.
///
/// The file is read within the limits of [`crate::limits`]; crossing one is
/// a [`SyntaxError`] naming it.
pub(crate) fn parse_yaml(src: &str) -> Result<Node, SyntaxError> {
    if src.trim().is_empty() {
        return Ok(Node {
            loc: Loc::new(1, 1),
            kind: Kind::Null,
        });
    }
    if src.len() > limits::MAX_BYTES {
        return Err(SyntaxError {
            loc: loc_of_offset(src, limits::MAX_BYTES),
            message: format!("the file has {} bytes", src.len()),
            limit: Some(Limit::Bytes),
        });
    }
    match serde_saphyr::from_str_with_options::<Located>(src, limits::yaml_options()) {
        Ok(Located(root)) => Ok(root),
        Err(e) => {
            let loc = e
                .location()
                .map(|l| {
                    Loc::new(
                        u32::try_from(l.line()).unwrap_or(u32::MAX),
                        u32::try_from(l.column()).unwrap_or(u32::MAX),
                    )
                })
                .filter(|l| l.line > 0 && l.column > 0)
                .unwrap_or(Loc::new(1, 1));
            let limit = limit_of(&e);
            Err(SyntaxError {
                loc,
                // serde-saphyr's text for a breached budget is its debug
                // form; E003 says it in the plan's words instead.
                message: if limit.is_some() {
                    String::new()
                } else {
                    clean_message(&e.to_string())
                },
                limit,
            })
        }
    }
}

/// The limit behind a serde-saphyr error, if any.
fn limit_of(e: &serde_saphyr::Error) -> Option<Limit> {
    use serde_saphyr::Error as E;
    use serde_saphyr::budget::BudgetBreach as B;
    let mut e = e;
    loop {
        match e {
            E::WithSnippet { error, .. } | E::AliasError { error, .. } => e = error,
            E::Budget { breach, .. } => {
                return match breach {
                    B::Nodes { .. } | B::Events { .. } => Some(Limit::Nodes),
                    B::Depth { .. } => Some(Limit::Depth),
                    B::Aliases { .. } => Some(Limit::Aliases),
                    B::Anchors { .. } => Some(Limit::Anchors),
                    B::MergeKeys { .. } => Some(Limit::MergeKeys),
                    B::ScalarBytes { .. } => Some(Limit::ScalarBytes),
                    B::InputBytes { .. } => Some(Limit::Bytes),
                    B::RecordedAnchorEvents { .. } | B::RecordedAnchorBytes { .. } => {
                        Some(Limit::AliasExpansion)
                    }
                    _ => None,
                };
            }
            E::AliasReplayLimitExceeded { .. }
            | E::AliasExpansionLimitExceeded { .. }
            | E::AliasReplayCounterOverflow { .. } => return Some(Limit::AliasExpansion),
            E::AliasReplayStackDepthExceeded { .. } => return Some(Limit::AliasNesting),
            // The scanner's own nesting cap (one above `max_depth`) can
            // trip before the depth budget sees the events.
            E::ExternalMessage { source, .. } => {
                return match source.as_ref() {
                    serde_saphyr::ExternalMessageSource::Parser(scan)
                        if matches!(
                            scan.kind(),
                            serde_saphyr::granit_parser::ErrorKind::RecursionLimitExceeded
                        ) =>
                    {
                        Some(Limit::Depth)
                    }
                    _ => None,
                };
            }
            _ => return None,
        }
    }
}

/// Line and column of byte `offset` (rounded down to a character), with
/// lines ended as YAML ends them (`\r\n`, a lone `\r`, or `\n`), so the
/// position agrees with the parser's.
fn loc_of_offset(src: &str, offset: usize) -> Loc {
    let mut end = offset.min(src.len());
    while !src.is_char_boundary(end) {
        end -= 1;
    }
    let before = &src[..end];
    let bytes = before.as_bytes();
    let mut line = 1usize;
    let mut line_start = 0;
    for (i, b) in bytes.iter().enumerate() {
        let ends_line = match b {
            b'\n' => true,
            // The `\r` of a `\r\n` is counted at its `\n` (or, when the
            // offset splits the pair, here: the next line starts after it).
            b'\r' => bytes.get(i + 1) != Some(&b'\n'),
            _ => false,
        };
        if ends_line {
            line += 1;
            line_start = i + 1;
        }
    }
    let column = before[line_start..].chars().count() + 1;
    Loc::new(
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// serde-saphyr renders a snippet after the first line and prefixes
/// "error: line L column C: "; keep only the message itself.
fn clean_message(rendered: &str) -> String {
    let first = rendered.lines().next().unwrap_or(rendered);
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let msg = match first.find(": ") {
        Some(i) if first.starts_with("line ") => &first[i + 2..],
        _ => first,
    };
    msg.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_saphyr::Spanned;

    /// The tree as serde-saphyr's own `Spanned` reads it: the reference
    /// [`Located`] must agree with.
    fn spanned_tree(src: &str) -> Option<Node> {
        struct R(Kind);
        impl<'de> Deserialize<'de> for R {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(RV)
            }
        }
        struct RV;
        impl<'de> Visitor<'de> for RV {
            type Value = R;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any")
            }
            fn visit_unit<E: de::Error>(self) -> Result<R, E> {
                Ok(R(Kind::Null))
            }
            fn visit_none<E: de::Error>(self) -> Result<R, E> {
                Ok(R(Kind::Null))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<R, D::Error> {
                R::deserialize(d)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<R, E> {
                Ok(R(Kind::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<R, E> {
                Ok(R(Kind::Int(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<R, E> {
                Ok(R(i64::try_from(v).map_or(Kind::Float(v as f64), Kind::Int)))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<R, E> {
                Ok(R(i64::try_from(v).map_or(Kind::Float(v as f64), Kind::Int)))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<R, E> {
                Ok(R(i64::try_from(v).map_or(Kind::Float(v as f64), Kind::Int)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<R, E> {
                Ok(R(Kind::Float(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<R, E> {
                Ok(R(Kind::Str(v.to_string())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<R, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element::<Spanned<R>>()? {
                    items.push(conv(item));
                }
                Ok(R(Kind::Seq(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<R, A::Error> {
                let mut items = Vec::new();
                while let Some((k, v)) = a.next_entry::<Spanned<R>, Spanned<R>>()? {
                    items.push((conv(k), conv(v)));
                }
                Ok(R(Kind::Map(items)))
            }
        }
        fn conv(s: Spanned<R>) -> Node {
            Node {
                loc: Loc::new(s.referenced.line() as u32, s.referenced.column() as u32),
                kind: s.value.0,
            }
        }
        serde_saphyr::from_str_with_options::<Spanned<R>>(src, limits::yaml_options())
            .ok()
            .map(conv)
    }

    /// NaN-safe equality of trees.
    fn same(a: &Node, b: &Node) -> bool {
        a.loc == b.loc
            && match (&a.kind, &b.kind) {
                (Kind::Float(x), Kind::Float(y)) => x.to_bits() == y.to_bits(),
                (Kind::Seq(x), Kind::Seq(y)) => {
                    x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
                }
                (Kind::Map(x), Kind::Map(y)) => {
                    x.len() == y.len()
                        && x.iter()
                            .zip(y)
                            .all(|(p, q)| same(&p.0, &q.0) && same(&p.1, &q.1))
                }
                (x, y) => x == y,
            }
    }

    #[test]
    fn located_reads_the_carnival_plan_as_spanned_does() {
        let src = include_str!("../../../examples/carnival/plan.yaml");
        let ours = parse_yaml(src).expect("valid");
        let theirs = spanned_tree(src).expect("valid");
        assert!(same(&ours, &theirs));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// On YAML-ish text (anchors, aliases, merge keys, flow and block
        /// collections, every scalar kind), the tree and every location are
        /// those serde-saphyr's `Spanned` gives, or both refuse the text.
        #[test]
        fn located_agrees_with_spanned(
            parts in prop::collection::vec(prop::sample::select(vec![
                "a: ", "b: ", "- ", "\n", "\n  ", "\n    ", "[", "]", "{", "}", ", ", "x", "1", "-2",
                "0.5", "1e3", ".nan", "true", "yes", "~", "null", "\"q\"", "'s'", "&k ", "*k",
                "<<: *k", "? ", "|\n  t\n", "#c\n", "é", "0x1F", "99999999999999999999",
            ]), 0..40),
        ) {
            let src: String = parts.concat();
            let ours = parse_yaml(&src).ok();
            let theirs = if src.trim().is_empty() { ours.clone() } else { spanned_tree(&src) };
            match (&ours, &theirs) {
                (Some(a), Some(b)) => prop_assert!(same(a, b), "{:?}\n{:?}\n{:?}", src, a, b),
                (None, None) => {}
                _ => prop_assert!(false, "{:?}: ours {:?}, spanned {:?}", src, ours, theirs),
            }
        }
    }

    /// Line and column of every character boundary, walking the text.
    fn walk(src: &str) -> Vec<(usize, Loc)> {
        let mut out = Vec::new();
        let (mut line, mut column) = (1u32, 1u32);
        let mut chars = src.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            out.push((i, Loc::new(line, column)));
            let crlf = c == '\r' && chars.peek().is_some_and(|(_, n)| *n == '\n');
            if (c == '\n' || c == '\r') && !crlf {
                line += 1;
                column = 1;
            } else if !crlf {
                column += 1;
            } else {
                // The `\n` of the pair: an offset between `\r` and `\n`
                // is already on the next line.
                if let Some((j, _)) = chars.next() {
                    line += 1;
                    column = 1;
                    out.push((j, Loc::new(line, column)));
                }
            }
        }
        out.push((src.len(), Loc::new(line, column)));
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The byte-limit position agrees with walking the text character
        /// by character, for `\n`, `\r\n` and lone `\r` line ends.
        #[test]
        fn offset_positions_match_a_walk(
            parts in prop::collection::vec(prop::sample::select(vec!["a", "é", "\n", "\r", "\r\n", " ", "漢"]), 0..40),
            pick in any::<prop::sample::Index>(),
        ) {
            let src: String = parts.concat();
            let walked = walk(&src);
            let (offset, loc) = walked[pick.index(walked.len())];
            prop_assert_eq!(loc_of_offset(&src, offset), loc, "{:?} at {}", src, offset);
        }
    }

    #[test]
    fn offset_positions_round_down_inside_a_character() {
        // Byte 1 is inside `é`: the position is that of `é`.
        assert_eq!(loc_of_offset("é\nx", 1), Loc::new(1, 1));
        assert_eq!(loc_of_offset("a\rb", 2), Loc::new(2, 1));
        assert_eq!(loc_of_offset("a\r\nb", 3), Loc::new(2, 1));
        assert_eq!(loc_of_offset("ab", 99), Loc::new(1, 3));
    }

    #[test]
    fn keeps_locations_of_keys_and_values() {
        let n = parse_yaml("a: 1\nb:\n  - x\n").expect("valid yaml");
        let Kind::Map(items) = &n.kind else {
            panic!("expected map, got {:?}", n.kind)
        };
        assert_eq!(items[0].0.loc, Loc::new(1, 1));
        assert_eq!(items[0].1.kind, Kind::Int(1));
        assert_eq!(items[0].1.loc, Loc::new(1, 4));
        let Kind::Seq(seq) = &items[1].1.kind else {
            panic!("expected seq")
        };
        assert_eq!(seq[0].loc, Loc::new(3, 5));
    }

    #[test]
    fn syntax_errors_carry_position() {
        let e = parse_yaml("a: [1, 2\nb: 3\n").expect_err("invalid yaml");
        assert_eq!(e.loc.line, 2);
        assert!(!e.message.starts_with("error"), "{}", e.message);
    }

    #[test]
    fn syntax_messages_are_the_bare_message() {
        // No "line L column C" around it: the diagnostic has the position.
        let e = parse_yaml("event: {name: demo\ngoals: [1\n").expect_err("invalid yaml");
        assert_eq!(
            e.message,
            "while parsing a flow mapping, did not find expected ',' or '}'"
        );
        assert_eq!(e.loc, Loc::new(2, 6));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse_yaml("a: 1\na: 2\n").expect_err("duplicate");
        assert_eq!(e.loc.line, 2);
        assert!(e.message.contains("duplicate"), "{}", e.message);
    }
}
