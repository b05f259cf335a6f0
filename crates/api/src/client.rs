//! The one client of the API, on hyper's connection-level HTTP/1.1
//! client: one connection per request, a deadline on each. Typed methods
//! (`create_event`, `push_plan`, `gate_check`, `guard_rules`, …) send this
//! crate's request types and decode its response types; a refusal comes
//! back as [`ClientError::Api`] with the server's code and message. The
//! raw methods (`get`, `post_json`, `send_raw`) stay for tests of bad
//! input. The CLI, the sidecar's `--control`, the demo and the tests use
//! it.
//!
//! `https://` servers are reached with rustls (the `ring` provider),
//! checking the server's certificate against the CA in `--ca FILE`
//! ([`Client::new_with_ca`]) or else the system's roots: the OS trust
//! store read by `rustls-native-certs` (on Debian
//! `/etc/ssl/certs/ca-certificates.crt`; `SSL_CERT_FILE` or
//! `SSL_CERT_DIR` point it elsewhere), so an organisation's own CA
//! installed on its machines is trusted with no flag.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ErrorBody;
use crate::analyses::{CapacityTable, LinksReport, Readiness, Targets};
use crate::audit::AuditPage;
use crate::emergency::{EmergencyRun, EmergencyRunList, StartRun};
use crate::events::{Event, EventList, NewEvent};
use crate::exceptions::{Decide, Exception, ExceptionList, RequestException};
use crate::gate::{ChangeList, GateAnswer, GateCheck};
use crate::incidents::{
    AddNote, AssignRole, ChangeSeverity, Incident, IncidentList, MitigateIncident, OpenIncident,
    PostUpdate, ResolveIncident,
};
use crate::monitoring::{AlertList, History, HistoryQuery, LiveView};
use crate::plans::{PlanVersion, PlanVersionInfo, PlanVersionList, PushPlan};
use crate::rules::{Adjust, Applied, DeriveRequest, DeriveResult, Lease, LeaseRequest, Rules};
use crate::runs::{Run, RunInfo, RunList};
use crate::tokens::{CreatedToken, NewToken, Token, TokenList};

/// Why a request got no HTTP answer, or an answer that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL cannot be used.
    #[error("server URL {url:?}: {reason}")]
    Url {
        /// What was given.
        url: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// No connection. The OS error is the `source()` only, so a printed
    /// chain says it once.
    #[error("cannot connect to {addr}")]
    Connect {
        /// host:port.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The exchange failed.
    #[error("request to {url} failed: {message}")]
    Http {
        /// Full URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// No answer within the deadline.
    #[error("{url} did not answer within {secs} s")]
    Timeout {
        /// Full URL.
        url: String,
        /// Deadline.
        secs: u64,
    },
    /// The answer is not the JSON expected.
    #[error("{url} answered {status} with a body that is not the expected JSON: {message}")]
    Body {
        /// Full URL.
        url: String,
        /// Status.
        status: u16,
        /// Parser's message.
        message: String,
    },
    /// The request could not be built (bad header value).
    #[error("cannot build the request: {0}")]
    Build(String),
    /// The server answered with an error (or a status the call does not
    /// expect): its status and, when the body is the API's error shape,
    /// its stable code, message and details.
    #[error("{url} answered {status}: {message}")]
    Api {
        /// Full URL.
        url: String,
        /// Status.
        status: u16,
        /// The API's snake_case code (`not_found`, `forbidden`, …); `None`
        /// when the body is not the API's error shape.
        code: Option<String>,
        /// What is wrong and what to do.
        message: String,
        /// Machine-readable specifics (a plan's diagnostics, the roles an
        /// endpoint needs).
        details: Option<serde_json::Value>,
    },
    /// TLS cannot be set up (the CA file), or the handshake failed (the
    /// server's certificate is not trusted, or not for this host).
    #[error("TLS with {addr}: {message}")]
    Tls {
        /// host:port, or the CA file.
        addr: String,
        /// What failed and what to check.
        message: String,
    },
}

/// An answer: status, headers, body.
#[derive(Debug, Clone)]
pub struct Response {
    /// Full URL asked.
    pub url: String,
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Response {
    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Body {
            url: self.url.clone(),
            status: self.status.as_u16(),
            message: e.to_string(),
        })
    }

    /// The API error in the body, if it is one.
    pub fn error(&self) -> Option<ErrorBody> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// This answer as the error it is: [`ClientError::Api`] with the
    /// server's code and message when the body is an API error.
    pub fn into_error(self) -> ClientError {
        match self.error() {
            Some(body) => ClientError::Api {
                url: self.url,
                status: self.status.as_u16(),
                code: Some(body.error.code),
                message: body.error.message,
                details: body.error.details,
            },
            None => {
                let text = self.text();
                let text = text.trim();
                let message = if text.is_empty() {
                    "(no message)".to_owned()
                } else {
                    text.chars().take(300).collect()
                };
                ClientError::Api {
                    url: self.url,
                    status: self.status.as_u16(),
                    code: None,
                    message,
                    details: None,
                }
            }
        }
    }

    /// The body as a `T` when the status is `status`, else the error.
    pub fn expect<T: DeserializeOwned>(self, status: u16) -> Result<T, ClientError> {
        if self.status.as_u16() == status {
            self.json()
        } else {
            Err(self.into_error())
        }
    }

    /// Nothing but the status `status`, else the error.
    pub fn expect_empty(self, status: u16) -> Result<(), ClientError> {
        if self.status.as_u16() == status {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }
}

impl ClientError {
    /// The API's error code, when the server refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The answer's status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Body { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One path segment, percent-encoded (a slug, a service name, an id).
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// What a path segment or a query value must encode: everything but the
/// unreserved characters of RFC 3986.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The answer of a rules long poll.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    /// A version other than `since`.
    Rules(Box<Rules>),
    /// Nothing newer within the wait (304).
    Unchanged,
}

/// Typed calls, one per operation of `/api/v1`.
impl Client {
    /// `GET /api/v1/me`: the calling token.
    pub async fn me(&self) -> Result<Token, ClientError> {
        self.get("/api/v1/me").await?.expect(200)
    }

    /// `POST /api/v1/events`.
    pub async fn create_event(&self, new: &NewEvent) -> Result<Event, ClientError> {
        self.post_json("/api/v1/events", new).await?.expect(201)
    }

    /// `GET /api/v1/events`.
    pub async fn events(&self) -> Result<EventList, ClientError> {
        self.get("/api/v1/events").await?.expect(200)
    }

    /// `GET /api/v1/events/{slug}`.
    pub async fn event(&self, slug: &str) -> Result<Event, ClientError> {
        self.get(&format!("/api/v1/events/{}", segment(slug)))
            .await?
            .expect(200)
    }

    /// `POST /api/v1/events/{slug}/plans`: a new plan version.
    pub async fn push_plan(
        &self,
        slug: &str,
        plan: &PushPlan,
    ) -> Result<PlanVersionInfo, ClientError> {
        self.post_json(&format!("/api/v1/events/{}/plans", segment(slug)), plan)
            .await?
            .expect(201)
    }

    /// `GET /api/v1/events/{slug}/plans`.
    pub async fn plan_versions(&self, slug: &str) -> Result<PlanVersionList, ClientError> {
        self.get(&format!("/api/v1/events/{}/plans", segment(slug)))
            .await?
            .expect(200)
    }

    /// `GET /api/v1/events/{slug}/plans/{version}`.
    pub async fn plan_version(&self, slug: &str, version: i64) -> Result<PlanVersion, ClientError> {
        self.get(&format!("/api/v1/events/{}/plans/{version}", segment(slug)))
            .await?
            .expect(200)
    }

    /// `GET /api/v1/events/{slug}/plan/targets` of `version` (default: the
    /// latest).
    pub async fn plan_targets(
        &self,
        slug: &str,
        version: Option<i64>,
    ) -> Result<Targets, ClientError> {
        self.analysis(slug, "targets", version).await
    }

    /// `GET /api/v1/events/{slug}/plan/capacity`: water levels with the
    /// event's runs as measured capacity.
    pub async fn plan_capacity(
        &self,
        slug: &str,
        version: Option<i64>,
    ) -> Result<CapacityTable, ClientError> {
        self.analysis(slug, "capacity", version).await
    }

    /// `GET /api/v1/events/{slug}/plan/links`: link risks.
    pub async fn plan_links(
        &self,
        slug: &str,
        version: Option<i64>,
    ) -> Result<LinksReport, ClientError> {
        self.analysis(slug, "links", version).await
    }

    /// `GET /api/v1/events/{slug}/plan/readiness`: the go/no-go scorecard.
    pub async fn plan_readiness(
        &self,
        slug: &str,
        version: Option<i64>,
    ) -> Result<Readiness, ClientError> {
        self.analysis(slug, "readiness", version).await
    }

    /// One analysis of an event's plan.
    async fn analysis<T: DeserializeOwned>(
        &self,
        slug: &str,
        name: &str,
        version: Option<i64>,
    ) -> Result<T, ClientError> {
        let query = version.map(|v| format!("?version={v}")).unwrap_or_default();
        self.get(&format!(
            "/api/v1/events/{}/plan/{name}{query}",
            segment(slug)
        ))
        .await?
        .expect(200)
    }

    /// `POST /api/v1/events/{slug}/runs`: a `run.json` sent byte for byte
    /// (its SHA-256 is kept).
    pub async fn upload_run(&self, slug: &str, run_json: String) -> Result<RunInfo, ClientError> {
        self.post_json_text(&format!("/api/v1/events/{}/runs", segment(slug)), run_json)
            .await?
            .expect(201)
    }

    /// `POST /api/v1/events/{slug}/emergency-plans/{id}/runs`: start a run
    /// (or a dry run) of emergency plan `plan`.
    pub async fn start_emergency_run(
        &self,
        slug: &str,
        plan: &str,
        dry_run: bool,
    ) -> Result<EmergencyRun, ClientError> {
        let path = format!(
            "/api/v1/events/{}/emergency-plans/{}/runs",
            segment(slug),
            segment(plan)
        );
        self.post_json(&path, &StartRun { dry_run })
            .await?
            .expect(202)
    }

    /// `GET /api/v1/events/{slug}/emergency-runs`: every run of the event.
    pub async fn emergency_runs(&self, slug: &str) -> Result<EmergencyRunList, ClientError> {
        self.get(&format!("/api/v1/events/{}/emergency-runs", segment(slug)))
            .await?
            .expect(200)
    }

    /// `GET /api/v1/events/{slug}/emergency-runs/{n}`.
    pub async fn emergency_run(&self, slug: &str, n: i64) -> Result<EmergencyRun, ClientError> {
        self.get(&format!(
            "/api/v1/events/{}/emergency-runs/{n}",
            segment(slug)
        ))
        .await?
        .expect(200)
    }

    /// `POST /api/v1/events/{slug}/emergency-runs/{n}/{what}` for `what`
    /// one of `approve`, `rollback`, `resume`, `cancel`.
    pub async fn emergency_run_action(
        &self,
        slug: &str,
        n: i64,
        what: &str,
    ) -> Result<EmergencyRun, ClientError> {
        let path = format!(
            "/api/v1/events/{}/emergency-runs/{n}/{}",
            segment(slug),
            segment(what)
        );
        self.post_json(&path, &serde_json::json!({}))
            .await?
            .expect(200)
    }

    /// `POST /api/v1/events/{slug}/incidents`: open an incident by hand
    /// (its on-call is paged).
    pub async fn open_incident(
        &self,
        slug: &str,
        open: &OpenIncident,
    ) -> Result<Incident, ClientError> {
        self.post_json(&format!("/api/v1/events/{}/incidents", segment(slug)), open)
            .await?
            .expect(201)
    }

    /// `GET /api/v1/events/{slug}/incidents`: every incident of the event.
    pub async fn incidents(&self, slug: &str) -> Result<IncidentList, ClientError> {
        self.get(&format!("/api/v1/events/{}/incidents", segment(slug)))
            .await?
            .expect(200)
    }

    /// `GET /api/v1/events/{slug}/incidents/{n}`.
    pub async fn incident(&self, slug: &str, n: i64) -> Result<Incident, ClientError> {
        self.get(&format!("/api/v1/events/{}/incidents/{n}", segment(slug)))
            .await?
            .expect(200)
    }

    /// `POST /api/v1/events/{slug}/incidents/{n}/ack`: acknowledge it (the
    /// paging stops).
    pub async fn ack_incident(&self, slug: &str, n: i64) -> Result<Incident, ClientError> {
        let path = format!("/api/v1/events/{}/incidents/{n}/ack", segment(slug));
        self.post_json(&path, &serde_json::json!({}))
            .await?
            .expect(200)
    }

    /// `POST /api/v1/events/{slug}/incidents/{n}/resolve`.
    pub async fn resolve_incident(
        &self,
        slug: &str,
        n: i64,
        text: Option<&str>,
    ) -> Result<Incident, ClientError> {
        let path = format!("/api/v1/events/{}/incidents/{n}/resolve", segment(slug));
        let body = ResolveIncident {
            text: text.map(str::to_owned),
        };
        self.post_json(&path, &body).await?.expect(200)
    }

    /// `POST /api/v1/events/{slug}/incidents/{n}/roles`: give a role to
    /// one of the plan's people.
    pub async fn assign_incident_role(
        &self,
        slug: &str,
        n: i64,
        body: &AssignRole,
    ) -> Result<Incident, ClientError> {
        self.incident_change(slug, n, "roles", body).await
    }

    /// `POST /api/v1/events/{slug}/incidents/{n}/notes`.
    pub async fn add_incident_note(
        &self,
        slug: &str,
        n: i64,
        body: &AddNote,
    ) -> Result<Incident, ClientError> {
        self.incident_change(slug, n, "notes", body).await
    }

    /// `POST /api/v1/events/{slug}/incidents/{n}/updates`: a public
    /// status update.
    pub async fn post_incident_update(
        &self,
        slug: &str,
        n: i64,
        body: &PostUpdate,
    ) -> Result<Incident, ClientError> {
        self.incident_change(slug, n, "updates", body).await
    }

    /// `POST /api/v1/events/{slug}/incidents/{n}/severity`.
    pub async fn change_incident_severity(
        &self,
        slug: &str,
        n: i64,
        body: &ChangeSeverity,
    ) -> Result<Incident, ClientError> {
        self.incident_change(slug, n, "severity", body).await
    }

    /// `POST /api/v1/events/{slug}/incidents/{n}/mitigate`.
    pub async fn mitigate_incident(
        &self,
        slug: &str,
        n: i64,
        body: &MitigateIncident,
    ) -> Result<Incident, ClientError> {
        self.incident_change(slug, n, "mitigate", body).await
    }

    async fn incident_change(
        &self,
        slug: &str,
        n: i64,
        what: &str,
        body: &impl Serialize,
    ) -> Result<Incident, ClientError> {
        let path = format!("/api/v1/events/{}/incidents/{n}/{what}", segment(slug));
        self.post_json(&path, body).await?.expect(200)
    }

    /// `GET /api/v1/events/{slug}/runs`.
    pub async fn runs(&self, slug: &str) -> Result<RunList, ClientError> {
        self.get(&format!("/api/v1/events/{}/runs", segment(slug)))
            .await?
            .expect(200)
    }

    /// `GET /api/v1/events/{slug}/runs/{id}`.
    pub async fn run(&self, slug: &str, id: i64) -> Result<Run, ClientError> {
        self.get(&format!("/api/v1/events/{}/runs/{id}", segment(slug)))
            .await?
            .expect(200)
    }

    /// `POST /api/v1/tokens`: the token and its secret (shown once).
    pub async fn create_token(&self, new: &NewToken) -> Result<CreatedToken, ClientError> {
        self.post_json("/api/v1/tokens", new).await?.expect(201)
    }

    /// `GET /api/v1/tokens`.
    pub async fn tokens(&self) -> Result<TokenList, ClientError> {
        self.get("/api/v1/tokens").await?.expect(200)
    }

    /// `DELETE /api/v1/tokens/{id}`.
    pub async fn revoke_token(&self, id: i64) -> Result<Token, ClientError> {
        self.delete(&format!("/api/v1/tokens/{id}"))
            .await?
            .expect(200)
    }

    /// `GET /api/v1/audit?after=…&limit=…`: one page of the log.
    pub async fn audit_page(
        &self,
        after: i64,
        limit: Option<u32>,
    ) -> Result<AuditPage, ClientError> {
        let mut path = format!("/api/v1/audit?after={after}");
        if let Some(limit) = limit {
            path.push_str(&format!("&limit={limit}"));
        }
        self.get(&path).await?.expect(200)
    }

    /// `POST /api/v1/gate/check`: may this change go ahead now?
    pub async fn gate_check(&self, check: &GateCheck) -> Result<GateAnswer, ClientError> {
        self.post_json("/api/v1/gate/check", check)
            .await?
            .expect(200)
    }

    /// `GET /api/v1/gate/changes`, filtered by the query string `query`
    /// (without `?`; empty: every record).
    pub async fn gate_changes(&self, query: &str) -> Result<ChangeList, ClientError> {
        let path = if query.is_empty() {
            "/api/v1/gate/changes".to_owned()
        } else {
            format!("/api/v1/gate/changes?{query}")
        };
        self.get(&path).await?.expect(200)
    }

    /// `POST /api/v1/events/{slug}/exceptions`.
    pub async fn request_exception(
        &self,
        slug: &str,
        request: &RequestException,
    ) -> Result<Exception, ClientError> {
        self.post_json(
            &format!("/api/v1/events/{}/exceptions", segment(slug)),
            request,
        )
        .await?
        .expect(201)
    }

    /// `GET /api/v1/events/{slug}/exceptions`.
    pub async fn exceptions(&self, slug: &str) -> Result<ExceptionList, ClientError> {
        self.get(&format!("/api/v1/events/{}/exceptions", segment(slug)))
            .await?
            .expect(200)
    }

    /// `GET /api/v1/events/{slug}/alerts`: the event's pending, firing
    /// and resolved alerts at the monitor's latest tick.
    pub async fn alerts(&self, slug: &str) -> Result<AlertList, ClientError> {
        self.get(&format!("/api/v1/events/{}/alerts", segment(slug)))
            .await?
            .expect(200)
    }

    /// `GET /api/v1/events/{slug}/live`: the event's live view at the
    /// monitor's latest tick.
    pub async fn live(&self, slug: &str) -> Result<LiveView, ClientError> {
        self.get(&format!("/api/v1/events/{}/live", segment(slug)))
            .await?
            .expect(200)
    }

    /// `GET /api/v1/events/{slug}/history`: one stored series' points at
    /// a resolution, optionally between two times.
    pub async fn history(&self, slug: &str, q: &HistoryQuery) -> Result<History, ClientError> {
        let mut path = format!(
            "/api/v1/events/{}/history?series={}&resolution={}",
            segment(slug),
            segment(&q.series),
            q.resolution.as_str()
        );
        for (name, value) in [("from", q.from), ("to", q.to)] {
            if let Some(v) = value {
                path.push_str(&format!("&{name}={v}"));
            }
        }
        self.get(&path).await?.expect(200)
    }

    /// `GET /api/v1/events/{slug}/review?format=&compare=`: the event's
    /// post-event review as the server renders it (JSON, Markdown or
    /// HTML text), compared with the event `compare` when given.
    pub async fn review(
        &self,
        slug: &str,
        format: crate::review::ReviewFormat,
        compare: Option<&str>,
    ) -> Result<String, ClientError> {
        let mut path = format!(
            "/api/v1/events/{}/review?format={}",
            segment(slug),
            format.as_str()
        );
        if let Some(c) = compare {
            path.push_str(&format!("&compare={}", segment(c)));
        }
        let r = self.get(&path).await?;
        if r.status.as_u16() == 200 {
            Ok(r.text())
        } else {
            Err(r.into_error())
        }
    }

    /// `GET /api/v1/exceptions/{id}`: one exception and its state now.
    pub async fn exception(&self, id: i64) -> Result<Exception, ClientError> {
        self.get(&format!("/api/v1/exceptions/{id}"))
            .await?
            .expect(200)
    }

    /// `POST /api/v1/exceptions/{id}/approve`.
    pub async fn approve_exception(
        &self,
        id: i64,
        decide: &Decide,
    ) -> Result<Exception, ClientError> {
        self.post_json(&format!("/api/v1/exceptions/{id}/approve"), decide)
            .await?
            .expect(200)
    }

    /// `POST /api/v1/exceptions/{id}/reject`.
    pub async fn reject_exception(
        &self,
        id: i64,
        decide: &Decide,
    ) -> Result<Exception, ClientError> {
        self.post_json(&format!("/api/v1/exceptions/{id}/reject"), decide)
            .await?
            .expect(200)
    }

    /// `GET /api/v1/guard/rules?service=…&since=…&wait=…`: the long poll
    /// for a service's rules. Give the client a deadline longer than
    /// `wait_secs`.
    pub async fn guard_rules(
        &self,
        service: &str,
        since: i64,
        wait_secs: u64,
    ) -> Result<Poll, ClientError> {
        let path = format!(
            "/api/v1/guard/rules?service={}&since={since}&wait={wait_secs}",
            segment(service)
        );
        let answer = self.get(&path).await?;
        match answer.status.as_u16() {
            200 => Ok(Poll::Rules(Box::new(answer.json()?))),
            304 => Ok(Poll::Unchanged),
            _ => Err(answer.into_error()),
        }
    }

    /// `POST /api/v1/events/{slug}/guard/derive`: rules for every service
    /// of the event's plan from its capacities.
    pub async fn derive_rules(
        &self,
        slug: &str,
        request: &DeriveRequest,
    ) -> Result<DeriveResult, ClientError> {
        self.post_json(
            &format!("/api/v1/events/{}/guard/derive", segment(slug)),
            request,
        )
        .await?
        .expect(200)
    }

    /// `PUT /api/v1/guard/services/{service}/rules`: a commander's rule set,
    /// stored as the service's next version.
    pub async fn adjust_rules(&self, service: &str, adjust: &Adjust) -> Result<Rules, ClientError> {
        let body = serde_json::to_vec(adjust).map_err(|e| ClientError::Build(e.to_string()))?;
        self.send(
            Method::PUT,
            &format!("/api/v1/guard/services/{}/rules", segment(service)),
            Some(("application/json", Bytes::from(body))),
        )
        .await?
        .expect(201)
    }

    /// `PUT /api/v1/guard/services/{service}/whitelist`: a gray-release
    /// whitelist (one id per line), stored as the service's next version.
    pub async fn upload_whitelist(
        &self,
        service: &str,
        ids: Bytes,
        note: Option<&str>,
    ) -> Result<crate::whitelists::WhitelistInfo, ClientError> {
        let mut path = format!("/api/v1/guard/services/{}/whitelist", segment(service));
        if let Some(note) = note {
            path.push_str("?note=");
            path.push_str(&segment(note));
        }
        self.send(
            Method::PUT,
            &path,
            Some((crate::whitelists::UPLOAD_CONTENT_TYPE, ids)),
        )
        .await?
        .expect(201)
    }

    /// `GET /api/v1/guard/services/{service}/whitelists`: the versions.
    pub async fn whitelist_history(
        &self,
        service: &str,
    ) -> Result<crate::whitelists::WhitelistHistory, ClientError> {
        self.get(&format!(
            "/api/v1/guard/services/{}/whitelists",
            segment(service)
        ))
        .await?
        .expect(200)
    }

    /// `GET /api/v1/guard/whitelist?service=…&since=…&wait=…`: the long
    /// poll for a service's whitelist. Give the client a deadline longer
    /// than `wait_secs`.
    pub async fn guard_whitelist(
        &self,
        service: &str,
        since: i64,
        wait_secs: u64,
    ) -> Result<crate::whitelists::WhitelistPoll, ClientError> {
        let path = format!(
            "/api/v1/guard/whitelist?service={}&since={since}&wait={wait_secs}",
            segment(service)
        );
        let answer = self.get(&path).await?;
        match answer.status.as_u16() {
            200 => Ok(crate::whitelists::WhitelistPoll::Set(answer.body)),
            304 => Ok(crate::whitelists::WhitelistPoll::Unchanged),
            _ => Err(answer.into_error()),
        }
    }

    /// `POST /api/v1/guard/applied`: the rule version in force at a sidecar.
    pub async fn report_applied(&self, applied: &Applied) -> Result<(), ClientError> {
        self.post_json("/api/v1/guard/applied", applied)
            .await?
            .expect_empty(204)
    }

    /// `POST /api/v1/guard/lease`: tokens for the service's `scope:
    /// cluster` flow rules from the control plane's shared buckets.
    pub async fn lease(&self, request: &LeaseRequest) -> Result<Lease, ClientError> {
        self.post_json("/api/v1/guard/lease", request)
            .await?
            .expect(200)
    }
}

/// A client for one server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    authority: String,
    /// For `https://`: the TLS configuration and the name the server's
    /// certificate must carry.
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    token: Option<String>,
    timeout: Duration,
}

impl Client {
    /// A client for `http://host:port[/prefix]` or `https://…` (checked
    /// against the system's roots).
    pub fn new(server: &str) -> Result<Self, ClientError> {
        Self::new_with_ca(server, None)
    }

    /// A client for `server`; for `https://`, the server's certificate is
    /// checked against the CA certificates in the PEM file `ca` (`--ca`),
    /// or against the system's roots when `ca` is `None`.
    pub fn new_with_ca(server: &str, ca: Option<&Path>) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::Url {
            url: server.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = server
            .parse()
            .map_err(|_| bad("not a URL; give http://HOST:PORT or https://HOST:PORT"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("give http://HOST:PORT or https://HOST:PORT")),
        };
        let Some(authority) = uri.authority() else {
            return Err(bad("no host; give http://HOST:PORT"));
        };
        if authority.as_str().contains('@') {
            return Err(bad(
                "must not carry credentials; pass the token with --token",
            ));
        }
        let host = authority.host();
        let authority = match authority.port() {
            Some(_) => authority.as_str().to_owned(),
            None if https => format!("{host}:443"),
            None => format!("{host}:80"),
        };
        let tls = if https {
            let name = host.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(name.to_owned())
                .map_err(|e| bad(&format!("{host:?} is not a host name for TLS: {e}")))?;
            Some((client_tls(ca)?, name))
        } else {
            None
        };
        let base = server.trim_end_matches('/').to_owned();
        Ok(Self {
            base,
            authority,
            tls,
            token: None,
            timeout: Duration::from_secs(30),
        })
    }

    /// Send `Authorization: Bearer <token>` with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Each request's deadline (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` (path from the server root, e.g. `/api/v1/events`).
    pub async fn get(&self, path: &str) -> Result<Response, ClientError> {
        self.send(Method::GET, path, None).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Response, ClientError> {
        self.send(Method::DELETE, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Response, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Build(e.to_string()))?;
        self.send(
            Method::POST,
            path,
            Some(("application/json", Bytes::from(bytes))),
        )
        .await
    }

    /// `POST path` with a JSON document sent exactly as given (a stored
    /// document such as `run.json` keeps its bytes and hash).
    pub async fn post_json_text(&self, path: &str, text: String) -> Result<Response, ClientError> {
        self.send(
            Method::POST,
            path,
            Some(("application/json", Bytes::from(text))),
        )
        .await
    }

    /// Any request: an optional body with its content type.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Bytes)>,
    ) -> Result<Response, ClientError> {
        let mut headers = Vec::new();
        if let Some(token) = &self.token {
            headers.push((header::AUTHORIZATION, format!("Bearer {token}")));
        }
        if let Some((content_type, _)) = &body {
            headers.push((header::CONTENT_TYPE, (*content_type).to_owned()));
        }
        self.send_raw(
            method,
            path,
            &headers,
            body.map(|(_, b)| b).unwrap_or_default(),
        )
        .await
    }

    /// A request with exactly these headers (plus Host), for tests of bad
    /// input: no token unless one is among `headers`.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, String)],
        body: Bytes,
    ) -> Result<Response, ClientError> {
        let url = format!("{}{path}", self.base);
        let uri: Uri = url
            .parse()
            .map_err(|_| ClientError::Build(format!("bad path {path:?}")))?;
        let mut request = Request::builder()
            .method(method)
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(header::HOST, &self.authority);
        for (name, value) in headers {
            let value =
                HeaderValue::from_str(value).map_err(|e| ClientError::Build(e.to_string()))?;
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| ClientError::Build(e.to_string()))?;
        let exchange = async {
            let stream = tokio::net::TcpStream::connect(&self.authority)
                .await
                .map_err(|source| ClientError::Connect {
                    addr: self.authority.clone(),
                    source,
                })?;
            let plain = self.tls.is_none();
            let http = |e: hyper::Error| ClientError::Http {
                url: url.clone(),
                // A TLS server answers a plain request with bytes that are
                // not HTTP.
                message: if plain && e.is_parse() {
                    format!("{e} (does the server speak HTTPS? then give https://)")
                } else {
                    e.to_string()
                },
            };
            let _ = stream.set_nodelay(true);
            let (parts, body) = match &self.tls {
                None => exchange(stream, request).await.map_err(http)?,
                Some((config, name)) => {
                    let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                        .connect(name.clone(), stream)
                        .await
                        .map_err(|e| ClientError::Tls {
                            addr: self.authority.clone(),
                            message: handshake_failure(&e),
                        })?;
                    exchange(stream, request).await.map_err(http)?
                }
            };
            Ok(Response {
                url: url.clone(),
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout {
                url,
                secs: self.timeout.as_secs(),
            }),
        }
    }
}

/// One HTTP/1.1 exchange on `io`: the answer's head and whole body.
async fn exchange<I>(
    io: I,
    request: Request<Full<Bytes>>,
) -> Result<(http::response::Parts, Bytes), hyper::Error>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    let driver = tokio::spawn(conn);
    let response = sender.send_request(request).await;
    let result = match response {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            body.collect().await.map(|b| (parts, b.to_bytes()))
        }
        Err(e) => Err(e),
    };
    driver.abort();
    result
}

/// A failed TLS handshake, said with what to check.
fn handshake_failure(e: &std::io::Error) -> String {
    let text = e.to_string();
    let hint = if text.contains("NotValidForName") || text.contains("not valid for name") {
        "; the server's certificate is not for this host name: use the name it was issued for"
    } else if text.contains("Expired") || text.contains("NotValidYet") || text.contains("expired") {
        "; the server's certificate is outside its validity period (or this machine's clock is off)"
    } else if text.contains("certificate") {
        "; the server's certificate is not signed by a trusted CA: pass --ca FILE with the CA \
         that signed it (or install that CA in the system's trust store)"
    } else {
        "; is the server serving HTTPS (seawall serve --tls-cert/--tls-key)?"
    };
    format!("handshake failed: {text}{hint}")
}

/// A TLS client configuration (rustls, `ring`, HTTP/1.1 by ALPN) trusting
/// the CA certificates in the PEM file `ca`, or the system's roots.
pub fn client_tls(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    let roots = match ca {
        Some(path) => ca_roots(path)?,
        None => system_roots()?,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls {
            addr: "client".to_owned(),
            message: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// rustls's `ring` crypto provider. Seawall uses `ring` rather than
/// `aws-lc-rs` to keep the C part of the build small; rustls marks it
/// deprecated because it has no post-quantum key exchange (X25519MLKEM768),
/// which Seawall's TLS does without (classical X25519, P-256, P-384).
#[allow(deprecated)]
pub fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The CA certificates in a PEM file.
fn ca_roots(path: &Path) -> Result<Arc<rustls::RootCertStore>, ClientError> {
    let bad = |message: String| ClientError::Tls {
        addr: path.display().to_string(),
        message,
    };
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read the CA file: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(format!("not a PEM certificate file: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad(
            "holds no CERTIFICATE block; give the PEM file of the CA that signed the server's certificate"
                .to_owned(),
        ));
    }
    Ok(Arc::new(roots))
}

/// The system's trust store, read once per process.
fn system_roots() -> Result<Arc<rustls::RootCertStore>, ClientError> {
    static ROOTS: OnceLock<Arc<rustls::RootCertStore>> = OnceLock::new();
    if let Some(roots) = ROOTS.get() {
        return Ok(Arc::clone(roots));
    }
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(ClientError::Tls {
            addr: "system trust store".to_owned(),
            message: format!(
                "no CA certificates found{why}; install ca-certificates, or pass --ca FILE"
            ),
        });
    }
    Ok(Arc::clone(ROOTS.get_or_init(|| Arc::new(roots))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        assert!(Client::new("http://127.0.0.1:7878").is_ok());
        assert_eq!(
            Client::new("http://127.0.0.1:7878/").expect("ok").base(),
            "http://127.0.0.1:7878"
        );
        assert_eq!(
            Client::new("http://example").expect("ok").authority,
            "example:80"
        );
        let dir = std::env::temp_dir().join(format!("seawall-client-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca_file = dir.join("ca.pem");
        let ca = rcgen::KeyPair::generate()
            .and_then(|key| rcgen::CertificateParams::new(Vec::new())?.self_signed(&key))
            .expect("a CA");
        std::fs::write(&ca_file, ca.pem()).expect("write");
        let https = Client::new_with_ca("https://example", Some(&ca_file)).expect("https");
        assert_eq!(https.authority, "example:443");
        assert!(https.tls.is_some());
        let _ = std::fs::remove_dir_all(&dir);
        let missing = Client::new_with_ca("https://x:1", Some(Path::new("/nonexistent/ca.pem")))
            .expect_err("no such CA file")
            .to_string();
        assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
        for bad in ["ftp://x", "127.0.0.1:7878", "", "http://", "http://u:p@x:1"] {
            assert!(Client::new(bad).is_err(), "{bad}");
        }
    }

    /// A refused connection says its OS error once: the message names the
    /// address, the OS error is its `source()`, and a printed chain
    /// (message, then each source) has it a single time.
    #[tokio::test]
    async fn a_refused_connection_says_the_os_error_once() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = closed.local_addr().expect("addr");
        drop(closed);
        let client = Client::new(&format!("http://{addr}")).expect("client");
        let err = client.events().await.expect_err("nothing listens there");
        assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
        let os = std::error::Error::source(&err)
            .map(ToString::to_string)
            .expect("the OS error is the source");
        assert!(os.contains("os error"), "{os}");
        let mut chain = err.to_string();
        let mut cause = std::error::Error::source(&err);
        while let Some(c) = cause {
            chain.push_str(": ");
            chain.push_str(&c.to_string());
            cause = c.source();
        }
        assert!(
            chain.starts_with(&format!("cannot connect to {addr}")),
            "{chain}"
        );
        assert_eq!(
            chain.matches(&os).count(),
            1,
            "`{os}` not said once: {chain}"
        );
        assert_eq!(chain.matches("os error").count(), 1, "{chain}");
    }
}
