//! Monitoring query templates at check time: their placeholders (E071),
//! and positions inside a query mapped back into the YAML file.
//!
//! Why: a template (`monitoring.templates.<kind>` or a placeholder in
//! `monitoring.queries.<id>`) is filled in for every id of its kind on the
//! event day; a misspelt placeholder (`{entyr}`) or one that has no value
//! for the kind (`{service}` in an entry template) would only show as a
//! failed series then. Checking it at `plan check` puts the mistake at its
//! line and column. The scanner here is the one definition of what a
//! placeholder is: `seawall_scrape::templates::render` fills in exactly
//! what [`placeholders`] finds.
//!
//! [`locate`] turns a byte offset inside a query into the line and column
//! of that character in the file, for plain, single-quoted, double-quoted
//! and block (`|`, `>`) scalars: it walks the scalar as YAML decodes it and
//! checks every character against the decoded query, and gives up (the
//! caller then points at the query's start) on anything it does not follow.

use crate::decode::Cx;
use crate::diag::{At, Loc};
use crate::model::{FIGURES, Plan, Queries, QueryKind};

/// A placeholder found in a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placeholder<'a> {
    /// The name between the braces (`entry`).
    pub name: &'a str,
    /// Byte offset of the opening brace.
    pub start: usize,
    /// Byte offset just past the closing brace.
    pub end: usize,
}

/// The placeholders of `query`, in order. Only a word of ASCII letters
/// and underscores between braces is one, so PromQL's own braces
/// (`{resource="a"}`, `{}`) are not.
pub fn placeholders(query: &str) -> Vec<Placeholder<'_>> {
    let bytes = query.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(open) = query.get(i..).and_then(|r| r.find('{')).map(|o| o + i) {
        let word = bytes
            .get(open + 1..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_alphabetic() || **b == b'_')
            .count();
        let close = open + 1 + word;
        if word > 0 && bytes.get(close) == Some(&b'}') {
            out.push(Placeholder {
                name: &query[open + 1..close],
                start: open,
                end: close + 1,
            });
            i = close + 1;
        } else {
            i = open + 1;
        }
    }
    out
}

/// The kind whose placeholder is `name`.
pub fn placeholder_kind(name: &str) -> Option<QueryKind> {
    QueryKind::ALL.into_iter().find(|k| k.as_str() == name)
}

/// `query` with every placeholder replaced by `value(kind)`, escaped for
/// a PromQL double-quoted string; the first placeholder without a value
/// (unknown, or no value given) is the error.
pub fn fill<'q, 'v>(
    query: &'q str,
    value: impl Fn(QueryKind) -> Option<&'v str>,
) -> Result<String, Placeholder<'q>> {
    let mut out = String::with_capacity(query.len() + 16);
    let mut last = 0;
    for p in placeholders(query) {
        let v = placeholder_kind(p.name).and_then(&value).ok_or(p)?;
        out.push_str(&query[last..p.start]);
        out.push_str(&v.replace('\\', "\\\\").replace('"', "\\\""));
        last = p.end;
    }
    out.push_str(&query[last..]);
    Ok(out)
}

/// How a scalar is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Block { folded: bool },
}

/// One decoded character (`None`: an escape not followed) at its 0-based
/// line and character column.
type Decoded = (Option<char>, usize, usize);

fn chars_of(lines: &[&str], l: usize) -> Option<Vec<char>> {
    lines.get(l).map(|s| s.chars().collect())
}

fn indent(line: &[char]) -> usize {
    line.iter()
        .take_while(|c| **c == ' ' || **c == '\t')
        .count()
}

/// Decoded characters of a flow scalar (plain or quoted) from line `l`,
/// column `c` (just inside an opening quote), `want` at the most.
fn flow(
    lines: &[&str],
    style: Style,
    mut l: usize,
    mut c: usize,
    want: usize,
) -> Option<Vec<Decoded>> {
    let mut out: Vec<Decoded> = Vec::new();
    let mut line = chars_of(lines, l)?;
    while out.len() < want {
        let Some(&ch) = line.get(c) else {
            // A line break inside the scalar folds: trailing white space
            // goes, empty lines are newlines, else one space.
            while out
                .last()
                .is_some_and(|(ch, ll, _)| *ll == l && matches!(ch, Some(' ' | '\t')))
            {
                out.pop();
            }
            let mut blank = 0;
            loop {
                l += 1;
                line = chars_of(lines, l)?;
                if line.iter().all(|c| c.is_whitespace()) {
                    blank += 1;
                } else {
                    break;
                }
            }
            c = indent(&line);
            let fold = if blank == 0 { ' ' } else { '\n' };
            out.extend(std::iter::repeat_n((Some(fold), l, c), blank.max(1)));
            continue;
        };
        match style {
            Style::Single if ch == '\'' => {
                if line.get(c + 1) != Some(&'\'') {
                    break;
                }
                out.push((Some('\''), l, c));
                c += 2;
            }
            Style::Double if ch == '"' => break,
            Style::Double if ch == '\\' => {
                let Some(&e) = line.get(c + 1) else {
                    // An escaped line break: nothing, not even a space.
                    l += 1;
                    line = chars_of(lines, l)?;
                    c = indent(&line);
                    continue;
                };
                let (decoded, len) = match e {
                    'x' => (None, 4),
                    'u' => (None, 6),
                    'U' => (None, 10),
                    'n' => (Some('\n'), 2),
                    't' | '\t' => (Some('\t'), 2),
                    'r' => (Some('\r'), 2),
                    '0' => (Some('\0'), 2),
                    '"' | '\\' | '/' | ' ' => (Some(e), 2),
                    _ => (None, 2),
                };
                out.push((decoded, l, c));
                c += len;
            }
            _ => {
                out.push((Some(ch), l, c));
                c += 1;
            }
        }
    }
    Some(out)
}

/// Decoded characters of a block scalar whose header is on line `l`.
fn block(
    lines: &[&str],
    header: &[char],
    l: usize,
    folded: bool,
    want: usize,
) -> Option<Vec<Decoded>> {
    if header.iter().any(char::is_ascii_digit) {
        return None; // an explicit indentation indicator: not followed
    }
    let first = (l + 1..lines.len()).find(|&i| !lines[i].trim().is_empty())?;
    let n = indent(&chars_of(lines, first)?);
    let mut out: Vec<Decoded> = Vec::new();
    for i in first..lines.len() {
        if out.len() >= want {
            break;
        }
        let line = chars_of(lines, i)?;
        if line.iter().all(|c| c.is_whitespace()) {
            out.push((Some('\n'), i, 0));
            continue;
        }
        if indent(&line) < n {
            break;
        }
        out.extend(
            line[n..]
                .iter()
                .enumerate()
                .map(|(k, ch)| (Some(*ch), i, n + k)),
        );
        let next_plain = lines
            .get(i + 1)
            .is_some_and(|s| !s.trim().is_empty() && indent(&s.chars().collect::<Vec<_>>()) == n);
        let brk = if folded && next_plain && indent(&line) == n {
            ' '
        } else {
            '\n'
        };
        out.push((Some(brk), i, line.len()));
    }
    Some(out)
}

/// The location of the character at byte `offset` of `query`, the decoded
/// value of the scalar whose node starts at `value` in `src`; `None` when
/// the scalar is not one this follows (the caller keeps the start).
pub fn locate(src: &str, value: Loc, query: &str, offset: usize) -> Option<Loc> {
    let lines: Vec<&str> = src.lines().collect();
    let l = usize::try_from(value.line).ok()?.checked_sub(1)?;
    let c = usize::try_from(value.column).ok()?.checked_sub(1)?;
    let first = chars_of(&lines, l)?;
    // The parser may place a block scalar at its content's first line:
    // then the header (`|`, `>-`, …) ends the line above.
    if first[..c.min(first.len())]
        .iter()
        .all(|ch| ch.is_whitespace())
        && let Some(above) = l
            .checked_sub(1)
            .and_then(|a| Some((a, block_header(lines.get(a)?)?)))
    {
        let (a, (folded, header)) = above;
        return resolve(
            block(&lines, &header, a, folded, want_of(query))?,
            query,
            offset,
        );
    }
    let style = match first.get(c)? {
        '\'' => Style::Single,
        '"' => Style::Double,
        '|' => Style::Block { folded: false },
        '>' => Style::Block { folded: true },
        _ => Style::Plain,
    };
    let want = want_of(query);
    let decoded = match style {
        Style::Block { folded } => block(&lines, &first[c..], l, folded, want)?,
        Style::Plain => flow(&lines, style, l, c, want)?,
        Style::Single | Style::Double => flow(&lines, style, l, c + 1, want)?,
    };
    resolve(decoded, query, offset)
}

fn want_of(query: &str) -> usize {
    query.chars().count()
}

/// A block scalar's header at the end of `line` (`key: |`, `- >-`):
/// whether it folds, and the header's characters.
fn block_header(line: &str) -> Option<(bool, Vec<char>)> {
    let code = line.split(" #").next().unwrap_or(line).trim_end();
    let start = code.rfind(['|', '>'])?;
    let header = &code[start..];
    let before = code[..start].trim_end();
    let indicators_only = header[1..]
        .chars()
        .all(|c| c == '-' || c == '+' || c.is_ascii_digit());
    (indicators_only && header.len() <= 3 && (before.ends_with(':') || before.ends_with('-')))
        .then(|| (header.starts_with('>'), header.chars().collect()))
}

/// Walks the decoded characters against `query` to `offset`.
fn resolve(decoded: Vec<Decoded>, query: &str, offset: usize) -> Option<Loc> {
    let mut last = None;
    for ((at, qc), (dc, dl, dcol)) in query.char_indices().zip(&decoded) {
        if dc.is_some_and(|d| d != qc) {
            return None;
        }
        if at == offset {
            return to_loc(*dl, *dcol);
        }
        last = Some((*dl, *dcol));
    }
    // The offset is the query's end: just past its last character.
    match (offset == query.len(), last) {
        (true, Some((dl, dcol))) => to_loc(dl, dcol + 1),
        _ => None,
    }
}

fn to_loc(line: usize, column: usize) -> Option<Loc> {
    Some(Loc::new(
        u32::try_from(line + 1).ok()?,
        u32::try_from(column + 1).ok()?,
    ))
}

/// The location of `key`'s value in `at`, and of byte `offset` inside it
/// when [`locate`] follows the scalar (else the value's first character,
/// after an opening quote).
pub(crate) fn query_loc(
    src: &str,
    at: &At,
    key: &str,
    query: &str,
    offset: usize,
) -> (String, Loc) {
    let location = at.field(key);
    let value = Loc::new(location.line, location.column);
    let loc = locate(src, value, query, offset)
        .or_else(|| locate(src, value, query, 0))
        .unwrap_or(value);
    (location.path, loc)
}

/// A template or per-id query and the kinds whose placeholders it may use.
pub(crate) struct Written<'p> {
    /// Where the query set is.
    pub at: &'p At,
    /// `qps`, `p99_ms` or `error_rate`.
    pub key: &'static str,
    /// The query.
    pub query: &'p str,
    /// The kinds it is filled in for.
    pub kinds: Vec<QueryKind>,
    /// The ids it is filled in for (with their kind); E070 fills it in
    /// for each.
    #[cfg_attr(not(feature = "promql"), allow(dead_code))]
    pub ids: Vec<(QueryKind, &'p str)>,
}

/// Every template (`monitoring.templates`) and per-id query
/// (`monitoring.queries`, for the kinds its id is), figure by figure.
pub(crate) fn written<'p>(plan: &'p Plan) -> Vec<Written<'p>> {
    let m = &plan.monitoring;
    let ids_of = |kind: QueryKind| -> Vec<&String> {
        match kind {
            QueryKind::Entry => plan.entries.keys().collect(),
            QueryKind::Service => plan.services.keys().collect(),
            QueryKind::Partner => plan.partners.keys().collect(),
        }
    };
    let mut out = Vec::new();
    let mut push = |q: &'p Queries, kinds: Vec<QueryKind>, ids: Vec<(QueryKind, &'p str)>| {
        for (key, query) in FIGURES.into_iter().zip(q.figures()) {
            if let Some(query) = query {
                out.push(Written {
                    at: &q.at,
                    key,
                    query,
                    kinds: kinds.clone(),
                    ids: ids.clone(),
                });
            }
        }
    };
    for kind in QueryKind::ALL {
        if let Some(t) = m.templates.of(kind) {
            let ids = ids_of(kind).into_iter().map(|id| (kind, id.as_str()));
            push(t, vec![kind], ids.collect());
        }
    }
    for (id, q) in &m.queries {
        // A dangling id (E020) has no kind: its queries are still
        // parsed, and their placeholders left to E020's fix.
        let kinds: Vec<QueryKind> = QueryKind::ALL
            .into_iter()
            .filter(|k| ids_of(*k).contains(&id))
            .collect();
        let ids = kinds.iter().map(|k| (*k, id.as_str())).collect();
        push(q, kinds, ids);
    }
    out
}

/// E071: a placeholder that is unknown, or has no value for the kinds
/// its query is filled in for.
pub(crate) fn check(plan: &Plan, src: &str, cx: &mut Cx) {
    for w in written(plan).into_iter().filter(|w| !w.kinds.is_empty()) {
        for p in placeholders(w.query) {
            let known = placeholder_kind(p.name);
            if known.is_some_and(|k| w.kinds.contains(&k)) {
                continue;
            }
            let kinds: Vec<String> = w
                .kinds
                .iter()
                .map(|k| format!("{{{}}}", k.as_str()))
                .collect();
            let (message, help) = match known {
                None => (
                    format!("unknown placeholder `{{{}}}` in a monitoring query", p.name),
                    match crate::decode::did_you_mean(p.name, QueryKind::ALL.map(QueryKind::as_str))
                    {
                        Some(s) => format!(
                            "did you mean `{{{s}}}`? (placeholders: {{entry}}, {{service}}, {{partner}})"
                        ),
                        None => "placeholders are {entry}, {service} and {partner}".to_string(),
                    },
                ),
                Some(_) => (
                    format!(
                        "placeholder `{{{}}}` has no value here: this query is filled in for {}",
                        p.name,
                        kinds.join(" and ")
                    ),
                    format!("write {}", kinds.join(" or ")),
                ),
            };
            let (path, loc) = query_loc(src, w.at, w.key, w.query, p.start);
            cx.error("E071", &path, loc, message, Some(help));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_words_in_braces() {
        let q = r#"x{resource="{entry}"} + {} + { a } + {par_tner}"#;
        let p: Vec<_> = placeholders(q).iter().map(|p| (p.name, p.start)).collect();
        assert_eq!(p, vec![("entry", 12), ("par_tner", 37)]);
        assert_eq!(
            fill(q, |k| (k == QueryKind::Entry).then_some("a\"b")),
            Err(Placeholder {
                name: "par_tner",
                start: 37,
                end: 47
            })
        );
        assert_eq!(
            fill("x{a=\"{entry}\"}", |_| Some("a\"b")).as_deref(),
            Ok("x{a=\"a\\\"b\"}")
        );
    }

    fn at(src: &str, value: (u32, u32), query: &str, needle: &str) -> Option<(u32, u32)> {
        let off = query.find(needle).expect("needle");
        locate(src, Loc::new(value.0, value.1), query, off).map(|l| (l.line, l.column))
    }

    #[test]
    fn locate_follows_every_style() {
        // plain
        assert_eq!(
            at("q: sum(x) ) y", (1, 4), "sum(x) ) y", ") y"),
            Some((1, 11))
        );
        // single-quoted with a doubled quote before the target
        let src = "q: 'a{b=''c''} ) d'";
        assert_eq!(at(src, (1, 4), "a{b='c'} ) d", ") d"), Some((1, 16)));
        // double-quoted with escapes
        let src = r#"q: "a{b=\"c\"} ) d""#;
        assert_eq!(at(src, (1, 4), r#"a{b="c"} ) d"#, ") d"), Some((1, 16)));
        // a quoted scalar folded over two lines
        let src = "q: 'sum(x)   \n     ) y'";
        assert_eq!(at(src, (1, 4), "sum(x) ) y", ") y"), Some((2, 6)));
        // literal block
        let src = "q: |\n  sum(\n    x ) )\n";
        assert_eq!(at(src, (1, 4), "sum(\n  x ) )\n", ") )"), Some((3, 7)));
        // folded block
        let src = "q: >-\n  sum(x)\n  ) y\n";
        assert_eq!(at(src, (1, 4), "sum(x) ) y", ") y"), Some((3, 3)));
        // a decoded value that does not match the source: not followed
        assert_eq!(at("q: 'abc'", (1, 4), "xbc", "c"), None);
        // the end of the query
        assert_eq!(
            locate("q: 'ab'", Loc::new(1, 4), "ab", 2).map(|l| l.column),
            Some(7)
        );
    }
}
