//! IM platforms calling back (`docs/respond.md#acknowledging-from-the-im`):
//! Slack's interactive requests when someone presses a page's
//! Acknowledge button. The request is Slack's own (a signed
//! `application/x-www-form-urlencoded` body); the answer is Seawall's.

use serde::{Deserialize, Serialize};

/// `POST /im/slack/actions`: the incident the press acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImAck {
    /// The incident's number.
    pub incident: i64,
    /// Who acknowledged it: `slack:` and the Slack user's name (or id).
    pub acknowledged_by: String,
    /// The incident's status now.
    pub status: String,
}
