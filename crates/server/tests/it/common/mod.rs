//! Test harness: the real server on 127.0.0.1:0 over a SQLite file in a
//! fresh temporary data dir (or a PostgreSQL database), a hand-set clock,
//! and a client whose every JSON answer is checked against the schema the
//! server's own OpenAPI document gives for that path, method and status.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use seawall_server::client::{Client, Response};
use seawall_server::{AppState, ManualClock, Server, ServerError};
use seawall_store::{Role, Store, StoreSpec};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The flagship example plan (`examples/carnival/plan.yaml`).
pub const CARNIVAL: &str = include_str!("../../../../../examples/carnival/plan.yaml");

/// 2026-09-30T02:00:00Z, a peak day.
pub const T0: i64 = 1_790_733_600_000;

/// A directory removed on drop (tempfile's).
#[derive(Debug)]
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix("seawall-server-test-")
            .tempdir()
            .expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub admin: String,
    pub clock: ManualClock,
    pub state: AppState,
    pub dir: TempDir,
    pub openapi: Arc<Value>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
}

/// Where the store lives.
pub enum Db {
    /// `<dir>/seawall.db`.
    Sqlite,
    /// A PostgreSQL URL.
    Postgres(String),
}

impl TestServer {
    /// A server over SQLite in a fresh data dir.
    pub async fn start() -> TestServer {
        Self::start_with(Db::Sqlite, None).await
    }

    /// A server over `db`, with an optional body limit.
    pub async fn start_with(db: Db, body_limit: Option<usize>) -> TestServer {
        let dir = TempDir::new();
        let spec = match db {
            Db::Sqlite => StoreSpec::Sqlite(dir.path().join("seawall.db")),
            Db::Postgres(url) => StoreSpec::Postgres(url),
        };
        let store = seawall_store::open(&spec).await.expect("open store");
        Self::start_on(store, dir, body_limit).await
    }

    /// A server over SQLite whose state `tweak` adjusts (limits, secure
    /// cookies) before it serves.
    pub async fn start_tweaked(tweak: fn(AppState) -> AppState) -> TestServer {
        let dir = TempDir::new();
        let spec = StoreSpec::Sqlite(dir.path().join("seawall.db"));
        let store = seawall_store::open(&spec).await.expect("open store");
        Self::start_inner(store, dir, None, None, tweak, None).await
    }

    /// A replica on the PostgreSQL database `url` taking part in the
    /// evaluator's election; `admin`: the admin token the first replica
    /// made (none: this is the first).
    pub async fn start_elected(url: &str, admin: Option<&str>) -> TestServer {
        let dir = TempDir::new();
        let store = seawall_store::open(&StoreSpec::Postgres(url.to_owned()))
            .await
            .expect("open store");
        let drain = Some(Duration::from_secs(2));
        Self::start_inner(store, dir, None, drain, |s| s, Some((url, admin))).await
    }

    /// A server over SQLite whose drain on shutdown is bounded by `drain`.
    pub async fn start_with_drain(drain: Duration) -> TestServer {
        let dir = TempDir::new();
        let spec = StoreSpec::Sqlite(dir.path().join("seawall.db"));
        let store = seawall_store::open(&spec).await.expect("open store");
        Self::start_full(store, dir, None, Some(drain)).await
    }

    /// A server over an opened store.
    pub async fn start_on(
        store: Arc<dyn Store>,
        dir: TempDir,
        body_limit: Option<usize>,
    ) -> TestServer {
        Self::start_full(store, dir, body_limit, None).await
    }

    async fn start_full(
        store: Arc<dyn Store>,
        dir: TempDir,
        body_limit: Option<usize>,
        drain: Option<Duration>,
    ) -> TestServer {
        Self::start_inner(store, dir, body_limit, drain, |s| s, None).await
    }

    async fn start_inner(
        store: Arc<dyn Store>,
        dir: TempDir,
        body_limit: Option<usize>,
        drain: Option<Duration>,
        tweak: fn(AppState) -> AppState,
        elect: Option<(&str, Option<&str>)>,
    ) -> TestServer {
        let clock = ManualClock::new(T0);
        let mut state = tweak(AppState::new(store, dir.path()).with_clock(clock.clock()));
        if let Some(limit) = body_limit {
            state = state.with_body_limit(limit);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut server = Server::with_state(listener, state.clone())
            .await
            .expect("server");
        if let Some(drain) = drain {
            server = server.with_drain_timeout(drain);
        }
        if let Some((url, _)) = elect {
            server = server.with_election(url).expect("election");
        }
        let admin = match elect.and_then(|(_, admin)| admin) {
            Some(admin) => admin.to_owned(),
            None => server
                .bootstrap_token()
                .expect("first start makes the admin token")
                .secret
                .clone(),
        };
        let base = format!("http://{}", server.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        let openapi = Client::new(&base)
            .expect("client")
            .get("/api/v1/openapi.json")
            .await
            .expect("openapi.json");
        assert_eq!(openapi.status, StatusCode::OK);
        let openapi: Value = openapi.json().expect("openapi json");
        TestServer {
            base,
            admin,
            clock,
            state,
            dir,
            openapi: Arc::new(openapi),
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// A checked client with the admin token.
    pub fn admin(&self) -> Api {
        self.api(Some(&self.admin))
    }

    /// A checked client with `token` (or none).
    pub fn api(&self, token: Option<&str>) -> Api {
        let mut client = Client::new(&self.base)
            .expect("client")
            .with_timeout(Duration::from_secs(30));
        if let Some(t) = token {
            client = client.with_token(t);
        }
        Api {
            client,
            openapi: self.openapi.clone(),
        }
    }

    /// Make a token with `role` and its scope — the business line of a
    /// pm, the event a ci token is bound to, the service of a sidecar;
    /// its secret.
    pub async fn token(&self, name: &str, role: Role, scope: Option<&str>) -> String {
        let mut body = json!({"name": name, "role": role.as_str()});
        if let Some(scope) = scope {
            let field = match role {
                Role::Ci => "event",
                Role::Sidecar => "service",
                _ => "business_line",
            };
            body[field] = json!(scope);
        }
        let r = self.admin().post("/api/v1/tokens", &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let v: Value = r.json().expect("json");
        v["secret"].as_str().expect("secret").to_owned()
    }

    /// Stop gracefully and wait for the server to return.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let handle = self.handle.take().expect("running");
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("stops within 10 s")
            .expect("task")
    }

    /// Signal shutdown without waiting.
    pub fn begin_stop(&mut self) -> JoinHandle<Result<(), ServerError>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.handle.take().expect("running")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A client whose JSON answers are validated against the OpenAPI document.
#[derive(Clone)]
pub struct Api {
    pub client: Client,
    pub openapi: Arc<Value>,
}

impl Api {
    pub async fn get(&self, path: &str) -> Response {
        self.checked(Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.checked(Method::DELETE, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        let bytes = Bytes::from(serde_json::to_vec(body).expect("json"));
        self.checked(Method::POST, path, Some(("application/json", bytes)))
            .await
    }

    /// POST raw bytes with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Response {
        self.checked(Method::POST, path, Some((content_type, body.into())))
            .await
    }

    pub async fn checked(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Bytes)>,
    ) -> Response {
        let r = self
            .client
            .send(method.clone(), path, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        check_response(&self.openapi, &method, path, &r);
        r
    }
}

/// Check an answer against the document: a documented path, method and
/// status, a JSON body that validates against the schema given for it,
/// and the error shape for every 4xx/5xx.
pub fn check_response(doc: &Value, method: &Method, path: &str, r: &Response) {
    let status = r.status.as_u16();
    let path_only = path.split('?').next().unwrap_or(path);
    let Some(template) = find_template(doc, path_only) else {
        // Undocumented paths must be the JSON 404.
        assert_eq!(status, 404, "{method} {path} is served but not documented");
        check_error_shape(doc, r);
        return;
    };
    let op = &doc["paths"][&template][method.as_str().to_ascii_lowercase()];
    if op.is_null() {
        assert_eq!(
            status, 405,
            "{method} {template} answered {status} but is not documented"
        );
        check_error_shape(doc, r);
        return;
    }
    let response = &op["responses"][status.to_string()];
    assert!(
        !response.is_null(),
        "{method} {template} answered {status}, which its OpenAPI operation does not list: {}",
        r.text()
    );
    let content_type = r
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // A documented text answer (`/metrics`): its declared type, as is.
    if status < 400
        && !content_type.starts_with("application/json")
        && response["content"].get(content_type).is_some()
    {
        return;
    }
    assert!(
        content_type.starts_with("application/json"),
        "{method} {path}: content type {content_type:?}"
    );
    let body: Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{method} {path}: body is not JSON ({e}): {}", r.text()));
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {template} {status}: no JSON schema"
    );
    if let Err(e) = validate(doc, schema, &body, "$") {
        panic!("{method} {path} {status}: body does not match its schema: {e}\nbody: {body}");
    }
    if status >= 400 {
        check_error_shape(doc, r);
    }
}

fn check_error_shape(doc: &Value, r: &Response) {
    let body: Value = serde_json::from_slice(&r.body).expect("error body is JSON");
    let schema = json!({"$ref": "#/components/schemas/ErrorBody"});
    validate(doc, &schema, &body, "$").unwrap_or_else(|e| panic!("error shape: {e}: {body}"));
    let code = body["error"]["code"].as_str().unwrap_or("");
    assert!(
        !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "code {code:?} is not snake_case"
    );
}

/// The documented path template a concrete path matches.
pub fn find_template(doc: &Value, path: &str) -> Option<String> {
    let paths = doc["paths"].as_object()?;
    let segments: Vec<&str> = path.split('/').collect();
    // Prefer literal matches over parameters.
    let mut best: Option<(usize, &String)> = None;
    for template in paths.keys() {
        let t: Vec<&str> = template.split('/').collect();
        if t.len() != segments.len() {
            continue;
        }
        let mut literal = 0;
        let fits = t.iter().zip(&segments).all(|(a, b)| {
            if a.starts_with('{') && a.ends_with('}') {
                !b.is_empty()
            } else {
                literal += 1;
                a == b
            }
        });
        if fits && best.is_none_or(|(n, _)| literal > n) {
            best = Some((literal, template));
        }
    }
    best.map(|(_, t)| t.clone())
}

/// Compiled validators, one per schema (with the document's components
/// beside it so that `#/components/schemas/…` references resolve).
static VALIDATORS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, Arc<jsonschema::Validator>>>,
> = std::sync::LazyLock::new(Default::default);

/// The validator for `schema`, a schema taken from `doc` (OpenAPI 3.1's
/// dialect is JSON Schema 2020-12), compiled once per schema.
fn validator(doc: &Value, schema: &Value) -> Arc<jsonschema::Validator> {
    let root = json!({"allOf": [schema], "components": doc["components"]});
    let key = root.to_string();
    let mut cache = VALIDATORS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = cache.get(&key) {
        return v.clone();
    }
    let compiled = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("the document's schema does not compile: {e}\n{schema}"));
    let compiled = Arc::new(compiled);
    cache.insert(key, compiled.clone());
    compiled
}

/// Validate `v` against `schema` (taken from the OpenAPI document `doc`)
/// with the `jsonschema` crate: every keyword of JSON Schema 2020-12, so a
/// constraint the document declares is a constraint the answers are held
/// to. The error names every failing place (`at` prefixes them).
pub fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let validator = validator(doc, schema);
    let errors: Vec<String> = validator
        .iter_errors(v)
        .map(|e| format!("{at}{}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The error code of an answer.
pub fn code(r: &Response) -> String {
    let v: Value = r.json().expect("json");
    v["error"]["code"].as_str().unwrap_or("").to_owned()
}

/// The smallest valid plan: one business line with one service.
pub const PLAN: &str = "\
event: {name: Test Carnival, timezone: UTC}
organization:
  business_lines:
    bike: {name: Bike, services: [order-api]}
goals:
  orders: {total: 360000, peak_hour_share: 0.1, peak_factor: 1.0}
traffic:
  journeys:
    ride:
      goal: orders
      steps:
        - {entry: create-order}
entries:
  create-order: {service: order-api, method: POST, path: /api/orders}
services:
  order-api: {line: bike, tier: frontend, instances: 2, capacity_per_instance: 10}
";

/// A `run.json` measuring create-order's knee and order-api per instance.
pub fn run_json(knee: f64, per_instance: f64) -> String {
    json!({
        "schema": "seawall.run/v1",
        "scenario": "capacity-search",
        "entries": [{"id": "create-order", "knee_qps": knee}],
        "services": [{"id": "order-api", "capacity_per_instance": per_instance}],
        "requests": 1000
    })
    .to_string()
}

/// Create an event `slug` and push [`PLAN`].
pub async fn event_with_plan(server: &TestServer, slug: &str) {
    event_with(server, slug, "Test", PLAN).await;
}

/// Create event `slug` named `name` as the admin and push `text` as its
/// plan (`plan.yaml`); panics unless both are stored.
pub async fn event_with(server: &TestServer, slug: &str, name: &str, text: &str) {
    let admin = server.admin();
    let r = admin
        .post("/api/v1/events", &json!({"slug": slug, "name": name}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = admin
        .post(
            &format!("/api/v1/events/{slug}/plans"),
            &json!({"file_name": "plan.yaml", "text": text}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

/// Upload [`run_json`]`(8, 4)` to event `slug` as the admin.
pub async fn upload_run(server: &TestServer, slug: &str) {
    let r = server
        .admin()
        .post_raw(
            &format!("/api/v1/events/{slug}/runs"),
            "application/json",
            run_json(8.0, 4.0),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

/// One answer of a role matrix: `ok` for a role in `allowed`, else 403
/// `forbidden` naming exactly the allowed roles, in order.
pub fn check_role_answer(r: &Response, what: &str, role: Role, allowed: &[Role], ok: u16) {
    if allowed.contains(&role) {
        assert_eq!(
            r.status.as_u16(),
            ok,
            "{what} as {}: {}",
            role.as_str(),
            r.text()
        );
        return;
    }
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "{what} as {} must be refused",
        role.as_str()
    );
    assert_eq!(code(r), "forbidden");
    let v: Value = r.json().expect("json");
    let named: Vec<&str> = v["error"]["details"]["allowed_roles"]
        .as_array()
        .expect("allowed_roles")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let expected: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
    assert_eq!(named, expected, "{what}");
}

/// Every operation (`method path`) the served OpenAPI document lists under
/// one of `tags`: what a role matrix must cover.
pub fn documented_operations(tags: &[&str]) -> std::collections::BTreeSet<String> {
    let doc = serde_json::to_value(seawall_server::api::openapi()).expect("json");
    let mut documented = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let op_tags: Vec<&str> = op["tags"]
                .as_array()
                .map(|t| t.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if op_tags.iter().any(|t| tags.contains(t)) {
                documented.insert(format!("{method} {path}"));
            }
        }
    }
    documented
}

/// A logged-in web UI user: the session cookie a browser would hold after
/// `POST /ui/login` with a token, and the session's CSRF token.
#[derive(Clone)]
pub struct UiSession {
    pub client: Client,
    pub cookie: String,
    pub csrf: String,
}

impl TestServer {
    /// Log in to the UI with `token` through the login form, as a browser
    /// does; panics unless the server sets the session cookie.
    pub async fn ui_login(&self, token: &str) -> UiSession {
        ui_login_at(&self.base, token).await
    }
}

/// Log in to the UI of the server at `base` with `token`, as
/// [`TestServer::ui_login`] does (for tests that start their own server).
pub async fn ui_login_at(base: &str, token: &str) -> UiSession {
    let client = Client::new(base)
        .expect("client")
        .with_timeout(Duration::from_secs(30));
    let body = format!("token={token}&next=%2Fui%2F");
    let r = client
        .send_raw(
            Method::POST,
            "/ui/login",
            &[(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded".into(),
            )],
            Bytes::from(body),
        )
        .await
        .expect("login");
    assert_eq!(r.status, StatusCode::SEE_OTHER, "login: {}", r.text());
    let set = r
        .headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("Set-Cookie")
        .to_owned();
    let cookie = set.split(';').next().expect("cookie pair").to_owned();
    let id = cookie
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .expect("cookie value");
    UiSession {
        client,
        cookie,
        csrf: seawall_server::ui::session::csrf_token(&id),
    }
}

impl UiSession {
    /// GET a UI page with the session cookie.
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .send_raw(
                Method::GET,
                path,
                &[(header::COOKIE, self.cookie.clone())],
                Bytes::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// POST a form with the session cookie and this session's `csrf`
    /// field added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut all: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_form_exact(path, &all).await
    }

    /// POST exactly these form fields (no CSRF token added).
    pub async fn post_form_exact(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body: String = fields
            .iter()
            .map(|(k, v)| format!("{}={}", form_escape(k), form_escape(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.client
            .send_raw(
                Method::POST,
                path,
                &[
                    (header::COOKIE, self.cookie.clone()),
                    (
                        header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded".into(),
                    ),
                ],
                Bytes::from(body),
            )
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }
}

/// `application/x-www-form-urlencoded` escaping of one name or value.
pub fn form_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
