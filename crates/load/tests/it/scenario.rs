//! Scenario runs against in-process axum servers on 127.0.0.1: per-entry
//! rates follow the journeys' rates, conversions and calls; CSV values and
//! extracted values reach the server; every request is tagged; a guard
//! aborts within a second of an error burst; capacity search finds a known
//! limit. Rates stay at a few hundred per second for a loaded machine.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use seawall_load::result::{Outcome, SloSpec};
use seawall_load::{
    DataSet, EntrySpec, GuardSpec, HttpVersion, JourneySpec, LoadError, LoadProfile, Scenario,
    SearchSpec, StepSpec, TestTag, rehearse,
};
use tokio::time::Instant;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    addr
}

/// Serve `app` on its own thread and runtime, so the server's notion of
/// time is not delayed by the client's tasks in the test's runtime.
pub(crate) fn serve_apart(app: Router) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    addr
}

pub(crate) fn entry(id: &str, target_qps: f64, slo: Option<SloSpec>) -> EntrySpec {
    EntrySpec {
        id: id.to_owned(),
        target_qps,
        slo,
        slo_source: if slo.is_some() { "entry" } else { "none" }.to_owned(),
    }
}

pub(crate) fn step(entry: usize, method: &str, path: &str) -> StepSpec {
    StepSpec {
        entry,
        method: method.to_owned(),
        path: path.to_owned(),
        body: None,
        headers: Vec::new(),
        conversion: 1.0,
        calls: 1.0,
        think: Duration::ZERO,
        extract: Vec::new(),
    }
}

pub(crate) fn scenario(
    addr: SocketAddr,
    entries: Vec<EntrySpec>,
    journeys: Vec<JourneySpec>,
) -> Scenario {
    Scenario {
        name: "test".to_owned(),
        base_url: format!("http://{addr}"),
        entries,
        journeys,
        load: LoadProfile::Fixed {
            multiple: 1.0,
            duration: Duration::from_secs(2),
        },
        arrivals: seawall_load::Arrivals::Constant,
        guards: GuardSpec::default(),
        data: Vec::new(),
        tag: Some(TestTag::new("scn-7")),
        untagged: false,
        connections: 200,
        timeout: Duration::from_secs(5),
        http: HttpVersion::Http1,
    }
}

/// What the shop server saw.
#[derive(Debug, Default)]
struct Shop {
    home: AtomicU64,
    orders: AtomicU64,
    pay: AtomicU64,
    untagged: AtomicU64,
    /// Bodies or headers that did not carry a CSV user.
    bad_user: AtomicU64,
    /// Pay calls for an order id the server never issued, or for another user.
    bad_order: AtomicU64,
    /// order id → user id
    issued: Mutex<HashMap<String, String>>,
    next: AtomicU64,
}

fn tagged(shop: &Shop, headers: &HeaderMap) {
    let tag = headers.get("x-run").is_some_and(|v| v == "scn-7");
    let baggage = headers
        .get("baggage")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|m| m.trim() == "run-key=scn-7"));
    if !(tag && baggage) {
        shop.untagged.fetch_add(1, Ordering::Relaxed);
    }
}

const USERS: [&str; 3] = ["u-1", "u-2", "u-3"];

fn shop_app(shop: Arc<Shop>) -> Router {
    Router::new()
        .route(
            "/home",
            get(|State(s): State<Arc<Shop>>, h: HeaderMap| async move {
                tagged(&s, &h);
                s.home.fetch_add(1, Ordering::Relaxed);
                "welcome"
            }),
        )
        .route(
            "/orders",
            post(
                |State(s): State<Arc<Shop>>, h: HeaderMap, body: Bytes| async move {
                    tagged(&s, &h);
                    s.orders.fetch_add(1, Ordering::Relaxed);
                    let user = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v.get("user").and_then(|u| u.as_str()).map(str::to_owned))
                        .unwrap_or_default();
                    if !USERS.contains(&user.as_str()) {
                        s.bad_user.fetch_add(1, Ordering::Relaxed);
                    }
                    let id = format!("o-{}", s.next.fetch_add(1, Ordering::Relaxed));
                    s.issued.lock().expect("lock").insert(id.clone(), user);
                    serde_json::json!({"data": {"order_id": id}}).to_string()
                },
            ),
        )
        .route(
            "/pay/{order}",
            post(
                |State(s): State<Arc<Shop>>, Path(order): Path<String>, h: HeaderMap| async move {
                    tagged(&s, &h);
                    s.pay.fetch_add(1, Ordering::Relaxed);
                    let user = h.get("x-user").and_then(|v| v.to_str().ok()).unwrap_or("");
                    let owner = s.issued.lock().expect("lock").get(&order).cloned();
                    if owner.as_deref() != Some(user) {
                        s.bad_order.fetch_add(1, Ordering::Relaxed);
                    }
                    "paid"
                },
            ),
        )
        .with_state(shop)
}

/// Two journeys over three entries; the server counts each entry and checks
/// the CSV user in bodies and headers and the extracted order id in paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_rates_conversions_data_and_extraction() {
    let shop = Arc::new(Shop::default());
    let addr = serve(shop_app(Arc::clone(&shop))).await;

    // buy: home → orders (0.5) → pay (0.8, 2.5 calls); browse: home.
    let mut orders = step(1, "POST", "/orders");
    orders.conversion = 0.5;
    orders.body = Some(r#"{"user": "{{users.user_id}}"}"#.to_owned());
    orders.extract = vec![("order_id".to_owned(), "/data/order_id".to_owned())];
    let mut pay = step(2, "POST", "/pay/{{order_id}}");
    pay.conversion = 0.8;
    pay.calls = 2.5;
    pay.headers = vec![("x-user".to_owned(), "{{user_id}}".to_owned())];
    let buy = JourneySpec {
        id: "buy".to_owned(),
        rate: 100.0,
        steps: vec![step(0, "GET", "/home"), orders, pay],
    };
    let browse = JourneySpec {
        id: "browse".to_owned(),
        rate: 50.0,
        steps: vec![step(0, "GET", "/home")],
    };
    // Plan targets at multiple 1: home 150, orders 50, pay 100 per second.
    let entries = vec![
        entry("home", 150.0, None),
        entry("orders", 50.0, None),
        entry("pay", 100.0, None),
    ];
    let mut s = scenario(addr, entries, vec![buy, browse]);
    s.load = LoadProfile::Fixed {
        multiple: 1.2,
        duration: Duration::from_secs(3),
    };
    let mut tag = TestTag::new("scn-7");
    tag.header = "x-run".to_owned();
    tag.baggage_key = "run-key".to_owned();
    s.tag = Some(tag);
    s.data =
        vec![DataSet::parse_csv("users", "users.csv", "user_id\nu-1\nu-2\nu-3\n").expect("csv")];

    let r = rehearse(&s, |_| {}).await.expect("run");
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(
        shop.untagged.load(Ordering::Relaxed),
        0,
        "untagged requests"
    );
    assert_eq!(shop.bad_user.load(Ordering::Relaxed), 0, "CSV user missing");
    assert_eq!(
        shop.bad_order.load(Ordering::Relaxed),
        0,
        "extracted id wrong"
    );
    assert_eq!(r.errors, 0, "{:?}", r.entries);
    assert_eq!(r.dropped, 0);

    // Counted at the server, per entry: 1.2 × target over 3 s.
    let seconds = 3.0;
    for (name, count, target) in [
        ("home", &shop.home, 150.0),
        ("orders", &shop.orders, 50.0),
        ("pay", &shop.pay, 100.0),
    ] {
        let got = count.load(Ordering::Relaxed) as f64 / seconds;
        let want = 1.2 * target;
        assert!(
            (got - want).abs() / want < 0.04,
            "{name}: {got:.1}/s at the server, want {want:.1}/s"
        );
        let e = r.entries.iter().find(|e| e.id == name).expect("entry");
        assert!(
            (e.intended_qps - want).abs() / want < 1e-9,
            "{name} intended {}",
            e.intended_qps
        );
        assert_eq!(
            e.requests,
            count.load(Ordering::Relaxed),
            "{name} client vs server"
        );
    }
    // Step reach ratios are the conversions (error diffusion: within one).
    let buy = &r.journeys[0];
    let (home, orders, pay) = (buy.reached[0], buy.reached[1], buy.reached[2]);
    assert!(home >= 300, "{home}");
    assert!(orders.abs_diff(home / 2) <= 1, "{orders} of {home}");
    assert!(pay.abs_diff(orders * 4 / 5) <= 1, "{pay} of {orders}");
    assert!((r.journeys[0].share - 2.0 / 3.0).abs() < 1e-9);
    assert!(r.journeys[0].arrivals.abs_diff(2 * r.journeys[1].arrivals) <= 2);
}

/// The server answers 500 from a known instant; the scenario's error-rate
/// guard stops the traffic within a second, and the result says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_aborts_within_a_second_of_an_error_burst() {
    #[derive(Default)]
    struct Burst {
        started: Mutex<Option<Instant>>,
        failing: AtomicBool,
        last: Mutex<Option<Instant>>,
        first: Mutex<Option<Instant>>,
    }
    let burst = Arc::new(Burst::default());
    let app = Router::new()
        .route(
            "/api",
            get(|State(b): State<Arc<Burst>>| async move {
                let now = Instant::now();
                let first = *b.first.lock().expect("lock").get_or_insert(now);
                *b.last.lock().expect("lock") = Some(now);
                // Fail from 1.5 s after the first request on.
                if now >= first + Duration::from_millis(1500) {
                    if !b.failing.swap(true, Ordering::SeqCst) {
                        *b.started.lock().expect("lock") = Some(now);
                    }
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }),
        )
        .with_state(Arc::clone(&burst));
    let addr = serve(app).await;
    let j = JourneySpec {
        id: "j".to_owned(),
        rate: 100.0,
        steps: vec![step(0, "GET", "/api")],
    };
    let mut s = scenario(addr, vec![entry("api", 100.0, None)], vec![j]);
    s.load = LoadProfile::Fixed {
        multiple: 1.0,
        duration: Duration::from_secs(10),
    };
    s.guards = GuardSpec {
        error_rate: Some(0.05),
        p99_ms: None,
        window: Duration::from_secs(5),
    };
    let t0 = Instant::now();
    let r = rehearse(&s, |_| {}).await.expect("run");
    assert!(
        t0.elapsed() < Duration::from_secs(6),
        "the run was not stopped"
    );
    let started = burst.started.lock().expect("lock").expect("burst started");
    let last = burst.last.lock().expect("lock").expect("requests");
    let stopped_after = last - started;
    assert!(
        stopped_after < Duration::from_secs(1),
        "traffic continued {stopped_after:?} after the burst"
    );
    assert_eq!(r.outcome, Outcome::Aborted);
    let abort = r.abort.as_ref().expect("abort reason");
    assert_eq!(abort.entry, "api");
    assert_eq!(abort.guard, "error_rate");
    assert!(abort.value > 0.05);
    assert!(abort.message.contains("error_rate") && abort.message.contains("`api`"));
    // The guard fired between the burst and one second after it.
    assert!(
        abort.t_s > 1.4 && abort.t_s < 1.5 + 1.0,
        "abort at {} s",
        abort.t_s
    );
    assert_eq!(r.guard_events.len(), 1);
    assert!(r.entries[0].errors.status_5xx > 0);
    assert!(r.duration_s < 3.0);
}

/// A server that takes at most 190 requests in any second (it counts the
/// requests it accepted in the last second, like a service at its
/// capacity, and answers 503 beyond): the search's knee is within 5 % of
/// 190. Counting over a sliding second makes the limit immune to the
/// client's scheduling jitter on a loaded machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_search_finds_a_known_limit() {
    const LIMIT: f64 = 190.0;
    let accepted = Arc::new(Mutex::new(std::collections::VecDeque::<Instant>::new()));
    let app = Router::new()
        .route(
            "/limited",
            get(
                |State(a): State<Arc<Mutex<std::collections::VecDeque<Instant>>>>| async move {
                    let mut a = a.lock().expect("lock");
                    let now = Instant::now();
                    while a
                        .front()
                        .is_some_and(|&t| now - t >= Duration::from_secs(1))
                    {
                        a.pop_front();
                    }
                    if (a.len() as f64) < LIMIT {
                        a.push_back(now);
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                },
            ),
        )
        .with_state(accepted);
    let addr = serve_apart(app);
    let j = JourneySpec {
        id: "j".to_owned(),
        rate: 100.0,
        steps: vec![step(0, "GET", "/limited")],
    };
    let slo = SloSpec {
        p99_ms: None,
        error_rate: Some(0.01),
    };
    let mut s = scenario(addr, vec![entry("limited", 100.0, Some(slo))], vec![j]);
    s.load = LoadProfile::Search(SearchSpec {
        start: 1.5,
        step: 0.5,
        max: 3.0,
        step_duration: Duration::from_secs(3),
        hold: Duration::from_secs(3),
        cooldown: Duration::ZERO,
    });
    let r = rehearse(&s, |_| {}).await.expect("run");
    let search = r.search.as_ref().expect("search result");
    let knee = r.entries[0].knee_qps.expect("knee found");
    assert!(
        (knee - LIMIT).abs() / LIMIT < 0.05,
        "knee {knee:.1} vs limit {LIMIT}; steps {:#?}",
        search.steps
    );
    assert_eq!(search.bottlenecks, ["limited"]);
    let m = search.knee_multiple.expect("knee multiple");
    assert!(m * 100.0 <= LIMIT * 1.05 && m * 100.0 >= LIMIT * 0.9, "{m}");
    // A step just below the limit may break when the machine stalls the
    // server; never one far below it.
    assert!(search.broken_multiple.expect("broken") * 100.0 > LIMIT * 0.95);
    assert!(search.steps.iter().any(|s| s.kind == "bisect"));
    assert_eq!(r.outcome, Outcome::Completed);
    // bounded: 2 step-ups, at most 6 bisections, at most 2 holds
    assert!(search.steps.len() <= 2 + 6 + 2);
}

/// Bad scenarios fail before any traffic, with the step and the variable.
#[tokio::test]
async fn unknown_variables_and_untagged_runs_are_refused() {
    let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
    let mut pay = step(0, "POST", "/pay/{{order_id}}");
    pay.conversion = 1.0;
    let j = JourneySpec {
        id: "j".to_owned(),
        rate: 1.0,
        steps: vec![pay],
    };
    let s = scenario(addr, vec![entry("pay", 1.0, None)], vec![j.clone()]);
    let err = rehearse(&s, |_| {}).await.expect_err("unknown var");
    let msg = err.to_string();
    assert!(
        matches!(err, LoadError::Step { step: 1, .. }) && msg.contains("order_id"),
        "{msg}"
    );
    let mut ok = j;
    ok.steps[0].path = "/pay".to_owned();
    let mut s = scenario(addr, vec![entry("pay", 1.0, None)], vec![ok]);
    s.tag = None;
    assert!(matches!(
        rehearse(&s, |_| {}).await,
        Err(LoadError::Untagged)
    ));
    s.untagged = true;
    // a search with no SLO and no guards could never find a knee
    s.load = LoadProfile::Search(SearchSpec {
        start: 1.0,
        step: 1.0,
        max: 2.0,
        step_duration: Duration::from_secs(1),
        hold: Duration::from_secs(1),
        cooldown: Duration::ZERO,
    });
    let err = rehearse(&s, |_| {}).await.expect_err("nothing to break");
    assert!(err.to_string().contains("slo"), "{err}");
    // a guard window beyond 60 s would keep too many histograms
    s.guards.error_rate = Some(0.1);
    s.guards.window = Duration::from_secs(61);
    let err = rehearse(&s, |_| {}).await.expect_err("window too long");
    assert!(err.to_string().contains("guards.window"), "{err}");
    s.guards = GuardSpec::default();
    s.load = LoadProfile::Fixed {
        multiple: 1.0,
        duration: Duration::from_secs(1),
    };
    s.journeys[0].rate = 0.0;
    assert!(matches!(
        rehearse(&s, |_| {}).await,
        Err(LoadError::Scenario(_))
    ));
}

/// Stages ramp linearly from 0: 0 → 2× over 2 s, then 2× for 1 s, on a
/// base of 100 journeys/s: 100 + 100 + 200 = 400 requests, and the server
/// sees about 50, 150 and 200 in its three seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_ramp_linearly() {
    let seen = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let app = Router::new()
        .route(
            "/r",
            get(|State(s): State<Arc<Mutex<Vec<Instant>>>>| async move {
                s.lock().expect("lock").push(Instant::now());
                "ok"
            }),
        )
        .with_state(Arc::clone(&seen));
    let addr = serve(app).await;
    let j = JourneySpec {
        id: "j".to_owned(),
        rate: 100.0,
        steps: vec![step(0, "GET", "/r")],
    };
    let mut s = scenario(addr, vec![entry("r", 100.0, None)], vec![j]);
    s.load = LoadProfile::Stages(vec![
        (2.0, Duration::from_secs(2)),
        (2.0, Duration::from_secs(1)),
    ]);
    let mut reports = Vec::new();
    let r = rehearse(&s, |p| reports.push(p.clone()))
        .await
        .expect("run");
    // Progress once a second: the intended multiple follows the ramp
    // (1× at 1 s, 2× from 2 s) and each entry has its own view.
    assert!(reports.len() >= 2, "{reports:?}");
    assert!((reports[0].multiple - 1.0).abs() < 0.25, "{:?}", reports[0]);
    assert!((reports[1].multiple - 2.0).abs() < 0.15, "{:?}", reports[1]);
    assert_eq!(reports[1].entries.len(), 1);
    assert_eq!(reports[1].entries[0].0, "r");
    assert_eq!(reports[1].entries[0].1.requests, reports[1].requests);
    assert_eq!(reports[1].phase, "stages");
    let times = seen.lock().expect("lock").clone();
    assert!(times.len().abs_diff(400) <= 2, "{} requests", times.len());
    let first = times[0];
    let mut per_second = [0u32; 3];
    for t in &times {
        let s = ((*t - first).as_secs_f64()) as usize;
        per_second[s.min(2)] += 1;
    }
    for (got, want) in per_second.iter().zip([50.0, 150.0, 200.0]) {
        assert!(
            (f64::from(*got) - want).abs() <= want * 0.1 + 3.0,
            "per second {per_second:?}"
        );
    }
    // intended: 400 requests over 3 s
    let e = &r.entries[0];
    assert!(
        (e.intended_qps - 400.0 / 3.0).abs() < 3.0,
        "{}",
        e.intended_qps
    );
    assert_eq!(r.mode, seawall_load::result::RunMode::Stages);
}

/// With HTTP/2 (h2c) the walk, templating and extraction work the same:
/// the id extracted from the first step's response reaches the second
/// step's path, every request arrives as HTTP/2 and carries the tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_walks_extract_and_tag() {
    #[derive(Default)]
    struct Seen {
        h2_tagged: AtomicU64,
        other: AtomicU64,
        matched: AtomicU64,
    }
    fn note(s: &Seen, version: axum::http::Version, headers: &HeaderMap) {
        let tagged = headers.get("x-seawall-test").is_some_and(|v| v == "scn-7");
        if version == axum::http::Version::HTTP_2 && tagged {
            s.h2_tagged.fetch_add(1, Ordering::Relaxed);
        } else {
            s.other.fetch_add(1, Ordering::Relaxed);
        }
    }
    let seen = Arc::new(Seen::default());
    let app = Router::new()
        .route(
            "/new",
            get(
                |State(s): State<Arc<Seen>>, v: axum::http::Version, h: HeaderMap| async move {
                    note(&s, v, &h);
                    r#"{"id": 42}"#
                },
            ),
        )
        .route(
            "/item/{id}",
            get(
                |State(s): State<Arc<Seen>>,
                 v: axum::http::Version,
                 h: HeaderMap,
                 Path(id): Path<String>| async move {
                    note(&s, v, &h);
                    if id == "42" {
                        s.matched.fetch_add(1, Ordering::Relaxed);
                    }
                    "ok"
                },
            ),
        )
        .with_state(Arc::clone(&seen));
    let addr = serve(app).await;
    let mut first = step(0, "GET", "/new");
    first.extract = vec![("id".to_owned(), "/id".to_owned())];
    let j = JourneySpec {
        id: "j".to_owned(),
        rate: 100.0,
        steps: vec![first, step(1, "GET", "/item/{{id}}")],
    };
    let mut s = scenario(
        addr,
        vec![entry("new", 100.0, None), entry("item", 100.0, None)],
        vec![j],
    );
    s.http = HttpVersion::Http2;
    s.load = LoadProfile::Fixed {
        multiple: 1.0,
        duration: Duration::from_secs(1),
    };
    let r = rehearse(&s, |_| {}).await.expect("run");
    assert_eq!(r.errors, 0, "{:?}", r.entries);
    assert_eq!(seen.other.load(Ordering::Relaxed), 0);
    let matched = seen.matched.load(Ordering::Relaxed);
    assert!(
        matched >= 95,
        "{matched} second steps with the extracted id"
    );
    assert_eq!(seen.h2_tagged.load(Ordering::Relaxed), r.requests);
}
