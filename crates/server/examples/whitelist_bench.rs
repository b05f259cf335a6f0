//! Gray release at the size of a real whitelist: 2 million ids.
//!
//! Measures, in one bounded process on 127.0.0.1:
//! 1. building the compact set from 2,000,000 ids, its heap size and the
//!    process' resident-memory growth (`VmRSS` of `/proc/self/status`);
//! 2. lookups (`Whitelist::contains` on id text: parse or hash, bucket
//!    index, search), in random order over the whole set, half listed and
//!    half not, and a gray decision through `Guard::evaluate` with the set
//!    installed;
//! 3. distribution: a real control plane (SQLite in a temporary directory)
//!    and a real sidecar following it with a gray upstream; the upload of
//!    2 million ids, then how long until the sidecar routes an id of the new
//!    version to gray (the whole set, then a version that changes 1,000 ids:
//!    a delta).
//!
//! ```sh
//! cargo run --release -p seawall-server --example whitelist_bench -- [--ids 2000000]
//! ```
//!
//! `bench/whitelist.sh` runs it; results in `docs/benchmarks.md` ("Gray
//! whitelists at 2 million ids").

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use seawall_guard::whitelist::Whitelist;
use seawall_guard::{Guard, RequestParts, RuleSet, Upstream};
use seawall_store::StoreSpec;

/// splitmix64: a deterministic stream of ids.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `n` ids: 10-digit user numbers, one in ten a string id.
fn ids(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let x = rng.next();
            if i % 10 == 9 {
                format!("u-{:x}", x >> 16)
            } else {
                (1_000_000_000 + x % 9_000_000_000).to_string()
            }
        })
        .collect()
}

fn per_op(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = arg("--ids", 2_000_000);
    let listed = ids(n, 1);
    let unlisted = ids(n, 2);

    // 1. Build and memory.
    let rss0 = rss_kib();
    let started = Instant::now();
    let set = Whitelist::from_ids(1, listed.iter().map(String::as_str));
    let built = started.elapsed();
    let rss1 = rss_kib();
    println!(
        "build: {} ids -> {} keys in {:.0} ms; set heap {:.1} MB; RSS growth {:.1} MB",
        n,
        set.len(),
        built.as_secs_f64() * 1e3,
        set.heap_bytes() as f64 / 1e6,
        (rss1.saturating_sub(rss0)) as f64 * 1024.0 / 1e6
    );

    // 2. Lookups in random order, half listed and half not. The ids to
    // look up lie one after another in one buffer, as a request's header
    // does in the sidecar's read buffer: the time is the set's, not that
    // of fetching two million scattered strings.
    let mut rng = Rng(3);
    let mut buf = String::new();
    let mut spans = Vec::with_capacity(4_000_000);
    for i in 0..4_000_000usize {
        let k = (rng.next() % n as u64) as usize;
        let id = if i % 2 == 0 { &listed[k] } else { &unlisted[k] };
        spans.push((buf.len(), id.len()));
        buf.push_str(id);
    }
    let probes: Vec<&str> = spans.iter().map(|&(at, len)| &buf[at..at + len]).collect();
    let started = Instant::now();
    let mut sum = 0u64;
    for p in &probes {
        sum = sum.wrapping_add(seawall_guard::whitelist::key_of(black_box(p)));
    }
    println!(
        "key only (parse or hash, no set): {:.1} ns per id ({sum:x})",
        per_op(started.elapsed(), probes.len())
    );
    for round in 0..3 {
        let started = Instant::now();
        let mut hits = 0usize;
        for p in &probes {
            hits += usize::from(set.contains(black_box(p)));
        }
        let took = started.elapsed();
        println!(
            "lookup round {round}: {:.1} ns per lookup ({} of {} listed)",
            per_op(took, probes.len()),
            hits,
            probes.len()
        );
    }
    let rules =
        RuleSet::from_yaml("version: 1\ngray:\n  id: gray.beta\nresources: []\n").expect("rules");
    let guard = Guard::new(rules).expect("guard");
    guard.install_whitelist(std::sync::Arc::new(set));
    let started = Instant::now();
    let mut gray = 0usize;
    let sample = &probes[..1_000_000];
    for p in sample {
        let h = [("x-user-id", *p)];
        let v = guard.evaluate(&RequestParts::new("GET", "/").with_headers(&h));
        gray += usize::from(v.upstream == Upstream::Gray);
    }
    println!(
        "Guard::evaluate with the set installed: {:.1} ns per request ({gray} of {} gray)",
        per_op(started.elapsed(), sample.len()),
        sample.len()
    );
    drop(guard);

    // 3. Distribution to a following sidecar.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(distribute(listed, unlisted));
}

async fn upstream(name: &'static str) -> SocketAddr {
    let app = axum::Router::new().fallback(move || async move { name });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn routed(client: &seawall_api::Client, user: &str) -> String {
    client
        .send_raw(
            http::Method::GET,
            "/",
            &[(http::HeaderName::from_static("x-user-id"), user.to_owned())],
            Bytes::new(),
        )
        .await
        .map(|r| r.text())
        .unwrap_or_default()
}

/// Polls the sidecar every millisecond until `user` goes to gray (at most
/// 30 s); how long from `since`.
async fn until_gray(client: &seawall_api::Client, user: &str, since: Instant) -> Duration {
    while since.elapsed() < Duration::from_secs(30) {
        if routed(client, user).await == "gray" {
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("user {user} never went to gray");
}

async fn distribute(listed: Vec<String>, unlisted: Vec<String>) {
    let dir = tempfile::tempdir().expect("dir");
    let store = seawall_store::open(&StoreSpec::Sqlite(dir.path().join("seawall.db")))
        .await
        .expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let state = seawall_server::AppState::new(store, dir.path());
    let server = seawall_server::Server::with_state(listener, state)
        .await
        .expect("server");
    let admin_token = server
        .bootstrap_token()
        .expect("first start makes the admin token")
        .secret
        .clone();
    let base = format!("http://{}", server.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let admin = seawall_api::Client::new(&base)
        .expect("client")
        .with_token(&admin_token)
        .with_timeout(Duration::from_secs(120));
    let created: serde_json::Value = admin
        .post_json(
            "/api/v1/tokens",
            &serde_json::json!({"name": "sc", "role": "sidecar", "service": "svc"}),
        )
        .await
        .expect("token")
        .expect(201)
        .expect("token created");
    let sidecar_token = created["secret"].as_str().expect("secret").to_owned();
    let rules = serde_json::json!({"rules": {"version": 1,
        "gray": {"id": "gray.beta"}, "resources": []}, "note": "bench"});
    admin
        .send(
            http::Method::PUT,
            "/api/v1/guard/services/svc/rules",
            Some(("application/json", Bytes::from(rules.to_string()))),
        )
        .await
        .expect("rules")
        .expect::<serde_json::Value>(201)
        .expect("rules stored");

    let (primary, gray) = (upstream("primary").await, upstream("gray").await);
    let mut config = seawall_sidecar::Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        &format!("http://{primary}"),
        dir.path().join("rules.json"),
    )
    .expect("config");
    config.gray_upstream =
        Some(seawall_sidecar::Upstream::parse(&format!("http://{gray}")).expect("gray"));
    config.control = Some(
        seawall_sidecar::Control::new(&base, "svc", &sidecar_token, "bench").expect("control"),
    );
    let sidecar = seawall_sidecar::Sidecar::bind(config)
        .await
        .expect("sidecar");
    let proxy = seawall_api::Client::new(&format!("http://{}", sidecar.local_addr().expect("a")))
        .expect("client");
    let (stop_sc, sc_stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sidecar.run(async move {
        let _ = sc_stopped.await;
    }));

    // The whole set, first time.
    let text: String = listed.iter().map(|id| format!("{id}\n")).collect();
    let bytes = text.len();
    let started = Instant::now();
    let v1 = admin
        .upload_whitelist("svc", Bytes::from(text), None)
        .await
        .expect("upload");
    let uploaded = started.elapsed();
    let stored = Instant::now();
    let first = until_gray(&proxy, &listed[0], stored).await;
    println!(
        "upload: {} ids ({:.1} MB of text) stored as version {} ({:.1} MB) in {:.0} ms",
        v1.count,
        bytes as f64 / 1e6,
        v1.version,
        v1.bytes as f64 / 1e6,
        uploaded.as_secs_f64() * 1e3
    );
    println!(
        "distribution, whole set: the sidecar routes a listed id to gray {:.0} ms after the upload answered ({:.0} ms after it was sent)",
        first.as_secs_f64() * 1e3,
        (first + uploaded).as_secs_f64() * 1e3
    );

    // A version that changes 1,000 ids: a delta.
    let mut next = listed.clone();
    next[..1000].clone_from_slice(&unlisted[..1000]);
    let text: String = next.iter().map(|id| format!("{id}\n")).collect();
    let started = Instant::now();
    admin
        .upload_whitelist("svc", Bytes::from(text), None)
        .await
        .expect("upload");
    let uploaded = started.elapsed();
    let stored = Instant::now();
    let second = until_gray(&proxy, &unlisted[0], stored).await;
    println!(
        "distribution, 1,000 ids changed (a delta): {:.0} ms after the upload answered ({:.0} ms after it was sent)",
        second.as_secs_f64() * 1e3,
        (second + uploaded).as_secs_f64() * 1e3
    );

    let _ = stop_sc.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), running).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
}
