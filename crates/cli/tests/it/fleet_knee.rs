//! A knee beyond one generator's reach, found by adding an agent. Each
//! `seawall agent` runs under a CPU quota of its own (a cgroup's CFS
//! bandwidth, what a pod's `limits.cpu` sets), so one agent cannot send
//! what the system under test carries: its capacity search is
//! generator-bound (a lower bound, never a knee); with a second agent,
//! the search judged on the merged view finds the true knee within 5 %.
//!
//! The system under test is a FIFO server of a set capacity on its own
//! runtime. How far one agent reaches depends on the machine and the
//! build, so the test first measures it (one agent against the server
//! with no limit: generator-bound; the highest rate it carried without
//! being the limit is its reach R, measured to 3 %) and then sets the
//! server's capacity to 1.25 R, beyond one agent and within two, checking
//! both at each capacity it tries (see the test). Quotas keep the
//! generators to half a core in all, so the server and the control
//! plane keep theirs on a 2-core machine. Needs root and a writable cgroup
//! `cpu` controller (v1 or v2), as CI has. Rate-measuring: runs alone
//! (.config/nextest.toml).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use seawall_api::Client;
use serde_json::Value;

use crate::common::serve::{Serve, TempDir};

/// One entry at 100/s at multiple 1 (3.6e6 × 0.1 / 3600). The server
/// refuses what would wait more than [`MAX_WAIT`], so a step a few
/// percent over its capacity breaks the error-rate SLO within its second
/// while one a few percent under holds; the p99 SLO is loose, so a
/// generator that is merely slow to be scheduled (a busy machine) is
/// late only by more than its lag limit (a quarter of it: 50 ms).
const PLAN: &str = r#"
event: {name: "Fleet knee", timezone: UTC}
goals:
  visits: {total: 3600000}
traffic:
  journeys:
    visit:
      goal: visits
      steps:
        - {entry: home}
entries:
  home: {service: web, path: /home, slo: {p99_ms: 200, error_rate: 0.01}}
services:
  web: {instances: 1, capacity_per_instance: 100000}
rehearsals:
  search:
    mix: {visit: 1}
    search: {start: START, step: STEP, max: 400, step_duration: 1s, hold: 1s, cooldown: 400ms}
"#;

/// The plan with a search from multiple `start` by increments of `step`
/// (doubling as they go).
fn plan(start: f64, step: f64) -> String {
    PLAN.replace("START", &format!("{start:.3}"))
        .replace("STEP", &format!("{step:.3}"))
}

/// The highest rate a search's steps carried without the generator being
/// the limit (below 90 % of its CPU and on schedule) before the first
/// step at which it was, and that step's multiple: a cautious reach (a
/// step that happened to run cheaply above a bound one does not count).
fn reach(r: &Value) -> (f64, f64) {
    let mut best = (0.0, 0.0);
    for st in r["search"]["steps"].as_array().into_iter().flatten() {
        if st["kind"] != "step" {
            break;
        }
        if st["generator"]["bound"] != false {
            break;
        }
        if st["held"] == true
            && let (Some(qps), Some(multiple)) = (
                st["entries"][0]["achieved_rps"].as_f64(),
                st["multiple"].as_f64(),
            )
            && qps > best.0
        {
            best = (qps, multiple);
        }
    }
    best
}

/// Each agent's CPU quota: 2.5 ms of every 10 ms period (a quarter of a
/// core). The short period keeps a throttled agent's pauses under the
/// lag limit, so only an agent at its quota falls behind.
const QUOTA_US: u64 = 2_500;
const PERIOD_US: u64 = 10_000;
/// The CPU weight of every process under test (agents, the server, the
/// control plane): ten ordinary processes' worth, so a busy machine's
/// other work cannot starve them and make a generator late.
const SHARES: u64 = 10_240;

/// The server's service time once a request leaves its queue.
const LATENCY: Duration = Duration::from_millis(5);
/// The longest a request may wait in the server's queue; later ones are
/// refused (503).
const MAX_WAIT: Duration = Duration::from_millis(15);

/// A cgroup of the `cpu` controller (v1 or v2) with a CPU quota and a
/// weight, removed on drop: what is left in it moves back to the root
/// first.
struct Cgroup {
    dir: PathBuf,
    root: PathBuf,
}

impl Cgroup {
    /// A new cgroup under the controller's root: at most `quota` µs of CPU
    /// every `period` µs (none: no quota), and `shares` of the CPU when
    /// the machine is contended (v1's `cpu.shares`, 1024 being one
    /// ordinary process; a pod's `requests.cpu` sets it), so other work
    /// on the machine cannot starve the processes under test.
    fn new(name: &str, quota: Option<(u64, u64)>, shares: u64) -> Cgroup {
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        let v2 = Path::new("/sys/fs/cgroup");
        let (root, is_v2) = if v1.join("cpu.cfs_quota_us").exists() {
            (v1.to_path_buf(), false)
        } else {
            let controllers = std::fs::read_to_string(v2.join("cgroup.controllers"))
                .expect("no cgroup cpu controller: this test needs cgroup v1's cpu or v2");
            assert!(
                controllers.split_whitespace().any(|c| c == "cpu"),
                "cgroup v2 without the cpu controller: {controllers}"
            );
            // Children of the root get the cpu controller only when asked.
            let _ = std::fs::write(v2.join("cgroup.subtree_control"), "+cpu");
            (v2.to_path_buf(), true)
        };
        let dir = root.join(name);
        let _ = std::fs::remove_dir(&dir);
        std::fs::create_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "create cgroup {} ({e}): this test needs root and a writable cgroup cpu controller",
                dir.display()
            )
        });
        let group = Cgroup { dir, root };
        if is_v2 {
            // v2's weight: 100 is v1's 1024.
            group.write(
                "cpu.weight",
                &(shares * 100 / 1024).clamp(1, 10_000).to_string(),
            );
            if let Some((quota, period)) = quota {
                group.write("cpu.max", &format!("{quota} {period}"));
            }
        } else {
            group.write("cpu.shares", &shares.to_string());
            if let Some((quota, period)) = quota {
                group.write("cpu.cfs_period_us", &period.to_string());
                group.write("cpu.cfs_quota_us", &quota.to_string());
            }
        }
        group
    }

    fn write(&self, file: &str, value: &str) {
        std::fs::write(self.dir.join(file), value)
            .unwrap_or_else(|e| panic!("write {value} to {}/{file}: {e}", self.dir.display()));
    }

    /// Move process `pid` (all its threads) into the cgroup.
    fn add(&self, pid: u32) {
        self.write("cgroup.procs", &pid.to_string());
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // Bounded: a few passes; the agents were killed and reaped before.
        for _ in 0..50 {
            let left = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
            for pid in left.split_whitespace() {
                let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
            }
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Agent processes, each in a CPU-limited cgroup of its own, killed and
/// reaped on drop (before their cgroups go).
struct Agents {
    children: Vec<Child>,
    limits: Vec<Cgroup>,
}

impl Agents {
    fn add(&mut self, control: &str, token: &str) {
        let i = self.children.len();
        let limit = Cgroup::new(
            &format!("seawall-fleet-knee-{}-{i}", std::process::id()),
            Some((QUOTA_US, PERIOD_US)),
            SHARES,
        );
        let child = Command::new(env!("CARGO_BIN_EXE_seawall"))
            .args(["agent", "--control", control, "--name"])
            .arg(format!("agent-{i}"))
            .env("SEAWALL_TOKEN", token)
            .env_remove("JOB_COMPLETION_INDEX")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn seawall agent");
        let pid = child.id();
        self.children.push(child);
        self.limits.push(limit);
        self.limits[i].add(pid);
    }
}

impl Drop for Agents {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.limits.clear();
    }
}

/// Wait until `n` agents are idle (20 s at most).
async fn idle(client: &Client, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = client.agents().await.expect("agents");
        if list.agents.iter().filter(|a| a.status == "idle").count() == n {
            return;
        }
        assert!(Instant::now() < deadline, "agents idle: {list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `seawall rehearse --agents n`: the merged `seawall.run/v1` result.
async fn search(
    plan: &Path,
    serve: &Serve,
    token: &str,
    base: &str,
    n: usize,
    out: &Path,
) -> Value {
    let child = Command::new(env!("CARGO_BIN_EXE_seawall"))
        .arg("rehearse")
        .arg(plan)
        .args(["--scenario", "search", "--base-url", base])
        .args(["--connections", "1000", "--run-id"])
        .arg(format!(
            "knee-{n}-{}",
            out.file_stem().and_then(|s| s.to_str()).unwrap_or("run")
        ))
        .arg("--agents")
        .arg(n.to_string())
        .args(["--control", &serve.url, "--out"])
        .arg(out)
        .env("SEAWALL_TOKEN", token)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn seawall rehearse");
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .expect("join");
    let text = std::fs::read_to_string(out).unwrap_or_else(|e| {
        panic!(
            "no result ({e}); exit {:?}\n{}\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    serde_json::from_str(&text).expect("result JSON")
}

/// The search's steps, one line each, for failure messages.
fn steps(r: &Value) -> String {
    r["search"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|st| {
            let g = &st["generator"];
            format!(
                "{} ×{:.3} held {} rps {:.0} p99 {:.1} ms; generator bound {} cpu {} of {} late {} {}",
                st["kind"].as_str().unwrap_or("?"),
                st["multiple"].as_f64().unwrap_or(0.0),
                st["held"],
                st["entries"][0]["achieved_rps"].as_f64().unwrap_or(0.0),
                st["entries"][0]["p99_ms"].as_f64().unwrap_or(0.0),
                g["bound"],
                g["cpu_share"],
                g["cpu_quota"],
                g["late_share"],
                g["reasons"],
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A FIFO server on a runtime of its own: requests leave one queue, shared by
/// every connection, at `capacity` a second (no limit at 0) and are
/// answered `latency` later; a request that would wait more than
/// [`MAX_WAIT`] is refused with 503, as a service with a bounded queue
/// sheds load. Bare HTTP/1.1 keep-alive, so a request costs it a
/// small part of what it costs a generator.
fn fifo(capacity: Arc<AtomicU64>, latency: Duration) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(serve_fifo(listener, capacity, latency));
    });
    addr
}

async fn serve_fifo(listener: std::net::TcpListener, capacity: Arc<AtomicU64>, latency: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
    let free = Arc::new(std::sync::Mutex::new(Instant::now()));
    // Bounded: the thread ends with the test process.
    while let Ok((mut conn, _)) = listener.accept().await {
        let _ = conn.set_nodelay(true);
        let free = Arc::clone(&free);
        let capacity = Arc::clone(&capacity);
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(4096);
            let mut chunk = [0u8; 4096];
            loop {
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    continue;
                };
                buf.drain(..end + 4);
                let now = Instant::now();
                let rate = capacity.load(Ordering::Relaxed);
                let done = if rate == 0 {
                    Some(now)
                } else {
                    let per = Duration::from_secs_f64(1.0 / rate as f64);
                    let mut f = free.lock().expect("queue");
                    let start = (*f).max(now);
                    if start.duration_since(now) > MAX_WAIT {
                        None
                    } else {
                        *f = start + per;
                        Some(start + per)
                    }
                };
                let reply: &[u8] = match done {
                    Some(done) => {
                        tokio::time::sleep_until((done + latency).into()).await;
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                    }
                    None => b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
                };
                if conn.write_all(reply).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_agent_under_a_cpu_quota_is_generator_bound_two_find_the_knee() {
    // The system under test (this process) and the control plane: no
    // quota, the agents' weight.
    let system = Cgroup::new(
        &format!("seawall-fleet-knee-{}-system", std::process::id()),
        None,
        SHARES,
    );
    system.add(std::process::id());
    let capacity = Arc::new(AtomicU64::new(0));
    let base = format!("http://{}", fifo(Arc::clone(&capacity), LATENCY));

    let data = TempDir::new("fleet-knee");
    // Started from this process: in its cgroup.
    let serve = Serve::start(&data.0, &[]);
    let token = std::fs::read_to_string(data.0.join("admin-token"))
        .expect("admin token")
        .trim()
        .to_owned();
    let client = Client::new(&serve.url).expect("client").with_token(&token);
    let plan_path = data.0.join("plan.yaml");
    std::fs::write(&plan_path, plan(4.0, 4.0)).expect("plan");
    let began = Instant::now();
    let mut agents = Agents {
        children: Vec::new(),
        limits: Vec::new(),
    };

    // One agent against a server with no limit: how far it reaches. A
    // first search from 400/s brackets it (its steps double); a second
    // from 60 % of the highest rate that stayed within reach, by
    // increments of 5 % of that, measures it.
    agents.add(&serve.url, &token);
    idle(&client, 1).await;
    let mut reach_qps = 0.0;
    for (round, name) in ["coarse", "fine"].into_iter().enumerate() {
        let r = search(
            &plan_path,
            &serve,
            &token,
            &base,
            1,
            &data.0.join(format!("reach-{name}.json")),
        )
        .await;
        let trace = steps(&r);
        eprintln!(
            "one agent, no server limit, {name} ({:.1?}):\n{trace}",
            began.elapsed()
        );
        assert_eq!(r["search"]["generator_bound"], true, "{trace}");
        assert!(r["entries"][0]["knee_qps"].is_null(), "{trace}");
        // The quota is what stopped it, and the check says so.
        assert!(
            trace.contains("cgroup's CPU quota of 0.25 cores"),
            "{trace}"
        );
        let (qps, multiple) = reach(&r);
        assert!(qps > 0.0, "no step within one agent's reach\n{trace}");
        reach_qps = qps;
        if round == 0 {
            // From 60 % of it (the machine's pace moves between runs).
            std::fs::write(&plan_path, plan(multiple * 0.6, multiple * 0.03)).expect("plan");
        }
    }

    // The system under test: 1.25 times one agent's reach — more than it
    // can carry without being the limit (it was the limit a 3 % step
    // above) — and within two agents' (each then sends 63 % of its reach,
    // with room for the steps above the knee, where refusals and a slower
    // system cost a generator more). A generator's cost per request moves
    // with what else the machine runs (two agents and a busier server on
    // two cores cost each other more than one does), so each capacity is
    // checked, not assumed: if one agent still finds the knee (it must
    // find it right), the capacity is raised by 15 %; if two agents are
    // the limit there too, it is lowered by 10 % and one agent is asked
    // again. At most four capacities; at one of them one agent must be
    // generator-bound and two must find the knee within 5 %.
    agents.add(&serve.url, &token);
    idle(&client, 2).await;
    std::fs::write(&plan_path, plan(4.0, 4.0)).expect("plan");
    let mut knee = (reach_qps * 1.25).round();
    let mut tried = Vec::new();
    let (found, lower) = loop {
        assert!(
            tried.len() < 4,
            "no capacity beyond one agent and within two: {tried:?} (one agent's reach {reach_qps})"
        );
        tried.push(knee);
        let attempt = tried.len();
        capacity.store(knee as u64, Ordering::Relaxed);

        // One agent: generator-bound, a lower bound, never a knee.
        let one = search(
            &plan_path,
            &serve,
            &token,
            &base,
            1,
            &data.0.join(format!("one-{attempt}.json")),
        )
        .await;
        let trace = steps(&one);
        eprintln!("one agent, knee {knee} ({:.1?}):\n{trace}", began.elapsed());
        assert_eq!(one["fleet"]["status"], "complete", "{trace}");
        if one["search"]["generator_bound"] != true {
            // Within one agent's reach after all: then it finds the knee.
            let found = one["entries"][0]["knee_qps"]
                .as_f64()
                .unwrap_or_else(|| panic!("neither bound nor a knee\n{trace}"));
            assert!(
                (found - knee).abs() / knee <= 0.05,
                "one agent's knee {found:.1} vs truth {knee:.1}\n{trace}"
            );
            knee = (knee * 1.15).round();
            continue;
        }
        assert!(one["search"]["knee_multiple"].is_null(), "{trace}");
        assert!(one["entries"][0]["knee_qps"].is_null(), "{trace}");
        let lower = one["entries"][0]["lower_bound_qps"]
            .as_f64()
            .unwrap_or_else(|| panic!("a lower bound\n{trace}"));
        // A lower bound of the capacity: what the system carried while the
        // generator was the limit (its queue lets a second run over by a
        // little, so within the 5 % a knee may be off).
        assert!(
            lower <= knee * 1.05,
            "lower bound {lower} vs knee {knee}\n{trace}"
        );

        // Two agents: the merged search finds the true knee.
        let two = search(
            &plan_path,
            &serve,
            &token,
            &base,
            2,
            &data.0.join(format!("two-{attempt}.json")),
        )
        .await;
        let trace = steps(&two);
        eprintln!(
            "two agents, knee {knee} ({:.1?}):\n{trace}",
            began.elapsed()
        );
        assert_eq!(two["fleet"]["status"], "complete", "{trace}");
        let breakdown = two["fleet"]["breakdown"].as_array().expect("breakdown");
        assert_eq!(breakdown.len(), 2, "{breakdown:?}");
        if two["search"]["generator_bound"] == true {
            // Beyond two agents here too: a lower bound, never a knee.
            assert!(two["entries"][0]["knee_qps"].is_null(), "{trace}");
            knee = (knee * 0.9).round();
            continue;
        }
        let found = two["entries"][0]["knee_qps"]
            .as_f64()
            .unwrap_or_else(|| panic!("no knee\n{trace}"));
        break (found, lower);
    };
    eprintln!(
        "knee found {found:.1} vs truth {knee:.1}; one agent's lower bound {lower:.1}; capacities tried {tried:?}"
    );
    assert!(
        (found - knee).abs() / knee <= 0.05,
        "knee {found:.1} vs truth {knee:.1}"
    );
    drop(agents);
}
