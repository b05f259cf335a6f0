//! PromQL of the plan's `monitoring` section, parsed at check time (E070).
//!
//! Why: a query with a typo otherwise surfaces on the event day, as a
//! failed series on the live page, or when Prometheus loads generated
//! rules. Parsing it in process with `promql-parser` (Prometheus' grammar)
//! moves the mistake to `seawall plan check` and to every push, with the
//! line and column of the query inside the YAML.
//!
//! Query templates' placeholders (`{entry}`, `{service}`, `{partner}`) are
//! replaced by words of the same length before parsing, so a template is
//! checked as the PromQL it becomes. `promql-parser` reports no position
//! inside the query, so the diagnostic points at the query's first
//! character (after an opening quote) and quotes the parser's message.

use crate::decode::Cx;
use crate::diag::{At, Loc};
use crate::model::Plan;

/// Same-length stand-ins for the template placeholders (identifier
/// characters, so they fit both inside label values and metric names).
const PLACEHOLDERS: [(&str, &str); 3] = [
    ("{entry}", "entry__"),
    ("{service}", "service__"),
    ("{partner}", "partner__"),
];

/// The query with its placeholders replaced by same-length words.
fn concrete(query: &str) -> String {
    PLACEHOLDERS
        .iter()
        .fold(query.to_owned(), |q, (from, to)| q.replace(from, to))
}

/// Parse `query`; the parser's message when it does not parse.
pub fn check_query(query: &str) -> Result<(), String> {
    promql_parser::parser::parse(&concrete(query))
        .map(|_| ())
        .map_err(|e| e.trim().to_owned())
}

/// The location of the query's first character: the value's location,
/// one column further when the value is quoted.
fn query_loc(src: &str, at: &At, key: &str) -> (String, Loc) {
    let location = at.field(key);
    let mut loc = Loc::new(location.line, location.column);
    let quoted = usize::try_from(loc.line)
        .ok()
        .and_then(|l| src.lines().nth(l.checked_sub(1)?))
        .and_then(|line| {
            line.chars()
                .nth(usize::try_from(loc.column).ok()?.checked_sub(1)?)
        })
        .is_some_and(|c| c == '\'' || c == '"');
    if quoted {
        loc.column += 1;
    }
    (location.path, loc)
}

/// Every query of `monitoring.queries`, `funnel` and `alerts`, parsed;
/// one E070 per query that does not parse.
pub(crate) fn check(plan: &Plan, src: &str, cx: &mut Cx) {
    let m = &plan.monitoring;
    let mut queries: Vec<(&At, &str, &str)> = Vec::new();
    for q in m.queries.values() {
        for (key, query) in [
            ("qps", &q.qps),
            ("p99_ms", &q.p99_ms),
            ("error_rate", &q.error_rate),
        ] {
            if let Some(query) = query {
                queries.push((&q.at, key, query));
            }
        }
    }
    for step in &m.funnel {
        queries.push((&step.at, "query", &step.query));
    }
    for alert in m.alerts.values() {
        if let Some(query) = &alert.query {
            queries.push((&alert.at, "query", query));
        }
    }
    for (at, key, query) in queries {
        if let Err(message) = check_query(query) {
            let (path, loc) = query_loc(src, at, key);
            cx.error(
                "E070",
                &path,
                loc,
                format!("PromQL does not parse: {message}"),
                Some(format!(
                    "fix the query `{query}` (check it with `promtool query instant` or Prometheus' expression browser)"
                )),
            );
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
        assert!(check_query("sum(rate(x[1m])").is_err());
        assert_eq!(concrete("{partner}").len(), "{partner}".len());
    }
}
