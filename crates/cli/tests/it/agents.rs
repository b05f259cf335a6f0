//! Rehearsal agents as separate processes on loopback: `seawall serve`,
//! four `seawall agent`s and `seawall rehearse --agents 4`, against an
//! in-process axum server that counts what reaches it. The shares add up
//! to the scenario's rate within 1 %, the merged p99 is exactly the p99
//! of the union of every agent's samples, an abort stops all four within
//! a second, and an agent killed mid-run leaves a `partial` run naming
//! its share. A run started and aborted from the war room's Agents page
//! (a browser's session: cookie and CSRF token) is run by two agents and
//! its merged result kept by the control plane for the event, with no
//! client waiting. Rate-measuring: runs alone (.config/nextest.toml).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use seawall_api::Client;
use serde_json::Value;

use crate::common::serve::{Serve, TempDir};

/// One entry at 100/s at multiple 1 (3.6e6 × 0.1 / 3600).
const PLAN: &str = r#"
event: {name: "Agents", timezone: UTC}
goals:
  visits: {total: 3600000}
traffic:
  journeys:
    visit:
      goal: visits
      steps:
        - {entry: home}
entries:
  home: {service: web, path: /home, slo: {p99_ms: 500, error_rate: 0.01}}
services:
  web: {instances: 2, capacity_per_instance: 1000}
rehearsals:
  steady:
    mix: {visit: 1}
    rate: "4x"
    duration: 3s
  long:
    mix: {visit: 1}
    rate: "2x"
    duration: 8s
"#;

/// What the system under test saw.
#[derive(Default)]
struct Seen {
    requests: AtomicU64,
    /// When the latest request arrived.
    last: Mutex<Option<Instant>>,
}

async fn home(State(s): State<Arc<Seen>>) -> &'static str {
    s.requests.fetch_add(1, Ordering::Relaxed);
    *s.last.lock().expect("lock") = Some(Instant::now());
    // A little work, so latencies spread over many HDR buckets.
    let n = s.requests.load(Ordering::Relaxed);
    if n % 7 == 0 {
        tokio::time::sleep(Duration::from_millis(n % 5)).await;
    }
    "ok"
}

async fn system(seen: Arc<Seen>) -> SocketAddr {
    let app = Router::new().route("/home", get(home)).with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    addr
}

/// Agent processes, killed and reaped on drop.
struct Agents(Vec<Child>);

impl Agents {
    fn start(control: &str, token: &str, n: usize) -> Agents {
        let children = (0..n)
            .map(|i| {
                Command::new(env!("CARGO_BIN_EXE_seawall"))
                    .args(["agent", "--control", control, "--name"])
                    .arg(format!("agent-{i}"))
                    .env("SEAWALL_TOKEN", token)
                    .env("JOB_COMPLETION_INDEX", i.to_string())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn seawall agent")
            })
            .collect();
        Agents(children)
    }

    fn kill(&mut self, i: usize) {
        let child = &mut self.0[i];
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }
}

impl Drop for Agents {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The control plane, `n` agents registered with it, and a work dir with
/// the plan.
struct Fleet {
    _data: TempDir,
    serve: Serve,
    token: String,
    agents: Agents,
    dir: PathBuf,
}

async fn fleet(tag: &str, n: usize) -> Fleet {
    let data = TempDir::new(tag);
    let serve = Serve::start(&data.0, &[]);
    let token = std::fs::read_to_string(data.0.join("admin-token"))
        .expect("admin token")
        .trim()
        .to_owned();
    let agents = Agents::start(&serve.url, &token, n);
    let client = Client::new(&serve.url).expect("client").with_token(&token);
    // Bounded: 15 s for the agents to register.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list = client.agents().await.expect("agents");
        if list.agents.iter().filter(|a| a.status == "idle").count() == n {
            break;
        }
        assert!(Instant::now() < deadline, "agents registered: {list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dir = data.0.join("work");
    std::fs::create_dir_all(&dir).expect("work dir");
    std::fs::write(dir.join("plan.yaml"), PLAN).expect("plan");
    Fleet {
        _data: data,
        serve,
        token,
        agents,
        dir,
    }
}

impl Fleet {
    fn client(&self) -> Client {
        Client::new(&self.serve.url)
            .expect("client")
            .with_token(&self.token)
    }

    /// `seawall rehearse --agents n` as a child process.
    fn rehearse(&self, scenario: &str, addr: SocketAddr, n: usize, out: &Path) -> Child {
        Command::new(env!("CARGO_BIN_EXE_seawall"))
            .arg("rehearse")
            .arg(self.dir.join("plan.yaml"))
            .args(["--scenario", scenario, "--base-url"])
            .arg(format!("http://{addr}"))
            .args(["--run-id", "agents-run", "--agents"])
            .arg(n.to_string())
            .args(["--control", &self.serve.url, "--out"])
            .arg(out)
            .env("SEAWALL_TOKEN", &self.token)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn seawall rehearse")
    }
}

/// Wait for a child's output, in a blocking task (bounded by the run).
async fn output(child: Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .expect("join")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("result file")).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_agents_add_up_exactly_and_stop_together() {
    let seen = Arc::new(Seen::default());
    let addr = system(Arc::clone(&seen)).await;
    let fleet = fleet("agents", 4).await;
    let out_path = fleet.dir.join("run.json");
    let out = output(fleet.rehearse("steady", addr, 4, &out_path)).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let r = read_json(&out_path);

    // The scenario's rate: 4 × 100/s for 3 s, counted at the server and in
    // the merged result, within 1 %.
    let at_server = seen.requests.load(Ordering::Relaxed) as f64;
    assert!(
        (at_server - 1200.0).abs() / 1200.0 < 0.01,
        "{at_server} requests at the server, want 1200"
    );
    assert_eq!(r["requests"].as_f64(), Some(at_server));
    let achieved = r["entries"][0]["achieved_rps"].as_f64().expect("rate");
    assert!((achieved - 400.0).abs() / 400.0 < 0.01, "{achieved} rps");
    assert_eq!(r["fleet"]["status"], "complete");
    let breakdown = r["fleet"]["breakdown"].as_array().expect("breakdown");
    assert_eq!(breakdown.len(), 4);
    for (i, a) in breakdown.iter().enumerate() {
        assert_eq!(a["index"], i);
        assert_eq!(a["count"], 4);
        assert_eq!(a["status"], "finished");
        // Disjoint shares: every agent took a quarter, to one arrival.
        let requests = a["requests"].as_f64().expect("requests");
        assert!((requests - 300.0).abs() <= 1.0, "agent {i}: {requests}");
    }

    // The merged p99 is the union's at the same precision: every agent's
    // own histogram over the run, added here, gives the very same p99.
    let mut union = None;
    for a in breakdown {
        let h = seawall_load::fleet::decode(a["latency_hdr"][0].as_str().expect("hdr"))
            .expect("histogram");
        match &mut union {
            None => union = Some(h),
            Some(u) => {
                u.auto(true);
                u.add(&h).expect("add");
            }
        }
    }
    let union = union.expect("four histograms");
    assert_eq!(union.len() as f64, at_server);
    let p99 = union.value_at_quantile(0.99) as f64 / 1000.0;
    assert_eq!(r["entries"][0]["latency_ms"]["p99"].as_f64(), Some(p99));

    // An operator's abort stops every agent within a second.
    let before = seen.requests.load(Ordering::Relaxed);
    let long_out = fleet.dir.join("long.json");
    let child = fleet.rehearse("long", addr, 4, &long_out);
    let client = fleet.client();
    // Bounded: the run starts within 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.requests.load(Ordering::Relaxed) < before + 400 {
        assert!(Instant::now() < deadline, "the long run did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let runs = fleet_runs(&client).await;
    let run = runs.last().expect("a run");
    let aborted_at = Instant::now();
    client
        .abort_fleet_run(run, "stop the rehearsal")
        .await
        .expect("abort");
    let out = output(child).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = seen.last.lock().expect("lock").expect("requests");
    assert!(
        last.saturating_duration_since(aborted_at) < Duration::from_secs(1),
        "a request arrived {:?} after the abort",
        last.saturating_duration_since(aborted_at)
    );
    let r = read_json(&long_out);
    assert_eq!(r["outcome"], "aborted");
    assert_eq!(r["abort"]["guard"], "operator");
    assert_eq!(r["fleet"]["status"], "complete");
    assert!(r["duration_s"].as_f64().expect("duration") < 6.0);
}

/// The runs the control plane knows, oldest first (from the agents' view).
async fn fleet_runs(client: &Client) -> Vec<String> {
    let mut runs: Vec<String> = client
        .agents()
        .await
        .expect("agents")
        .agents
        .into_iter()
        .filter_map(|a| a.run)
        .collect();
    runs.sort_by_key(|r| r.trim_start_matches("f-").parse::<u64>().unwrap_or(0));
    runs.dedup();
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_run_leaves_a_partial_run_with_its_share() {
    let seen = Arc::new(Seen::default());
    let addr = system(Arc::clone(&seen)).await;
    let mut fleet = fleet("agents-kill", 4).await;
    let out_path = fleet.dir.join("run.json");
    let child = fleet.rehearse("long", addr, 4, &out_path);
    // Bounded: the run starts within 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.requests.load(Ordering::Relaxed) < 400 {
        assert!(Instant::now() < deadline, "the run did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fleet.agents.kill(3);
    let out = output(child).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a partial run exits 1: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = read_json(&out_path);
    assert_eq!(r["fleet"]["status"], "partial");
    let lost = &r["fleet"]["breakdown"][3];
    assert_eq!(lost["status"], "silent");
    assert_eq!(lost["index"], 3);
    assert_eq!(lost["count"], 4);
    assert!(lost["last_second"].as_u64().is_some(), "{lost}");
    assert!(lost["requests"].as_u64().is_some_and(|n| n > 0), "{lost}");
    for i in 0..3 {
        assert_eq!(r["fleet"]["breakdown"][i]["status"], "finished");
    }
    // The three others ran to the end: three quarters of 2 × 100/s for 8 s,
    // plus what the killed one sent before it went.
    let others: u64 = (0..3)
        .map(|i| r["fleet"]["breakdown"][i]["requests"].as_u64().expect("n"))
        .sum();
    assert!((others as f64 - 1200.0).abs() <= 3.0, "{others}");
}

/// A browser's session on the UI of the control plane at `base`: its
/// cookie and CSRF token, logged in through the login form with `token`.
struct Browser {
    client: Client,
    cookie: String,
    csrf: String,
}

impl Browser {
    async fn login(base: &str, token: &str) -> Browser {
        let client = Client::new(base).expect("client");
        let r = client
            .send_raw(
                http::Method::POST,
                "/ui/login",
                &[(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded".into(),
                )],
                axum::body::Bytes::from(format!("token={token}&next=%2Fui%2F")),
            )
            .await
            .expect("login");
        assert_eq!(r.status, http::StatusCode::SEE_OTHER, "login: {}", r.text());
        let cookie = r.headers[http::header::SET_COOKIE]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("pair")
            .to_owned();
        let id = cookie.split_once('=').expect("value").1;
        let csrf = seawall_server::ui::session::csrf_token(id);
        Browser {
            client,
            cookie,
            csrf,
        }
    }

    async fn get(&self, path: &str) -> String {
        let r = self
            .client
            .send_raw(
                http::Method::GET,
                path,
                &[(http::header::COOKIE, self.cookie.clone())],
                axum::body::Bytes::new(),
            )
            .await
            .expect("GET");
        assert_eq!(r.status, http::StatusCode::OK, "GET {path}: {}", r.text());
        r.text()
    }

    /// POST a form (with the CSRF token): where it redirects to.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> String {
        let mut body = format!("csrf={}", self.csrf);
        for (k, v) in fields {
            body.push_str(&format!(
                "&{k}={}",
                v.replace(':', "%3A").replace('/', "%2F")
            ));
        }
        let r = self
            .client
            .send_raw(
                http::Method::POST,
                path,
                &[
                    (http::header::COOKIE, self.cookie.clone()),
                    (
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded".into(),
                    ),
                ],
                axum::body::Bytes::from(body),
            )
            .await
            .expect("POST");
        assert_eq!(
            r.status,
            http::StatusCode::SEE_OTHER,
            "POST {path}: {}",
            r.text()
        );
        r.headers[http::header::LOCATION]
            .to_str()
            .expect("location")
            .to_owned()
    }
}

/// The event's kept runs once there are `n`, newest last (bounded wait).
async fn kept_runs(client: &Client, n: usize) -> Vec<seawall_api::runs::RunInfo> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let runs = client.runs("agents").await.expect("runs").runs;
        if runs.len() >= n {
            return runs;
        }
        assert!(Instant::now() < deadline, "kept runs: {runs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_from_the_ui_is_kept_and_its_abort_stops_every_agent() {
    let seen = Arc::new(Seen::default());
    let addr = system(Arc::clone(&seen)).await;
    let fleet = fleet("agents-ui", 2).await;
    let client = fleet.client();
    client
        .create_event(&seawall_api::events::NewEvent {
            slug: "agents".to_owned(),
            name: "Agents".to_owned(),
        })
        .await
        .expect("event");
    client
        .push_plan(
            "agents",
            &seawall_api::plans::PushPlan {
                file_name: Some("plan.yaml".to_owned()),
                text: PLAN.to_owned(),
            },
        )
        .await
        .expect("plan");
    let ui = Browser::login(&fleet.serve.url, &fleet.token).await;
    let page = "/ui/events/agents/agents";
    let html = ui.get(page).await;
    assert_eq!(html.matches("data-status=\"idle\"").count(), 2, "{html}");

    // Started from the page, run by both agents, kept for the event with
    // no client waiting for it.
    let base = format!("http://{addr}");
    let fields = |scenario| {
        [
            ("scenario", scenario),
            ("base_url", base.clone()),
            ("agents", "2".to_owned()),
            ("run_id", "ui-run".to_owned()),
        ]
    };
    let owned = fields("steady".to_owned());
    let form: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let to = ui.post(page, &form).await;
    assert!(to.starts_with(&format!("{page}?started=f-")), "{to}");
    let runs = kept_runs(&client, 1).await;
    assert_eq!(runs[0].scenario, "steady");
    assert_eq!(runs[0].plan_version, Some(1));
    let doc: Value =
        serde_json::from_str(&client.run("agents", runs[0].id).await.expect("run").json)
            .expect("run json");
    assert_eq!(doc["schema"], "seawall.run/v1");
    assert_eq!(doc["fleet"]["status"], "complete", "{doc}");
    assert_eq!(doc["outcome"], "completed", "{doc}");
    assert_eq!(doc["run_id"], "ui-run");
    assert_eq!(
        doc["entries"][0]["service"], "web",
        "completed from the plan"
    );
    let at_server = seen.requests.load(Ordering::Relaxed) as f64;
    assert!(
        (at_server - 1200.0).abs() / 1200.0 < 0.01,
        "{at_server} requests at the server, want 1200"
    );
    assert_eq!(doc["requests"].as_f64(), Some(at_server));
    let breakdown = doc["fleet"]["breakdown"].as_array().expect("breakdown");
    assert_eq!(breakdown.len(), 2);
    let rehearsals = ui.get("/ui/events/agents/rehearsals").await;
    assert!(
        rehearsals.contains(&format!("data-run=\"{}\"", runs[0].id)),
        "{rehearsals}"
    );

    // The Abort button stops both agents within a second; the aborted
    // run is kept too.
    let before = seen.requests.load(Ordering::Relaxed);
    let owned = fields("long".to_owned());
    let form: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let to = ui.post(page, &form).await;
    let run = to.rsplit('=').next().expect("run id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.requests.load(Ordering::Relaxed) < before + 200 {
        assert!(Instant::now() < deadline, "the long run did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let html = ui.get(page).await;
    assert!(html.contains(&format!("id=\"abort-{run}\"")), "{html}");
    let aborted_at = Instant::now();
    let to = ui
        .post(
            &format!("{page}/runs/{run}/abort"),
            &[("reason", "stop+the+rehearsal")],
        )
        .await;
    assert_eq!(to, format!("{page}?aborted={run}"));
    let runs = kept_runs(&client, 2).await;
    let last = seen.last.lock().expect("lock").expect("requests");
    assert!(
        last.saturating_duration_since(aborted_at) < Duration::from_secs(1),
        "a request arrived {:?} after the abort",
        last.saturating_duration_since(aborted_at)
    );
    let doc: Value =
        serde_json::from_str(&client.run("agents", runs[1].id).await.expect("run").json)
            .expect("run json");
    assert_eq!(doc["outcome"], "aborted", "{doc}");
    assert_eq!(doc["abort"]["guard"], "operator");
    assert!(
        doc["abort"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("stop the rehearsal")),
        "{doc}"
    );
}
