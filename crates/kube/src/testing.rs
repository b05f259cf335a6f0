//! A fake Kubernetes API server for tests (feature `testing`).
//!
//! No kube-apiserver exists as a Debian package, so Seawall's tests of the
//! `scale` action talk to this one: a real HTTP/1.1 server (hyper) on
//! 127.0.0.1:0, plain or TLS (rustls), holding deployments (namespace,
//! name, `spec.replicas`, `status.replicas`, `resourceVersion`). It serves
//! only `…/deployments/{name}/scale` and answers as the real API server
//! does, with the same `Scale` and `Status` shapes, codes, reasons and
//! message wording (`docs/respond.md#scaling-with-kubernetes`):
//!
//! - no `Authorization: Bearer` or an unknown token → 401 `Unauthorized`;
//!   a known token without the right → 403 `Forbidden` (tokens are
//!   granted [`Access::ReadWrite`] or [`Access::ReadOnly`]);
//! - any other path → 404 `NotFound` ("the server could not find the
//!   requested resource"); an unknown deployment → 404 `NotFound`
//!   (`deployments.apps "x" not found`);
//! - a method other than `GET`/`PATCH` → 405; an `Accept` without JSON
//!   → 406;
//! - a `PATCH` whose `Content-Type` is not `application/merge-patch+json`
//!   → 415 `UnsupportedMediaType`; a body that is not
//!   `{"spec":{"replicas":N}}` with an optional
//!   `{"metadata":{"resourceVersion":"…"}}` → 400 `BadRequest`; a negative
//!   `N` → 422 `Invalid`; a `resourceVersion` other than the current one
//!   → 409 `Conflict`;
//! - a successful patch bumps `resourceVersion` and answers 200 with the
//!   `Scale` (status not yet changed); `status.replicas` follows
//!   `spec.replicas` once [`FakeApiServer::follow_after`] has passed
//!   (tokio time, bumping `resourceVersion` again, as the controller's
//!   status update does), or never with `None`;
//! - [`FakeApiServer::write_after_reads`] plays another writer: after each
//!   of the next reads, the deployment's `resourceVersion` moves on, so the
//!   patch that follows is stale (409).
//!
//! Every request is recorded ([`FakeApiServer::requests`]) with its
//! method, path, content type, accept, bearer token, body and the status
//! answered.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::time::Instant;

/// The token [`FakeApiServer::start`] grants read and write.
pub const TOKEN: &str = "seawall-fake-token";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `get` and `patch` on deployments/scale.
    ReadWrite,
    /// `get` only.
    ReadOnly,
}

/// One deployment held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// `spec.replicas`.
    pub spec: i32,
    /// `status.replicas`.
    pub status: i32,
    /// `metadata.resourceVersion`.
    pub resource_version: u64,
    changed_at: Instant,
}

/// One request the fake answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `GET`, `PATCH`, …
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Accept`.
    pub accept: Option<String>,
    /// The bearer token.
    pub bearer: Option<String>,
    /// The body.
    pub body: String,
    /// The status answered.
    pub status: u16,
}

#[derive(Debug, Default)]
struct State {
    tokens: HashMap<String, Access>,
    deployments: BTreeMap<(String, String), Deployment>,
    follow: Option<Duration>,
    writes_after_reads: u32,
    requests: Vec<Recorded>,
    next_version: u64,
}

impl State {
    fn version(&mut self) -> u64 {
        self.next_version += 1;
        self.next_version
    }

    /// `status.replicas` catches up with `spec.replicas` once the delay
    /// has passed.
    fn settle(&mut self, key: &(String, String)) {
        let Some(delay) = self.follow else { return };
        let due = self
            .deployments
            .get(key)
            .is_some_and(|d| d.status != d.spec && d.changed_at + delay <= Instant::now());
        if due {
            let version = self.version();
            if let Some(d) = self.deployments.get_mut(key) {
                d.status = d.spec;
                d.resource_version = version;
            }
        }
    }
}

/// A fake API server on loopback; stops when dropped.
#[derive(Debug)]
pub struct FakeApiServer {
    addr: SocketAddr,
    tls: bool,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApiServer {
    /// A plain-HTTP fake on 127.0.0.1:0 granting [`TOKEN`] read and
    /// write; `status.replicas` follows `spec.replicas` after 50 ms.
    pub async fn start() -> std::io::Result<Self> {
        Self::serve(None).await
    }

    /// The same over TLS with this certificate chain and key (PEM).
    pub async fn start_tls(cert_pem: &str, key_pem: &str) -> std::io::Result<Self> {
        let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
        let mut config =
            rustls::ServerConfig::builder_with_provider(seawall_api::client::ring_provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| bad(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(|e| bad(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self::serve(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            tokens: HashMap::from([(TOKEN.to_owned(), Access::ReadWrite)]),
            follow: Some(Duration::from_millis(50)),
            ..State::default()
        }));
        let is_tls = tls.is_some();
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                    }
                });
            }
        });
        Ok(Self {
            addr,
            tls: is_tls,
            state,
            task,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `http://127.0.0.1:PORT` or `https://…`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Adds (or replaces) a deployment with `replicas` in spec and status.
    pub fn add_deployment(&self, namespace: &str, name: &str, replicas: i32) {
        let mut state = self.state();
        let version = state.version();
        state.deployments.insert(
            (namespace.to_owned(), name.to_owned()),
            Deployment {
                spec: replicas,
                status: replicas,
                resource_version: version,
                changed_at: Instant::now(),
            },
        );
    }

    /// A deployment as it is now.
    pub fn deployment(&self, namespace: &str, name: &str) -> Option<Deployment> {
        let mut state = self.state();
        let key = (namespace.to_owned(), name.to_owned());
        state.settle(&key);
        state.deployments.get(&key).cloned()
    }

    /// Lets `token` do `access` (`None`: the token is unknown, 401).
    pub fn grant(&self, token: &str, access: Option<Access>) {
        let mut state = self.state();
        match access {
            Some(access) => state.tokens.insert(token.to_owned(), access),
            None => state.tokens.remove(token),
        };
    }

    /// How long `status.replicas` takes to follow a new `spec.replicas`;
    /// `None`: it never does.
    pub fn follow_after(&self, delay: Option<Duration>) {
        self.state().follow = delay;
    }

    /// After each of the next `reads` GETs of a scale, another writer
    /// changes the deployment (its `resourceVersion` moves on).
    pub fn write_after_reads(&self, reads: u32) {
        self.state().writes_after_reads = reads;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    /// A kubeconfig for this server (context `fake`, namespace `default`)
    /// with `token` and, for TLS, the CA's PEM as
    /// `certificate-authority-data`.
    pub fn kubeconfig(&self, token: &str, ca_pem: Option<&str>) -> String {
        use base64::Engine as _;
        let ca = ca_pem
            .map(|pem| {
                format!(
                    "\n    certificate-authority-data: {}",
                    base64::engine::general_purpose::STANDARD.encode(pem)
                )
            })
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters:\n- name: fake\n  cluster:\n    server: {url}{ca}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
             users:\n- name: fake\n  user:\n    token: {token}\n",
            url = self.url()
        )
    }
}

/// The path's namespace and deployment, if it is a scale subresource.
fn scale_target(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/apis/apps/v1/namespaces/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [ns, "deployments", name, "scale"] => Some(((*ns).to_owned(), (*name).to_owned())),
        _ => None,
    }
}

fn status(code: StatusCode, reason: &str, message: &str, details: Value) -> (StatusCode, Value) {
    (
        code,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details,
            "code": code.as_u16(),
        }),
    )
}

fn scale_json(namespace: &str, name: &str, d: &Deployment) -> Value {
    // `spec.replicas` is `omitempty` in autoscaling/v1.
    let spec = if d.spec == 0 {
        json!({})
    } else {
        json!({ "replicas": d.spec })
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": format!("00000000-0000-4000-8000-{:012}", name.len()),
            "resourceVersion": d.resource_version.to_string(),
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": spec,
        "status": { "replicas": d.status, "selector": format!("app={name}") },
    })
}

async fn handle(state: &Mutex<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut record = Recorded {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        content_type: text(header::CONTENT_TYPE),
        accept: text(header::ACCEPT),
        bearer: text(header::AUTHORIZATION)
            .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned)),
        body: String::from_utf8_lossy(&body).into_owned(),
        status: 0,
    };
    let (code, value) = {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        let answer = answer(&mut state, &parts.method, parts.uri.path(), &record, &body);
        record.status = answer.0.as_u16();
        state.requests.push(record);
        answer
    };
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn answer(
    state: &mut State,
    method: &Method,
    path: &str,
    record: &Recorded,
    body: &[u8],
) -> (StatusCode, Value) {
    let Some(access) = record
        .bearer
        .as_deref()
        .and_then(|t| state.tokens.get(t).copied())
    else {
        return status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized",
            json!({}),
        );
    };
    let Some(key) = scale_target(path) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            json!({}),
        );
    };
    let (ns, name) = (key.0.clone(), key.1.clone());
    let details = json!({ "name": name, "group": "apps", "kind": "deployments" });
    let verb = match *method {
        Method::GET => "get",
        Method::PATCH => "patch",
        _ => {
            return status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                details,
            );
        }
    };
    if verb == "patch" && access != Access::ReadWrite {
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "deployments.apps \"{name}\" is forbidden: User \"system:serviceaccount:seawall:seawall\" \
                 cannot {verb} resource \"deployments/scale\" in API group \"apps\" in the namespace \"{ns}\""
            ),
            details,
        );
    }
    if let Some(accept) = &record.accept
        && !(accept.contains("application/json") || accept.contains("*/*"))
    {
        return status(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml, \
             application/vnd.kubernetes.protobuf",
            json!({}),
        );
    }
    state.settle(&key);
    if !state.deployments.contains_key(&key) {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("deployments.apps \"{name}\" not found"),
            details,
        );
    }
    if verb == "get" {
        let moved = state.writes_after_reads > 0;
        let shown = state
            .deployments
            .get(&key)
            .map(|d| scale_json(&ns, &name, d))
            .unwrap_or_default();
        if moved {
            state.writes_after_reads -= 1;
            let version = state.version();
            if let Some(d) = state.deployments.get_mut(&key) {
                d.resource_version = version;
            }
        }
        return (StatusCode::OK, shown);
    }
    let media = record
        .content_type
        .as_deref()
        .and_then(|c| c.split(';').next())
        .map(str::trim);
    if media != Some(crate::client::MERGE_PATCH) {
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            json!({}),
        );
    }
    let (replicas, version) = match read_patch(body) {
        Ok(patch) => patch,
        Err(message) => {
            return status(StatusCode::BAD_REQUEST, "BadRequest", &message, json!({}));
        }
    };
    if replicas < 0 {
        return status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            &format!(
                "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: \
                 {replicas}: must be greater than or equal to 0"
            ),
            json!({ "name": name, "group": "autoscaling", "kind": "Scale",
                    "causes": [{ "reason": "FieldValueInvalid", "field": "spec.replicas",
                                 "message": format!("Invalid value: {replicas}: must be greater than or equal to 0") }] }),
        );
    }
    let current = state
        .deployments
        .get(&key)
        .map(|d| d.resource_version)
        .unwrap_or_default();
    if version.is_some_and(|v| v != current.to_string()) {
        return status(
            StatusCode::CONFLICT,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on deployments.apps \"{name}\": the object has \
                 been modified; please apply your changes to the latest version and try again"
            ),
            details,
        );
    }
    let replicas = i32::try_from(replicas).unwrap_or(i32::MAX);
    let changed = state
        .deployments
        .get(&key)
        .is_some_and(|d| d.spec != replicas);
    let version = if changed { state.version() } else { current };
    let Some(d) = state.deployments.get_mut(&key) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, json!({}));
    };
    if changed {
        d.spec = replicas;
        d.resource_version = version;
        d.changed_at = Instant::now();
    }
    (StatusCode::OK, scale_json(&ns, &name, d))
}

/// `{"spec":{"replicas":N}}` with an optional
/// `{"metadata":{"resourceVersion":"V"}}`, and nothing else.
fn read_patch(body: &[u8]) -> Result<(i64, Option<String>), String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("error decoding patch: {e}"))?;
    let object = value.as_object().ok_or("the patch is not a JSON object")?;
    if let Some(key) = object.keys().find(|k| *k != "spec" && *k != "metadata") {
        return Err(format!(
            "the fake accepts only spec.replicas and metadata.resourceVersion, not {key}"
        ));
    }
    let spec = object
        .get("spec")
        .and_then(Value::as_object)
        .ok_or("the patch has no spec object")?;
    if spec.len() != 1 {
        return Err("spec must hold replicas only".to_owned());
    }
    let replicas = spec
        .get("replicas")
        .and_then(Value::as_i64)
        .ok_or("spec.replicas is not an integer")?;
    let version = match object.get("metadata") {
        None => None,
        Some(meta) => {
            let meta = meta.as_object().ok_or("metadata is not an object")?;
            if meta.len() != 1 {
                return Err("metadata must hold resourceVersion only".to_owned());
            }
            Some(
                meta.get("resourceVersion")
                    .and_then(Value::as_str)
                    .ok_or("metadata.resourceVersion is not a string")?
                    .to_owned(),
            )
        }
    };
    Ok((replicas, version))
}
