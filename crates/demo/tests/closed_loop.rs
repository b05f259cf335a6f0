//! The closed loop end to end on the carnival plan, against the simulated
//! system's ground truth: the rehearsal's knees, test-traffic isolation,
//! the derived limits under twice the knee, the water-level table in the
//! UI, and drills of a weak and a strong dependency failing.
//!
//! One test, because starting the loop (a capacity search per entry) is
//! the expensive part; each check says which part of the loop broke.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode, header};
use seawall_demo::{Demo, Options, start};
use seawall_server::client::Client;
use seawall_sim::Fault;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seawall-demo-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// What an open-model burst against one entry saw.
#[derive(Debug)]
struct Offered {
    sent: usize,
    /// Latencies (ms) of the 2xx answers.
    ok_ms: Vec<f64>,
    /// Answers refused by the guard (`x-seawall-reason`).
    limited: usize,
    /// Any other answer or failure.
    failed: usize,
    secs: f64,
}

impl Offered {
    fn admitted_rps(&self) -> f64 {
        self.ok_ms.len() as f64 / self.secs
    }

    fn p99_ms(&self) -> f64 {
        let mut v = self.ok_ms.clone();
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64) * 0.99).ceil() as usize - 1)
            .copied()
            .unwrap_or(0.0)
    }

    fn error_rate(&self) -> f64 {
        self.failed as f64 / self.sent.max(1) as f64
    }
}

/// Send `rate` requests per second for `secs` seconds to `addr`, each on
/// its own schedule (open model: a slow answer never delays the next
/// request), over keep-alive connections opened as needed.
async fn offer(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    rate: f64,
    secs: f64,
) -> Offered {
    type Sender = hyper::client::conn::http1::SendRequest<http_body_util::Empty<Bytes>>;
    let idle: std::sync::Arc<std::sync::Mutex<Vec<Sender>>> = Default::default();
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let n = (rate * secs).round() as usize;
    let t0 = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        tokio::time::sleep_until(t0 + Duration::from_secs_f64(i as f64 / rate)).await;
        let (idle, method, path) = (idle.clone(), method.clone(), path.to_owned());
        tasks.spawn(async move {
            let began = Instant::now();
            let pooled = idle.lock().expect("pool").pop();
            let mut sender = match pooled {
                Some(s) => s,
                None => {
                    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
                    let (sender, conn) =
                        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                            .await
                            .ok()?;
                    tokio::spawn(conn);
                    sender
                }
            };
            let request = http::Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, addr.to_string())
                .body(http_body_util::Empty::<Bytes>::new())
                .ok()?;
            let response =
                tokio::time::timeout(Duration::from_secs(5), sender.send_request(request))
                    .await
                    .ok()?
                    .ok()?;
            let status = response.status();
            let limited = response.headers().contains_key("x-seawall-reason");
            http_body_util::BodyExt::collect(response.into_body())
                .await
                .ok()?;
            idle.lock().expect("pool").push(sender);
            Some((status, limited, began.elapsed().as_secs_f64() * 1000.0))
        });
    }
    let mut out = Offered {
        sent: n,
        ok_ms: Vec::new(),
        limited: 0,
        failed: 0,
        secs,
    };
    while let Some(done) = tasks.join_next().await {
        match done.expect("task") {
            Some((status, _, ms)) if status.is_success() => out.ok_ms.push(ms),
            Some((_, true, _)) => out.limited += 1,
            _ => out.failed += 1,
        }
    }
    out
}

/// Path of an entry as the simulator accepts it.
fn entry_path(demo: &Demo, entry: &str) -> (String, String) {
    let e = &demo.plan.entries[entry];
    let path = e
        .path
        .as_deref()
        .expect("path")
        .split('/')
        .map(|s| if s.starts_with('{') { "1" } else { s })
        .collect::<Vec<_>>()
        .join("/");
    (e.method_or_default().as_str().to_owned(), path)
}

/// The QPS limit the derived rules put on an entry.
async fn derived_limit(demo: &Demo, service: &str, entry: &str) -> f64 {
    let r = demo
        .client()
        .expect("client")
        .get(&format!(
            "/api/v1/guard/rules?service={service}&since=0&wait=0"
        ))
        .await
        .expect("rules");
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v: serde_json::Value = r.json().expect("json");
    let resources = v["rules"]["resources"].as_array().expect("resources");
    let res = resources
        .iter()
        .find(|r| r["name"] == entry)
        .unwrap_or_else(|| panic!("no resource for entry {entry} in {v}"));
    res["flow"]
        .as_array()
        .and_then(|f| f.iter().find_map(|rule| rule["count"].as_f64()))
        .unwrap_or_else(|| panic!("no flow limit on {entry}: {res}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_measures_protects_and_drills_against_the_ground_truth() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("examples/carnival/plan.yaml")).expect("plan");
    let dir = temp_dir("loop");
    let mut opts = Options::new(text, "plan.yaml".into(), dir.clone());
    opts.listen = "127.0.0.1:0".parse().expect("addr");
    opts.factor = std::env::var("DEMO_FACTOR")
        .ok()
        .and_then(|f| f.parse().ok())
        .unwrap_or(0.04);
    // The search `seawall demo` runs (Options::new: 1.5 s steps of 0.1×
    // from 0.8× to 1.6× the declared capacity, 2 s hold, 1 s cooldown):
    // the knees held to the ground truth are the ones a user sees.
    // SEAWALL_DEMO_ONLY=home,pay: rehearse only these entries (to debug
    // the later checks without waiting for every search).
    let only = std::env::var("SEAWALL_DEMO_ONLY").ok();
    opts.only = only
        .as_ref()
        .map(|o| o.split(',').map(str::to_owned).collect());
    let t0 = Instant::now();
    let mut demo = start(&opts, |s| {
        eprintln!("{:>6.1}s {s:?}", t0.elapsed().as_secs_f64())
    })
    .await
    .expect("the loop starts");
    // SEAWALL_DEMO_DAY_ONLY=1: straight to the event day (to debug it
    // without the other checks).
    if std::env::var("SEAWALL_DEMO_DAY_ONLY").is_ok() {
        event_day(&mut demo, t0).await;
        demo.shutdown().await;
        return;
    }

    // 1. Every entry's knee is within 5 % of the simulator's ground truth.
    if only.is_none() {
        assert_eq!(demo.entries.len(), demo.plan.entries.len());
    }
    let mut off_truth = Vec::new();
    for e in &demo.entries {
        let truth = e.truth_qps.expect("the simulator knows every entry's knee");
        let knee = e
            .knee_qps
            .unwrap_or_else(|| panic!("{}: no knee ({})", e.entry, e.stopped));
        eprintln!(
            "{:14} truth {truth:8.1} knee {knee:8.1} ({:+.1} %) {}",
            e.entry,
            (knee / truth - 1.0) * 100.0,
            e.stopped
        );
        if (knee - truth).abs() / truth > 0.05 {
            off_truth.push(format!(
                "{}: knee {knee:.1} QPS vs ground truth {truth:.1} (bottleneck {:?}; {})",
                e.entry, e.bottleneck, e.stopped
            ));
        }
    }
    assert!(
        off_truth.is_empty(),
        "knees more than 5 % off: {off_truth:#?}"
    );

    // 2. Test-tagged writes all landed in the shadow store; the only
    //    tagged calls that reached something real are the ones the link
    //    analysis flagged (L011: sms-partner is not shadow_safe).
    let counters = demo.sim.counters();
    let shadow: u64 = counters.nodes.iter().map(|n| n.shadow_writes).sum();
    assert!(shadow > 0, "the rehearsal wrote nothing: {counters:?}");
    for n in &counters.nodes {
        assert_eq!(n.real_writes, 0, "{}: real writes from test traffic", n.id);
        if n.leaks > 0 {
            assert_eq!(n.id, "sms-partner", "an unexpected leak: {n:?}");
        }
    }
    let targets = seawall_plan::targets::decompose(&demo.plan);
    let table = seawall_plan::capacity::table(
        &demo.plan,
        &targets,
        &seawall_plan::capacity::Measured::default(),
    );
    let findings = seawall_plan::links::analyze(&demo.plan, &targets, &table);
    assert!(
        findings
            .iter()
            .any(|f| f.rule == "L011" && f.message.contains("sms-partner")),
        "the link analysis flags the leak beforehand"
    );

    // 3. The war-room UI's water-level table shows the measured capacities.
    let ui = Client::new(&demo.base_url).expect("client");
    let login = ui
        .send_raw(
            Method::POST,
            "/ui/login",
            &[(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded".into(),
            )],
            Bytes::from(format!("token={}&next=%2Fui%2F", demo.admin_token)),
        )
        .await
        .expect("login");
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.text());
    let cookie = login.headers[header::SET_COOKIE]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let page = ui
        .send_raw(
            Method::GET,
            &format!("/ui/events/{}/targets", demo.event),
            &[(header::COOKIE, cookie)],
            Bytes::new(),
        )
        .await
        .expect("targets page");
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    for e in &demo.entries {
        let knee = e.knee_qps.expect("knee");
        let marker = format!("data-entry=\"{}\"", e.entry);
        let row = html
            .split("<tr")
            .find(|r| r.contains(&marker))
            .unwrap_or_else(|| panic!("no row for {} in the water-level table", e.entry));
        let shown: f64 = row
            .split("data-capacity=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no data-capacity on {}'s row: {row}", e.entry));
        assert!(
            (shown - knee).abs() <= 0.01 * knee,
            "{}: the UI shows {shown}, the rehearsal measured {knee}",
            e.entry
        );
    }

    // 4. The derived limits hold twice the knee to the limit, and what
    //    they admit stays inside the SLO.
    tokio::time::sleep(Duration::from_millis(500)).await; // sidecars follow
    for e in &demo.entries {
        let knee = e.knee_qps.expect("knee");
        let limit = derived_limit(&demo, &e.service, &e.entry).await;
        assert!(
            limit <= knee * 1.001,
            "{}: limit {limit} above the knee {knee}",
            e.entry
        );
        let (method, path) = entry_path(&demo, &e.entry);
        let sidecar = demo.sidecar(&e.service).expect("sidecar");
        let seen = offer(sidecar, &method, &path, 2.0 * knee, 3.0).await;
        let slo = demo.plan.entries[&e.entry].slo.and_then(|s| s.p99_ms);
        eprintln!(
            "{:14} 2x knee {:7.1}/s: admitted {:7.1}/s (limit {limit:.1}), limited {}, failed {}, p99 {:.0} ms (SLO {slo:?})",
            e.entry,
            2.0 * knee,
            seen.admitted_rps(),
            seen.limited,
            seen.failed,
            seen.p99_ms()
        );
        assert!(
            (seen.admitted_rps() - limit).abs() <= 0.1 * limit + 2.0,
            "{}: admitted {:.1}/s under 2× the knee, the limit is {limit:.1}",
            e.entry,
            seen.admitted_rps()
        );
        assert!(
            seen.limited > 0,
            "{}: nothing was refused at 2× the knee",
            e.entry
        );
        assert!(
            seen.error_rate() <= 0.01,
            "{}: {} failures",
            e.entry,
            seen.failed
        );
        if let Some(p99) = slo {
            assert!(
                seen.p99_ms() <= p99,
                "{}: admitted p99 {:.0} ms over the SLO {p99} ms",
                e.entry,
                seen.p99_ms()
            );
        }
    }

    // 5. Drills on home: home-bff → coupon-svc is weak with a fallback,
    //    home-bff → user-svc is strong, as the plan says and the capacity
    //    analysis uses (strong paths only bound an entry's capacity).
    let edges = &demo.plan.services["home-bff"].dependencies;
    let strength = |to: &str| {
        edges
            .iter()
            .find(|d| d.to == to)
            .map(|d| format!("{:?}", d.strength).to_lowercase())
            .unwrap_or_default()
    };
    assert_eq!(strength("coupon-svc"), "weak");
    assert_eq!(strength("user-svc"), "strong");
    let home = demo
        .entries
        .iter()
        .find(|e| e.entry == "home")
        .expect("home");
    let slo = demo.plan.entries["home"].slo.expect("home has an SLO");
    let (method, path) = entry_path(&demo, "home");
    let sidecar = demo.sidecar("home-bff").expect("sidecar");
    let rate = 0.5 * home.knee_qps.expect("knee");

    demo.sim
        .set_fault("coupon-svc", Fault::Fail { ratio: 1.0 })
        .expect("fault");
    let before = demo
        .sim
        .counters()
        .get("home-bff")
        .expect("home-bff")
        .fallbacks;
    let weak = offer(sidecar, &method, &path, rate, 3.0).await;
    let after = demo
        .sim
        .counters()
        .get("home-bff")
        .expect("home-bff")
        .fallbacks;
    eprintln!(
        "weak coupon-svc failing: {} sent, {} failed, p99 {:.0} ms, {} fallbacks",
        weak.sent,
        weak.failed,
        weak.p99_ms(),
        after - before
    );
    assert!(
        after > before,
        "home-bff used no fallback while coupon-svc failed"
    );
    assert!(
        weak.error_rate() <= slo.error_rate.unwrap_or(0.001),
        "home failed {} of {} while only a weak dependency failed",
        weak.failed,
        weak.sent
    );
    assert!(weak.p99_ms() <= slo.p99_ms.unwrap_or(f64::MAX));

    demo.sim
        .set_fault("coupon-svc", Fault::None)
        .expect("fault");
    demo.sim
        .set_fault("user-svc", Fault::Fail { ratio: 1.0 })
        .expect("fault");
    let strong = offer(sidecar, &method, &path, rate, 3.0).await;
    eprintln!(
        "strong user-svc failing: error rate {:.3}",
        strong.error_rate()
    );
    assert!(
        strong.error_rate() > 0.5,
        "home kept working while its strong dependency user-svc failed: {strong:?}"
    );
    demo.sim.set_fault("user-svc", Fault::None).expect("fault");

    // 6. The event day, nobody touching anything.
    event_day(&mut demo, t0).await;

    demo.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The compressed peak (`SEAWALL_DAY_MINUTES`, default 1.2): the spike's
/// alert fires within two ticks of the water level crossing its threshold,
/// the rate-limit plan runs within its expected time and holds the entry
/// within ±5 % of the new limit, the approved pay fallback keeps pay inside
/// its SLO error rate, and the incident's timeline holds the alert, the
/// plan run, the page and the resolution, in order.
async fn event_day(demo: &mut Demo, t0: Instant) {
    let minutes = std::env::var("SEAWALL_DAY_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(1.2);
    let day = seawall_demo::day::DayOptions {
        minutes,
        ..seawall_demo::day::DayOptions::default()
    };
    let began = Instant::now();
    let report = demo
        .live_day(&day, |line| {
            eprintln!("{:>6.1}s {line}", t0.elapsed().as_secs_f64());
        })
        .await
        .expect("the event day runs");
    eprintln!(
        "event day of {minutes} min lived in {:.1} s; users sent {:?}",
        began.elapsed().as_secs_f64(),
        report.sent
    );
    let tick_ms = report.tick.as_millis() as f64;

    // The spike's alert: within two ticks of the crossing.
    let spike_alert = report
        .spike_alert
        .clone()
        .expect("the plan watches coupon-grab's water level");
    let rule = report.review["alerts"]["rules"]
        .as_array()
        .and_then(|rules| rules.iter().find(|r| r["rule"] == spike_alert.as_str()))
        .unwrap_or_else(|| {
            panic!(
                "no {spike_alert} in the review: {}",
                report.review["alerts"]
            )
        });
    let crossing = rule["crossing_to_fire_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("{spike_alert}: no crossing-to-fire time: {rule}"));
    eprintln!(
        "{spike_alert}: fired {crossing:.0} ms after the water level crossed (tick {tick_ms:.0} ms)"
    );
    assert!(
        crossing <= 2.0 * tick_ms,
        "{spike_alert} fired {crossing} ms after the crossing, more than two ticks"
    );

    // The review's actual peak per entry against the simulator's own
    // count: the review's highest one-minute mean rate (six 10 s points;
    // docs/review.md, "peak minute") and the requests the simulator
    // received over the same minute, read around its boundaries, plus
    // those the sidecar refused in it (429s reach the review's rate, never
    // the simulator). A one-tick peak is not held to 5 %: at a few
    // requests a second one request is 20 % of it (docs/demo.md).
    let entries = report.review["entries"].as_array().expect("review entries");
    let mut compared = 0;
    let mut far: Vec<String> = Vec::new();
    for e in entries {
        let id = e["id"].as_str().unwrap_or_default();
        let (Some(review_qps), Some(from)) = (
            e["peak_minute_qps"].as_f64(),
            e["peak_minute_from_ms"].as_i64(),
        ) else {
            panic!("{id}: no peak minute in the review: {e}");
        };
        let to = from + 60_000;
        let received = report
            .sim_counts
            .between(id, from, to)
            .unwrap_or_else(|| panic!("{id}: the simulator does not count it"));
        let refused_in: f64 = report
            .refused
            .iter()
            .filter(|(e, at, _)| e == id && (from..to).contains(at))
            .fold(0.0, |sum, (_, _, n)| sum + n);
        let sim_qps = (received + refused_in) / 60.0;
        eprintln!(
            "{id}: review's peak minute {review_qps:.2} QPS, the simulator's {:.2} received + {:.2} refused",
            received / 60.0,
            refused_in / 60.0
        );
        far.extend(
            (!(sim_qps > 0.0 && (review_qps / sim_qps - 1.0).abs() <= 0.05))
                .then(|| format!("{id}: review {review_qps:.2} vs simulator {sim_qps:.2}")),
        );
        compared += 1;
    }
    assert!(
        far.is_empty(),
        "the review's peak minute is not within 5 % of the simulator's count: {far:?}"
    );
    assert_eq!(compared, demo.plan.entries.len(), "every entry compared");

    // The rate-limit plan: within its expected time, then the new limit.
    let limit = report
        .rate_limit
        .as_ref()
        .expect("the plan limits coupon grabs");
    let run = limit
        .run
        .as_ref()
        .unwrap_or_else(|| panic!("{} never ran", limit.plan));
    let took = run.duration_ms.expect("the run has a duration");
    eprintln!(
        "{}: run {} {} in {took} ms (expected {:?} min); {} admitted {:?} QPS over {} s of {:.0} offered, limit {}",
        limit.plan,
        run.id,
        run.status,
        run.expected_minutes,
        limit.entry,
        limit.admitted_qps,
        limit.admitted_seconds,
        limit.offered_qps,
        limit.limit_qps
    );
    assert_eq!(run.status, "succeeded", "{run:?}");
    assert_eq!(run.within_expected, Some(true), "{run:?}");
    assert!(
        limit.admitted_seconds >= 3,
        "too short a spike after the run: {limit:?}"
    );
    let admitted = limit.admitted_qps.expect("admitted rate");
    assert!(
        (admitted / limit.limit_qps - 1.0).abs() <= 0.05,
        "{} admitted {admitted:.1} QPS after the limit of {}",
        limit.entry,
        limit.limit_qps
    );

    // The pay fallback: approved by a second commander, pay inside its SLO.
    let fallback = report
        .fallback
        .as_ref()
        .expect("the plan falls back from the partner");
    let run = fallback
        .run
        .as_ref()
        .unwrap_or_else(|| panic!("{} never ran", fallback.plan));
    eprintln!(
        "{}: run {} {} approved by {:?}; {:?} error rate {:?} over {} requests (SLO {:?})",
        fallback.plan,
        run.id,
        run.status,
        fallback.approved_by,
        fallback.entries,
        fallback.error_rate,
        fallback.requests,
        fallback.slo_error_rate
    );
    assert_eq!(run.status, "succeeded", "{run:?}");
    assert!(
        fallback.approved_by.iter().any(|a| *a != run.requested_by),
        "{run:?}"
    );
    assert!(
        fallback.requests >= 50,
        "too few pay requests after the fallback: {fallback:?}"
    );
    let slo = fallback.slo_error_rate.expect("pay has an SLO error rate");
    let rate = fallback.error_rate.expect("pay's error rate");
    assert!(
        rate <= slo,
        "pay's error rate {rate} after the fallback is above its SLO {slo}"
    );

    // The incident's timeline: alert, plan run, page, resolution, in order.
    let first = report
        .incidents
        .iter()
        .min_by_key(|i| i.id)
        .expect("an incident opened");
    let kinds: Vec<&str> = first.timeline.iter().map(|t| t.kind.as_str()).collect();
    eprintln!("incident {} ({}): {kinds:?}", first.id, first.title);
    let at = |kind: &str| {
        kinds
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_else(|| panic!("no {kind} in incident {}: {kinds:?}", first.id))
    };
    // The triggered plan's run and the page start in the same tick, a few
    // milliseconds apart (the pager is woken when the incident opens), so
    // their order is not fixed: both come after the alert and before the
    // resolution. A run requested before the incident opened shows in it
    // by its steps (`plan_step`).
    let plan_run = kinds
        .iter()
        .position(|k| *k == "plan_run" || *k == "plan_step")
        .unwrap_or_else(|| panic!("no plan run in incident {}: {kinds:?}", first.id));
    let (alert, paged, resolved) = (at("alert_fired"), at("paged"), at("resolved"));
    // Acknowledged by the person the page reached, with their own token:
    // a person of the plan, not the demo's admin.
    let acked = &first.timeline[at("acknowledged")];
    let paged_people: Vec<&String> = first
        .paging
        .as_ref()
        .and_then(|p| p.sent.first())
        .map(|s| s.people.iter().collect())
        .unwrap_or_default();
    assert!(
        paged_people.first() == Some(&&acked.actor) && demo.plan.people.contains_key(&acked.actor),
        "incident {} acknowledged by {:?}, paged: {paged_people:?}",
        first.id,
        acked.actor
    );
    assert!(
        alert < plan_run && alert < paged && plan_run < resolved && paged < resolved,
        "incident {}'s timeline is out of order: {kinds:?}",
        first.id
    );
    assert_eq!(
        kinds.iter().rposition(|k| *k == "resolved"),
        Some(kinds.len() - 1),
        "the resolution is not last: {kinds:?}"
    );
    assert!(
        report.pages.iter().any(|p| p.signed),
        "no signed page reached the receiver: {:?}",
        report.pages
    );
    assert!(report.review_path.exists());
}
