//! Who is calling and what they may do.
//!
//! Every endpoint under `/api/v1` takes an [`Auth`] (the extractor reads
//! `Authorization: Bearer <token>`, hashes the secret and looks the hash up;
//! unknown, revoked or expired tokens are refused with 401) and then states
//! its roles with [`Auth::require`]. Role sets used by several areas are
//! constants here, so the role table in `docs/control-plane.md` has one
//! source.
//!
//! Writes (POST, PUT, PATCH, DELETE) are counted per token here, before the
//! body is read or anything is stored: past the token's rate they are
//! answered 429 with `Retry-After` ([`crate::state::Limits`]). Two roles
//! are scoped: a `sidecar` token to one service ([`Auth::require_service`])
//! and a `ci` token to one event ([`Auth::bound_event`]).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use seawall_store::{Ctx, Role, Token, sha256_hex};

use crate::error::ApiError;
use crate::state::AppState;

/// Every role but `ci` and `sidecar`: reading events, plans, analyses,
/// runs and audit.
pub const READERS: &[Role] = &[
    Role::Admin,
    Role::Commander,
    Role::Pm,
    Role::Oncall,
    Role::Viewer,
];
/// Roles that change events, plans and rehearsal results.
pub const PLANNERS: &[Role] = &[Role::Admin, Role::Commander];
/// Who starts, rolls back and resumes emergency-plan runs: the planners
/// and the on-call engineers (approving takes a commander of the plan).
pub const RESPONDERS: &[Role] = &[Role::Admin, Role::Commander, Role::Oncall];
/// Tokens: admin only.
pub const ADMINS: &[Role] = &[Role::Admin];
/// Every role.
pub const ANYONE: &[Role] = &Role::ALL;
/// Readers and a service's own sidecars: following a service's rules and
/// reporting the version applied ([`Auth::require_service`] scopes the
/// sidecar).
pub const FOLLOWERS: &[Role] = &[
    Role::Admin,
    Role::Commander,
    Role::Pm,
    Role::Oncall,
    Role::Viewer,
    Role::Sidecar,
];
/// Who reads a gray whitelist's ids: the service's own sidecars
/// ([`Auth::require_service`] scopes them) and the planners who upload
/// them. The ids are people's (staff, invited testers), so readers see
/// only the versions' counts and digests.
pub const WHITELIST_FOLLOWERS: &[Role] = &[Role::Admin, Role::Commander, Role::Sidecar];

/// Prefix of every token secret.
pub const SECRET_PREFIX: &str = "sw_";

/// A new random secret: `sw_` and 64 lower-case hex digits (32 bytes from
/// the operating system's generator).
pub fn new_secret() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("no randomness for a token secret: {e}")))?;
    let mut secret = String::with_capacity(SECRET_PREFIX.len() + 64);
    secret.push_str(SECRET_PREFIX);
    for b in bytes {
        secret.push_str(&format!("{b:02x}"));
    }
    Ok(secret)
}

/// The hash a secret is stored and looked up as.
pub fn secret_hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// The authenticated caller: a valid, unrevoked, unexpired token.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The token (never its secret).
    pub token: Token,
}

impl Auth {
    /// The caller holding `secret`: 401 unless it is a valid, unrevoked
    /// token. The bearer header and the web UI's session cookie both end
    /// here.
    pub async fn from_secret(state: &AppState, secret: &str) -> Result<Auth, ApiError> {
        if !secret.starts_with(SECRET_PREFIX) {
            return Err(unauthorized(
                "not a Seawall token (they start with `sw_`); check the token you were given",
            ));
        }
        let Some(token) = state.store.token_by_hash(&secret_hash(secret)).await? else {
            return Err(unauthorized(
                "unknown token: it was never issued by this server or was mistyped",
            ));
        };
        Auth::from_token(state, token)
    }

    /// The caller holding `token` (found by its secret, or through a UI
    /// session): 401 if it is revoked or has expired.
    pub fn from_token(state: &AppState, token: Token) -> Result<Auth, ApiError> {
        if let Some(expired) = token.expires_ms.filter(|at| state.now() >= *at) {
            return Err(ApiError::Unauthorized {
                code: "token_expired",
                message: format!(
                    "token `{}` expired at {}; ask an admin for a new one",
                    token.name,
                    jiff::Timestamp::from_millisecond(expired)
                        .map_or_else(|_| format!("{expired} ms"), |t| t.to_string())
                ),
            });
        }
        if token.revoked_ms.is_some() {
            return Err(ApiError::Unauthorized {
                code: "token_revoked",
                message: format!(
                    "token `{}` was revoked; ask an admin for a new one",
                    token.name
                ),
            });
        }
        Ok(Auth { token })
    }

    /// The caller's role.
    pub fn role(&self) -> Role {
        self.token.role
    }

    /// The actor name recorded for the caller's changes.
    pub fn actor(&self) -> &str {
        &self.token.name
    }

    /// A store context for a change by the caller, at the state's time.
    pub fn ctx(&self, state: &AppState) -> Ctx {
        state.ctx(&self.token.name)
    }

    /// Allow only `roles`: 403 naming them otherwise.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.token.role) {
            return Ok(());
        }
        Err(ApiError::Forbidden {
            message: format!(
                "token `{}` has role {}; this needs {}",
                self.token.name,
                self.token.role.as_str(),
                names(roles)
            ),
            allowed: roles.to_vec(),
        })
    }

    /// Allow `roles`, and a `sidecar` token only for its own service: 403
    /// naming the roles, or the sidecar's service, otherwise.
    pub fn require_service(&self, roles: &[Role], service: &str) -> Result<(), ApiError> {
        self.require(roles)?;
        if self.token.role == Role::Sidecar && self.token.service.as_deref() != Some(service) {
            return Err(ApiError::Forbidden {
                message: format!(
                    "token `{}` is the sidecar token of service `{}`; `{service}` is another \
                     service (make a sidecar token per service: seawall token create --role \
                     sidecar --service {service})",
                    self.token.name,
                    self.token.service.as_deref().unwrap_or("(none)")
                ),
                allowed: roles
                    .iter()
                    .copied()
                    .filter(|r| *r != Role::Sidecar)
                    .collect(),
            });
        }
        Ok(())
    }

    /// The event a `ci` token is bound to (`None` for every other role,
    /// which may ask about any event).
    pub fn bound_event(&self) -> Option<&str> {
        match self.token.role {
            Role::Ci => Some(self.token.event.as_deref().unwrap_or("")),
            _ => None,
        }
    }

    /// Allow admins and commanders, and a `pm` only for their own business
    /// line: for changes to something that belongs to `line`.
    pub fn require_line(&self, line: &str) -> Result<(), ApiError> {
        match self.token.role {
            Role::Admin | Role::Commander => Ok(()),
            Role::Pm if self.token.business_line.as_deref() == Some(line) => Ok(()),
            Role::Pm => Err(ApiError::Forbidden {
                message: format!(
                    "token `{}` is the pm of business line `{}`; `{line}` belongs to another line",
                    self.token.name,
                    self.token.business_line.as_deref().unwrap_or("(none)")
                ),
                allowed: vec![Role::Admin, Role::Commander, Role::Pm],
            }),
            _ => self.require(&[Role::Admin, Role::Commander, Role::Pm]),
        }
    }
}

fn names(roles: &[Role]) -> String {
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    match names.as_slice() {
        [one] => format!("role {one}"),
        _ => format!("one of the roles {}", names.join(", ")),
    }
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::Unauthorized {
        code: "unauthorized",
        message: message.into(),
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                "no token: send `Authorization: Bearer <token>` (seawall token create, or the \
                 admin token in the data dir)",
            ));
        };
        let value = value.to_str().unwrap_or_default().trim();
        let secret = match value.split_once(' ') {
            Some((scheme, secret)) if scheme.eq_ignore_ascii_case("bearer") => secret.trim(),
            _ => {
                return Err(unauthorized(
                    "the Authorization header must be `Bearer <token>`",
                ));
            }
        };
        let auth = Auth::from_secret(state, secret).await?;
        // A lease is not counted: every sidecar of a service shares its
        // token and leases several times a second, and what a lease can
        // take is bounded by the bucket and the instance's fair share.
        if is_write(&parts.method) && !parts.uri.path().ends_with(LEASE_PATH) {
            auth.count_write(state)?;
        }
        Ok(auth)
    }
}

/// The cluster-quota lease route (as the API's nested router sees it,
/// without `/api/v1`), left out of the per-token write rate.
pub const LEASE_PATH: &str = "/guard/lease";

/// Whether `method` changes something (and so counts against the
/// token's write rate).
pub fn is_write(method: &axum::http::Method) -> bool {
    use axum::http::Method;
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

impl Auth {
    /// Count one write by this token: 429 with `Retry-After` past its rate.
    pub fn count_write(&self, state: &AppState) -> Result<(), ApiError> {
        state.check_write(self.token.id).map_err(|wait| {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let limits = state.limits();
            tracing::warn!(token = %self.token.name, retry_after_secs = secs, "write rate exceeded");
            ApiError::TooManyRequests {
                message: format!(
                    "token `{}` made more than {} writes at once ({} a second sustained); try \
                     again in {secs} s",
                    self.token.name, limits.write_burst, limits.write_rate
                ),
                retry_after_secs: secs.max(1),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(role: Role, line: Option<&str>) -> Auth {
        Auth {
            token: Token {
                id: 1,
                name: "t".into(),
                role,
                business_line: line.map(str::to_owned),
                created_ms: 0,
                created_by: "x".into(),
                revoked_ms: None,
                expires_ms: None,
                service: None,
                event: None,
            },
        }
    }

    #[test]
    fn secrets_are_random_prefixed_hex() {
        let a = new_secret().expect("secret");
        let b = new_secret().expect("secret");
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert!(a.starts_with("sw_"));
        assert!(a[3..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(secret_hash(&a).len(), 64);
        assert_ne!(secret_hash(&a), secret_hash(&b));
    }

    #[test]
    fn require_names_the_needed_roles() {
        assert!(auth(Role::Admin, None).require(ADMINS).is_ok());
        let err = auth(Role::Viewer, None)
            .require(PLANNERS)
            .expect_err("viewer");
        assert_eq!(err.status(), axum::http::StatusCode::FORBIDDEN);
        assert!(err.to_string().contains("admin, commander"), "{err}");
        assert!(auth(Role::Ci, None).require(READERS).is_err());
    }

    #[test]
    fn pm_is_scoped_to_its_line() {
        assert!(auth(Role::Pm, Some("bike")).require_line("bike").is_ok());
        assert!(auth(Role::Pm, Some("bike")).require_line("car").is_err());
        assert!(auth(Role::Pm, None).require_line("bike").is_err());
        assert!(auth(Role::Commander, None).require_line("car").is_ok());
        assert!(auth(Role::Oncall, None).require_line("car").is_err());
        assert!(auth(Role::Viewer, None).require_line("car").is_err());
    }
}
