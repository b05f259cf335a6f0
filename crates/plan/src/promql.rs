//! PromQL of the plan's `monitoring` section, parsed at check time (E070).
//!
//! Why: a query with a typo otherwise surfaces on the event day, as a
//! failed series on the live page, or when Prometheus loads generated
//! rules. Parsing it in process with `promql-parser` (Prometheus' grammar)
//! moves the mistake to `seawall plan check` and to every push, with the
//! line and column of the query inside the YAML.
//!
//! Templates (`monitoring.templates` and placeholders in
//! `monitoring.queries`) are checked twice: with their placeholders
//! replaced by words of the same length, so a syntax error's position in
//! the filled-in query is its position in the template; then filled in
//! for every id of their kind, as the control plane and the exports will
//! (an id can still break a query, e.g. as part of a metric name).
//!
//! Position: `promql-parser` (0.11) reports no position. Its lexer's errors
//! are located here by lexing prefixes of the query: the error lies at
//! the end of the shortest prefix, past the longest one that lexes, that
//! fails with the same message (an unclosed parenthesis at the one left
//! open, a stray character at that character). The grammar's errors
//! ("invalid promql query") carry nothing to locate, and point at the
//! query's first character. [`crate::query::locate`] maps the offset into
//! the YAML file, whatever the quoting style.

use crate::decode::Cx;
use crate::diag::At;
use crate::model::{Plan, QueryKind};
use crate::query::{fill, query_loc, written};

/// Same-length stand-ins for the template placeholders (identifier
/// characters, so they fit both inside label values and metric names).
const PLACEHOLDERS: [(&str, &str); 3] = [
    ("{entry}", "entry__"),
    ("{service}", "service__"),
    ("{partner}", "partner__"),
];

/// Longest query whose error position is searched (the search lexes
/// every prefix: quadratic in the length).
const LOCATE_MAX: usize = 4096;

/// The query with its placeholders replaced by same-length words.
fn concrete(query: &str) -> String {
    PLACEHOLDERS
        .iter()
        .fold(query.to_owned(), |q, (from, to)| q.replace(from, to))
}

/// Why a query does not parse, and the byte offset of the error in it
/// when it can be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The parser's message.
    pub message: String,
    /// Byte offset of the offending character.
    pub offset: Option<usize>,
}

/// Parse `query` (placeholders stood in for); the parser's message and the
/// error's offset when it does not parse.
pub fn check_query(query: &str) -> Result<(), ParseError> {
    parse_located(&concrete(query))
}

fn parse_located(query: &str) -> Result<(), ParseError> {
    let message = match promql_parser::parser::parse(query) {
        Ok(_) => return Ok(()),
        Err(e) => e.trim().to_owned(),
    };
    Err(ParseError {
        offset: lexer_error_offset(query, &message),
        message,
    })
}

/// Where the lexer fails with `message`: past the longest prefix that
/// lexes, the shortest prefix that fails with the same message ends with
/// the offending character. `None` for grammar errors (every prefix's
/// lexing agrees with the query's) and for long queries.
fn lexer_error_offset(query: &str, message: &str) -> Option<usize> {
    use promql_parser::parser::lexer;
    if query.len() > LOCATE_MAX || lexer(query).err().as_deref().map(str::trim) != Some(message) {
        return None;
    }
    let ends: Vec<(usize, usize)> = query
        .char_indices()
        .map(|(i, c)| (i, i + c.len_utf8()))
        .collect();
    let lexes = ends
        .iter()
        .rposition(|(_, end)| lexer(&query[..*end]).is_ok())
        .map_or(0, |k| k + 1);
    ends[lexes..]
        .iter()
        .find(|(_, end)| lexer(&query[..*end]).err().as_deref().map(str::trim) == Some(message))
        .map(|(start, _)| *start)
}

fn report(
    cx: &mut Cx,
    src: &str,
    at: &At,
    key: &str,
    query: &str,
    e: &ParseError,
    id: Option<&str>,
) {
    let (path, loc) = query_loc(src, at, key, query, e.offset.unwrap_or(0));
    let filled = id
        .map(|id| format!(" (filled in for `{id}`)"))
        .unwrap_or_default();
    cx.error(
        "E070",
        &path,
        loc,
        format!("PromQL does not parse{filled}: {}", e.message),
        Some(format!(
            "fix the query `{query}` (check it with `promtool query instant` or Prometheus' expression browser)"
        )),
    );
}

/// Whether every placeholder of `query` stands inside a PromQL string
/// literal (`"…"`, `'…'` with backslash escapes, or `` `…` ``).
fn placeholders_quoted(query: &str) -> bool {
    let mut inside = vec![false; query.len()];
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in query.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q != '`' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    continue;
                }
                inside[i] = true;
            }
            None if matches!(c, '"' | '\'' | '`') => quote = Some(c),
            None => {}
        }
    }
    crate::query::placeholders(query)
        .iter()
        .all(|p| inside.get(p.start).copied().unwrap_or(false))
}

/// Every query of `monitoring.queries`, `templates`, `funnel` and
/// `alerts`, parsed; one E070 per query that does not parse. Templates
/// and per-id queries are also parsed filled in for each of their ids;
/// the first id that breaks one is named.
pub(crate) fn check(plan: &Plan, src: &str, cx: &mut Cx) {
    for w in written(plan) {
        if let Err(e) = check_query(w.query) {
            report(cx, src, w.at, w.key, w.query, &e, None);
            continue;
        }
        let quoted = placeholders_quoted(w.query);
        for (kind, id) in &w.ids {
            // Inside a string literal, an id of plain characters reads as
            // the stand-in did: parsing it again would only cost time
            // (a service template over 10,000 services).
            if quoted
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.:/ ".contains(c))
            {
                continue;
            }
            let value = |k: QueryKind| (k == *kind).then_some(*id);
            // An unfillable placeholder is E071's.
            let Ok(filled) = fill(w.query, value) else {
                continue;
            };
            if let Err(mut e) = parse_located(&filled) {
                e.offset = None; // an offset in the filled-in text
                report(cx, src, w.at, w.key, w.query, &e, Some(id));
                break;
            }
        }
    }
    let m = &plan.monitoring;
    let mut raw: Vec<(&At, &str)> = Vec::new();
    raw.extend(m.funnel.iter().map(|s| (&s.at, s.query.as_str())));
    raw.extend(
        m.alerts
            .values()
            .filter_map(|a| Some((&a.at, a.query.as_deref()?))),
    );
    // Funnel and alert queries are sent as written: no placeholder is
    // filled in, so none is stood in for either.
    for (at, query) in raw {
        if let Err(e) = parse_located(query) {
            report(cx, src, at, "query", query, &e, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_as_the_promql_they_become() {
        assert_eq!(
            check_query(r#"sum(rate(x{resource="{entry}"}[1m]))"#),
            Ok(())
        );
        assert_eq!(check_query("{service}_requests_total"), Ok(()));
        let e = check_query("sum(rate(x[1m])").expect_err("unclosed");
        assert_eq!(e.message, "unclosed left parenthesis");
        // sum's parenthesis is the one left open.
        assert_eq!(e.offset, Some(3));
        let e = check_query(r#"x{a$b="c"}"#).expect_err("stray");
        assert_eq!(e.offset, Some(3));
        let e = check_query("sum(x))").expect_err("extra");
        assert_eq!(e.offset, Some(6));
        let e = check_query(r#"a{b="c"} + d{"#).expect_err("open brace");
        assert_eq!(e.offset, Some(12));
        // A grammar error has no position.
        let e = check_query("sum(x) +").expect_err("grammar");
        assert_eq!(e.offset, None, "{e:?}");
        assert_eq!(concrete("{partner}").len(), "{partner}".len());
        assert!(placeholders_quoted(
            r#"x{a="{entry}", b='\'{entry}'} + `{entry}`"#
        ));
        assert!(!placeholders_quoted(r#"x{a="\"" } + {entry}_total"#));
        assert!(!placeholders_quoted("{service}_requests_total"));
    }
}
