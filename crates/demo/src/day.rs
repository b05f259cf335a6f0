//! The event day: after the rehearsal, the demo lives through a compressed
//! peak and lets Seawall's day-of machinery act with nobody touching it.
//!
//! Why in the demo: the loop is only shown whole when the measured
//! capacity, the guard rules, the monitoring, the emergency plans, the
//! incident with its paging and the review run against one traffic day on
//! one machine, the same way for a newcomer and for the end-to-end test.
//!
//! [`Demo::live_day`] does, in order:
//! 1. a loopback webhook receiver stands in for the IM group, and a second
//!    commander token for the person who approves;
//! 2. the simulator's calls to each partner go through a guard sidecar
//!    following the caller's rules (an egress sidecar, so the partner is
//!    measured and its fallback switch answers for it), and the switches
//!    the plan's `degrade` actions name are registered in the rules;
//! 3. a new plan version moves the peak to now (`plan_text`);
//! 4. untagged users follow the plan's entry targets along a peak curve,
//!    a push-driven spike hits the rate-limited entry, and the partner
//!    slows down through the simulator's drill switch;
//! 5. the monitoring fires alerts, triggered plans run (approved by the
//!    second commander), incidents open and page the receiver; the demo
//!    narrates each as it sees it, acknowledges a paged incident as the
//!    paged person and resolves incidents once their alerts cleared;
//! 6. the review is fetched (HTML and JSON) and written to the data dir.

mod plan_text;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use seawall_api::Client;
use seawall_api::monitoring::AlertState;
use seawall_api::plans::PushPlan;
use seawall_api::review::ReviewFormat;
use seawall_api::rules::Adjust;
use seawall_api::tokens::Role;
use seawall_load::{Arrivals, LoadConfig, Summary};
use seawall_plan::Plan;
use seawall_plan::model::{Action, Trigger};
use seawall_sim::Fault;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use plan_text::{DayEdit, EditError, day_plan};

use crate::{Demo, DemoError, api_err, client_err, create_token};

/// Default length of the compressed peak.
pub const DEFAULT_DAY_MINUTES: f64 = 5.0;

/// Time between two monitoring ticks during the demo (the control plane's
/// scrape and evaluation interval).
pub const DAY_TICK: Duration = Duration::from_secs(1);

/// The users' per-request deadline: a request ends at most this long
/// after it was sent.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// How often the demo looks at the control plane during the day.
const WATCH: Duration = Duration::from_millis(500);

/// How to live through the day.
#[derive(Debug, Clone)]
pub struct DayOptions {
    /// Length of the compressed peak, in minutes (fractions allowed).
    pub minutes: f64,
    /// The spike's rate as a multiple of the spiked entry's capacity.
    pub spike: f64,
    /// Latency the partner slowdown adds, ms.
    pub slow_ms: f64,
    /// Upper bound of the users' traffic (all entries, before the spike),
    /// requests a second: the plan's targets are scaled down to it.
    pub budget_rps: f64,
    /// Longest wait after the peak for the alerts to clear.
    pub settle: Duration,
}

impl Default for DayOptions {
    fn default() -> Self {
        Self {
            minutes: DEFAULT_DAY_MINUTES,
            spike: 1.2,
            slow_ms: 1500.0,
            budget_rps: 200.0,
            settle: Duration::from_secs(30),
        }
    }
}

/// A message the receiver got.
#[derive(Debug, Clone)]
pub struct ReceivedPage {
    /// Channel id (the URL's path).
    pub channel: String,
    /// Its title.
    pub title: String,
    /// Whether it carried a Seawall signature header.
    pub signed: bool,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// The rate-limit plan's run and what got through after it.
#[derive(Debug, Clone)]
pub struct RateLimitFigures {
    /// Emergency plan id.
    pub plan: String,
    /// The limited entry.
    pub entry: String,
    /// The limit the plan sets, QPS.
    pub limit_qps: f64,
    /// The final run (`None`: it never ran).
    pub run: Option<seawall_api::emergency::EmergencyRun>,
    /// Mean admitted requests a second from one second after the run
    /// finished to the end of the spike.
    pub admitted_qps: Option<f64>,
    /// Whole seconds that mean is over.
    pub admitted_seconds: usize,
    /// The spike's offered rate, QPS.
    pub offered_qps: f64,
}

/// The fallback plan's run and the callers' error rate after it.
#[derive(Debug, Clone)]
pub struct FallbackFigures {
    /// Emergency plan id.
    pub plan: String,
    /// The partner it falls back from.
    pub partner: String,
    /// Entries whose service calls the partner.
    pub entries: Vec<String>,
    /// The final run.
    pub run: Option<seawall_api::emergency::EmergencyRun>,
    /// Who approved it.
    pub approved_by: Vec<String>,
    /// The entries' error rate over the requests sent after the run
    /// finished (those ending from one request deadline after it) until
    /// the slowdown ended.
    pub error_rate: Option<f64>,
    /// Requests that rate is over.
    pub requests: u64,
    /// The entries' SLO error rate (the strictest).
    pub slo_error_rate: Option<f64>,
}

/// What happened, for the summary and the tests.
#[derive(Debug, Clone)]
pub struct DayReport {
    /// The day's plan version.
    pub plan_version: i64,
    /// When the peak started and ended, ms.
    pub started_ms: i64,
    /// End of the users' traffic, ms.
    pub ended_ms: i64,
    /// Interval of the monitoring ticks.
    pub tick: Duration,
    /// The alert on the spiked entry's water level, when the plan has one.
    pub spike_alert: Option<String>,
    /// The rate-limit plan.
    pub rate_limit: Option<RateLimitFigures>,
    /// The fallback plan.
    pub fallback: Option<FallbackFigures>,
    /// Every message the receiver got.
    pub pages: Vec<ReceivedPage>,
    /// The incidents the day opened, as they ended.
    pub incidents: Vec<seawall_api::incidents::Incident>,
    /// The review (JSON).
    pub review: Value,
    /// Where the HTML review was written.
    pub review_path: PathBuf,
    /// The review in the UI.
    pub review_url: String,
    /// Per entry: requests the users sent and how they failed.
    pub sent: Vec<(String, u64, seawall_load::ErrorCounts)>,
    /// The simulator's own count of each entry's requests, read every
    /// time the demo looks during the day (twice a second), from before
    /// the first user to after the last: `(ms, [(entry, requests)])`,
    /// oldest first. What the simulated system received, to compare the
    /// review's rates with ([`SimCounts::between`]).
    pub sim_counts: SimCounts,
    /// Requests the sidecars refused (4xx: their 429s), per entry and
    /// second of the users' and the spike's traffic: `(entry, second's
    /// start ms, refused)`. They reach the review's rates (the sidecar
    /// counts them) but never the simulator. A second's refusals are its
    /// errors × the run's share of 4xx among its errors (the load
    /// generator counts errors per second, their kinds per run; a run's
    /// errors are of one kind but for pay's during the slowdown, which
    /// has no 4xx).
    pub refused: Vec<(String, i64, f64)>,
}

/// The simulator's per-entry request counts over time (see
/// [`DayReport::sim_counts`]).
#[derive(Debug, Clone, Default)]
pub struct SimCounts(pub Vec<(i64, Vec<(String, u64)>)>);

impl SimCounts {
    fn sample(&mut self, sim: &seawall_sim::Sim) {
        let c = sim.counters();
        self.0.push((
            now_ms(),
            c.entries.into_iter().map(|e| (e.id, e.requests)).collect(),
        ));
    }

    /// `entry`'s count at `at_ms`, linear between the two samples around
    /// it (the first or last sample outside them: nothing was sent
    /// before the first or after the last).
    pub fn at(&self, entry: &str, at_ms: i64) -> Option<f64> {
        let count = |s: &(i64, Vec<(String, u64)>)| {
            s.1.iter().find(|(e, _)| e == entry).map(|(_, n)| *n as f64)
        };
        let after = self.0.iter().position(|s| s.0 >= at_ms);
        match after {
            Some(0) => count(self.0.first()?),
            None => count(self.0.last()?),
            Some(i) => {
                let (a, b) = (&self.0[i - 1], &self.0[i]);
                let (ca, cb) = (count(a)?, count(b)?);
                let span = (b.0 - a.0).max(1) as f64;
                Some(ca + (cb - ca) * (at_ms - a.0) as f64 / span)
            }
        }
    }

    /// Requests `entry` received from `from_ms` to `to_ms`.
    pub fn between(&self, entry: &str, from_ms: i64, to_ms: i64) -> Option<f64> {
        Some(self.at(entry, to_ms)? - self.at(entry, from_ms)?)
    }
}

/// Now, ms since the epoch.
fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// The emergency plan that limits an entry on a trigger: (plan, entry, qps).
fn rate_limit_plan(plan: &Plan) -> Option<(String, String, f64)> {
    plan.emergency_plans.iter().find_map(|(id, ep)| {
        if !matches!(ep.trigger, Some(Trigger::Metric { .. } | Trigger::Alert(_))) {
            return None;
        }
        ep.actions.iter().find_map(|a| match a {
            Action::RateLimit { entry, qps } => Some((id.clone(), entry.clone(), *qps)),
            _ => None,
        })
    })
}

/// The emergency plan that falls back from a partner on a trigger:
/// (plan, partner).
fn fallback_plan(plan: &Plan) -> Option<(String, String)> {
    plan.emergency_plans.iter().find_map(|(id, ep)| {
        if !matches!(ep.trigger, Some(Trigger::Metric { .. } | Trigger::Alert(_))) {
            return None;
        }
        ep.actions.iter().find_map(|a| match a {
            Action::Fallback { target } if plan.partners.contains_key(target) => {
                Some((id.clone(), target.clone()))
            }
            _ => None,
        })
    })
}

/// Every (caller service, partner) edge of the plan.
fn partner_edges(plan: &Plan) -> Vec<(String, String, Option<f64>)> {
    let mut out = Vec::new();
    for (caller, s) in &plan.services {
        for e in &s.dependencies {
            if plan.partners.contains_key(&e.to) {
                out.push((caller.clone(), e.to.clone(), e.timeout_ms));
            }
        }
    }
    out
}

/// An entry's path with `{param}` segments filled in.
fn concrete_path(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// The peak curve: 0.6 at the edges of the day, 1 in its middle.
fn curve(x: f64) -> f64 {
    0.6 + 0.4 * (std::f64::consts::PI * x.clamp(0.0, 1.0)).sin()
}

/// One entry's traffic for a while: an untagged open-model run.
#[derive(Debug, Clone)]
struct Leg {
    entry: String,
    url: String,
    method: String,
    rate: f64,
    duration: Duration,
    seed: u64,
}

impl Leg {
    fn config(&self) -> LoadConfig {
        let mut c = LoadConfig::new(self.url.clone());
        c.method = self.method.clone();
        c.rate = Some(self.rate);
        c.arrivals = Arrivals::Poisson { seed: self.seed };
        c.duration = self.duration;
        // Bounded: at most two seconds' worth of requests in flight.
        c.connections = ((self.rate * 2.0).ceil() as usize).clamp(8, 512);
        c.timeout = REQUEST_TIMEOUT;
        c.untagged = true;
        c
    }

    /// Run it; its start (ms) and summary.
    async fn run(self) -> Option<(String, i64, Summary)> {
        let start = now_ms();
        match seawall_load::run(&self.config(), |_| {}).await {
            Ok(s) => Some((self.entry, start, s)),
            Err(e) => {
                tracing::warn!(entry = %self.entry, "users' traffic failed: {e}");
                None
            }
        }
    }
}

/// Per-second (start ms, requests, errors) of a run.
fn seconds(start_ms: i64, s: &Summary) -> Vec<(i64, u64, u64)> {
    s.intervals
        .iter()
        .map(|i| {
            (
                start_ms + i64::try_from(i.t_s).unwrap_or(0) * 1000,
                i.requests,
                i.errors,
            )
        })
        .collect()
}

/// The loopback receiver standing in for the IM groups.
struct Receiver {
    base: String,
    rx: mpsc::UnboundedReceiver<ReceivedPage>,
    task: JoinHandle<()>,
}

async fn start_receiver() -> Result<Receiver, DemoError> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| api_err("the page receiver", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| api_err("the page receiver", e))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let tx = Arc::new(tx);
    let app = axum::Router::new().route(
        "/{channel}",
        axum::routing::post(
            |axum::extract::Path(channel): axum::extract::Path<String>,
             headers: axum::http::HeaderMap,
             body: axum::body::Bytes| async move {
                let title = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("title").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(120).collect());
                let page = ReceivedPage {
                    channel,
                    title,
                    signed: headers.contains_key("x-seawall-signature"),
                    at_ms: now_ms(),
                };
                let _ = tx.send(page);
                "ok"
            },
        ),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Receiver {
        base: format!("http://{addr}"),
        rx,
        task,
    })
}

/// A private file holding the channels' signing secret.
fn write_secret(dir: &std::path::Path) -> Result<PathBuf, DemoError> {
    use std::io::Write;
    let path = dir.join("pager-secret");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let seed = now_ms().unsigned_abs() ^ u64::from(std::process::id()).rotate_left(32);
    let secret = format!(
        "{seed:016x}{:016x}",
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    );
    options
        .open(&path)
        .and_then(|mut f| f.write_all(secret.as_bytes()))
        .map_err(|source| DemoError::Io {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

/// The latest rules document of `service`.
async fn latest_rules(client: &Client, service: &str) -> Result<Value, DemoError> {
    match client
        .guard_rules(service, 0, 0)
        .await
        .map_err(|e| client_err("read the guard rules", e))?
    {
        seawall_api::Poll::Rules(r) => Ok(r.rules),
        seawall_api::Poll::Unchanged => Ok(json!({"version": 1, "resources": []})),
    }
}

/// The resource named `name` in a rules document, made if missing.
fn resource<'a>(rules: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    let list = rules.get_mut("resources")?.as_array_mut()?;
    let at = match list
        .iter()
        .position(|r| r.get("name").and_then(Value::as_str) == Some(name))
    {
        Some(i) => i,
        None => {
            list.push(json!({"name": name}));
            list.len() - 1
        }
    };
    list.get_mut(at)
}

/// Whether a rules document has a switch `id` (or `{id}.degrade`).
fn has_switch(rules: &Value, id: &str) -> bool {
    let degrade = format!("{id}.degrade");
    rules["resources"].as_array().is_some_and(|rs| {
        rs.iter().any(|r| {
            r["switches"].as_array().is_some_and(|ss| {
                ss.iter()
                    .any(|s| s["id"].as_str().is_some_and(|x| x == id || x == degrade))
            })
        })
    })
}

impl Demo {
    /// Live through the compressed peak (module docs) and fetch the review.
    pub async fn live_day(
        &mut self,
        opts: &DayOptions,
        mut say: impl FnMut(&str),
    ) -> Result<DayReport, DemoError> {
        let client = self.client()?;
        let mut sim_counts = SimCounts::default();
        sim_counts.sample(&self.sim);
        let length = Duration::from_secs_f64((opts.minutes * 60.0).clamp(10.0, 24.0 * 3600.0));
        let mut receiver = start_receiver().await?;
        let secret = write_secret(&self.data_dir)?;
        // Approvals count from the guarantee group or the plan's owner, a
        // token's name being the person: the demo holds one such token.
        let approver = self
            .plan
            .organization
            .guarantee_group
            .first()
            .cloned()
            .or_else(|| {
                self.plan
                    .emergency_plans
                    .values()
                    .find_map(|ep| ep.owner.clone())
            })
            .unwrap_or_else(|| "demo-commander".to_owned());
        let commander_secret = create_token(&client, &approver, Role::Commander, None).await?;
        let commander = Client::new(&self.base_url)
            .map_err(|e| client_err("client", e))?
            .with_token(&commander_secret)
            .with_timeout(Duration::from_secs(30));
        self.egress(&client, &mut say).await?;
        self.register_switches(&client, &mut say).await?;

        // The day's plan: the peak is now.
        let start = Timestamp::now();
        let edit = DayEdit {
            start,
            length: SignedDuration::try_from(length).unwrap_or(SignedDuration::from_secs(300)),
            receiver: receiver.base.clone(),
            secret: format!("file:{}", secret.display()),
        };
        let text = day_plan(&self.plan_text, &self.plan, &edit)
            .map_err(|e| DemoError::Plan(e.to_string()))?;
        let plan = seawall_plan::parse(&text, &self.plan_file)
            .map_err(|d| DemoError::Plan(d.0.iter().map(|d| format!("{d}\n")).collect()))?;
        let version = client
            .push_plan(
                &self.event,
                &PushPlan {
                    file_name: Some(self.plan_file.clone()),
                    text: text.clone(),
                },
            )
            .await
            .map_err(|e| client_err("push the day's plan", e))?
            .version;
        say(&format!(
            "plan version {version} pushed: the peak moved to now ({} for {:.1} min), alerts' `for` pressed like the day, on-call channels post to {}",
            start.strftime("%H:%M:%S UTC"),
            length.as_secs_f64() / 60.0,
            receiver.base
        ));
        self.plan = plan;
        self.plan_text = text;

        let day = Day::new(self, opts, length);
        let (spiked, slowed) = day.troubled(&self.plan);
        let mut watch = Watch {
            approver: approver.clone(),
            base_url: self.base_url.clone(),
            ..Watch::default()
        };
        watch.prime(&client, &self.event, &mut say).await;
        let started = Instant::now();
        let started_ms = now_ms();
        say(&format!(
            "the peak begins: users arrive untagged through the sidecars at up to {:.0} QPS in all, following the plan's journeys along a peak curve",
            day.legs_total_peak()
        ));
        let traffic = tokio::spawn(day.clone().users(started));
        let mut spike: Option<JoinHandle<Option<(String, i64, Summary)>>> = None;
        let mut spike_window = (0_i64, 0_i64);
        let (mut fault_on_ms, mut fault_off_ms) = (None, None);
        let end = length;
        let deadline = length + opts.settle;
        loop {
            let t = started.elapsed();
            let x = t.as_secs_f64() / length.as_secs_f64();
            if spike.is_none()
                && x >= day.spike_at.0
                && let Some(leg) = day.spike_leg()
            {
                say(&format!(
                    "a push notification goes out: {} grabs at {:.0} QPS, {:.1}× its capacity",
                    leg.entry, leg.rate, opts.spike
                ));
                spike_window = (now_ms(), now_ms() + leg.duration.as_millis() as i64);
                watch.troubles_begin(&spiked, spike_window.0);
                spike = Some(tokio::spawn(leg.run()));
            }
            if fault_on_ms.is_none()
                && x >= day.fault_at.0
                && let Some((_, partner)) = &day.fallback
            {
                match self
                    .sim
                    .set_fault(partner, Fault::Slow { ms: opts.slow_ms })
                {
                    Ok(()) => say(&format!(
                        "the payment partner {partner} slows down: +{:.0} ms a call (the simulator's drill switch)",
                        opts.slow_ms
                    )),
                    Err(e) => say(&format!("the partner slowdown could not be set: {e}")),
                }
                fault_on_ms = Some(now_ms());
                watch.troubles_begin(&slowed, now_ms());
            }
            if fault_on_ms.is_some()
                && fault_off_ms.is_none()
                && x >= day.fault_at.1
                && let Some((_, partner)) = &day.fallback
            {
                let _ = self.sim.set_fault(partner, Fault::None);
                say(&format!("{partner} is fast again"));
                fault_off_ms = Some(now_ms());
            }
            watch
                .look(&client, &commander, &self.event, &mut receiver.rx, &mut say)
                .await;
            sim_counts.sample(&self.sim);
            if t >= end && watch.settled() {
                break;
            }
            if t >= deadline {
                say("the alerts did not all clear after the peak; going on");
                break;
            }
            tokio::time::sleep(WATCH).await;
        }
        let ended_ms = started_ms + length.as_millis() as i64;
        say("the peak is over");
        let runs = traffic.await.unwrap_or_default();
        let spike = match spike {
            Some(task) => task.await.ok().flatten(),
            None => None,
        };
        // Every user's request has ended.
        sim_counts.sample(&self.sim);
        let mut refused = Vec::new();
        for (entry, start, s) in runs.iter().chain(spike.iter()) {
            if s.errors.status_4xx == 0 || s.errors.total == 0 {
                continue;
            }
            let share = s.errors.status_4xx as f64 / s.errors.total as f64;
            for (at, _, errors) in seconds(*start, s) {
                if errors > 0 {
                    refused.push((entry.clone(), at, errors as f64 * share));
                }
            }
        }
        watch.resolve_all(&client, &self.event, &mut say).await;
        // The last pages and the resolutions in the timeline.
        tokio::time::sleep(Duration::from_millis(500)).await;
        watch
            .look(&client, &commander, &self.event, &mut receiver.rx, &mut say)
            .await;
        receiver.task.abort();

        let runs_now = client
            .emergency_runs(&self.event)
            .await
            .map_err(|e| client_err("list the emergency runs", e))?
            .runs;
        let rate_limit = day.rate_limit.as_ref().map(|(plan, entry, qps)| {
            let run = runs_now
                .iter()
                .find(|r| &r.plan_id == plan && !r.dry_run)
                .cloned();
            let finished = run
                .as_ref()
                .and_then(|r| r.duration_ms.map(|_| r.updated_ms));
            let (admitted_qps, admitted_seconds) = match (&spike, finished) {
                (Some((_, start, s)), Some(done)) => {
                    let secs: Vec<(i64, u64, u64)> = seconds(*start, s)
                        .into_iter()
                        .filter(|(at, _, _)| *at >= done + 1000 && *at + 1000 <= spike_window.1)
                        .collect();
                    let n = secs.len();
                    let ok: u64 = secs.iter().map(|(_, r, e)| r.saturating_sub(*e)).sum();
                    ((n > 0).then(|| ok as f64 / n as f64), n)
                }
                _ => (None, 0),
            };
            RateLimitFigures {
                plan: plan.clone(),
                entry: entry.clone(),
                limit_qps: *qps,
                run,
                admitted_qps,
                admitted_seconds,
                offered_qps: day.spike_leg().map_or(0.0, |l| l.rate),
            }
        });
        let fallback = day.fallback.as_ref().map(|(plan, partner)| {
            let run = runs_now
                .iter()
                .find(|r| &r.plan_id == plan && !r.dry_run)
                .cloned();
            let approved_by = run
                .as_ref()
                .map(|r| r.approvals.iter().map(|a| a.by.clone()).collect())
                .unwrap_or_default();
            let finished = run
                .as_ref()
                .and_then(|r| r.duration_ms.map(|_| r.updated_ms));
            let entries = day.callers_entries(partner);
            let (mut requests, mut errors) = (0_u64, 0_u64);
            if let (Some(done), Some(off)) = (finished, fault_off_ms) {
                // Seconds count requests by when they ended: from one
                // request deadline after the run on, every request counted
                // was sent with the fallback in force.
                let from = done + REQUEST_TIMEOUT.as_millis() as i64;
                for (entry, start, s) in &runs {
                    if !entries.contains(entry) {
                        continue;
                    }
                    for (at, r, e) in seconds(*start, s) {
                        if at >= from && at + 1000 <= off {
                            requests += r;
                            errors += e;
                        }
                    }
                }
            }
            let slo_error_rate = entries
                .iter()
                .filter_map(|e| self.plan.entries.get(e)?.slo.as_ref()?.error_rate)
                .reduce(f64::min);
            FallbackFigures {
                plan: plan.clone(),
                partner: partner.clone(),
                entries,
                run,
                approved_by,
                error_rate: (requests > 0).then(|| errors as f64 / requests as f64),
                requests,
                slo_error_rate,
            }
        });
        let mut sent: HashMap<String, (u64, seawall_load::ErrorCounts)> = HashMap::new();
        for (entry, _, s) in runs.iter().chain(spike.iter()) {
            let e = sent.entry(entry.clone()).or_default();
            e.0 += s.requests;
            let (a, b) = (&mut e.1, &s.errors);
            a.total += b.total;
            a.connect += b.connect;
            a.timeout += b.timeout;
            a.io += b.io;
            a.status_4xx += b.status_4xx;
            a.status_5xx += b.status_5xx;
            a.body += b.body;
        }
        let mut sent: Vec<(String, u64, seawall_load::ErrorCounts)> =
            sent.into_iter().map(|(k, (r, e))| (k, r, e)).collect();
        sent.sort_by(|a, b| a.0.cmp(&b.0));

        // The review.
        let review_json = client
            .review(&self.event, ReviewFormat::Json, None)
            .await
            .map_err(|e| client_err("fetch the review", e))?;
        let review: Value =
            serde_json::from_str(&review_json).map_err(|e| api_err("read the review", e))?;
        let html = client
            .review(&self.event, ReviewFormat::Html, None)
            .await
            .map_err(|e| client_err("fetch the review", e))?;
        let review_path = self.data_dir.join("review.html");
        std::fs::write(&review_path, html).map_err(|source| DemoError::Io {
            path: review_path.clone(),
            source,
        })?;
        let json_path = self.data_dir.join("review.json");
        std::fs::write(&json_path, &review_json).map_err(|source| DemoError::Io {
            path: json_path.clone(),
            source,
        })?;
        let review_url = format!("{}/ui/events/{}/review", self.base_url, self.event);
        say(&format!(
            "the review is written: {} (and review.json beside it); in the UI: {review_url}",
            review_path.display()
        ));
        let incidents = client
            .incidents(&self.event)
            .await
            .map_err(|e| client_err("list the incidents", e))?
            .incidents
            .into_iter()
            .filter(|i| i.id > watch.before)
            .collect();
        Ok(DayReport {
            plan_version: version,
            started_ms,
            ended_ms,
            tick: DAY_TICK,
            spike_alert: day.spike_alert.clone(),
            rate_limit,
            fallback,
            pages: watch.pages,
            incidents,
            review,
            review_path,
            review_url,
            sent,
            sim_counts,
            refused,
        })
    }

    /// Step 2a: an egress sidecar per (caller, partner) edge, following the
    /// caller's rules; the simulator's calls go through it.
    async fn egress(
        &mut self,
        client: &Client,
        say: &mut impl FnMut(&str),
    ) -> Result<(), DemoError> {
        let rules_dir = self.data_dir.join("sidecar-rules");
        let mut made = Vec::new();
        for (caller, partner, timeout_ms) in partner_edges(&self.plan) {
            let Some(upstream) = self.sim.addr(&partner) else {
                continue;
            };
            let sidecar_err = |message: String| DemoError::Sidecar {
                service: format!("{caller} (egress to {partner})"),
                message,
            };
            let mut config = seawall_sidecar::Config::new(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                &format!("http://{upstream}"),
                rules_dir.join(format!("{caller}--{partner}.json")),
            )
            .map_err(|e| sidecar_err(e.to_string()))?;
            config.admin_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
            // Give up a little before the caller does, so the sidecar
            // records the failure the caller sees.
            if let Some(t) = timeout_ms.filter(|t| *t > 100.0) {
                config.upstream_timeout = Duration::from_secs_f64(t * 0.9 / 1000.0);
            }
            let token = create_token(
                client,
                &format!("demo-egress-{caller}-{partner}"),
                Role::Sidecar,
                Some(&caller),
            )
            .await?;
            config.control = Some(
                seawall_sidecar::Control::new(
                    &self.base_url,
                    caller.clone(),
                    &token,
                    format!("demo-{caller}-egress-{partner}"),
                )
                .map_err(|e| sidecar_err(e.to_string()))?,
            );
            let sidecar = seawall_sidecar::Sidecar::bind(config)
                .await
                .map_err(|e| sidecar_err(crate::chain(&e)))?;
            let addr = sidecar
                .local_addr()
                .map_err(|e| sidecar_err(e.to_string()))?;
            let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(sidecar.run(async move {
                let _ = stop_rx.await;
            }));
            self.sidecar_stops.push((stop, task));
            self.sim
                .route_via(&caller, &partner, Some(addr))
                .map_err(|e| sidecar_err(e.to_string()))?;
            made.push((caller, partner, addr));
        }
        // Each edge's resource gets the route of the simulator's calls
        // and the partner's fallback as a switch, off.
        for (caller, partner, _) in &made {
            let mut rules = latest_rules(client, caller).await?;
            let name = format!("{caller}->{partner}");
            let fallback = self
                .plan
                .partners
                .get(partner)
                .and_then(|p| p.fallback.clone())
                .unwrap_or_else(|| "fallback".to_owned());
            if let Some(r) = resource(&mut rules, &name) {
                r["routes"] = json!([{"path": seawall_sim::CALL_PATH}]);
                let switch = format!("{name}.degrade");
                let switches = r
                    .as_object_mut()
                    .map(|o| o.entry("switches").or_insert_with(|| json!([])));
                if let Some(Value::Array(list)) = switches
                    && !list.iter().any(|s| s["id"] == json!(switch))
                {
                    list.push(json!({"id": switch, "on": false, "fallback": {"status": 200, "body": json!({"fallback": fallback}).to_string(), "headers": {"content-type": "application/json"}}}));
                }
            }
            client
                .adjust_rules(
                    caller,
                    &Adjust {
                        rules,
                        note: format!("egress to {partner} through a sidecar; the partner's fallback as a switch, off"),
                    },
                )
                .await
                .map_err(|e| client_err("route the partner calls", e))?;
        }
        if !made.is_empty() {
            say(&format!(
                "partner calls go through egress sidecars: {}",
                made.iter()
                    .map(|(c, p, a)| format!("{c} → {p} ({a})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(())
    }

    /// Step 2b: the switches the plan's `degrade` actions name, off, in
    /// the services' rules (an application's feature switches).
    async fn register_switches(
        &self,
        client: &Client,
        say: &mut impl FnMut(&str),
    ) -> Result<(), DemoError> {
        let mut wanted: Vec<(String, String)> = Vec::new();
        for ep in self.plan.emergency_plans.values() {
            for a in &ep.actions {
                if let Action::Degrade { service, switch } = a
                    && !wanted.contains(&(service.clone(), switch.clone()))
                {
                    wanted.push((service.clone(), switch.clone()));
                }
            }
        }
        let mut added = Vec::new();
        let services: HashSet<&String> = wanted.iter().map(|(s, _)| s).collect();
        for service in services {
            let mut rules = latest_rules(client, service).await?;
            let mut changed = false;
            for (_, switch) in wanted.iter().filter(|(s, _)| s == service) {
                if has_switch(&rules, switch) {
                    continue;
                }
                if let Some(r) = resource(&mut rules, switch) {
                    r["switches"] = json!([{"id": switch, "on": false}]);
                    changed = true;
                    added.push(format!("{switch} on {service}"));
                }
            }
            if changed {
                client
                    .adjust_rules(
                        service,
                        &Adjust {
                            rules,
                            note: "the feature switches the emergency plans turn, off".to_owned(),
                        },
                    )
                    .await
                    .map_err(|e| client_err("register the switches", e))?;
            }
        }
        if !added.is_empty() {
            added.sort();
            say(&format!(
                "feature switches the emergency plans turn, registered off: {}",
                added.join(", ")
            ));
        }
        Ok(())
    }
}

/// The day's schedule and traffic, worked out from the plan.
#[derive(Debug, Clone)]
struct Day {
    length: Duration,
    /// Base traffic per entry at the curve's top: (entry, URL, method, QPS).
    entries: Vec<(String, String, String, f64)>,
    /// Spike (from, to) as fractions of the day.
    spike_at: (f64, f64),
    /// Slowdown (from, to) as fractions of the day.
    fault_at: (f64, f64),
    spike_rate: f64,
    rate_limit: Option<(String, String, f64)>,
    fallback: Option<(String, String)>,
    spike_alert: Option<String>,
    /// Service → entries it serves.
    served: HashMap<String, Vec<String>>,
    /// (caller, partner) edges.
    partner_edges: Vec<(String, String)>,
}

impl Day {
    fn new(demo: &Demo, opts: &DayOptions, length: Duration) -> Day {
        let plan = &demo.plan;
        let targets = seawall_plan::targets::decompose(plan);
        let measured = seawall_plan::capacity::table(
            plan,
            &targets,
            &seawall_plan::capacity::Measured::default(),
        );
        let mut entries = Vec::new();
        let mut served: HashMap<String, Vec<String>> = HashMap::new();
        for (id, e) in &plan.entries {
            served
                .entry(e.service.clone())
                .or_default()
                .push(id.clone());
            let (Some(addr), Some(target)) = (demo.sidecar(&e.service), targets.entry(id)) else {
                continue;
            };
            let path = concrete_path(e.path.as_deref().unwrap_or("/"));
            entries.push((
                id.clone(),
                format!("http://{addr}{path}"),
                e.method_or_default().as_str().to_owned(),
                target,
            ));
        }
        let total: f64 = entries.iter().map(|e| e.3).sum();
        if total > opts.budget_rps && total > 0.0 {
            let k = opts.budget_rps / total;
            for e in &mut entries {
                e.3 *= k;
            }
        }
        let rate_limit = rate_limit_plan(plan);
        let spike_rate = rate_limit.as_ref().map_or(0.0, |(_, entry, _)| {
            let knee = demo
                .entries
                .iter()
                .find(|r| &r.entry == entry)
                .and_then(|r| r.knee_qps.or(r.lower_bound_qps));
            let declared = measured.entry(entry).and_then(|r| r.capacity_qps);
            knee.or(declared).unwrap_or(0.0) * opts.spike
        });
        let spike_alert = rate_limit.as_ref().and_then(|(_, entry, _)| {
            plan.monitoring
                .alerts
                .iter()
                .find(|(_, a)| {
                    &a.target == entry && a.metric == seawall_plan::model::AlertMetric::WaterLevel
                })
                .map(|(id, _)| id.clone())
        });
        Day {
            length,
            entries,
            spike_at: (0.2, 0.65),
            fault_at: (0.35, 0.85),
            spike_rate,
            rate_limit,
            fallback: fallback_plan(plan),
            spike_alert,
            served,
            partner_edges: partner_edges(plan)
                .into_iter()
                .map(|(c, p, _)| (c, p))
                .collect(),
        }
    }

    /// The targets the day's troubles touch: the spike's (the spiked entry
    /// and its service) and the slowdown's (the slowed partner, its
    /// callers and their entries).
    fn troubled(&self, plan: &Plan) -> (HashSet<String>, HashSet<String>) {
        let mut spiked = HashSet::new();
        if let Some((_, entry, _)) = &self.rate_limit {
            spiked.insert(entry.clone());
            if let Some(e) = plan.entries.get(entry) {
                spiked.insert(e.service.clone());
            }
        }
        let mut slowed = HashSet::new();
        if let Some((_, partner)) = &self.fallback {
            slowed.insert(partner.clone());
            for (caller, p) in &self.partner_edges {
                if p == partner {
                    slowed.insert(caller.clone());
                }
            }
            slowed.extend(self.callers_entries(partner));
        }
        (spiked, slowed)
    }

    fn legs_total_peak(&self) -> f64 {
        self.entries.iter().map(|e| e.3).sum()
    }

    /// Entries served by services that call `partner`.
    fn callers_entries(&self, partner: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (caller, p) in &self.partner_edges {
            if p == partner {
                out.extend(self.served.get(caller).cloned().unwrap_or_default());
            }
        }
        out
    }

    fn spike_leg(&self) -> Option<Leg> {
        let (_, entry, _) = self.rate_limit.as_ref()?;
        let (_, url, method, _) = self.entries.iter().find(|e| &e.0 == entry)?;
        (self.spike_rate > 0.0).then(|| Leg {
            entry: entry.clone(),
            url: url.clone(),
            method: method.clone(),
            rate: self.spike_rate,
            duration: self.length.mul_f64(self.spike_at.1 - self.spike_at.0),
            seed: 7,
        })
    }

    /// The users: slices of the day, each entry at its target × the curve
    /// (the spiked entry left to the spike while it lasts).
    async fn users(self, started: Instant) -> Vec<(String, i64, Summary)> {
        let day = self.length.as_secs_f64();
        let n = (day / 10.0).round().clamp(4.0, 60.0) as u32;
        let slice = self.length / n;
        let spiked = self.rate_limit.as_ref().map(|(_, e, _)| e.clone());
        let mut out = Vec::new();
        let mut running = tokio::task::JoinSet::new();
        for k in 0..n {
            let from = slice * k;
            let to = from + slice;
            tokio::time::sleep_until((started + from).into()).await;
            let x = (from.as_secs_f64() + slice.as_secs_f64() / 2.0) / day;
            let (s0, s1) = (self.spike_at.0 * day, self.spike_at.1 * day);
            let in_spike = from.as_secs_f64() < s1 && to.as_secs_f64() > s0;
            for (i, (entry, url, method, rate)) in self.entries.iter().enumerate() {
                if in_spike && spiked.as_ref() == Some(entry) && self.spike_rate > 0.0 {
                    continue;
                }
                let leg = Leg {
                    entry: entry.clone(),
                    url: url.clone(),
                    method: method.clone(),
                    rate: (rate * curve(x)).max(0.5),
                    duration: slice,
                    seed: u64::from(k) * 1000 + i as u64,
                };
                running.spawn(leg.run());
            }
            while let Some(done) = running.try_join_next() {
                if let Ok(Some(r)) = done {
                    out.push(r);
                }
            }
        }
        while let Some(done) = running.join_next().await {
            if let Ok(Some(r)) = done {
                out.push(r);
            }
        }
        out
    }
}

/// What the demo has seen of the control plane, to tell only what is new.
#[derive(Debug, Default)]
struct Watch {
    /// The person whose commander token approves runs.
    approver: String,
    /// Targets of the day's troubles, each with the time (ms) its trouble
    /// began: the day settles when no alert the troubles raised — one on
    /// such a target that fired after its trouble began — still fires. An
    /// alert that fired before (a partner's SLA alert that fires on an
    /// ordinary day too) is not the trouble's, and once the users are gone
    /// nothing would clear it: waiting for it only delays the review.
    troubled: HashMap<String, i64>,
    /// Incidents up to this number were opened before the day.
    before: i64,
    alerts: HashMap<String, AlertState>,
    /// Alerts that fired during the day (only their resolution is told).
    fired: HashSet<String>,
    runs: HashMap<i64, String>,
    approved: HashSet<i64>,
    incidents: HashMap<i64, String>,
    acked: HashSet<i64>,
    /// The control plane, for the paged people's tokens.
    base_url: String,
    /// Person id → a client with an `oncall` token in that person's name:
    /// the paged person acknowledges, so the timeline and the review name
    /// them.
    oncall: HashMap<String, Client>,
    pages: Vec<ReceivedPage>,
    firing: usize,
}

impl Watch {
    /// `targets`' trouble begins at `at_ms`.
    fn troubles_begin(&mut self, targets: &HashSet<String>, at_ms: i64) {
        for t in targets {
            self.troubled.entry(t.clone()).or_insert(at_ms);
        }
    }

    /// A client acting as on-call `person` (an `oncall` token named after
    /// them, made once).
    async fn oncall_client(&mut self, admin: &Client, person: &str) -> Result<Client, DemoError> {
        if let Some(c) = self.oncall.get(person) {
            return Ok(c.clone());
        }
        let secret = create_token(admin, person, Role::Oncall, None).await?;
        let c = Client::new(&self.base_url)
            .map_err(|e| client_err("client", e))?
            .with_token(&secret)
            .with_timeout(Duration::from_secs(30));
        self.oncall.insert(person.to_owned(), c.clone());
        Ok(c)
    }

    /// No alert the troubles raised firing and every run final.
    fn settled(&self) -> bool {
        self.firing == 0
            && self
                .runs
                .values()
                .all(|s| !matches!(s.as_str(), "awaiting_approval" | "running" | "rolling_back"))
    }

    async fn look(
        &mut self,
        client: &Client,
        commander: &Client,
        event: &str,
        pages: &mut mpsc::UnboundedReceiver<ReceivedPage>,
        say: &mut impl FnMut(&str),
    ) {
        while let Ok(p) = pages.try_recv() {
            say(&format!(
                "message received on #{}{}: {}",
                p.channel,
                if p.signed { " (signed)" } else { "" },
                p.title
            ));
            self.pages.push(p);
        }
        if let Ok(list) = client.alerts(event).await {
            self.firing = 0;
            for a in list.alerts {
                if a.state == AlertState::Firing
                    && self
                        .troubled
                        .get(&a.target.id)
                        .is_some_and(|&from| a.since.is_none_or(|since| since >= from))
                {
                    self.firing += 1;
                }
                let before = self.alerts.insert(a.id.clone(), a.state);
                if before == Some(a.state) {
                    continue;
                }
                match a.state {
                    AlertState::Firing => {
                        self.fired.insert(a.id.clone());
                        say(&format!(
                            "alert {} fires: {} {} is {} (threshold {})",
                            a.id,
                            a.target.id,
                            a.metric,
                            a.value.map_or("?".to_owned(), |v| format!("{v:.3}")),
                            a.threshold
                        ));
                    }
                    AlertState::Resolved if self.fired.contains(&a.id) => {
                        say(&format!("alert {} resolved", a.id));
                    }
                    _ => {}
                }
            }
        }
        if let Ok(list) = client.emergency_runs(event).await {
            for r in list.runs {
                let before = self.runs.insert(r.id, r.status.clone());
                if before.as_deref() != Some(r.status.as_str()) {
                    let line = match (before.is_none(), r.status.as_str()) {
                        (true, _) => format!(
                            "emergency plan {} starts (requested by {}): run {} {}",
                            r.plan_id,
                            r.requested_by,
                            r.id,
                            r.status.replace('_', " ")
                        ),
                        (false, "succeeded") => format!(
                            "run {} of {} succeeded in {} (expected within {} min)",
                            r.id,
                            r.plan_id,
                            r.duration_ms
                                .map_or("?".to_owned(), |d| format!("{:.1} s", d as f64 / 1000.0)),
                            r.expected_minutes
                                .map_or("?".to_owned(), |m| format!("{m}"))
                        ),
                        (false, s) => {
                            format!("run {} of {} is {}", r.id, r.plan_id, s.replace('_', " "))
                        }
                    };
                    say(&line);
                }
                if r.status == "awaiting_approval" && self.approved.insert(r.id) {
                    match commander.emergency_run_action(event, r.id, "approve").await {
                        Ok(_) => say(&format!(
                            "run {} of {} approved by {} (a second commander; the demo holds their token, in a war room they press Approve)",
                            r.id, r.plan_id, self.approver
                        )),
                        Err(e) => say(&format!("approving run {} failed: {e}", r.id)),
                    }
                }
            }
        }
        if let Ok(list) = client.incidents(event).await {
            for i in list.incidents {
                let before = self.incidents.insert(i.id, i.status.clone());
                if before.is_none() {
                    say(&format!(
                        "incident {} opened ({}): {}",
                        i.id, i.severity, i.title
                    ));
                }
                let paged = i.timeline.iter().any(|t| t.kind == "paged");
                if paged && i.status == "open" && self.acked.insert(i.id) {
                    // The first person the first page reached acknowledges,
                    // with a token of their own.
                    let person = i
                        .paging
                        .as_ref()
                        .and_then(|p| p.sent.first())
                        .and_then(|s| s.people.first())
                        .cloned();
                    let acker = match &person {
                        Some(p) => match self.oncall_client(client, p).await {
                            Ok(c) => Some((p.clone(), c)),
                            Err(e) => {
                                say(&format!("no on-call token for {p}: {e}"));
                                None
                            }
                        },
                        None => None,
                    };
                    let (who, acker) = match &acker {
                        Some((p, c)) => (
                            format!(
                                "{p}, paged, acknowledges incident {} (the demo holds an on-call token in their name)",
                                i.id
                            ),
                            c,
                        ),
                        None => (
                            format!(
                                "the demo's admin acknowledges incident {} (nobody was named on the page)",
                                i.id
                            ),
                            client,
                        ),
                    };
                    match acker.ack_incident(event, i.id).await {
                        Ok(_) => say(&who),
                        Err(e) => say(&format!("acknowledging incident {} failed: {e}", i.id)),
                    }
                }
            }
        }
    }

    /// What was there before the day, recorded without a word; incidents
    /// the rehearsal left open are resolved (one line).
    async fn prime(&mut self, client: &Client, event: &str, say: &mut impl FnMut(&str)) {
        if let Ok(list) = client.alerts(event).await {
            for a in list.alerts {
                self.alerts.insert(a.id.clone(), a.state);
            }
        }
        if let Ok(list) = client.emergency_runs(event).await {
            for r in list.runs {
                self.runs.insert(r.id, r.status.clone());
                self.approved.insert(r.id);
            }
        }
        let Ok(list) = client.incidents(event).await else {
            return;
        };
        let mut closed = 0;
        for i in list.incidents {
            self.before = self.before.max(i.id);
            self.incidents.insert(i.id, i.status.clone());
            if i.status != "resolved"
                && client
                    .resolve_incident(
                        event,
                        i.id,
                        Some("opened during the rehearsal, before the event day"),
                    )
                    .await
                    .is_ok()
            {
                closed += 1;
            }
        }
        if closed > 0 {
            say(&format!(
                "{closed} incidents opened during the rehearsal are resolved before the peak"
            ));
        }
    }

    async fn resolve_all(&mut self, client: &Client, event: &str, say: &mut impl FnMut(&str)) {
        let Ok(list) = client.incidents(event).await else {
            return;
        };
        for i in list.incidents {
            if i.status == "resolved" {
                continue;
            }
            match client
                .resolve_incident(event, i.id, Some("the peak is over and its alerts cleared"))
                .await
            {
                Ok(_) => say(&format!(
                    "incident {} resolved by the on-call (the demo): the peak is over and its alerts cleared",
                    i.id
                )),
                Err(e) => say(&format!("resolving incident {} failed: {e}", i.id)),
            }
        }
    }
}
