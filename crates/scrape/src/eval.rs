//! A small part of PromQL evaluated over the built-in scrape's pages, so a
//! funnel step or a `metric: query` alert does not need Prometheus for the
//! common shapes.
//!
//! Why: the funnel's business counters (`coupons_redeemed_total`) are on
//! the pages the control plane already scrapes; requiring Prometheus just
//! to rate them, or reading them only when the query is a bare name, left
//! most funnels `missing` in the default setup. The query is parsed with
//! `promql-parser` (the grammar plan check uses, E070) and evaluated with
//! PromQL's meaning:
//!
//! - `name`, `name{matchers}`: the instant value of every matching series
//!   on the targets' latest pages, each series labelled with its target as
//!   `instance` (as Prometheus' scrape does). Matchers are `=`, `!=`, `=~`,
//!   `!~`; regular expressions are fully anchored, and a missing label is
//!   the empty string.
//! - `rate(sel[w])`: per series, the increase between a target's last two
//!   pages over the seconds between them (a value that went down is a
//!   counter reset, and the new value is the increase; a series new on the
//!   last page started at zero). Two scrapes know only the last interval,
//!   so the window `w` does not change the rate: for steady traffic it is
//!   the rate PromQL gives over `w`; it follows changes faster.
//!   `increase(sel[w])` is that rate × `w` in seconds — PromQL's
//!   `increase` is its `rate` × the window too, so "how many in `w`".
//! - `sum(...)` over every series; `sum by (labels) (...)` only where it
//!   gives one series (a funnel step is one number).
//! - `+ - * /` with a number on either side, or between two vectors whose
//!   series have the same labels (one-to-one, no `on`/`ignoring`); the
//!   metric name is dropped as PromQL drops it; unary minus.
//!
//! Anything else — other functions and aggregations, `offset`, `@`,
//! subqueries, comparisons, vector matching modifiers — is
//! [`Unsupported`], naming the construct: the step is then `missing` with
//! that reason, never zero. A result with no series is no data (`None`),
//! and a result of several series is unsupported too (name the grouping).

use crate::exposition::Exposition;

/// One target's last two good pages.
#[derive(Debug, Clone, Copy)]
pub struct PagePair<'a> {
    /// The target's name, the series' `instance` label.
    pub instance: &'a str,
    /// The page before.
    pub before: &'a Exposition,
    /// The latest page.
    pub after: &'a Exposition,
    /// Seconds between them.
    pub seconds: f64,
}

/// Why a query cannot be evaluated over scraped pages (it needs
/// Prometheus).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the built-in scrape cannot evaluate {0} (it needs Prometheus)")]
pub struct Unsupported(pub String);

fn unsupported<T>(what: impl Into<String>) -> Result<T, Unsupported> {
    Err(Unsupported(what.into()))
}

/// `query` over `pages`: its one value, `None` with no series (no data,
/// not zero) or a NaN result, or why it cannot be evaluated here.
pub fn evaluate(query: &str, pages: &[PagePair<'_>]) -> Result<Option<f64>, Unsupported> {
    imp::evaluate(query, pages)
}

#[cfg(not(feature = "promql"))]
mod imp {
    use super::*;

    pub(super) fn evaluate(_: &str, _: &[PagePair<'_>]) -> Result<Option<f64>, Unsupported> {
        unsupported("a query (seawall-scrape was built without its `promql` feature)")
    }
}

#[cfg(feature = "promql")]
mod imp {
    use promql_parser::label::{MatchOp, Matcher};
    use promql_parser::parser::{
        self, Expr, LabelModifier, VectorMatchCardinality, VectorSelector,
    };

    use std::collections::{BTreeMap, HashMap};

    use super::*;
    use crate::exposition::Sample;

    /// Sorted labels of a series; `__name__` holds the metric name.
    type Labels = Vec<(String, String)>;

    /// An instant value: a number, or series with their values.
    #[derive(Debug, Clone, PartialEq)]
    enum Value {
        Scalar(f64),
        Vector(Vec<(Labels, f64)>),
    }

    const NAME: &str = "__name__";

    pub(super) fn evaluate(
        query: &str,
        pages: &[PagePair<'_>],
    ) -> Result<Option<f64>, Unsupported> {
        let expr = match parser::parse(query) {
            Ok(e) => e,
            Err(e) => return unsupported(format!("a query that does not parse ({})", e.trim())),
        };
        let one = |v: f64| (!v.is_nan()).then_some(v);
        match eval(&expr, pages)? {
            Value::Scalar(v) => Ok(one(v)),
            Value::Vector(s) => match s.as_slice() {
                [] => Ok(None),
                [(_, v)] => Ok(one(*v)),
                many => unsupported(format!(
                    "a result of {} series (one number is needed: aggregate it, e.g. sum(...))",
                    many.len()
                )),
            },
        }
    }

    fn eval(expr: &Expr, pages: &[PagePair<'_>]) -> Result<Value, Unsupported> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::Paren(p) => eval(&p.expr, pages),
            Expr::VectorSelector(vs) => instant(vs, pages).map(Value::Vector),
            Expr::Unary(u) => Ok(match eval(&u.expr, pages)? {
                Value::Scalar(v) => Value::Scalar(-v),
                Value::Vector(s) => {
                    Value::Vector(s.into_iter().map(|(l, v)| (without_name(l), -v)).collect())
                }
            }),
            Expr::Call(call) => {
                let name = call.func.name;
                let [arg] = call.args.args.as_slice() else {
                    return unsupported(format!("{name}() with these arguments"));
                };
                match (name, arg.as_ref()) {
                    ("rate" | "increase", Expr::MatrixSelector(ms)) => {
                        let window = ms.range.as_secs_f64();
                        let factor = if name == "increase" { window } else { 1.0 };
                        rates(&ms.vs, pages).map(|s| {
                            Value::Vector(s.into_iter().map(|(l, r)| (l, r * factor)).collect())
                        })
                    }
                    ("rate" | "increase", _) => unsupported(format!("{name}() of a subquery")),
                    _ => unsupported(format!("the function {name}()")),
                }
            }
            Expr::Aggregate(a) => {
                let op = a.op.to_string();
                if op != "sum" || a.param.is_some() {
                    return unsupported(format!("the aggregation {op}"));
                }
                let Value::Vector(series) = eval(&a.expr, pages)? else {
                    return unsupported("sum of a number");
                };
                let by = match &a.modifier {
                    None => Vec::new(),
                    Some(LabelModifier::Include(l)) => l.labels.clone(),
                    Some(LabelModifier::Exclude(_)) => return unsupported("sum without (...)"),
                };
                let mut groups: BTreeMap<Labels, f64> = BTreeMap::new();
                for (labels, v) in series {
                    let key: Labels = labels
                        .into_iter()
                        .filter(|(k, _)| by.iter().any(|b| b == k))
                        .collect();
                    *groups.entry(key).or_default() += v;
                }
                if groups.len() > 1 {
                    return unsupported(format!(
                        "sum by ({}) giving {} series",
                        by.join(", "),
                        groups.len()
                    ));
                }
                Ok(Value::Vector(groups.into_iter().collect()))
            }
            Expr::Binary(b) => {
                let op = b.op.to_string();
                let f: fn(f64, f64) -> f64 = match op.as_str() {
                    "+" => |x, y| x + y,
                    "-" => |x, y| x - y,
                    "*" => |x, y| x * y,
                    "/" => |x, y| x / y,
                    _ => return unsupported(format!("the operator {op}")),
                };
                if b.modifier.as_ref().is_some_and(|m| {
                    m.matching.is_some()
                        || m.return_bool
                        || !matches!(m.card, VectorMatchCardinality::OneToOne)
                }) {
                    return unsupported(format!("{op} with on/ignoring/group_left/bool"));
                }
                binary(f, eval(&b.lhs, pages)?, eval(&b.rhs, pages)?, &op)
            }
            Expr::MatrixSelector(_) => unsupported("a range vector outside rate()/increase()"),
            Expr::Subquery(_) => unsupported("a subquery"),
            Expr::StringLiteral(_) => unsupported("a string"),
            Expr::Extension(_) => unsupported("an extension expression"),
        }
    }

    fn binary(f: fn(f64, f64) -> f64, l: Value, r: Value, op: &str) -> Result<Value, Unsupported> {
        use Value::{Scalar, Vector};
        Ok(match (l, r) {
            (Scalar(x), Scalar(y)) => Scalar(f(x, y)),
            (Vector(s), Scalar(y)) => Vector(
                s.into_iter()
                    .map(|(l, x)| (without_name(l), f(x, y)))
                    .collect(),
            ),
            (Scalar(x), Vector(s)) => Vector(
                s.into_iter()
                    .map(|(l, y)| (without_name(l), f(x, y)))
                    .collect(),
            ),
            (Vector(a), Vector(b)) => {
                let rhs: HashMap<Labels, f64> =
                    b.into_iter().map(|(l, v)| (without_name(l), v)).collect();
                let mut out = Vec::new();
                for (l, x) in a {
                    let l = without_name(l);
                    if let Some(y) = rhs.get(&l) {
                        out.push((l, f(x, *y)));
                    }
                }
                if out.is_empty() && !rhs.is_empty() {
                    // Series that do not pair up would need on()/ignoring().
                    return unsupported(format!(
                        "{op} between vectors whose labels differ (it needs on()/ignoring())"
                    ));
                }
                Vector(out)
            }
        })
    }

    fn without_name(mut l: Labels) -> Labels {
        l.retain(|(k, _)| k != NAME);
        l
    }

    /// Whether `s` (on a page of `instance`) is selected by `vs`.
    fn selects(vs: &VectorSelector, s: &Sample, instance: &str) -> bool {
        if vs.name.as_deref().is_some_and(|n| n != s.name) {
            return false;
        }
        let value = |m: &Matcher| -> String {
            match m.name.as_str() {
                NAME => s.name.clone(),
                "instance" => s.label("instance").unwrap_or(instance).to_owned(),
                l => s.label(l).unwrap_or_default().to_owned(),
            }
        };
        let all = |ms: &[Matcher]| ms.iter().all(|m| matches(m, &value(m)));
        all(&vs.matchers.matchers)
            && (vs.matchers.or_matchers.is_empty()
                || vs.matchers.or_matchers.iter().any(|ms| all(ms)))
    }

    /// PromQL's matcher: equality, or a fully anchored regex (the parser
    /// anchors it).
    pub(crate) fn matches(m: &Matcher, value: &str) -> bool {
        match &m.op {
            MatchOp::Equal => m.value == value,
            MatchOp::NotEqual => m.value != value,
            MatchOp::Re(re) => re.is_match(value),
            MatchOp::NotRe(re) => !re.is_match(value),
        }
    }

    fn check_modifiers(vs: &VectorSelector) -> Result<(), Unsupported> {
        if vs.offset.is_some() {
            return unsupported("offset");
        }
        if vs.at.is_some() {
            return unsupported("the @ modifier");
        }
        Ok(())
    }

    fn labels_of(s: &Sample, instance: &str) -> Labels {
        let mut l = s.labels.clone();
        if s.label("instance").is_none() {
            l.push(("instance".to_owned(), instance.to_owned()));
        }
        l.push((NAME.to_owned(), s.name.clone()));
        l.sort();
        l
    }

    fn instant(
        vs: &VectorSelector,
        pages: &[PagePair<'_>],
    ) -> Result<Vec<(Labels, f64)>, Unsupported> {
        check_modifiers(vs)?;
        Ok(pages
            .iter()
            .flat_map(|p| {
                p.after
                    .samples()
                    .filter(move |s| selects(vs, s, p.instance))
                    .map(move |s| (labels_of(s, p.instance), s.value))
            })
            .collect())
    }

    fn rates(
        vs: &VectorSelector,
        pages: &[PagePair<'_>],
    ) -> Result<Vec<(Labels, f64)>, Unsupported> {
        check_modifiers(vs)?;
        let mut out = Vec::new();
        for p in pages {
            if p.seconds.is_nan() || p.seconds <= 0.0 {
                continue;
            }
            let pick = |s: &Sample| selects(vs, s, p.instance);
            for (s, inc) in crate::templates::increases_by(p.before, p.after, pick) {
                out.push((without_name(labels_of(s, p.instance)), inc / p.seconds));
            }
        }
        Ok(out)
    }
}

#[cfg(all(test, feature = "promql"))]
mod tests {
    use super::*;
    use crate::exposition::parse;

    fn pair<'a>(instance: &'a str, before: &'a Exposition, after: &'a Exposition) -> PagePair<'a> {
        PagePair {
            instance,
            before,
            after,
            seconds: 10.0,
        }
    }

    #[test]
    fn the_common_shapes_over_two_targets() {
        let a0 = parse(
            "redeemed_total{result=\"ok\"} 100\nredeemed_total{result=\"fail\"} 10\nstock 7\n",
        )
        .expect("a0");
        let a1 = parse(
            "redeemed_total{result=\"ok\"} 150\nredeemed_total{result=\"fail\"} 12\nstock 5\n",
        )
        .expect("a1");
        // b restarted: 40 → 8 is a reset, the increase is 8.
        let b0 = parse("redeemed_total{result=\"ok\"} 40\n").expect("b0");
        let b1 = parse("redeemed_total{result=\"ok\"} 8\n").expect("b1");
        let pages = [pair("a:9", &a0, &a1), pair("b:9", &b0, &b1)];
        let ev = |q: &str| evaluate(q, &pages);
        assert_eq!(ev("sum(rate(redeemed_total[1m]))"), Ok(Some(6.0)));
        assert_eq!(
            ev(r#"sum(rate(redeemed_total{result="ok"}[1m]))"#),
            Ok(Some(5.8))
        );
        assert_eq!(
            ev(r#"sum(increase(redeemed_total{result=~"o."}[1m]))"#),
            Ok(Some(5.8 * 60.0))
        );
        assert_eq!(
            ev(r#"rate(redeemed_total{result!="ok"}[5m])"#),
            Ok(Some(0.2))
        );
        assert_eq!(ev("stock"), Ok(Some(5.0)));
        assert_eq!(ev("stock * 2"), Ok(Some(10.0)));
        assert_eq!(ev("(stock) / 4"), Ok(Some(1.25)));
        assert_eq!(ev("-stock + 1"), Ok(Some(-4.0)));
        assert_eq!(
            ev(r#"sum by (instance) (rate(redeemed_total{instance="b:9"}[1m]))"#),
            Ok(Some(0.8))
        );
        assert_eq!(
            ev(
                r#"1 - sum(rate(redeemed_total{result="fail"}[1m])) / sum(rate(redeemed_total[1m]))"#
            ),
            Ok(Some(1.0 - 0.2 / 6.0))
        );
        // No series: no data, not zero.
        assert_eq!(ev("sum(rate(nothing_total[1m]))"), Ok(None));
        assert_eq!(ev("nothing"), Ok(None));
        // Not one number, or not supported: a reason naming the construct.
        let reason = |q: &str| ev(q).expect_err(q).0;
        assert!(reason("rate(redeemed_total[1m])").contains("3 series"));
        assert!(
            reason("sum by (instance) (rate(redeemed_total[1m]))")
                .contains("sum by (instance) giving 2")
        );
        assert!(reason("avg(stock)").contains("aggregation avg"));
        assert!(reason("histogram_quantile(0.9, stock)").contains("histogram_quantile"));
        assert!(reason("stock offset 5m").contains("offset"));
        assert!(reason("stock > 1").contains("operator >"));
        assert!(reason("sum without (result) (stock)").contains("without"));
        assert!(reason("max_over_time(stock[5m])").contains("max_over_time"));
        assert!(reason("rate(stock[5m:1m])").contains("subquery"));
        assert!(reason("sum(x) / on() sum(y)").contains("on/ignoring"));
    }
}
