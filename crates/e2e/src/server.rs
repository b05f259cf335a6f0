//! The control plane under test: `seawall_server::Server` on 127.0.0.1:0
//! over SQLite in a fresh data directory, with a hand-set clock so the
//! pages show a fixed instant of the event, and a small JSON client for
//! setting the scene (tokens, events, plans, exception requests).

use std::time::Duration;

use http::StatusCode;
use seawall_api::Client;
use seawall_api::events::NewEvent;
use seawall_api::plans::PushPlan;
use seawall_api::tokens::NewToken;
use seawall_server::{AppState, ManualClock, Server, ServerError};
use seawall_store::testing::TempDir;
use seawall_store::{Role, StoreSpec};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::E2eError;

/// 2026-09-30T02:00:00Z (10:00 in Shanghai): a peak day of the carnival,
/// inside its freeze.
pub const T0: i64 = 1_790_733_600_000;

/// The example plan every page is checked against.
pub const CARNIVAL: &str = include_str!("../../../examples/carnival/plan.yaml");

/// A running control plane, stopped on drop.
pub struct ControlPlane {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The port it listens on.
    pub port: u16,
    /// The admin token made on first start.
    pub admin: String,
    /// The server's clock.
    pub clock: ManualClock,
    /// The server's state (monitoring ticks are driven by hand with it).
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
    // Last: removed after the server is told to stop.
    _dir: TempDir,
}

impl ControlPlane {
    /// Start a server over SQLite in a fresh data directory, its clock at
    /// [`T0`].
    pub async fn start() -> Result<ControlPlane, E2eError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| E2eError::Server(format!("{what}: {e}"));
        let dir = TempDir::new().map_err(|e| fail("temp dir", &e))?;
        let spec = StoreSpec::Sqlite(dir.path().join("seawall.db"));
        let store = seawall_store::open(&spec)
            .await
            .map_err(|e| fail("open the store", &e))?;
        let clock = ManualClock::new(T0);
        let state = AppState::new(store, dir.path()).with_clock(clock.clock());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(E2eError::io("bind the control plane"))?;
        let server = Server::with_state(listener, state.clone())
            .await
            .map_err(|e| fail("start", &e))?;
        let admin = server
            .bootstrap_token()
            .ok_or_else(|| E2eError::Server("a fresh data dir made no admin token".into()))?
            .secret
            .clone();
        let addr = server
            .local_addr()
            .map_err(E2eError::io("the control plane's address"))?;
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        Ok(ControlPlane {
            base: format!("http://{addr}"),
            port: addr.port(),
            admin,
            clock,
            state,
            shutdown: Some(tx),
            handle: Some(handle),
            _dir: dir,
        })
    }

    /// One monitoring tick at the clock's time plus `advance_ms`, as the
    /// background loop would run it (tests drive the monitor by hand).
    pub async fn tick(&self, advance_ms: i64) -> Result<(), E2eError> {
        self.clock.advance(advance_ms);
        seawall_server::service::monitoring::tick(&self.state, self.clock.now())
            .await
            .map_err(|e| E2eError::Server(format!("monitoring tick: {e}")))
    }

    /// A JSON API client holding `token`.
    pub fn api(&self, token: &str) -> Result<Client, E2eError> {
        Client::new(&self.base)
            .map(|c| c.with_token(token).with_timeout(Duration::from_secs(30)))
            .map_err(|e| E2eError::Server(e.to_string()))
    }

    /// `POST path` with a JSON body as `token`; the answer's JSON, or an
    /// error naming the status and body unless it is 200 or 201.
    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Result<Value, E2eError> {
        let r = self
            .api(token)?
            .post_json(path, body)
            .await
            .map_err(|e| E2eError::Server(format!("POST {path}: {e}")))?;
        if r.status != StatusCode::OK && r.status != StatusCode::CREATED {
            return Err(E2eError::Server(format!(
                "POST {path}: {} {}",
                r.status,
                r.text()
            )));
        }
        r.json()
            .map_err(|e| E2eError::Server(format!("POST {path}: {e}")))
    }

    /// `GET path` as `token`: status and JSON body (`null` if not JSON).
    pub async fn get(&self, token: &str, path: &str) -> Result<(StatusCode, Value), E2eError> {
        let r = self
            .api(token)?
            .get(path)
            .await
            .map_err(|e| E2eError::Server(format!("GET {path}: {e}")))?;
        Ok((r.status, r.json().unwrap_or(Value::Null)))
    }

    /// Make a token named `name` with `role` (and business line, for a
    /// pm); its secret.
    pub async fn token(
        &self,
        name: &str,
        role: Role,
        line: Option<&str>,
    ) -> Result<String, E2eError> {
        let new = NewToken {
            name: name.to_owned(),
            role,
            business_line: line.map(str::to_owned),
            expires_in_seconds: None,
            service: None,
            event: None,
        };
        self.api(&self.admin)?
            .create_token(&new)
            .await
            .map(|created| created.secret)
            .map_err(|e| E2eError::Server(format!("making token `{name}`: {e}")))
    }

    /// Log in to the UI with `token` through the login form, as a browser
    /// does; the session id the server put in the cookie (the server keeps
    /// sessions: the cookie never holds the token).
    pub async fn session(&self, token: &str) -> Result<String, E2eError> {
        let client = Client::new(&self.base)
            .map(|c| c.with_timeout(Duration::from_secs(30)))
            .map_err(|e| E2eError::Server(e.to_string()))?;
        let r = client
            .send_raw(
                http::Method::POST,
                "/ui/login",
                &[(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded".into(),
                )],
                format!("token={token}&next=%2Fui%2F").into(),
            )
            .await
            .map_err(|e| E2eError::Server(format!("POST /ui/login: {e}")))?;
        let cookie = r
            .headers
            .get(http::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .and_then(|pair| pair.split_once('='))
            .map(|(_, id)| id.to_owned());
        match (r.status, cookie) {
            (StatusCode::SEE_OTHER, Some(id)) => Ok(id),
            (status, _) => Err(E2eError::Server(format!(
                "POST /ui/login: {status} without a session cookie: {}",
                r.text()
            ))),
        }
    }

    /// Create event `slug` and push `plan` as its first version.
    pub async fn event(&self, slug: &str, name: &str, plan: &str) -> Result<(), E2eError> {
        let api = self.api(&self.admin)?;
        let new = NewEvent {
            slug: slug.to_owned(),
            name: name.to_owned(),
        };
        api.create_event(&new)
            .await
            .map_err(|e| E2eError::Server(format!("creating event `{slug}`: {e}")))?;
        let push = PushPlan {
            file_name: Some("plan.yaml".to_owned()),
            text: plan.to_owned(),
        };
        api.push_plan(slug, &push)
            .await
            .map_err(|e| E2eError::Server(format!("pushing the plan of `{slug}`: {e}")))?;
        Ok(())
    }

    /// Create event `slug` with the carnival plan ([`CARNIVAL`]).
    pub async fn carnival(&self, slug: &str) -> Result<(), E2eError> {
        self.event(slug, "930 Holiday Carnival", CARNIVAL).await
    }

    /// Stop gracefully and wait (at most 10 s) for the server to return.
    pub async fn stop(mut self) -> Result<(), E2eError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            match tokio::time::timeout(Duration::from_secs(10), handle).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => return Err(E2eError::Server(format!("stopping: {e}"))),
                Ok(Err(e)) => return Err(E2eError::Server(format!("server task: {e}"))),
                Err(_) => return Err(E2eError::Server("did not stop within 10 s".into())),
            }
        }
        Ok(())
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
