//! Targets & water levels (`/ui/events/{slug}/targets`): the capacity table
//! of entries, services and partners exactly as the API's `/plan/capacity`
//! computes it (declared capacity, or measured from the event's runs), with
//! a coloured gauge per row, sortable by column and filtered by business
//! line through query parameters, so every view has a URL to share.

use std::cmp::Ordering;

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use axum::routing::get;
use seawall_plan::Plan;
use seawall_plan::capacity::{CapacitySource, Row};
use seawall_plan::readiness::service_lines;
use serde::Deserialize;

use super::svg::{Markup, gauge, percent, status_name};
use super::{Chrome, Nav, Session, UiError, render};
use crate::auth::READERS;
use crate::error::ApiError;
use crate::service::plans::{Analyses, analysed};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/events/{slug}/targets", get(page))
}

/// The analyses of event `slug`'s current plan, or `None` when the event
/// (which the caller has found) has no plan yet.
pub(crate) async fn current(state: &AppState, slug: &str) -> Result<Option<Analyses>, UiError> {
    let a = match analysed(state, slug, None).await {
        Ok(a) => a,
        Err(ApiError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(Analyses::of(a)))
}

/// A rate in QPS for a table cell: thousands separated, whole numbers
/// without decimals, others with one (`5,750`, `12.5`).
pub fn qps(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "—".into()
        } else {
            "∞".into()
        };
    }
    let neg = v < 0.0;
    let v = v.abs();
    let whole = (v - v.round()).abs() < 0.05;
    let int = if whole { v.round() } else { v.trunc() };
    let digits = format!("{int:.0}");
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !whole {
        let frac = format!("{:.1}", v.fract());
        out.push_str(frac.trim_start_matches('0'));
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// How the capacity figure of a row came about (`declared`, `runs 3`).
pub fn source_text(row: &Row, measured_source: Option<&str>) -> String {
    match row.capacity_source {
        CapacitySource::Declared => "declared".into(),
        CapacitySource::Measured => measured_source.unwrap_or("measured").to_owned(),
        CapacitySource::Unknown => "unknown".into(),
    }
}

/// Columns the tables sort by (`?sort=`).
pub const SORT_KEYS: [(&str, &str); 8] = [
    ("id", "Id"),
    ("target", "Target"),
    ("capacity", "Capacity"),
    ("water_level", "Water level"),
    ("required", "Required"),
    ("scaling", "Needs scaling"),
    ("instances", "Instances / needed"),
    ("bottleneck", "Bottleneck"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Asc,
    Desc,
}

/// Compare two rows by `key`; unknown values sort last in either direction.
fn compare(key: &str, dir: Dir, a: &Row, b: &Row) -> Ordering {
    fn opt<T: PartialOrd>(a: Option<T>, b: Option<T>, dir: Dir) -> Ordering {
        match (a, b) {
            (Some(x), Some(y)) => {
                let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                if dir == Dir::Desc { o.reverse() } else { o }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    let level = |r: &Row| r.water_level.filter(|l| !l.is_nan());
    match key {
        "id" => opt(Some(&a.id), Some(&b.id), dir),
        "target" => opt(Some(a.target_qps), Some(b.target_qps), dir),
        "capacity" => opt(a.capacity_qps, b.capacity_qps, dir),
        "water_level" => opt(level(a), level(b), dir),
        "required" => opt(Some(a.required_qps), Some(b.required_qps), dir),
        "scaling" => opt(Some(a.needs_scaling), Some(b.needs_scaling), dir),
        "instances" => opt(a.instances_needed, b.instances_needed, dir),
        "bottleneck" => opt(a.bottleneck.as_ref(), b.bottleneck.as_ref(), dir),
        _ => Ordering::Equal,
    }
}

/// `rows` sorted by `key` (input order when `key` is empty; stable).
fn sorted<'r>(key: &str, dir: Dir, mut rows: Vec<&'r Row>) -> Vec<&'r Row> {
    if !key.is_empty() {
        rows.sort_by(|a, b| compare(key, dir, a, b));
    }
    rows
}

/// A table row as the page shows it.
pub struct RowView {
    /// `entry`, `service` or `partner`.
    pub kind: &'static str,
    /// Id.
    pub id: String,
    /// Display name, if the plan has one.
    pub name: Option<String>,
    /// Target QPS.
    pub target: String,
    /// Capacity QPS (`—` unknown).
    pub capacity: String,
    /// Raw capacity for `data-capacity` (empty when unknown).
    pub capacity_raw: String,
    /// Where the capacity comes from.
    pub source: String,
    /// Water level as text.
    pub level: String,
    /// The gauge.
    pub gauge: Markup,
    /// `ok`, `warn`, `critical`, `unknown`.
    pub status: &'static str,
    /// Required QPS.
    pub required: String,
    /// Needs scaling.
    pub needs_scaling: bool,
    /// `now / needed` instances, if known.
    pub instances: Option<String>,
    /// The bottleneck (entries) and the kind of row it is.
    pub bottleneck: Option<(String, &'static str)>,
}

fn view(kind: &'static str, row: &Row, plan: &Plan, measured: Option<&str>) -> RowView {
    let name = match kind {
        "entry" => plan.entries.get(&row.id).and_then(|e| e.name.clone()),
        "service" => plan.services.get(&row.id).and_then(|s| s.name.clone()),
        _ => plan.partners.get(&row.id).and_then(|p| p.name.clone()),
    };
    let p = &plan.capacity;
    RowView {
        kind,
        id: row.id.clone(),
        name,
        target: qps(row.target_qps),
        capacity: row.capacity_qps.map_or_else(|| "—".into(), qps),
        capacity_raw: row.capacity_qps.map(|c| c.to_string()).unwrap_or_default(),
        source: source_text(row, measured),
        level: percent(row.water_level),
        gauge: gauge(row.water_level, row.status, p.warn_level, p.critical_level),
        status: status_name(row.status),
        required: qps(row.required_qps),
        needs_scaling: row.needs_scaling,
        instances: match (row.instances, row.instances_needed) {
            (Some(now), Some(need)) => Some(format!("{now} / {need}")),
            (None, Some(need)) => Some(format!("? / {need}")),
            (Some(now), None) => Some(format!("{now} / ?")),
            (None, None) => None,
        },
        bottleneck: row.bottleneck.as_ref().map(|b| {
            let kind = if plan.partners.contains_key(b) {
                "partner"
            } else {
                "service"
            };
            (b.clone(), kind)
        }),
    }
}

/// A sortable column header.
pub struct Header {
    /// `?sort=` key.
    pub key: &'static str,
    /// Text.
    pub label: &'static str,
    /// Link that sorts by it (toggling the direction when it is current).
    pub href: String,
    /// `ascending`/`descending` when this is the sort column.
    pub aria_sort: Option<&'static str>,
    /// Right-aligned numeric column.
    pub num: bool,
}

#[derive(Template)]
#[template(path = "targets.html")]
struct TargetsPage {
    chrome: Chrome,
    has_plan: bool,
    version: i64,
    measured: Option<String>,
    headers: Vec<Header>,
    lines: Vec<(String, String)>,
    line: String,
    sort: String,
    dir: &'static str,
    entries: Vec<RowView>,
    services: Vec<RowView>,
    partners: Vec<RowView>,
    warn: String,
    critical: String,
    headroom: String,
}

/// `?sort=&dir=&line=`.
#[derive(Debug, Default, Deserialize)]
pub struct TargetsQuery {
    sort: Option<String>,
    dir: Option<String>,
    line: Option<String>,
}

/// A 400 page for a bad query parameter.
pub(crate) fn bad(message: impl Into<String>) -> UiError {
    UiError(ApiError::bad_request("bad_query", message))
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    q: Result<Query<TargetsQuery>, QueryRejection>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let q = self::query(q)?;
    let (chrome, _) = Chrome::event(&state, &session, &slug, Nav::Targets).await?;
    let sort = q.sort.unwrap_or_default();
    if !sort.is_empty() && !SORT_KEYS.iter().any(|(k, _)| *k == sort) {
        let keys: Vec<&str> = SORT_KEYS.iter().map(|(k, _)| *k).collect();
        return Err(bad(format!(
            "cannot sort by `{sort}`; use one of {}",
            keys.join(", ")
        )));
    }
    let dir = match q.dir.as_deref() {
        None | Some("" | "asc") => Dir::Asc,
        Some("desc") => Dir::Desc,
        Some(other) => return Err(bad(format!("dir `{other}` is neither asc nor desc"))),
    };
    let line = q.line.unwrap_or_default();
    let Some(an) = current(&state, &slug).await? else {
        return render(&TargetsPage {
            chrome,
            has_plan: false,
            version: 0,
            measured: None,
            headers: Vec::new(),
            lines: Vec::new(),
            line,
            sort,
            dir: "asc",
            entries: Vec::new(),
            services: Vec::new(),
            partners: Vec::new(),
            warn: String::new(),
            critical: String::new(),
            headroom: String::new(),
        });
    };
    let plan = an.plan().clone();
    // The plan's business lines (on-call's list, without its pseudo line
    // for plans that have none).
    let lines: Vec<(String, String)> = if plan.organization.business_lines.is_empty() {
        Vec::new()
    } else {
        seawall_plan::oncall::lines(&plan)
    };
    if !line.is_empty() && !lines.iter().any(|(id, _)| *id == line) {
        let ids: Vec<&str> = lines.iter().map(|(id, _)| id.as_str()).collect();
        return Err(bad(format!(
            "the plan has no business line `{line}`; its lines are {}",
            if ids.is_empty() {
                "none".to_owned()
            } else {
                ids.join(", ")
            }
        )));
    }
    let in_line = |service: &str| line.is_empty() || service_lines(&plan, service).contains(&line);
    let measured = an.a.measured.source.clone();
    let entries = sorted(
        &sort,
        dir,
        an.table
            .entries
            .iter()
            .filter(|r| plan.entries.get(&r.id).is_some_and(|e| in_line(&e.service)))
            .collect(),
    );
    let services = sorted(
        &sort,
        dir,
        an.table
            .services
            .iter()
            .filter(|r| in_line(&r.id))
            .collect(),
    );
    let partners = sorted(
        &sort,
        dir,
        an.table
            .partners
            .iter()
            .filter(|r| {
                line.is_empty()
                    || plan
                        .services
                        .iter()
                        .any(|(sid, s)| in_line(sid) && s.dependencies.iter().any(|d| d.to == r.id))
            })
            .collect(),
    );
    let m = measured.as_deref();
    let dir_s = if dir == Dir::Desc { "desc" } else { "asc" };
    let base = format!("/ui/events/{slug}/targets");
    let line_q = if line.is_empty() {
        String::new()
    } else {
        format!("&line={}", urlencoding(&line))
    };
    let headers = SORT_KEYS
        .iter()
        .map(|&(key, label)| {
            let current = sort == key;
            let next_dir = if current && dir == Dir::Asc {
                "desc"
            } else {
                "asc"
            };
            Header {
                key,
                label,
                href: format!("{base}?sort={key}&dir={next_dir}{line_q}"),
                aria_sort: current.then_some(if dir == Dir::Asc {
                    "ascending"
                } else {
                    "descending"
                }),
                num: !matches!(key, "id" | "bottleneck" | "scaling"),
            }
        })
        .collect();
    let p = &plan.capacity;
    render(&TargetsPage {
        chrome,
        has_plan: true,
        version: an.a.version,
        headers,
        lines,
        line,
        sort,
        dir: dir_s,
        entries: entries
            .into_iter()
            .map(|r| view("entry", r, &plan, m))
            .collect(),
        services: services
            .into_iter()
            .map(|r| view("service", r, &plan, m))
            .collect(),
        partners: partners
            .into_iter()
            .map(|r| view("partner", r, &plan, m))
            .collect(),
        warn: percent(Some(p.warn_level)),
        critical: percent(Some(p.critical_level)),
        headroom: percent(Some(p.headroom)),
        measured,
    })
}

/// Percent-encoding of a query value (askama's `urlencode_strict`).
pub fn urlencoding(s: &str) -> String {
    let Ok(encoded) = askama::filters::urlencode_strict(s);
    encoded.to_string()
}

/// A query string read into `T`, or a 400 page saying what is wrong.
pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, UiError> {
    q.map(|Query(t)| t)
        .map_err(|e| bad(format!("bad query: {}", e.body_text())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use seawall_plan::capacity;

    #[test]
    fn rates_read_well() {
        assert_eq!(qps(5750.0), "5,750");
        assert_eq!(qps(1_000_000.0), "1,000,000");
        assert_eq!(qps(12.5), "12.5");
        assert_eq!(qps(999.96), "1,000");
        assert_eq!(qps(0.0), "0");
        assert_eq!(qps(-1234.0), "-1,234");
        assert_eq!(qps(f64::NAN), "—");
        assert_eq!(qps(f64::INFINITY), "∞");
    }

    fn row(id: &str, level: Option<f64>) -> Row {
        Row {
            id: id.into(),
            target_qps: 1.0,
            capacity_qps: level.map(|l| 1.0 / l),
            capacity_source: CapacitySource::Declared,
            water_level: level,
            required_qps: 1.3,
            needs_scaling: false,
            instances: None,
            instances_needed: None,
            current_level: None,
            status: capacity::Status::Ok,
            bottleneck: None,
        }
    }

    #[test]
    fn unknown_levels_sort_last_both_ways() {
        let rows = [row("a", Some(0.5)), row("b", None), row("c", Some(0.9))];
        for (dir, want) in [(Dir::Asc, ["a", "c", "b"]), (Dir::Desc, ["c", "a", "b"])] {
            let mut v: Vec<&Row> = rows.iter().collect();
            v.sort_by(|x, y| compare("water_level", dir, x, y));
            let ids: Vec<&str> = v.iter().map(|r| r.id.as_str()).collect();
            assert_eq!(ids, want, "{dir:?}");
        }
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(urlencoding("a b&c"), "a%20b%26c");
    }
}
