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
//! An `https://` control plane is reached with rustls (the `ring`
//! provider): its certificate is checked against the CA in `--ca FILE`, or
//! else the system's roots (the OS trust store, read by
//! `rustls-native-certs`; `SSL_CERT_FILE` points it elsewhere), and must
//! be issued for the URL's host.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

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
    /// For `https://`: the TLS configuration and the name the control
    /// plane's certificate must carry.
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
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
            .field("tls", &self.tls.is_some())
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
        let tls = match (https, uri.host()) {
            (true, Some(host)) => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(host.to_owned())
                    .map_err(|e| bad(format!("{host:?} is not a host name for TLS: {e}")))?;
                Some((client_tls(ca).map_err(bad)?, name))
            }
            _ => None,
        };
        Ok(Self {
            server: parsed,
            service: service.into(),
            token: token.into(),
            instance: instance.into(),
            wait: Duration::from_secs(30),
            tls,
        })
    }

    /// Whether the control plane is reached over TLS (`https://`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// rustls's `ring` provider (Seawall keeps the C part of its build small;
/// rustls marks it deprecated for lacking post-quantum key exchange).
#[allow(deprecated)]
fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS client configuration trusting the CA certificates in the PEM
/// file `ca`, or the system's roots (read once per process).
fn client_tls(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    static SYSTEM: OnceLock<Arc<rustls::RootCertStore>> = OnceLock::new();
    let roots = match ca {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert
                    .map_err(|e| format!("{}: not a PEM certificate file: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!(
                    "{} holds no CERTIFICATE block; give the PEM file of the CA that signed \
                     the control plane's certificate",
                    path.display()
                ));
            }
            Arc::new(roots)
        }
        None => match SYSTEM.get() {
            Some(roots) => Arc::clone(roots),
            None => {
                let found = rustls_native_certs::load_native_certs();
                let mut roots = rustls::RootCertStore::empty();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(
                        "the system has no CA certificates for https; install ca-certificates, \
                         or pass --ca FILE"
                            .to_owned(),
                    );
                }
                Arc::clone(SYSTEM.get_or_init(|| Arc::new(roots)))
            }
        },
    };
    let mut config = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A failed TLS handshake with the control plane, said with what to check.
fn handshake_failure(e: &std::io::Error) -> String {
    let text = e.to_string();
    let hint = if text.contains("NotValidForName") || text.contains("not valid for name") {
        "the certificate is not for this host name; use the name it was issued for in --control"
    } else if text.contains("certificate") {
        "pass --ca FILE with the CA that signed the control plane's certificate"
    } else {
        "is the control plane serving HTTPS (seawall serve --tls-cert/--tls-key)?"
    };
    format!("TLS handshake with the control plane failed: {text}; {hint}")
}

/// A rule version fetched from the control plane.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) version: u64,
    /// The rule document as JSON text, its `version` set to `version`.
    pub(crate) document: String,
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One HTTP/1.1 exchange with the control plane on a fresh connection (a
/// long poll holds its connection for up to `wait`; one request at a time
/// needs no pool).
async fn exchange(
    control: &Control,
    method: Method,
    path_and_query: &str,
    body: Option<String>,
    deadline: Duration,
) -> Result<(StatusCode, Bytes), String> {
    let work = async {
        let (host, port) = control.server.host_port();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let stream = TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to the control plane: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut sender = match &control.tls {
            None => http1(stream).await?,
            Some((config, name)) => {
                let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| handshake_failure(&e))?;
                http1(stream).await?
            }
        };
        let pq = http::uri::PathAndQuery::try_from(path_and_query)
            .map_err(|e| format!("bad request target {path_and_query:?}: {e}"))?;
        let uri = control
            .server
            .origin_form(Some(&pq))
            .map_err(|e| format!("bad request target: {e}"))?;
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(HOST, control.server.authority())
            .header(AUTHORIZATION, format!("Bearer {}", control.token));
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("control plane request failed: {e}"))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("control plane response body: {e}"))?
            .to_bytes();
        Ok((status, bytes))
    };
    tokio::time::timeout(deadline, work)
        .await
        .map_err(|_| format!("no answer from the control plane within {deadline:?}"))?
}

/// An HTTP/1.1 connection on `io`, its driver spawned.
async fn http1<I>(io: I) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, String>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("control plane handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Asks for a version newer than `since`, waiting up to `wait` on the
/// server. `Ok(None)`: nothing newer.
pub(crate) async fn fetch(
    control: &Control,
    since: u64,
    wait: Duration,
) -> Result<Option<Fetched>, String> {
    let path = format!(
        "/api/v1/guard/rules?service={}&since={since}&wait={}",
        encode(&control.service),
        wait.as_secs()
    );
    // A start-up question gets a few seconds; a long poll its wait and some.
    let deadline = if wait.is_zero() {
        Duration::from_secs(3)
    } else {
        wait + Duration::from_secs(10)
    };
    let (status, body) = exchange(control, Method::GET, &path, None, deadline).await?;
    match status {
        StatusCode::OK => {}
        StatusCode::NOT_MODIFIED => return Ok(None),
        other => {
            let text = String::from_utf8_lossy(&body);
            return Err(format!(
                "control plane answered {other}: {}",
                text.chars().take(300).collect::<String>()
            ));
        }
    }
    let mut doc: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("control plane sent bad JSON: {e}"))?;
    let version = doc
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or("control plane response has no numeric `version`")?;
    let mut rules = doc
        .get_mut("rules")
        .map(serde_json::Value::take)
        .filter(serde_json::Value::is_object)
        .ok_or("control plane response has no `rules` object")?;
    rules["version"] = serde_json::Value::from(version);
    let document = serde_json::to_string_pretty(&rules)
        .map_err(|e| format!("cannot serialise the rules: {e}"))?;
    Ok(Some(Fetched { version, document }))
}

/// Tells the control plane which version is in force here.
pub(crate) async fn report(control: &Control, version: u64) -> Result<(), String> {
    let body = serde_json::json!({
        "service": control.service,
        "instance": control.instance,
        "version": version,
    })
    .to_string();
    let (status, text) = exchange(
        control,
        Method::POST,
        "/api/v1/guard/applied",
        Some(body),
        Duration::from_secs(10),
    )
    .await?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!(
            "reporting the applied version: {status}: {}",
            String::from_utf8_lossy(&text)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode("order-svc.v2_a~"), "order-svc.v2_a~");
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
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
