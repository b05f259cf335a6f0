//! Logging in to the UI with an API token, and keeping forms safe.
//!
//! Logging in with a token makes a server-side session kept in the store
//! (so every replica serves it): the cookie holds a random session id
//! (`HttpOnly`, `SameSite=Strict`, path `/ui`; `Secure` when the server
//! speaks TLS or sits behind an https proxy), never the token, and the
//! store keeps only the id's SHA-256. A session ends after
//! [`Limits::session_idle`] unused, [`Limits::session_max`] after login
//! whatever happens, at logout (its row is deleted, so a copied cookie is
//! worthless), and when its token is revoked or expires. Every request
//! checks the session and its token. The CSRF token is derived from the
//! session id (SHA-256 with a fixed label), so it needs no storage; every
//! form that changes something carries it and [`Session::check_csrf`]
//! compares it, and changing requests from another origin are refused
//! before a handler runs. Form posts count against the token's write rate
//! like API writes.
//!
//! [`Limits::session_idle`]: crate::state::Limits::session_idle
//! [`Limits::session_max`]: crate::state::Limits::session_max

use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use seawall_store::sha256_hex;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::page::UiError;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "seawall_session";
/// Name of the theme cookie.
pub const THEME_COOKIE: &str = "seawall_theme";
/// Header htmx requests carry the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Prefix of a session id (the cookie's value).
pub const SESSION_PREFIX: &str = "sws_";
/// A session's last-seen time is written at most this often (the idle
/// expiry is exact to within it).
pub const TOUCH_EVERY_MS: i64 = 60_000;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/theme", post(set_theme))
}

/// The colour scheme: the system's, light, dark, or the war-room mode
/// (dark, high contrast, large type for a big screen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Follow the browser's `prefers-color-scheme`.
    #[default]
    Auto,
    /// Light.
    Light,
    /// Dark.
    Dark,
    /// Dark, high contrast, large type.
    Warroom,
}

impl Theme {
    /// The name used in the cookie and as the `<html>` class suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Auto => "auto",
            Theme::Light => "light",
            Theme::Dark => "dark",
            Theme::Warroom => "warroom",
        }
    }

    fn parse(s: &str) -> Theme {
        match s {
            "light" => Theme::Light,
            "dark" => Theme::Dark,
            "warroom" => Theme::Warroom,
            _ => Theme::Auto,
        }
    }
}

/// A logged-in UI user.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token the session holds, as the API's [`Auth`].
    pub auth: Auth,
    /// This session's CSRF token, for forms.
    pub csrf: String,
    /// The chosen colour scheme.
    pub theme: Theme,
    /// Path and query of this request, to come back to after a form.
    pub path: String,
    header_csrf: Option<String>,
    id_sha256: String,
}

impl Session {
    /// Refuse (403) unless `form_token` (the form's `csrf` field) or the
    /// request's `x-csrf-token` header is this session's CSRF token.
    pub fn check_csrf(&self, form_token: Option<&str>) -> Result<(), UiError> {
        let ok = [form_token, self.header_csrf.as_deref()]
            .into_iter()
            .flatten()
            .any(|t| constant_time_eq(t.as_bytes(), self.csrf.as_bytes()));
        if ok {
            Ok(())
        } else {
            Err(UiError(ApiError::Forbidden {
                message: "the form's CSRF token is missing or stale; reload the page and try again"
                    .into(),
                allowed: Vec::new(),
            }))
        }
    }
}

/// The CSRF token of the session whose id (the cookie's value) is
/// `session_id`.
pub fn csrf_token(session_id: &str) -> String {
    sha256_hex(format!("seawall-ui-csrf\n{session_id}").as_bytes())
}

/// A new random session id: `sws_` and 64 lower-case hex digits.
fn new_session_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("no randomness for a session id: {e}")))?;
    let mut id = String::with_capacity(SESSION_PREFIX.len() + 64);
    id.push_str(SESSION_PREFIX);
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    Ok(id)
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name`, if the request has it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// `next` if it is a path inside the UI, else the event list: a login
/// link must not send anyone elsewhere.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/ui/")
                && !n.contains("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/ui/".to_owned(),
    }
}

/// Refuse a changing request whose `Origin` or `Sec-Fetch-Site` says it
/// comes from another site.
fn same_origin(parts: &Parts) -> Result<(), UiError> {
    let refuse = |why: &str| {
        Err(UiError(ApiError::Forbidden {
            message: format!("{why}; forms can only be sent from this server's own pages"),
            allowed: Vec::new(),
        }))
    };
    if let Some(site) = parts.headers.get("sec-fetch-site")
        && !matches!(site.to_str(), Ok("same-origin" | "none"))
    {
        return refuse("a cross-site request");
    }
    if let Some(origin) = parts.headers.get(header::ORIGIN) {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let origin = origin.to_str().unwrap_or_default();
        let bare = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if bare != Some(host) {
            return refuse("the request's Origin is another site");
        }
    }
    Ok(())
}

fn path_and_query(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned())
}

fn to_login(parts: &Parts, why: Option<&str>) -> Response {
    let next = path_and_query(parts);
    let mut query = format!("next={}", urlencode(&next));
    if let Some(why) = why {
        query.push_str("&why=");
        query.push_str(why);
    }
    let target = format!("/ui/login?{query}");
    if parts.headers.contains_key("hx-request") {
        // htmx follows this header instead of swapping the login page in.
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert("hx-redirect", v);
        }
        return r;
    }
    if parts.method == Method::GET || parts.method == Method::HEAD {
        Redirect::to(&target).into_response()
    } else {
        UiError(ApiError::Unauthorized {
            code: "unauthorized",
            message: "your session has ended; log in again and repeat the change".into(),
        })
        .into_response()
    }
}

/// Percent-encoding of the `next` path: everything but ASCII letters,
/// digits and `-_.~/` is escaped.
fn urlencode(s: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(s, KEEP).to_string()
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if parts.method != Method::GET && parts.method != Method::HEAD {
            same_origin(parts).map_err(IntoResponse::into_response)?;
        }
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login(parts, None));
        };
        let id_sha256 = sha256_hex(id.as_bytes());
        let found = match state.store.session_by_hash(&id_sha256).await {
            Ok(found) => found,
            Err(e) => return Err(UiError(e.into()).into_response()),
        };
        let Some((stored, token)) = found else {
            return Err(to_login(parts, Some("expired")));
        };
        // The token first, so a revoked token's sessions say so.
        let auth = match Auth::from_token(state, token) {
            Ok(auth) => auth,
            Err(ApiError::Unauthorized { code, .. }) => {
                let why = if code == "token_revoked" {
                    "revoked"
                } else {
                    "expired"
                };
                return Err(to_login(parts, Some(why)));
            }
            Err(e) => return Err(UiError(e).into_response()),
        };
        let now = state.now();
        if now >= stored.idle_until_ms || now >= stored.expires_ms {
            return Err(to_login(parts, Some("expired")));
        }
        if now - stored.seen_ms >= TOUCH_EVERY_MS {
            let idle = millis(state.limits().session_idle);
            let until = now.saturating_add(idle).min(stored.expires_ms);
            if let Err(e) = state.store.touch_session(&id_sha256, now, until).await {
                return Err(UiError(e.into()).into_response());
            }
        }
        if crate::auth::is_write(&parts.method)
            && let Err(e) = auth.count_write(state)
        {
            return Err(UiError(e).into_response());
        }
        Ok(Session {
            id_sha256,
            csrf: csrf_token(id),
            theme: cookie(&parts.headers, THEME_COOKIE).map_or(Theme::Auto, Theme::parse),
            path: path_and_query(parts),
            header_csrf: parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            auth,
        })
    }
}

/// A form body (`application/x-www-form-urlencoded`); a body that does not
/// fit `T` gets a 400 page saying which field is wrong.
#[derive(Debug)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = UiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, UiError> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(Form(v)),
            Err(e) => Err(UiError(ApiError::BadRequest {
                code: "bad_form",
                message: format!("the form cannot be read: {}", e.body_text()),
                details: None,
            })),
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    error: Option<String>,
    notice: Option<&'static str>,
    theme: Theme,
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
    why: Option<String>,
}

async fn login_page(
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Html<String>, UiError> {
    let notice = match q.why.as_deref() {
        Some("revoked") => Some("Your token was revoked; log in with a new one."),
        Some("expired") => Some("Your session has ended; log in again."),
        Some("logout") => Some("You are logged out."),
        _ => None,
    };
    super::page::render(&LoginPage {
        next: safe_next(q.next.as_deref()),
        error: None,
        notice,
        theme: cookie(&headers, THEME_COOKIE).map_or(Theme::Auto, Theme::parse),
    })
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn login(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Err(e) = same_origin(&parts) {
        return e.into_response();
    }
    let theme = cookie(&parts.headers, THEME_COOKIE).map_or(Theme::Auto, Theme::parse);
    let secure = state.secure_cookies()
        || parts
            .headers
            .get("x-forwarded-proto")
            .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    let req = Request::from_parts(parts, body);
    let form = match Form::<LoginForm>::from_request(req, &state).await {
        Ok(Form(f)) => f,
        Err(e) => return e.into_response(),
    };
    let next = safe_next(form.next.as_deref());
    let secret = form.token.trim();
    match Auth::from_secret(&state, secret).await {
        Ok(auth) => {
            let id = match start_session(&state, &auth).await {
                Ok(id) => id,
                Err(e) => return UiError(e).into_response(),
            };
            tracing::info!(token = %auth.token.name, role = auth.role().as_str(), "ui login");
            let cookie = format!(
                "{SESSION_COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
                state.limits().session_max.as_secs(),
                if secure { "; Secure" } else { "" }
            );
            let mut r = Redirect::to(&next).into_response();
            match HeaderValue::from_str(&cookie) {
                Ok(v) => {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                    r
                }
                Err(_) => UiError(ApiError::BadRequest {
                    code: "bad_token",
                    message: "the token has characters a token never has".into(),
                    details: None,
                })
                .into_response(),
            }
        }
        Err(ApiError::Unauthorized { message, .. }) => {
            let page = LoginPage {
                next,
                error: Some(message),
                notice: None,
                theme,
            };
            match super::page::render(&page) {
                Ok(html) => (StatusCode::UNAUTHORIZED, html).into_response(),
                Err(e) => e.into_response(),
            }
        }
        Err(e) => UiError(e).into_response(),
    }
}

/// Store a new session for `auth`'s token; the id for the cookie.
async fn start_session(state: &AppState, auth: &Auth) -> Result<String, ApiError> {
    let id = new_session_id()?;
    let now = state.now();
    let limits = state.limits();
    let expires_ms = now.saturating_add(millis(limits.session_max));
    let session = seawall_store::Session {
        id_sha256: sha256_hex(id.as_bytes()),
        token_id: auth.token.id,
        created_ms: now,
        seen_ms: now,
        idle_until_ms: now
            .saturating_add(millis(limits.session_idle))
            .min(expires_ms),
        expires_ms,
    };
    state
        .store
        .create_session(&auth.ctx(state), &session)
        .await?;
    Ok(id)
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

async fn logout(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Result<Response, UiError> {
    session.check_csrf(form.csrf.as_deref())?;
    state
        .store
        .end_session(&session.auth.ctx(&state), &session.id_sha256)
        .await
        .map_err(|e| UiError(e.into()))?;
    let mut r = Redirect::to("/ui/login?why=logout").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "seawall_session=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    Ok(r)
}

#[derive(Debug, Deserialize)]
struct ThemeForm {
    csrf: Option<String>,
    theme: Theme,
    next: Option<String>,
}

async fn set_theme(session: Session, Form(form): Form<ThemeForm>) -> Result<Response, UiError> {
    session.check_csrf(form.csrf.as_deref())?;
    let mut r = Redirect::to(&safe_next(form.next.as_deref())).into_response();
    let cookie = format!(
        "{THEME_COOKIE}={}; Path=/ui; SameSite=Strict; Max-Age=31536000",
        form.theme.as_str()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_paths_are_percent_encoded() {
        assert_eq!(urlencode("/ui/events/x"), "/ui/events/x");
        assert_eq!(
            urlencode("/ui/a b?c=ü&d-_.~"),
            "/ui/a%20b%3Fc%3D%C3%BC%26d-_.~"
        );
    }

    #[test]
    fn next_stays_inside_the_ui() {
        assert_eq!(
            safe_next(Some("/ui/events/x/targets?line=a")),
            "/ui/events/x/targets?line=a"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/ui/",
            "/ui//evil",
            "/ui/\\evil",
            "/api/v1/events",
            "/ui/\r\nSet-Cookie: x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/ui/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/ui/");
    }

    #[test]
    fn csrf_depends_on_the_session_id() {
        assert_ne!(csrf_token("sw_a"), csrf_token("sw_b"));
        assert_eq!(csrf_token("sw_a"), csrf_token("sw_a"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; seawall_session=sws_x; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("sws_x"));
        assert_eq!(cookie(&h, "seawall"), None);
    }
}
