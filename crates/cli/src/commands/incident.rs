//! `seawall incident list|show|open|ack|role|note|update|severity|mitigate|resolve`:
//! an event's incidents from a terminal, through the typed
//! `seawall_api::Client` only (`docs/respond.md#incidents`).
//!
//! `list` shows the event's incidents with their status and paging;
//! `show N` one incident's roles, status updates, timeline and the pages
//! sent; `open TITLE` opens one (its on-call is paged); `ack N`
//! acknowledges it (the paging stops); `role N ROLE PERSON` gives a role
//! to one of the plan's people; `note N TEXT` adds a note; `update N
//! STATUS TEXT` posts a public status update; `severity N P1..P4` changes
//! the severity; `mitigate N [--text T]` marks it mitigated; `resolve N
//! [--text T]` resolves it. The changes take `--if-version V` to be refused
//! (409) when the incident changed since version V was read.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use seawall_api::incidents::{
    AddNote, AssignRole, ChangeSeverity, Incident, IncidentList, MitigateIncident, OpenIncident,
    PostUpdate,
};

use super::api_client::{Api, ServerArgs};
use crate::output::{self, Align, Format, Grid, Page};

/// `seawall incident …`.
#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// The event's incidents, oldest first.
    List(EventArgs),
    /// Incident N: its timeline and pages.
    Show(Number),
    /// Open an incident by hand: the on-call of its line is paged.
    Open(OpenArgs),
    /// Acknowledge incident N: its paging stops.
    Ack(Number),
    /// Give a role (commander, scribe, liaison) of incident N to one of
    /// the plan's people.
    Role(RoleArgs),
    /// Add a note to incident N's timeline.
    Note(NoteArgs),
    /// Post a public status update (investigating, identified, mitigated,
    /// monitoring) on incident N.
    Update(UpdateArgs),
    /// Change incident N's severity (P1 … P4).
    Severity(SeverityArgs),
    /// Mark incident N mitigated (acknowledging it if nobody has).
    Mitigate(ResolveArgs),
    /// Resolve incident N.
    Resolve(ResolveArgs),
}

/// Arguments of `seawall incident open`.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// What is wrong.
    title: String,
    /// P1 … P4 (default P2).
    #[arg(long)]
    severity: Option<String>,
    /// The business line whose on-call is paged (default: every line's).
    #[arg(long)]
    line: Option<String>,
    #[command(flatten)]
    at: EventArgs,
}

/// The version a change was decided on.
#[derive(Debug, Args)]
pub struct Version {
    /// Refuse the change (409) if the incident changed since this
    /// version (`show` prints it).
    #[arg(long, value_name = "V")]
    if_version: Option<i64>,
}

/// Arguments of `seawall incident role`.
#[derive(Debug, Args)]
pub struct RoleArgs {
    /// The incident's number.
    n: i64,
    /// commander, scribe or liaison.
    role: String,
    /// A person id of the plan's `people`.
    person: String,
    #[command(flatten)]
    version: Version,
    #[command(flatten)]
    at: EventArgs,
}

/// Arguments of `seawall incident note`.
#[derive(Debug, Args)]
pub struct NoteArgs {
    /// The incident's number.
    n: i64,
    /// The note.
    text: String,
    #[command(flatten)]
    version: Version,
    #[command(flatten)]
    at: EventArgs,
}

/// Arguments of `seawall incident update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The incident's number.
    n: i64,
    /// investigating, identified, mitigated or monitoring.
    status: String,
    /// What the world is told.
    text: String,
    #[command(flatten)]
    version: Version,
    #[command(flatten)]
    at: EventArgs,
}

/// Arguments of `seawall incident severity`.
#[derive(Debug, Args)]
pub struct SeverityArgs {
    /// The incident's number.
    n: i64,
    /// P1 … P4.
    severity: String,
    #[command(flatten)]
    version: Version,
    #[command(flatten)]
    at: EventArgs,
}

/// Arguments naming an event.
#[derive(Debug, Args)]
pub struct EventArgs {
    /// The event (its slug).
    #[arg(long, value_name = "SLUG")]
    event: String,
    #[command(flatten)]
    server: ServerArgs,
    /// Output format: a table, Markdown, or the API's JSON.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Arguments naming an incident.
#[derive(Debug, Args)]
pub struct Number {
    /// The incident's number.
    n: i64,
    #[command(flatten)]
    at: EventArgs,
}

/// Arguments of `seawall incident resolve` and `mitigate`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The incident's number.
    n: i64,
    /// What ended it (resolve) or what was done (mitigate).
    #[arg(long)]
    text: Option<String>,
    #[command(flatten)]
    version: Version,
    #[command(flatten)]
    at: EventArgs,
}

impl IncidentCommand {
    /// The event (and server and format) the command names.
    fn at(&self) -> &EventArgs {
        match self {
            IncidentCommand::List(a) => a,
            IncidentCommand::Show(a) | IncidentCommand::Ack(a) => &a.at,
            IncidentCommand::Open(a) => &a.at,
            IncidentCommand::Role(a) => &a.at,
            IncidentCommand::Note(a) => &a.at,
            IncidentCommand::Update(a) => &a.at,
            IncidentCommand::Severity(a) => &a.at,
            IncidentCommand::Mitigate(a) | IncidentCommand::Resolve(a) => &a.at,
        }
    }
}

/// Run a `seawall incident` command: exit 0, 2 on any error.
pub fn run(command: &IncidentCommand) -> anyhow::Result<ExitCode> {
    let at = command.at();
    let api = Api::new(&at.server)?;
    let (c, e) = (api.client(), at.event.as_str());
    let i = match command {
        IncidentCommand::List(_) => {
            let list = api.call(c.incidents(e))?;
            if at.format == Format::Json {
                output::emit_json(&list)?;
            } else {
                output::emit_page(&list_page(e, &list), at.format)?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        IncidentCommand::Show(a) => api.call(c.incident(e, a.n))?,
        IncidentCommand::Ack(a) => api.call(c.ack_incident(e, a.n))?,
        IncidentCommand::Open(a) => {
            let req = OpenIncident {
                title: a.title.clone(),
                severity: a.severity.clone(),
                line: a.line.clone(),
            };
            api.call(c.open_incident(e, &req))?
        }
        IncidentCommand::Role(a) => {
            let req = AssignRole {
                role: a.role.clone(),
                person: a.person.clone(),
                version: a.version.if_version,
            };
            api.call(c.assign_incident_role(e, a.n, &req))?
        }
        IncidentCommand::Note(a) => {
            let req = AddNote {
                text: a.text.clone(),
                version: a.version.if_version,
            };
            api.call(c.add_incident_note(e, a.n, &req))?
        }
        IncidentCommand::Update(a) => {
            let req = PostUpdate {
                status: a.status.clone(),
                text: a.text.clone(),
                version: a.version.if_version,
            };
            api.call(c.post_incident_update(e, a.n, &req))?
        }
        IncidentCommand::Severity(a) => {
            let req = ChangeSeverity {
                severity: a.severity.clone(),
                version: a.version.if_version,
            };
            api.call(c.change_incident_severity(e, a.n, &req))?
        }
        IncidentCommand::Mitigate(a) => {
            let req = MitigateIncident {
                text: a.text.clone(),
                version: a.version.if_version,
            };
            api.call(c.mitigate_incident(e, a.n, &req))?
        }
        IncidentCommand::Resolve(a) => api.call(c.resolve_incident(e, a.n, a.text.as_deref()))?,
    };
    show(e, &i, at.format)
}

fn show(event: &str, i: &Incident, format: Format) -> anyhow::Result<ExitCode> {
    if format == Format::Json {
        output::emit_json(i)?;
    } else {
        output::emit_page(&incident_page(event, i), format)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Milliseconds as a date and time in the event's time zone `tz` (IANA,
/// as the server's view says), as the UI shows them
/// (`2026-11-11 20:00:05 CST`); UTC when this machine does not know the
/// zone, and the number if out of range.
fn time(ms: i64, tz: &str) -> String {
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(ms).map_or_else(
        |_| ms.to_string(),
        |t| {
            t.to_zoned_datetime(zone)
                .strftime("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        },
    )
}

fn minutes(ms: Option<i64>) -> String {
    ms.map(|m| format!("{:.1} min", m as f64 / 60_000.0))
        .unwrap_or_default()
}

fn list_page(event: &str, list: &IncidentList) -> Page {
    let mut page = Page::new();
    page.heading(format!("Incidents: {event}"));
    page.line(format!("Times in {}.", list.timezone));
    let mut g = Grid::new(&[
        ("#", Align::Right),
        ("severity", Align::Left),
        ("status", Align::Left),
        ("title", Align::Left),
        ("opened", Align::Left),
        ("pages", Align::Right),
        ("to ack", Align::Right),
        ("to resolve", Align::Right),
    ]);
    for i in &list.incidents {
        g.row(vec![
            i.id.to_string().into(),
            i.severity.as_str().into(),
            i.status.as_str().into(),
            i.title.as_str().into(),
            time(i.opened_ms, &list.timezone).into(),
            i.paging
                .as_ref()
                .map_or(0, |p| p.sent.len())
                .to_string()
                .into(),
            minutes(i.time_to_ack_ms).into(),
            minutes(i.time_to_resolve_ms).into(),
        ]);
    }
    page.grid(g);
    page
}

fn incident_page(event: &str, i: &Incident) -> Page {
    let mut page = Page::new();
    page.heading(format!(
        "Incident {} of {event} ({}, {}, version {}): {}",
        i.id, i.severity, i.status, i.version, i.title
    ));
    page.line(format!("Times in {}.", i.timezone));
    if !i.roles.is_empty() {
        page.line(
            i.roles
                .iter()
                .map(|r| format!("{}: {}", r.role, r.person))
                .collect::<Vec<_>>()
                .join(" · "),
        );
    }
    if !i.updates.is_empty() {
        let mut g = Grid::new(&[
            ("update", Align::Left),
            ("status", Align::Left),
            ("by", Align::Left),
            ("what", Align::Left),
        ]);
        for u in &i.updates {
            g.row(vec![
                time(u.at_ms, &i.timezone).into(),
                u.status.as_str().into(),
                u.by.as_str().into(),
                u.text.as_str().into(),
            ]);
        }
        page.grid(g);
    }
    let mut g = Grid::new(&[
        ("time", Align::Left),
        ("kind", Align::Left),
        ("by", Align::Left),
        ("what", Align::Left),
    ]);
    for e in &i.timeline {
        g.row(vec![
            time(e.at_ms, &i.timezone).into(),
            e.kind.as_str().into(),
            e.actor.as_str().into(),
            e.text.as_str().into(),
        ]);
    }
    page.grid(g);
    if let Some(p) = &i.paging {
        let mut g = Grid::new(&[
            ("step", Align::Right),
            ("tier", Align::Left),
            ("people", Align::Left),
            ("round", Align::Right),
            ("paged", Align::Left),
        ]);
        for s in &p.sent {
            g.row(vec![
                s.step.to_string().into(),
                s.tier.as_str().into(),
                s.people.join(", ").into(),
                (s.round + 1).to_string().into(),
                time(s.at_ms, &i.timezone).into(),
            ]);
        }
        page.grid(g);
    }
    page
}

#[cfg(test)]
mod tests {
    use seawall_api::incidents::{PageSent, Paging, RoleHolder, StatusUpdate, TimelineEntry};

    use super::*;

    /// 2026-11-11 12:00:00 UTC: 20:00 in Shanghai.
    const NOON_UTC: i64 = 1_794_398_400_000;

    fn incident(tz: &str) -> Incident {
        Incident {
            id: 3,
            title: "orders fail".into(),
            severity: "P1".into(),
            status: "acknowledged".into(),
            dedup_key: None,
            line: Some("bike".into()),
            version: 4,
            opened_ms: NOON_UTC,
            time_to_ack_ms: Some(90_000),
            time_to_resolve_ms: None,
            roles: vec![RoleHolder {
                role: "commander".into(),
                person: "sun-li".into(),
            }],
            updates: vec![StatusUpdate {
                at_ms: NOON_UTC + 60_000,
                status: "investigating".into(),
                by: "sun-li".into(),
                text: "looking at pay".into(),
            }],
            timeline: vec![
                TimelineEntry {
                    at_ms: NOON_UTC,
                    kind: "opened".into(),
                    actor: "monitoring".into(),
                    text: "orders fail".into(),
                },
                TimelineEntry {
                    at_ms: NOON_UTC + 90_000,
                    kind: "acknowledged".into(),
                    actor: "sun-li".into(),
                    text: "acknowledged".into(),
                },
            ],
            paging: Some(Paging {
                ack_timeout_ms: 300_000,
                max_rounds: None,
                sent: vec![PageSent {
                    step: 0,
                    tier: "primary".into(),
                    people: vec!["sun-li".into()],
                    round: 0,
                    at_ms: NOON_UTC + 1_000,
                }],
                next_page_ms: None,
                acknowledged_by: Some("sun-li".into()),
            }),
            timezone: tz.into(),
        }
    }

    #[test]
    fn times_are_shown_in_the_events_time_zone() {
        let i = incident("Asia/Shanghai");
        let shown = incident_page("d11", &i).render(Format::Table, false, false);
        insta::assert_snapshot!("incident_show_shanghai", shown);
        let list = IncidentList {
            incidents: vec![i.clone()],
            timezone: i.timezone.clone(),
        };
        let listed = list_page("d11", &list).render(Format::Table, false, false);
        insta::assert_snapshot!("incident_list_shanghai", listed);
        assert!(listed.contains("2026-11-11 20:00:00 CST"), "{listed}");
    }

    #[test]
    fn an_unknown_zone_is_shown_as_utc() {
        assert_eq!(
            time(NOON_UTC, "Nowhere/Atlantis"),
            "2026-11-11 12:00:00 UTC"
        );
        assert_eq!(time(NOON_UTC, "UTC"), "2026-11-11 12:00:00 UTC");
    }
}
