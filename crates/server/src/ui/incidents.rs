//! The incidents of an event at `/ui/events/{slug}/incidents` (severity,
//! status, when opened, time to acknowledge and to resolve, commander;
//! the means over them) and one incident at `…/incidents/{n}`: its roles,
//! public status updates, notes and the whole timeline in the event's
//! time zone, with forms to acknowledge, mitigate, resolve, give a role,
//! take a note, post an update and change the severity.
//!
//! The forms post to handlers that call `service::incidents` — the same
//! roles, checks and audited store changes as the JSON API. Each form
//! carries the version the page showed, so a decision made on a page that
//! is out of date (somebody else resolved it meanwhile) is refused with
//! 409 instead of applied on top; the forms are hidden from users who may
//! not use them, and the server refuses them anyway.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use seawall_api::incidents::{
    AddNote, AssignRole, ChangeSeverity, Incident, MitigateIncident, OpenIncident, PostUpdate,
};
use seawall_respond::incident::{Role, UpdateStatus, mean_ms};

use super::chrome::{fmt_duration, fmt_ms, fmt_ms_seconds};
use super::{Chrome, Form, Nav, Session, UiError, render};
use crate::auth::{READERS, RESPONDERS};
use crate::error::ApiError;
use crate::service::gate::current_plan;
use crate::service::incidents;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{slug}/incidents", get(list_page).post(open))
        .route("/events/{slug}/incidents/{n}", get(incident_page))
        .route("/events/{slug}/incidents/{n}/{what}", post(act))
}

/// The badge class of a severity.
fn severity_class(s: &str) -> &'static str {
    match s {
        "P1" => "critical",
        "P2" => "warn",
        "P3" => "info",
        _ => "neutral",
    }
}

/// The badge class of a status.
fn status_class(s: &str) -> &'static str {
    match s {
        "open" => "critical",
        "acknowledged" => "warn",
        "mitigated" => "info",
        "resolved" => "ok",
        _ => "neutral",
    }
}

/// A person id as the page shows it: the plan's name, else the id.
fn name_of(plan: Option<&seawall_plan::Plan>, id: &str) -> String {
    plan.and_then(|p| p.people.get(id))
        .map_or_else(|| id.to_owned(), |p| p.name.clone())
}

/// One incident as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Number.
    pub id: i64,
    /// Title.
    pub title: String,
    /// `P1` … `P4` and its badge class.
    pub severity: String,
    /// Badge class of the severity.
    pub severity_class: &'static str,
    /// Status and its badge class.
    pub status: String,
    /// Badge class of the status.
    pub status_class: &'static str,
    /// When opened, in the event's zone.
    pub opened: String,
    /// Time to acknowledge.
    pub mtta: Option<String>,
    /// Time to resolve.
    pub mttr: Option<String>,
    /// The commander's name.
    pub commander: Option<String>,
}

fn row(i: &Incident, plan: Option<&seawall_plan::Plan>, tz: &str) -> Row {
    Row {
        id: i.id,
        title: i.title.clone(),
        severity_class: severity_class(&i.severity),
        severity: i.severity.clone(),
        status_class: status_class(&i.status),
        status: i.status.clone(),
        opened: fmt_ms(i.opened_ms, tz),
        mtta: i.time_to_ack_ms.map(fmt_duration),
        mttr: i.time_to_resolve_ms.map(fmt_duration),
        commander: i
            .roles
            .iter()
            .find(|r| r.role == Role::Commander.as_str())
            .map(|r| name_of(plan, &r.person)),
    }
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    unresolved: usize,
    mtta: Option<String>,
    mttr: Option<String>,
    lines: Vec<String>,
    can_act: bool,
}

/// The event's time zone (its plan's; UTC without a plan) and the plan.
async fn zone(
    state: &AppState,
    event: &seawall_store::Event,
) -> Result<(String, Option<std::sync::Arc<seawall_plan::Plan>>), UiError> {
    let plan = current_plan(state, event).await?.map(|(_, p)| p);
    let tz = plan
        .as_ref()
        .map_or_else(|| "UTC".to_owned(), |p| p.event.timezone.clone());
    Ok((tz, plan))
}

async fn list_page(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let (chrome, event) = Chrome::event(&state, &session, &slug, Nav::Incidents).await?;
    let (tz, plan) = zone(&state, &event).await?;
    let all = incidents::list(&state, &slug).await?.incidents;
    let mean = |v: Option<f64>| v.map(|ms| fmt_duration(ms.round() as i64));
    render(&ListPage {
        unresolved: all.iter().filter(|i| i.status != "resolved").count(),
        mtta: mean(mean_ms(all.iter().map(|i| i.time_to_ack_ms))),
        mttr: mean(mean_ms(all.iter().map(|i| i.time_to_resolve_ms))),
        rows: all
            .iter()
            .rev()
            .map(|i| row(i, plan.as_deref(), &tz))
            .collect(),
        lines: plan
            .as_ref()
            .map(|p| p.organization.business_lines.keys().cloned().collect())
            .unwrap_or_default(),
        can_act: session.auth.require(RESPONDERS).is_ok(),
        chrome,
    })
}

/// One timeline entry as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// When, in the event's zone, to the second.
    pub at: String,
    /// `opened`, `paged`, `note`, …
    pub kind: String,
    /// Who.
    pub actor: String,
    /// What.
    pub text: String,
}

/// A role and who holds it (none: nobody yet).
#[derive(Debug, Clone, PartialEq)]
pub struct RoleRow {
    /// `commander`, `scribe`, `liaison`.
    pub role: &'static str,
    /// Person id and name.
    pub holder: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    chrome: Chrome,
    slug: String,
    severities: Vec<(&'static str, bool)>,
    row: Row,
    incident: Incident,
    tz: String,
    roles: Vec<RoleRow>,
    updates: Vec<Line>,
    notes: Vec<Line>,
    timeline: Vec<Line>,
    people: Vec<(String, String)>,
    update_statuses: Vec<&'static str>,
    role_names: Vec<&'static str>,
    can_act: bool,
    resolved: bool,
    acked: bool,
}

async fn incident_page(
    State(state): State<AppState>,
    session: Session,
    Path((slug, n)): Path<(String, String)>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let n = number(&n)?;
    let (mut chrome, event) = Chrome::event(&state, &session, &slug, Nav::Incidents).await?;
    let (tz, plan) = zone(&state, &event).await?;
    let incident = incidents::get(&state, &slug, n).await?;
    chrome.title = format!("Incident {n}");
    let line = |at_ms: i64, kind: &str, actor: &str, text: &str| Line {
        at: fmt_ms_seconds(at_ms, &tz),
        kind: kind.to_owned(),
        actor: actor.to_owned(),
        text: text.to_owned(),
    };
    let timeline: Vec<Line> = incident
        .timeline
        .iter()
        .map(|e| line(e.at_ms, &e.kind, &e.actor, &e.text))
        .collect();
    render(&IncidentPage {
        row: row(&incident, plan.as_deref(), &tz),
        severities: ["P1", "P2", "P3", "P4"]
            .into_iter()
            .map(|s| (s, s == incident.severity))
            .collect(),
        slug: slug.clone(),
        roles: Role::ALL
            .iter()
            .map(|r| RoleRow {
                role: r.as_str(),
                holder: incident
                    .roles
                    .iter()
                    .find(|h| h.role == r.as_str())
                    .map(|h| (h.person.clone(), name_of(plan.as_deref(), &h.person))),
            })
            .collect(),
        updates: incident
            .updates
            .iter()
            .rev()
            .map(|u| line(u.at_ms, &u.status, &u.by, &u.text))
            .collect(),
        notes: timeline
            .iter()
            .filter(|l| l.kind == "note")
            .cloned()
            .collect(),
        timeline,
        people: plan
            .as_ref()
            .map(|p| {
                p.people
                    .iter()
                    .map(|(id, person)| (id.clone(), person.name.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        update_statuses: UpdateStatus::ALL.iter().map(|s| s.as_str()).collect(),
        role_names: Role::ALL.iter().map(|r| r.as_str()).collect(),
        can_act: session.auth.require(RESPONDERS).is_ok(),
        resolved: incident.status == "resolved",
        acked: incident.status != "open",
        tz,
        incident,
        chrome,
    })
}

fn number(n: &str) -> Result<i64, UiError> {
    n.parse()
        .map_err(|_| UiError(ApiError::not_found(format!("incident `{n}`"))))
}

/// Every incident form's fields (each form sends the ones it has).
#[derive(Debug, Default, serde::Deserialize)]
struct ActForm {
    csrf: Option<String>,
    version: Option<i64>,
    text: Option<String>,
    title: Option<String>,
    severity: Option<String>,
    line: Option<String>,
    status: Option<String>,
    role: Option<String>,
    person: Option<String>,
}

/// A form field that must be there (422 naming it otherwise).
fn field(value: Option<String>, name: &str) -> Result<String, UiError> {
    value.ok_or_else(|| {
        UiError(ApiError::Unprocessable {
            code: "invalid_body",
            message: format!("{name}: missing"),
            details: None,
        })
    })
}

/// The open form on the list page.
async fn open(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    Form(form): Form<ActForm>,
) -> Result<Response, UiError> {
    session.check_csrf(form.csrf.as_deref())?;
    session.auth.require(RESPONDERS)?;
    let req = OpenIncident {
        title: field(form.title, "title")?,
        severity: form.severity.filter(|s| !s.is_empty()),
        line: form.line.filter(|l| !l.is_empty()),
    };
    let i = incidents::open(&state, session.auth.actor(), &slug, &req).await?;
    Ok(Redirect::to(&format!("/ui/events/{slug}/incidents/{}", i.id)).into_response())
}

/// `ack`, `resolve`, `mitigate`, `note`, `update`, `role`, `severity`.
async fn act(
    State(state): State<AppState>,
    session: Session,
    Path((slug, n, what)): Path<(String, String, String)>,
    Form(form): Form<ActForm>,
) -> Result<Response, UiError> {
    session.check_csrf(form.csrf.as_deref())?;
    session.auth.require(RESPONDERS)?;
    let n = number(&n)?;
    let actor = session.auth.actor();
    let version = form.version;
    match what.as_str() {
        "ack" => {
            incidents::acknowledge(&state, actor, &slug, n).await?;
        }
        "resolve" => {
            incidents::resolve(&state, actor, &slug, n, form.text.as_deref()).await?;
        }
        "mitigate" => {
            let req = MitigateIncident {
                text: form.text,
                version,
            };
            incidents::changes::mitigate(&state, actor, &slug, n, &req).await?;
        }
        "note" => {
            let req = AddNote {
                text: field(form.text, "text")?,
                version,
            };
            incidents::changes::add_note(&state, actor, &slug, n, &req).await?;
        }
        "update" => {
            let req = PostUpdate {
                status: field(form.status, "status")?,
                text: field(form.text, "text")?,
                version,
            };
            incidents::changes::post_update(&state, actor, &slug, n, &req).await?;
        }
        "role" => {
            let req = AssignRole {
                role: field(form.role, "role")?,
                person: field(form.person, "person")?,
                version,
            };
            incidents::changes::assign_role(&state, actor, &slug, n, &req).await?;
        }
        "severity" => {
            let req = ChangeSeverity {
                severity: field(form.severity, "severity")?,
                version,
            };
            incidents::changes::change_severity(&state, actor, &slug, n, &req).await?;
        }
        _ => {
            return Err(UiError(ApiError::NotFound(format!(
                "`{what}` is not something done to an incident (ack, resolve, mitigate, note, update, role, severity)"
            ))));
        }
    }
    Ok(Redirect::to(&format!("/ui/events/{slug}/incidents/{n}")).into_response())
}
