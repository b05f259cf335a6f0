//! The on-call page at `/ui/events/{slug}/oncall`: who is primary and
//! secondary now for each business line (with the handles to reach them),
//! the rota as a time line per line with "now" marked, the stretches of
//! the peak and freeze windows nobody covers, and the war-room channels.
//!
//! Duties and gaps are `seawall_plan::oncall`'s answers — the same that
//! `seawall plan oncall` prints and rule L013 reports — at the server's
//! clock ([`AppState::now`]).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use seawall_plan::model::Plan;
use seawall_plan::oncall::{self, PersonRef};

use super::chart::{Band, Bar, Markup, Row, Timeline};
use super::chrome::{fmt_duration, fmt_ms};
use super::emergency::contact;
use super::{Chrome, Nav, Session, UiError, render};
use crate::auth::READERS;
use crate::service::gate::{current_plan, ts};
use crate::state::AppState;

const HOUR: i64 = 3_600_000;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/events/{slug}/oncall", get(page))
}

/// A person on duty.
#[derive(Debug, Clone, PartialEq)]
pub struct OnDuty {
    /// Person id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The first way to reach them (phone, IM, e-mail).
    pub contact: String,
    /// Every handle: `phone …`, `lark: …`, `email …`.
    pub handles: Vec<String>,
}

impl From<&PersonRef> for OnDuty {
    fn from(p: &PersonRef) -> Self {
        let mut handles = Vec::new();
        if let Some(phone) = &p.phone {
            handles.push(format!("phone {phone}"));
        }
        for (platform, handle) in &p.im {
            handles.push(format!("{platform}: {handle}"));
        }
        if let Some(email) = &p.email {
            handles.push(email.clone());
        }
        OnDuty {
            id: p.id.clone(),
            name: p.name.clone(),
            contact: contact(p),
            handles,
        }
    }
}

/// Who is on call for one line now.
#[derive(Debug, Clone, PartialEq)]
pub struct LineNow {
    /// Line id.
    pub line: String,
    /// Line name.
    pub name: String,
    /// Primary (`None`: nobody — a gap).
    pub primary: Option<OnDuty>,
    /// Secondary.
    pub secondary: Option<OnDuty>,
    /// The shift's end, in the event's zone.
    pub until: Option<String>,
}

/// A coverage gap as a table row.
#[derive(Debug, Clone, PartialEq)]
pub struct GapRow {
    /// Line id.
    pub line: String,
    /// `peak`, `freeze` or a freeze window id.
    pub window: String,
    /// Start, event zone.
    pub from: String,
    /// End, event zone.
    pub until: String,
    /// Length.
    pub length: String,
    /// The gap is happening now.
    pub now: bool,
}

/// A war-room channel (never its webhook URL: it holds a token).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRow {
    /// Id.
    pub id: String,
    /// Platform.
    pub kind: String,
    /// IM group name.
    pub group: String,
    /// Whether a webhook is configured.
    pub webhook: bool,
    /// Environment variable of the signing secret.
    pub secret_env: String,
}

/// The rota as a time line: one row per business line, its shifts as
/// bars (primary / secondary), its gaps as red stripes, the peak and
/// freeze phases shaded, "now" marked. `None` when the rota is empty and
/// nothing is watched.
pub fn rota_timeline(plan: &Plan, now: i64) -> Option<Timeline> {
    let tz = plan.event.timezone.clone();
    let gaps = oncall::gaps(plan);
    let mut bounds: Vec<(i64, i64)> = plan
        .oncall
        .rota
        .iter()
        .map(|s| {
            (
                s.window.start.as_millisecond(),
                s.window.end.as_millisecond(),
            )
        })
        .collect();
    bounds.extend(
        gaps.iter()
            .map(|g| (g.start.as_millisecond(), g.end.as_millisecond())),
    );
    let start = bounds.iter().map(|b| b.0).min()?;
    let end = bounds.iter().map(|b| b.1).max()?;
    let rows = oncall::lines(plan)
        .into_iter()
        .map(|(line, name)| {
            let mut bars: Vec<Bar> = plan
                .oncall
                .rota
                .iter()
                .enumerate()
                .filter(|(_, s)| oncall::covers(s, &line))
                .map(|(i, s)| {
                    let primary = oncall::person(plan, &s.primary).name;
                    let secondary = s
                        .secondary
                        .as_deref()
                        .map(|id| oncall::person(plan, id).name);
                    let who = match &secondary {
                        Some(sec) => format!("{primary} / {sec}"),
                        None => primary.clone(),
                    };
                    Bar {
                        start: s.window.start.as_millisecond(),
                        end: s.window.end.as_millisecond(),
                        class: if s.lines.is_empty() {
                            "fill-info"
                        } else {
                            "fill-ok"
                        },
                        label: who.clone(),
                        title: format!(
                            "shift #{}: {} – {}; primary {primary}{}",
                            i + 1,
                            fmt_ms(s.window.start.as_millisecond(), &tz),
                            fmt_ms(s.window.end.as_millisecond(), &tz),
                            secondary
                                .as_deref()
                                .map(|s| format!(", secondary {s}"))
                                .unwrap_or_default()
                        ),
                        data: format!("shift-{}", i + 1),
                        thin: false,
                    }
                })
                .collect();
            bars.extend(gaps.iter().filter(|g| g.line == line).map(|g| Bar {
                start: g.start.as_millisecond(),
                end: g.end.as_millisecond(),
                class: "fill-critical",
                label: String::new(),
                title: format!(
                    "no primary during {}: {} – {}",
                    g.window,
                    fmt_ms(g.start.as_millisecond(), &tz),
                    fmt_ms(g.end.as_millisecond(), &tz)
                ),
                data: format!("gap-{}", g.window),
                thin: true,
            }));
            Row {
                label: name,
                data: line,
                bars,
            }
        })
        .collect();
    let bands = ["freeze", "peak"]
        .into_iter()
        .filter_map(|p| {
            plan.event.phases.get(p).map(|w| Band {
                start: w.start.as_millisecond(),
                end: w.end.as_millisecond(),
                label: p.to_owned(),
            })
        })
        .collect();
    Some(Timeline {
        id: "rota".into(),
        title: "On-call rota per business line".into(),
        tz,
        start,
        end,
        rows,
        bands,
        now: Some(now),
    })
}

#[derive(Template)]
#[template(path = "oncall.html")]
struct OncallPage {
    chrome: Chrome,
    has_plan: bool,
    version: i64,
    now: String,
    lines: Vec<LineNow>,
    gaps: Vec<GapRow>,
    timeline: Option<Markup>,
    today: Option<Markup>,
    channels: Vec<ChannelRow>,
    uncovered_now: usize,
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let (chrome, event) = Chrome::event(&state, &session, &slug, Nav::Oncall).await?;
    let now_ms = state.now();
    let Some((version, plan)) = current_plan(&state, &event).await? else {
        return render(&OncallPage {
            now: fmt_ms(now_ms, "UTC"),
            chrome,
            has_plan: false,
            version: 0,
            lines: Vec::new(),
            gaps: Vec::new(),
            timeline: None,
            today: None,
            channels: Vec::new(),
            uncovered_now: 0,
        });
    };
    let tz = plan.event.timezone.as_str();
    let now = ts(now_ms)?;
    let lines: Vec<LineNow> = oncall::on_call(&plan, now)
        .iter()
        .map(|d| LineNow {
            line: d.line.clone(),
            name: d.line_name.clone(),
            primary: d.primary.as_ref().map(OnDuty::from),
            secondary: d.secondary.as_ref().map(OnDuty::from),
            until: d
                .shift
                .and_then(|i| plan.oncall.rota.get(i))
                .map(|s| fmt_ms(s.window.end.as_millisecond(), tz)),
        })
        .collect();
    let gaps = oncall::gaps(&plan)
        .into_iter()
        .map(|g| GapRow {
            from: fmt_ms(g.start.as_millisecond(), tz),
            until: fmt_ms(g.end.as_millisecond(), tz),
            length: fmt_duration(g.end.as_millisecond() - g.start.as_millisecond()),
            now: g.start <= now && now < g.end,
            line: g.line,
            window: g.window,
        })
        .collect();
    let channels = plan
        .oncall
        .channels
        .iter()
        .map(|c| ChannelRow {
            id: c.id.clone(),
            kind: c.kind.clone(),
            group: c.group.clone().unwrap_or_default(),
            webhook: c.webhook.is_some(),
            secret_env: c.secret_env.clone().unwrap_or_default(),
        })
        .collect();
    render(&OncallPage {
        now: fmt_ms(now_ms, tz),
        chrome,
        has_plan: true,
        version,
        uncovered_now: lines.iter().filter(|l| l.primary.is_none()).count(),
        lines,
        gaps,
        today: rota_timeline(&plan, now_ms).map(|t| {
            t.window("rota-today", now_ms - 6 * HOUR, now_ms + 18 * HOUR)
                .svg()
        }),
        timeline: rota_timeline(&plan, now_ms).map(|t| t.svg()),
        channels,
    })
}
