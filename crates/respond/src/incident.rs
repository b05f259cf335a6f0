//! Incidents: severity, status, roles, and a timeline that writes itself
//! from what the control plane already records.
//!
//! One definition of each word the incident pages, the API and the review
//! use: the severities P1–P4, the statuses, the roles, the kinds of
//! timeline entry, and the two durations the review reports (time to
//! acknowledge, time to resolve), measured from the timeline so they agree
//! wherever they are shown.

use serde::{Deserialize, Serialize};

/// Incident severity, P1 the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    /// Core journeys down or the event's peak at risk.
    P1,
    /// A journey degraded for many users.
    P2,
    /// A degradation with a workaround.
    P3,
    /// Cosmetic or internal.
    P4,
}

impl Severity {
    /// `P1` … `P4`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::P1 => "P1",
            Severity::P2 => "P2",
            Severity::P3 => "P3",
            Severity::P4 => "P4",
        }
    }

    /// Parse `P1` … `P4` (case-insensitive).
    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_uppercase().as_str() {
            "P1" => Some(Severity::P1),
            "P2" => Some(Severity::P2),
            "P3" => Some(Severity::P3),
            "P4" => Some(Severity::P4),
            _ => None,
        }
    }
}

/// Where an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Opened, nobody has acknowledged.
    Open,
    /// Somebody acknowledged and is on it.
    Acknowledged,
    /// A fix or mitigation is in; watching.
    Mitigated,
    /// Over.
    Resolved,
}

impl Status {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Mitigated => "mitigated",
            Status::Resolved => "resolved",
        }
    }
}

/// Incident roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Decides.
    Commander,
    /// Keeps the timeline.
    Scribe,
    /// Talks to customer service, partners and management.
    Liaison,
}

impl Role {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Commander => "commander",
            Role::Scribe => "scribe",
            Role::Liaison => "liaison",
        }
    }

    /// Parse `commander`, `scribe` or `liaison` (case-insensitive).
    pub fn parse(s: &str) -> Option<Role> {
        match s.to_ascii_lowercase().as_str() {
            "commander" => Some(Role::Commander),
            "scribe" => Some(Role::Scribe),
            "liaison" => Some(Role::Liaison),
            _ => None,
        }
    }

    /// Every role, in the order pages show them.
    pub const ALL: [Role; 3] = [Role::Commander, Role::Scribe, Role::Liaison];
}

/// The stage a public status update announces (the words status pages
/// use; independent of [`Status`], which is where the responders are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    /// Looking for the cause.
    Investigating,
    /// The cause is known.
    Identified,
    /// A mitigation is in.
    Mitigated,
    /// Watching that it holds.
    Monitoring,
}

impl UpdateStatus {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::Investigating => "investigating",
            UpdateStatus::Identified => "identified",
            UpdateStatus::Mitigated => "mitigated",
            UpdateStatus::Monitoring => "monitoring",
        }
    }

    /// Parse a snake-case name (case-insensitive).
    pub fn parse(s: &str) -> Option<UpdateStatus> {
        match s.to_ascii_lowercase().as_str() {
            "investigating" => Some(UpdateStatus::Investigating),
            "identified" => Some(UpdateStatus::Identified),
            "mitigated" => Some(UpdateStatus::Mitigated),
            "monitoring" => Some(UpdateStatus::Monitoring),
            _ => None,
        }
    }

    /// Every stage, in order.
    pub const ALL: [UpdateStatus; 4] = [
        UpdateStatus::Investigating,
        UpdateStatus::Identified,
        UpdateStatus::Mitigated,
        UpdateStatus::Monitoring,
    ];
}

/// A public-facing status update (what the liaison tells customer
/// service, partners and management).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// When (ms).
    pub at_ms: i64,
    /// The stage it announces.
    pub status: UpdateStatus,
    /// Who posted it.
    pub by: String,
    /// The text.
    pub text: String,
}

/// What a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The incident was opened.
    Opened,
    /// An alert fired.
    AlertFired,
    /// An alert resolved.
    AlertResolved,
    /// A page was handed to a channel.
    Paged,
    /// A page could not be delivered on a channel (and the fallback used).
    PageFailed,
    /// Escalated to the next tier.
    Escalated,
    /// Acknowledged.
    Acknowledged,
    /// An emergency-plan run changed status.
    PlanRun,
    /// One action of a run started, ended or was rolled back.
    PlanStep,
    /// A change-gate decision or freeze exception.
    Gate,
    /// Guard rules changed.
    RuleChange,
    /// A person's status update.
    StatusUpdate,
    /// A note.
    Note,
    /// A role was given.
    RoleAssigned,
    /// Severity changed.
    SeverityChanged,
    /// Mitigated.
    Mitigated,
    /// Resolved.
    Resolved,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When (ms).
    pub at_ms: i64,
    /// What.
    pub kind: EntryKind,
    /// Who or what did it (person id, `alert:<id>`, `run:<n>`, `gate`).
    pub actor: String,
    /// One line for people.
    pub text: String,
}

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    /// Already resolved.
    #[error("the incident is resolved; open a new one")]
    Resolved,
    /// Already acknowledged.
    #[error("already acknowledged by {0}")]
    AlreadyAcked(String),
    /// The change would change nothing (the same severity, the same
    /// person in the same role, mitigated already).
    #[error("nothing to change: {0}")]
    Unchanged(String),
}

/// One incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Where it is.
    pub status: Status,
    /// What opened it automatically (the alert's target), to deduplicate:
    /// a second page-severity alert on the same target joins this incident.
    pub dedup_key: Option<String>,
    /// Business line, when known (whose rota is paged).
    pub line: Option<String>,
    /// Roles given, person ids.
    pub roles: Vec<(Role, String)>,
    /// The timeline, in time order.
    pub timeline: Vec<Entry>,
    /// Public status updates, oldest first (absent from incidents stored
    /// before updates existed).
    #[serde(default)]
    pub updates: Vec<Update>,
}

impl Incident {
    /// Open an incident at `now_ms`.
    pub fn open(
        title: &str,
        severity: Severity,
        by: &str,
        dedup_key: Option<String>,
        line: Option<String>,
        now_ms: i64,
    ) -> Incident {
        let mut i = Incident {
            title: title.to_owned(),
            severity,
            status: Status::Open,
            dedup_key,
            line,
            roles: Vec::new(),
            timeline: Vec::new(),
            updates: Vec::new(),
        };
        i.record(
            now_ms,
            EntryKind::Opened,
            by,
            format!("{} opened: {title}", severity.as_str()),
        );
        i
    }

    /// Add a timeline entry, keeping time order (an entry recorded late
    /// goes where its time puts it, after entries of the same time).
    pub fn record(&mut self, at_ms: i64, kind: EntryKind, actor: &str, text: impl Into<String>) {
        let pos = self.timeline.partition_point(|e| e.at_ms <= at_ms);
        self.timeline.insert(
            pos,
            Entry {
                at_ms,
                kind,
                actor: actor.to_owned(),
                text: text.into(),
            },
        );
    }

    /// Acknowledge.
    pub fn acknowledge(&mut self, by: &str, now_ms: i64) -> Result<(), IncidentError> {
        match self.status {
            Status::Resolved => Err(IncidentError::Resolved),
            Status::Open => {
                self.status = Status::Acknowledged;
                self.record(
                    now_ms,
                    EntryKind::Acknowledged,
                    by,
                    format!("acknowledged by {by}"),
                );
                Ok(())
            }
            _ => {
                let first = self
                    .timeline
                    .iter()
                    .find(|e| e.kind == EntryKind::Acknowledged)
                    .map_or_else(String::new, |e| e.actor.clone());
                Err(IncidentError::AlreadyAcked(first))
            }
        }
    }

    /// Mitigated: the fix is in, watching. An unacknowledged incident is
    /// acknowledged by the same person first (whoever mitigates is on it).
    pub fn mitigate(&mut self, by: &str, now_ms: i64, text: &str) -> Result<(), IncidentError> {
        match self.status {
            Status::Resolved => return Err(IncidentError::Resolved),
            Status::Mitigated => return Err(IncidentError::Unchanged("mitigated already".into())),
            Status::Open => self.acknowledge(by, now_ms)?,
            Status::Acknowledged => {}
        }
        self.status = Status::Mitigated;
        self.record(now_ms, EntryKind::Mitigated, by, text);
        Ok(())
    }

    /// Resolve (an unacknowledged incident may be resolved: it counts as
    /// acknowledged at the same time).
    pub fn resolve(&mut self, by: &str, now_ms: i64, text: &str) -> Result<(), IncidentError> {
        if self.status == Status::Resolved {
            return Err(IncidentError::Resolved);
        }
        self.status = Status::Resolved;
        self.record(now_ms, EntryKind::Resolved, by, text);
        Ok(())
    }

    /// Give `role` to `person` (one person per role; giving it again
    /// moves it). Refused once resolved, and when `person` has it already.
    pub fn assign(
        &mut self,
        role: Role,
        person: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<(), IncidentError> {
        if self.status == Status::Resolved {
            return Err(IncidentError::Resolved);
        }
        if self.holder(role) == Some(person) {
            return Err(IncidentError::Unchanged(format!(
                "{person} is {} already",
                role.as_str()
            )));
        }
        self.roles.retain(|(r, _)| *r != role);
        self.roles.push((role, person.to_owned()));
        self.record(
            now_ms,
            EntryKind::RoleAssigned,
            by,
            format!("{person} is {}", role.as_str()),
        );
        Ok(())
    }

    /// Who holds `role`, if anybody.
    pub fn holder(&self, role: Role) -> Option<&str> {
        self.roles
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, p)| p.as_str())
    }

    /// A note for the timeline. Notes are taken after resolution too (the
    /// review's findings); the caller checks the text is not empty.
    pub fn note(&mut self, by: &str, now_ms: i64, text: &str) {
        self.record(now_ms, EntryKind::Note, by, text);
    }

    /// The notes, oldest first.
    pub fn notes(&self) -> impl Iterator<Item = &Entry> {
        self.timeline.iter().filter(|e| e.kind == EntryKind::Note)
    }

    /// Post a public status update (also on the timeline). Refused once
    /// resolved: the resolution is the last word.
    pub fn post_update(
        &mut self,
        status: UpdateStatus,
        by: &str,
        now_ms: i64,
        text: &str,
    ) -> Result<(), IncidentError> {
        if self.status == Status::Resolved {
            return Err(IncidentError::Resolved);
        }
        self.updates.push(Update {
            at_ms: now_ms,
            status,
            by: by.to_owned(),
            text: text.to_owned(),
        });
        self.record(
            now_ms,
            EntryKind::StatusUpdate,
            by,
            format!("{}: {text}", status.as_str()),
        );
        Ok(())
    }

    /// Change the severity. Refused once resolved, and to the same one.
    pub fn set_severity(
        &mut self,
        severity: Severity,
        by: &str,
        now_ms: i64,
    ) -> Result<(), IncidentError> {
        if self.status == Status::Resolved {
            return Err(IncidentError::Resolved);
        }
        if self.severity == severity {
            return Err(IncidentError::Unchanged(format!(
                "the severity is {} already",
                severity.as_str()
            )));
        }
        let was = self.severity;
        self.severity = severity;
        self.record(
            now_ms,
            EntryKind::SeverityChanged,
            by,
            format!("severity {} -> {}", was.as_str(), severity.as_str()),
        );
        Ok(())
    }

    fn first(&self, kinds: &[EntryKind]) -> Option<i64> {
        self.timeline
            .iter()
            .find(|e| kinds.contains(&e.kind))
            .map(|e| e.at_ms)
    }

    fn opened_ms(&self) -> Option<i64> {
        self.first(&[EntryKind::Opened])
    }

    /// Time to acknowledge (ms): opened to the first acknowledgement (or
    /// resolution, when it was resolved unacknowledged).
    pub fn time_to_ack_ms(&self) -> Option<i64> {
        let opened = self.opened_ms()?;
        Some(self.first(&[EntryKind::Acknowledged, EntryKind::Resolved])? - opened)
    }

    /// Time to resolve (ms): opened to resolved.
    pub fn time_to_resolve_ms(&self) -> Option<i64> {
        let opened = self.opened_ms()?;
        Some(self.first(&[EntryKind::Resolved])? - opened)
    }
}

/// Mean of some durations in ms (MTTA, MTTR over incidents); none when
/// there are none.
pub fn mean_ms(values: impl IntoIterator<Item = Option<i64>>) -> Option<f64> {
    let (sum, n) = values
        .into_iter()
        .flatten()
        .fold((0f64, 0usize), |(s, n), v| (s + v as f64, n + 1));
    (n > 0).then(|| sum / n as f64)
}
