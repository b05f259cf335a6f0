//! `seawall gate check` against a real control plane: the server runs in
//! this process on 127.0.0.1:0 over SQLite in a temporary data dir, with
//! the system clock, and holds an event whose plan has a freeze window
//! computed around "now". The binary is run as CI runs it: exit 0 when
//! allowed, 3 when frozen (with the reason, window, next free time and
//! exception printed), 2 for every error (unreachable server, bad or
//! under-privileged token, unknown event, bad flags). The human output is
//! snapshotted with times and addresses redacted.

use std::process::Command;
use std::time::Duration;

use seawall_server::client::Client;
use seawall_server::{AppState, Server};
use seawall_store::{ChangeKind, NewException, StoreSpec};
use serde_json::{Value, json};

use crate::common::serve::TempDir;

/// A running control plane with an event `carnival` whose plan freezes
/// releases to `order-*` from an hour ago to two hours from now.
struct Plane {
    base: String,
    admin: String,
    state: AppState,
    /// The freeze window's end (RFC 3339 UTC).
    window_end: String,
    _dir: TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A plan time `minutes` from now, RFC 3339 in UTC, whole minutes.
fn from_now(minutes: i64) -> String {
    let now = jiff::Timestamp::now().as_second();
    let t = (now / 60 + minutes) * 60;
    jiff::Timestamp::from_second(t).expect("time").to_string()
}

fn plan(start: &str, end: &str) -> String {
    format!(
        "\
event: {{name: Gate Carnival, timezone: UTC}}
organization:
  business_lines:
    bike: {{name: Bike, services: [order-api, pay-api]}}
goals:
  orders: {{total: 360000, peak_hour_share: 0.1, peak_factor: 1.0}}
traffic:
  journeys:
    ride:
      goal: orders
      steps:
        - {{entry: create-order}}
entries:
  create-order: {{service: order-api, method: POST, path: /api/orders}}
services:
  order-api: {{line: bike, tier: frontend, instances: 2, capacity_per_instance: 10}}
  pay-api: {{line: bike, tier: backend, instances: 2, capacity_per_instance: 10}}
freeze:
  windows:
    release-freeze:
      start: \"{}\"
      end: \"{}\"
      kinds: [release]
      services: [\"order-*\"]
      reason: carnival release freeze
",
        start, end
    )
}

impl Plane {
    async fn start() -> Plane {
        let dir = TempDir::new("gate");
        let spec = StoreSpec::Sqlite(dir.0.join("seawall.db"));
        let store = seawall_store::open(&spec).await.expect("open store");
        let state = AppState::new(store, &dir.0);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let server = Server::with_state(listener, state.clone())
            .await
            .expect("server");
        let admin = server
            .bootstrap_token()
            .expect("admin token")
            .secret
            .clone();
        let base = format!("http://{}", server.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let (start, window_end) = (from_now(-60), from_now(120));
        let text = plan(&start, &window_end);
        let plane = Plane {
            base,
            admin,
            state,
            window_end,
            _dir: dir,
            _stop: stop,
        };
        plane
            .post(
                "/api/v1/events",
                json!({"slug": "carnival", "name": "Gate Carnival"}),
            )
            .await;
        plane
            .post(
                "/api/v1/events/carnival/plans",
                json!({"file_name": "plan.yaml", "text": text}),
            )
            .await;
        plane
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = Client::new(&self.base)
            .expect("client")
            .with_token(&self.admin)
            .with_timeout(Duration::from_secs(30))
            .post_json(path, &body)
            .await
            .expect("request");
        assert_eq!(r.status.as_u16(), 201, "{path}: {}", r.text());
        r.json().expect("json")
    }

    /// The recorded gate decisions, newest first.
    async fn changes(&self) -> Value {
        let r = Client::new(&self.base)
            .expect("client")
            .with_token(&self.admin)
            .get("/api/v1/gate/changes")
            .await
            .expect("changes");
        assert_eq!(r.status.as_u16(), 200, "{}", r.text());
        r.json().expect("json")
    }

    /// A token with `role` (a `ci` token bound to `carnival`); its secret.
    async fn token(&self, name: &str, role: &str) -> String {
        let mut body = json!({"name": name, "role": role});
        if role == "ci" {
            body["event"] = json!("carnival");
        }
        let v = self.post("/api/v1/tokens", body).await;
        v["secret"].as_str().expect("secret").to_owned()
    }

    /// An approved exception for releases to `service`, from ten minutes
    /// ago to an hour from now.
    async fn approve_exception(&self, service: &str) -> i64 {
        let store = &self.state.store;
        let event = store
            .event("carnival")
            .await
            .expect("store")
            .expect("event");
        let now = self.state.now();
        let ctx = self.state.ctx("lin-wei");
        let e = store
            .request_exception(
                &ctx,
                event.id,
                &NewException {
                    services: vec![service.to_owned()],
                    kinds: vec![ChangeKind::Release],
                    starts_ms: now - 10 * 60_000,
                    ends_ms: now + 60 * 60_000,
                    reason: "hotfix: order timeout under push load".into(),
                },
            )
            .await
            .expect("request exception");
        store
            .decide_exception(&ctx, e.id, true, None)
            .await
            .expect("approve");
        // Written straight to the store, as the service layer does, which
        // then tells the control plane's caches (the gate's among them)
        // that something changed.
        self.state.notify_change();
        e.id
    }
}

/// `gate check` of a release to order-api, without server and token.
const ORDER_RELEASE: [&str; 6] = ["gate", "check", "-s", "order-api", "-k", "release"];

/// One run of the binary.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run `seawall` with `args` and extra environment, off the async runtime.
async fn seawall(args: &[&str], env: &[(&str, &str)]) -> Run {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_seawall"))
            .args(&args)
            .env("NO_COLOR", "1")
            .env_remove("SEAWALL_SERVER")
            .env_remove("SEAWALL_TOKEN")
            .envs(env)
            .output()
            .expect("run seawall");
        Run {
            code: out.status.code().expect("exit code"),
            stdout: String::from_utf8(out.stdout).expect("utf-8"),
            stderr: String::from_utf8(out.stderr).expect("utf-8"),
        }
    })
    .await
    .expect("join")
}

/// `gate check` with the server and token as flags.
async fn check(plane: &Plane, token: &str, rest: &[&str]) -> Run {
    let mut args = vec!["gate", "check", "--server", &plane.base, "--token", token];
    args.extend_from_slice(rest);
    seawall(&args, &[]).await
}

/// Snapshot settings: times and loopback addresses redacted.
fn redacted() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})",
        "[time]",
    );
    s.add_filter(r"127\.0\.0\.1:\d+", "[addr]");
    s.set_prepend_module_to_snapshot(false);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_allowed_and_let_through_by_an_exception() {
    let plane = Plane::start().await;
    let ci = plane.token("deploy-bot", "ci").await;

    // A release to order-api is frozen: exit 3, the reason, window and
    // next free time.
    let run = check(
        &plane,
        &ci,
        &["--service", "order-api", "--kind", "release"],
    )
    .await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.stderr, "");
    assert!(run.stdout.starts_with("FROZEN: "), "{}", run.stdout);
    assert!(run.stdout.contains("release-freeze"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("next free: {}\n", plane.window_end)),
        "next free is the window's end: {}",
        run.stdout
    );
    redacted().bind(|| insta::assert_snapshot!("gate_frozen", run.stdout));

    // A config change and a release to a service the window does not name
    // are allowed: exit 0.
    let run = check(&plane, &ci, &["--service", "order-api", "--kind", "config"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("ALLOWED: "), "{}", run.stdout);
    redacted().bind(|| insta::assert_snapshot!("gate_allowed", run.stdout));
    let run = check(&plane, &ci, &["-s", "pay-api", "-k", "release"]).await;
    assert_eq!(run.code, 0, "{run:?}");

    // An approved exception lets the frozen release through: exit 0, and
    // the exception is named.
    let id = plane.approve_exception("order-api").await;
    let run = check(
        &plane,
        &ci,
        &[
            "--service",
            "order-api",
            "--kind",
            "release",
            "--actor",
            "alice",
            "--change-ref",
            "!4711",
            "--event",
            "carnival",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!("exception: #{id} (approved)")),
        "{}",
        run.stdout
    );
    redacted().bind(|| insta::assert_snapshot!("gate_exception", run.stdout));

    // Every check was recorded, with the actor and change ref given.
    let v = plane.changes().await;
    let list = v["changes"].as_array().expect("list");
    assert_eq!(list.len(), 4, "{v}");
    assert_eq!(list[0]["actor"], "alice");
    assert_eq!(list[0]["change_ref"], "!4711");
    assert_eq!(list[0]["allowed"], true);
    assert_eq!(list[3]["actor"], "deploy-bot");
    assert_eq!(list[3]["allowed"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_and_environment_variables() {
    let plane = Plane::start().await;
    let ci = plane.token("deploy-bot", "ci").await;
    let run = seawall(
        &[ORDER_RELEASE.as_slice(), &["--json"]].concat(),
        &[("SEAWALL_SERVER", &plane.base), ("SEAWALL_TOKEN", &ci)],
    )
    .await;
    assert_eq!(run.code, 3, "{run:?}");
    let v: Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(v["allowed"], false);
    assert_eq!(v["frozen"], true);
    assert_eq!(v["window"]["id"], "release-freeze");
    assert_eq!(v["window"]["end"], plane.window_end.as_str());
    assert_eq!(v["next_free"], plane.window_end.as_str());
    assert_eq!(v["event"], "carnival");
    assert_eq!(v["plan_version"], 1);
    assert!(v["exception"].is_null());

    let run = seawall(
        &["gate", "check", "-s", "order-api", "-k", "ops", "--json"],
        &[("SEAWALL_SERVER", &plane.base), ("SEAWALL_TOKEN", &ci)],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let v: Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(v["allowed"], true);
    assert_eq!(v["frozen"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_exit_2_with_the_servers_message() {
    let plane = Plane::start().await;
    let viewer = plane.token("dashboards", "viewer").await;
    let ci = plane.token("deploy-bot", "ci").await;
    let release = ["--service", "order-api", "--kind", "release"];

    // A wrong token: 401 with the server's message.
    let run = check(&plane, "sw_0000", &release).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains("HTTP 401 unauthorized"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("pass a valid --token"),
        "{}",
        run.stderr
    );

    // A viewer may not ask the gate: 403 naming the roles.
    let run = check(&plane, &viewer, &release).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("HTTP 403 forbidden"), "{}", run.stderr);
    assert!(
        run.stderr.contains("token `dashboards` has role viewer"),
        "{}",
        run.stderr
    );
    redacted().bind(|| insta::assert_snapshot!("gate_forbidden", run.stderr));

    // An unknown event: 404 (asked by a token not bound to an event).
    let mut args = release.to_vec();
    args.extend(["--event", "nope"]);
    let run = check(&plane, &plane.admin, &args).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("event `nope` not found [HTTP 404 not_found"),
        "{}",
        run.stderr
    );

    // The ci token is bound to `carnival`: another event is refused.
    let run = check(&plane, &ci, &args).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("is bound to event `carnival`"),
        "{}",
        run.stderr
    );

    // Nothing listens: a clear error, exit 2, nothing recorded.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = free.local_addr().expect("addr");
    drop(free);
    let run = seawall(
        &[
            ORDER_RELEASE.as_slice(),
            &[
                "--server",
                &format!("http://{addr}"),
                "--token",
                &ci,
                "--timeout",
                "5s",
            ],
        ]
        .concat(),
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("cannot ask the change gate"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("cannot connect"), "{}", run.stderr);

    // Usage errors: no server, no token, a bad kind, a bad URL.
    let run = seawall(
        &["gate", "check", "-s", "a", "-k", "release", "--token", "t"],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--server"), "{}", run.stderr);
    let run = seawall(
        &[
            "gate",
            "check",
            "-s",
            "a",
            "-k",
            "release",
            "--server",
            &plane.base,
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--token"), "{}", run.stderr);
    let run = check(&plane, &ci, &["-s", "a", "-k", "deploy"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    let run = seawall(
        &[
            "gate", "check", "-s", "a", "-k", "ops", "--server", "ftp://x", "--token", "t",
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("SEAWALL_SERVER"), "{}", run.stderr);

    // None of the refused questions was recorded.
    let v = plane.changes().await;
    assert_eq!(v["changes"], json!([]), "{v}");
}
