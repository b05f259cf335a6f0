//! API tokens and their roles.

use serde::{Deserialize, Serialize};

/// A token's role: what its holder may do (the server checks; the store
/// only keeps it).
///
/// The one definition for the workspace: the store re-exports it
/// (`seawall_store::Role`) and the CLI takes it as `--role` through the
/// `clap` feature. Serialized as its lower-case name; named `RoleName` in
/// the OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RoleName))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including tokens.
    Admin,
    /// The guarantee group: events, plans, runs, exception decisions.
    Commander,
    /// A business line's technical PM, scoped to its business line (`--line`).
    Pm,
    /// On-call staff.
    Oncall,
    /// Reads only.
    Viewer,
    /// CI/CD pipelines: the change gate only, for the one event the token
    /// is bound to (`--event`).
    Ci,
    /// A guard sidecar: its one service's rules and applied-version reports
    /// only (`--service`).
    Sidecar,
}

impl Role {
    /// Every role, in order of decreasing power.
    pub const ALL: [Role; 7] = [
        Role::Admin,
        Role::Commander,
        Role::Pm,
        Role::Oncall,
        Role::Viewer,
        Role::Ci,
        Role::Sidecar,
    ];

    /// The role's lower-case name, as stored, sent and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Commander => "commander",
            Role::Pm => "pm",
            Role::Oncall => "oncall",
            Role::Viewer => "viewer",
            Role::Ci => "ci",
            Role::Sidecar => "sidecar",
        }
    }

    /// Parse a lower-case role name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// An API token, never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Store id (what `DELETE /tokens/{id}` takes).
    pub id: i64,
    /// Unique name: the actor recorded for the token's changes.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The business line a `pm` token is scoped to.
    pub business_line: Option<String>,
    /// Creation time, ms since the Unix epoch (UTC).
    pub created_ms: i64,
    /// Creator.
    pub created_by: String,
    /// When it was revoked.
    pub revoked_ms: Option<i64>,
    /// When it expires, ms since the Unix epoch (UTC); `null`: never.
    #[serde(default)]
    pub expires_ms: Option<i64>,
    /// The service a `sidecar` token is scoped to.
    #[serde(default)]
    pub service: Option<String>,
    /// The event (slug) a `ci` token is bound to.
    #[serde(default)]
    pub event: Option<String>,
}

/// A token to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Unique name, 1–64 of `A–Z a–z 0–9 . _ - @` (`ci-payments`, `ana@ops`).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._@-]{1,64}$")
    )]
    pub name: String,
    /// Role.
    pub role: Role,
    /// Business line id of the plan: required for `pm`, refused otherwise.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub business_line: Option<String>,
    /// The token expires this many seconds after it is made (60 s to 10
    /// years); left out, it never expires.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 60, maximum = 315_360_000))]
    pub expires_in_seconds: Option<u64>,
    /// The one service a `sidecar` token may follow and report for:
    /// required for `sidecar`, refused otherwise.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub service: Option<String>,
    /// The event (slug) a `ci` token asks the gate about: required for
    /// `ci`, refused otherwise.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub event: Option<String>,
}

/// A token just made, with its secret: shown this once, never again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatedToken {
    /// The token.
    pub token: Token,
    /// The secret (`sw_` and 64 hex digits) to send as `Authorization: Bearer …`.
    pub secret: String,
}

/// Every token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenList {
    /// Oldest first, revoked ones included.
    pub tokens: Vec<Token>,
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            let text = serde_json::to_string(&role).expect("json");
            assert_eq!(text, format!("\"{}\"", role.as_str()));
            let back: Role = serde_json::from_str(&text).expect("json");
            assert_eq!(back, role);
        }
        assert_eq!(Role::parse("root"), None);
    }
}
