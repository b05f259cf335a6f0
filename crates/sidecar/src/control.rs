//! Following the control plane (`seawall sidecar --control URL --service S`):
//! long-poll `GET /api/v1/guard/rules?service=S&since=V`, write each new
//! version to the rules file and apply it at once through the same path as
//! a file reload, then report the version in force with
//! `POST /api/v1/guard/applied`.
//!
//! Why through the rules file: the file is the sidecar's local copy of the
//! last good rules. When the control plane is unreachable — at start or
//! later — the sidecar keeps serving with what the file holds, also across
//! its own restarts; and a version the guard refuses is never written, so
//! the file only ever holds rules that were in force.
//!
//! The exchanges go through `seawall-api`'s typed client (`guard_rules`,
//! `report_applied`, and `lease` for the cluster quotas' tokens), the one
//! client of the control plane: no JSON keys, percent-encoding or TLS
//! set-up of its own here. An `https://` control
//! plane is reached with rustls (the `ring` provider): its certificate is
//! checked against the CA in `--ca FILE`, or else the system's roots (the
//! OS trust store, read by `rustls-native-certs`; `SSL_CERT_FILE` points it
//! elsewhere), and must be issued for the URL's host.

use std::path::Path;
use std::time::Duration;

use seawall_api::rules::{Applied, Lease, LeaseRequest};
use seawall_api::{Client, ClientError, Poll};

use crate::upstream::Upstream;

/// Where the sidecar gets its rules from when it follows a control plane.
#[derive(Clone)]
pub struct Control {
    /// The control plane: `http://host:port[/base]` (for `https://`, the
    /// same with [`Control::is_tls`]).
    pub server: Upstream,
    /// The service whose rules this sidecar applies.
    pub service: String,
    /// API token: a `sidecar` token scoped to `service` (the role that
    /// may read this service's rules and report, nothing else).
    pub token: String,
    /// This sidecar's name in the applied-version reports.
    pub instance: String,
    /// How long one long poll may wait on the server (it answers sooner
    /// when a new version appears).
    pub wait: Duration,
    /// The admin address sent with every report, so the control plane
    /// scrapes this sidecar's `/metrics`: set by [`crate::Sidecar::run`]
    /// to the bound admin address (left out when the sidecar has no admin
    /// port or it listens on an unspecified address such as `0.0.0.0`,
    /// which names no host to reach).
    pub admin_addr: Option<String>,
    /// The API client (for `https://`, with its TLS configuration).
    client: Client,
    /// Whether the control plane is reached over TLS.
    tls: bool,
}

/// Never prints the token (configurations end up in logs).
impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("server", &self.server)
            .field("service", &self.service)
            .field("token", &"<redacted>")
            .field("instance", &self.instance)
            .field("wait", &self.wait)
            .field("admin_addr", &self.admin_addr)
            .field("tls", &self.tls)
            .finish()
    }
}

impl Control {
    /// A control-plane source with a 30 s long poll; an `https://` one
    /// checked against the system's roots.
    pub fn new(
        server: &str,
        service: impl Into<String>,
        token: impl Into<String>,
        instance: impl Into<String>,
    ) -> Result<Self, crate::SidecarError> {
        Self::new_with_ca(server, service, token, instance, None)
    }

    /// [`Control::new`], with an `https://` control plane's certificate
    /// checked against the CA certificates in the PEM file `ca` (`--ca`)
    /// instead of the system's roots.
    pub fn new_with_ca(
        server: &str,
        service: impl Into<String>,
        token: impl Into<String>,
        instance: impl Into<String>,
        ca: Option<&Path>,
    ) -> Result<Self, crate::SidecarError> {
        let bad = |message: String| {
            crate::SidecarError::Control(format!("--control `{server}`: {message}"))
        };
        let uri: http::Uri = server
            .parse()
            .map_err(|_| bad("not a URL; write it as https://host:port".to_owned()))?;
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        // An https URL is parsed as its http twin with the port made
        // explicit (443 by default); TLS is this module's business.
        let plain = match (https, uri.authority()) {
            (true, Some(authority)) => {
                let port = authority.port_u16().unwrap_or(443);
                let rest = uri.path_and_query().map_or("", |pq| pq.as_str());
                format!("http://{}:{port}{rest}", authority.host())
            }
            _ => server.to_owned(),
        };
        let parsed = Upstream::parse(&plain).map_err(|e| match e {
            crate::SidecarError::Upstream { message, .. } => bad(message),
            other => other,
        })?;
        let token = token.into();
        let client = Client::new_with_ca(server, ca)
            .map_err(|e| match e {
                ClientError::Tls { addr, message } if ca.is_some() => {
                    bad(format!("{addr}: {message}"))
                }
                other => bad(other.to_string()),
            })?
            .with_token(token.clone());
        Ok(Self {
            server: parsed,
            service: service.into(),
            token,
            instance: instance.into(),
            wait: Duration::from_secs(30),
            admin_addr: None,
            client,
            tls: https,
        })
    }

    /// Whether the control plane is reached over TLS (`https://`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

/// A rule version fetched from the control plane.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) version: u64,
    /// The rule document as JSON text, its `version` set to `version`.
    pub(crate) document: String,
}

/// A failed exchange with the control plane, said for the sidecar's log.
fn failure(e: ClientError, deadline: Duration) -> String {
    match e {
        ClientError::Connect { source, .. } => {
            format!("cannot connect to the control plane: {source}")
        }
        ClientError::Timeout { .. } => {
            format!("no answer from the control plane within {deadline:?}")
        }
        ClientError::Tls { message, .. } => {
            format!("TLS handshake with the control plane failed: {message}")
        }
        ClientError::Http { message, .. } => format!("control plane request failed: {message}"),
        ClientError::Api {
            status, message, ..
        } => format!("control plane answered {status}: {message}"),
        other => format!("control plane: {other}"),
    }
}

/// Asks for a version newer than `since`, waiting up to `wait` on the
/// server. `Ok(None)`: nothing newer.
pub(crate) async fn fetch(
    control: &Control,
    since: u64,
    wait: Duration,
) -> Result<Option<Fetched>, String> {
    // A start-up question gets a few seconds; a long poll its wait and some.
    let deadline = if wait.is_zero() {
        Duration::from_secs(3)
    } else {
        wait + Duration::from_secs(10)
    };
    let since = i64::try_from(since).unwrap_or(i64::MAX);
    let answer = control
        .client
        .clone()
        .with_timeout(deadline)
        .guard_rules(&control.service, since, wait.as_secs())
        .await
        .map_err(|e| failure(e, deadline))?;
    let fetched = match answer {
        Poll::Rules(fetched) => *fetched,
        Poll::Unchanged => return Ok(None),
    };
    let version = u64::try_from(fetched.version)
        .map_err(|_| format!("control plane sent version {}", fetched.version))?;
    let mut rules = fetched.rules;
    if !rules.is_object() {
        return Err("control plane response has no `rules` object".to_owned());
    }
    rules["version"] = serde_json::Value::from(version);
    let document = serde_json::to_string_pretty(&rules)
        .map_err(|e| format!("cannot serialise the rules: {e}"))?;
    Ok(Some(Fetched { version, document }))
}

/// Tells the control plane which version is in force here.
pub(crate) async fn report(control: &Control, version: u64) -> Result<(), String> {
    let applied = Applied {
        service: control.service.clone(),
        instance: control.instance.clone(),
        version: i64::try_from(version).unwrap_or(i64::MAX),
        admin_addr: control.admin_addr.clone(),
    };
    let deadline = Duration::from_secs(10);
    control
        .client
        .clone()
        .with_timeout(deadline)
        .report_applied(&applied)
        .await
        .map_err(|e| format!("reporting the applied version: {}", failure(e, deadline)))
}

/// Asks for a whitelist version other than `since` (`GET
/// /api/v1/guard/whitelist`), waiting up to `wait` on the server: the wire
/// form (seawall-guard's `whitelist::Delta`), or `Ok(None)`: nothing newer.
pub(crate) async fn fetch_whitelist(
    control: &Control,
    since: u64,
    wait: Duration,
) -> Result<Option<bytes::Bytes>, String> {
    let deadline = wait + Duration::from_secs(10);
    let since = i64::try_from(since).unwrap_or(i64::MAX);
    match control
        .client
        .clone()
        .with_timeout(deadline)
        .guard_whitelist(&control.service, since, wait.as_secs())
        .await
        .map_err(|e| format!("whitelist: {}", failure(e, deadline)))?
    {
        seawall_api::whitelists::WhitelistPoll::Set(bytes) => Ok(Some(bytes)),
        seawall_api::whitelists::WhitelistPoll::Unchanged => Ok(None),
    }
}

/// Leases cluster quota tokens (`POST /api/v1/guard/lease`), waiting at
/// most `deadline`.
pub(crate) async fn lease(
    control: &Control,
    request: &LeaseRequest,
    deadline: Duration,
) -> Result<Lease, String> {
    control
        .client
        .clone()
        .with_timeout(deadline)
        .lease(request)
        .await
        .map_err(|e| format!("leasing cluster quota tokens: {}", failure(e, deadline)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        let segment = seawall_api::client::segment;
        assert_eq!(segment("order-svc.v2_a~"), "order-svc.v2_a~");
        assert_eq!(segment("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn control_url_errors_name_the_flag() {
        for bad in ["ftp://cp:1", "cp:1", "http://u:p@cp:1", "https://cp:1/?q=1"] {
            let e = Control::new(bad, "order", "t", "i")
                .expect_err(bad)
                .to_string();
            assert!(e.contains("--control"), "{bad}: {e}");
        }
        let e = Control::new_with_ca(
            "https://cp:1",
            "order",
            "t",
            "i",
            Some(Path::new("/nonexistent/ca.pem")),
        )
        .expect_err("no CA file")
        .to_string();
        assert!(
            e.contains("--control") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        );
        let plain = Control::new("http://127.0.0.1:7878", "order", "t", "i").expect("http");
        assert!(!plain.is_tls());
    }

    #[test]
    fn https_defaults_to_port_443() {
        let dir = std::env::temp_dir().join(format!("seawall-control-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = dir.join("ca.pem");
        let cert = rcgen::KeyPair::generate()
            .and_then(|key| rcgen::CertificateParams::new(Vec::new())?.self_signed(&key))
            .expect("a CA certificate");
        std::fs::write(&ca, cert.pem()).expect("write");
        let c = Control::new_with_ca("https://cp.example/base", "order", "t", "i", Some(&ca))
            .expect("https");
        assert!(c.is_tls());
        assert_eq!(c.server.authority(), "cp.example:443");
        assert_eq!(c.server.base(), "/base");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
