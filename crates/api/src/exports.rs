//! Freeze-window exports (iCal, GitLab, Argo CD).

use serde::{Deserialize, Serialize};

use crate::ChangeKind;

/// Which windows a GitLab or Argo CD export holds.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ExportQuery {
    /// Only the windows that freeze this service (default: every window
    /// that freezes some service).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(max_length = 200))]
    pub service: Option<String>,
    /// The change kind whose windows are exported: `release` (default),
    /// `config` or `ops`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(schema_with = crate::schema::change_kind, example = "release"))]
    pub kind: Option<ChangeKind>,
}

/// One GitLab freeze period (the shape of GitLab's Freeze Periods API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FreezePeriod {
    /// Cron of the start minute in UTC (`minute hour day month *`).
    pub freeze_start: String,
    /// Cron of the end minute in UTC.
    pub freeze_end: String,
    /// Always `UTC`.
    pub cron_timezone: String,
}

/// The Argo CD export: the `syncWindows` list to paste under an
/// AppProject's `spec` (sent as YAML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SyncWindows {
    /// One `deny` window per plan window, in calendar order.
    #[serde(rename = "syncWindows")]
    pub sync_windows: Vec<SyncWindow>,
}

/// One Argo CD sync window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SyncWindow {
    /// Always `deny`.
    pub kind: String,
    /// Cron of the start minute in UTC.
    pub schedule: String,
    /// Length as a Go duration (`96h`, `1h30m`).
    pub duration: String,
    /// Argo CD application globs (`*` when the window names no service).
    pub applications: Vec<String>,
    /// Always false: no manual sync during a freeze.
    pub manual_sync: bool,
    /// Always `UTC`.
    pub time_zone: String,
}
