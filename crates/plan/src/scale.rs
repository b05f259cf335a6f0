//! A plan scaled to a smaller (or larger) environment: every rate and
//! capacity multiplied by one factor, everything else (instances, SLOs,
//! timeouts, people, windows) kept, comments and layout kept.
//!
//! Why: rehearsal environments are often a fraction of production, and a
//! laptop demo is a very small fraction. Targets are linear in the goal
//! totals and capacities are linear in capacity per instance, so water
//! levels, findings and instance counts of the scaled plan are those of
//! the original, while every QPS figure fits the environment. The text is
//! edited in place at the parser's locations, so the result reads like the
//! original and parses with the same rules.

use crate::diag::{Diagnostic, Diagnostics, Loc, Severity};
use crate::node::{Kind, Node, parse_yaml};

/// Which values are rates: paths from the root, `*` for any key or index.
/// A trailing `?metric=qps` means only where the sibling `metric` is `qps`.
const RATES: &[&str] = &[
    "goals.*.total",
    "entries.*.current_qps",
    "entries.*.rate_limit",
    "services.*.current_qps",
    "services.*.capacity_per_instance",
    "services.*.dependencies.*.isolation.qps",
    "partners.*.quota_qps",
    "emergency_plans.*.actions.*.qps",
    "monitoring.alerts.*.above?metric=qps",
    "monitoring.alerts.*.below?metric=qps",
    "rehearsals.*.rate",
    "rehearsals.*.stages.*.rate",
];

/// Largest and smallest factor accepted.
pub const MAX_FACTOR: f64 = 1000.0;
/// Smallest factor accepted.
pub const MIN_FACTOR: f64 = 1e-6;

/// The plan text `src` with every rate and capacity multiplied by
/// `factor` (`0 < factor`, within [`MIN_FACTOR`]..=[`MAX_FACTOR`]). The
/// result is parsed again before it is returned; a plan that does not
/// parse before or after gets its diagnostics.
pub fn scale(src: &str, file: &str, factor: f64) -> Result<String, Diagnostics> {
    if !(factor.is_finite() && (MIN_FACTOR..=MAX_FACTOR).contains(&factor)) {
        return Err(Diagnostics(vec![Diagnostic {
            code: "E090",
            severity: Severity::Error,
            file: file.into(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!("scale factor {factor} is out of range"),
            help: Some(format!(
                "give a factor between {MIN_FACTOR} and {MAX_FACTOR}, e.g. 0.02 for an environment 1/50 of production"
            )),
        }]));
    }
    // The plan must be valid as it is: scaling a broken plan hides where
    // its problems are.
    crate::parse(src, file)?;
    let root = parse_yaml(src).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            code: "E001",
            severity: Severity::Error,
            file: file.into(),
            line: e.loc.line,
            column: e.loc.column,
            path: String::new(),
            message: format!("YAML syntax error: {}", e.message),
            help: None,
        }])
    })?;
    let mut found = Vec::new();
    for pattern in RATES {
        let (path, cond) = match pattern.split_once('?') {
            Some((p, c)) => (p, c.split_once('=')),
            None => (*pattern, None),
        };
        let parts: Vec<&str> = path.split('.').collect();
        collect(&root, &parts, cond, &mut found);
    }
    let out = rewrite(src, &found, factor).map_err(|(loc, message)| {
        Diagnostics(vec![Diagnostic {
            code: "E091",
            severity: Severity::Error,
            file: file.into(),
            line: loc.line,
            column: loc.column,
            path: String::new(),
            message,
            help: Some("write the number as a plain decimal (1500, 0.5)".into()),
        }])
    })?;
    crate::parse(&out, file)?;
    Ok(out)
}

/// Numeric scalars at `parts` below `node`.
fn collect(node: &Node, parts: &[&str], cond: Option<(&str, &str)>, out: &mut Vec<Loc>) {
    let Some((first, rest)) = parts.split_first() else {
        if matches!(node.kind, Kind::Int(_) | Kind::Float(_)) {
            out.push(node.loc);
        }
        return;
    };
    match &node.kind {
        Kind::Map(items) => {
            if rest.is_empty()
                && let Some((key, want)) = cond
            {
                let ok = items.iter().any(|(k, v)| {
                    matches!(&k.kind, Kind::Str(s) if s == key)
                        && matches!(&v.kind, Kind::Str(s) if s == want)
                });
                if !ok {
                    return;
                }
            }
            for (k, v) in items {
                if let Kind::Str(name) = &k.kind
                    && (*first == "*" || first == name)
                {
                    collect(v, rest, cond, out);
                }
            }
        }
        Kind::Seq(items) if *first == "*" => {
            for v in items {
                collect(v, rest, cond, out);
            }
        }
        _ => {}
    }
}

/// Replace the number written at each location by itself × `factor`.
fn rewrite(src: &str, locs: &[Loc], factor: f64) -> Result<String, (Loc, String)> {
    // Byte offset of each line start.
    let mut starts = vec![0usize];
    starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
    let mut edits = Vec::with_capacity(locs.len());
    for &loc in locs {
        let line = usize::try_from(loc.line).unwrap_or(usize::MAX);
        let Some(&line_start) = line.checked_sub(1).and_then(|i| starts.get(i)) else {
            return Err((loc, "a number's position is outside the text".into()));
        };
        let line_text = &src[line_start..];
        let column = usize::try_from(loc.column).unwrap_or(usize::MAX);
        let Some((offset, _)) = line_text.char_indices().nth(column.saturating_sub(1)) else {
            return Err((loc, "a number's position is outside its line".into()));
        };
        let token_start = line_start + offset;
        let token_len = src[token_start..]
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | '}' | ']' | '#'))
            .unwrap_or(src.len() - token_start);
        let token = &src[token_start..token_start + token_len];
        let Ok(value) = token.parse::<f64>() else {
            return Err((loc, format!("`{token}` is not a number Seawall can scale")));
        };
        edits.push((token_start, token_len, format_number(value * factor)));
    }
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    edits.dedup_by_key(|e| e.0);
    let mut out = src.to_owned();
    for (start, len, text) in edits {
        out.replace_range(start..start + len, &text);
    }
    Ok(out)
}

/// A decimal without exponent, the shortest that reads back as the same
/// number (so scaled water levels equal the original ones exactly up to
/// float rounding); integers stay integers.
fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARNIVAL: &str = include_str!("../../../examples/carnival/plan.yaml");

    #[test]
    fn water_levels_and_instances_survive_scaling() {
        let small = scale(CARNIVAL, "plan.yaml", 0.02).expect("scaled");
        let a = crate::parse(CARNIVAL, "plan.yaml").expect("plan");
        let b = crate::parse(&small, "plan.yaml").expect("scaled plan");
        let table = |p: &crate::Plan| {
            let t = crate::targets::decompose(p);
            crate::capacity::table(p, &t, &crate::capacity::Measured::default())
        };
        let (ca, cb) = (table(&a), table(&b));
        assert_eq!(ca.services.len(), cb.services.len());
        for (x, y) in ca.services.iter().zip(&cb.services) {
            assert_eq!(x.id, y.id);
            let (tx, ty) = (x.target_qps, y.target_qps);
            assert!(
                (ty - tx * 0.02).abs() < 1e-6 * tx.max(1.0),
                "{}: {tx} -> {ty}",
                x.id
            );
            assert!(
                (x.water_level.unwrap_or(0.0) - y.water_level.unwrap_or(0.0)).abs() < 1e-9,
                "{}",
                x.id
            );
            assert_eq!(x.instances_needed, y.instances_needed, "{}", x.id);
        }
        // Comments and layout are kept: only numbers changed.
        assert_eq!(CARNIVAL.lines().count(), small.lines().count());
        assert!(small.contains("capacity_per_instance: 5      # capacity 10000"));
        assert!(small.contains("quota_qps: 40 "));
        assert!(small.contains("rate: \"1.2x\""), "multiples are not rates");
    }

    #[test]
    fn factor_one_changes_nothing_but_number_spelling() {
        let same = scale(CARNIVAL, "plan.yaml", 1.0).expect("scaled");
        assert_eq!(same, CARNIVAL);
    }

    #[test]
    fn bad_factors_and_plans_are_refused_with_diagnostics() {
        for f in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
            let e = scale(CARNIVAL, "plan.yaml", f).expect_err("refused");
            assert_eq!(e.0[0].code, "E090", "{f}");
        }
        let e = scale("event: {name: x}\nservices: [", "bad.yaml", 0.5).expect_err("refused");
        assert_eq!(e.0[0].code, "E001");
        assert!(e.0[0].line >= 1);
    }

    #[test]
    fn numbers_are_written_plainly() {
        assert_eq!(format_number(200.0), "200");
        assert_eq!(format_number(6.4), "6.4");
        assert_eq!(format_number(1.0 / 3.0).parse::<f64>(), Ok(1.0 / 3.0));
        assert_eq!(format_number(1e-7), "0.0000001");
        assert_eq!(format_number(0.0), "0");
    }
}
