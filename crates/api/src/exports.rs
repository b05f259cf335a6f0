//! Freeze-window exports (iCal, GitLab, Argo CD).

use serde::Deserialize;

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
    pub service: Option<String>,
    /// The change kind whose windows are exported: `release` (default),
    /// `config` or `ops`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>, example = "release"))]
    pub kind: Option<ChangeKind>,
}
