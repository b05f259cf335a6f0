//! `seawall-sim`: a simulated system generated from a guarantee plan.
//!
//! Why simulate? Seawall's loop — rehearsal measures capacity, guard limits
//! come from the measurement, drills show which dependency may fail — can
//! only be demonstrated and tested end to end against a system whose true
//! capacity is known. This crate starts one real HTTP server per service and
//! partner of a plan, on loopback, whose behaviour follows the plan's
//! numbers, and reports the ground truth a rehearsal should find.
//!
//! - **Capacity**: a service has `instances × capacity_per_instance ×
//!   scale` requests per second (a partner `quota_qps × scale`), modelled as
//!   a FIFO server of that rate: below it there is no queue, above it the
//!   queue grows until requests wait longer than the service's `timeout_ms`
//!   (1 s without one) and are refused with 503. The knee is sharp and sits
//!   at the capacity.
//! - **Latency**: a service answers after its queue wait plus a service
//!   time drawn uniformly from 0.8× to 1.2× its `latency_ms`; a partner
//!   after 0.5× to 1× its SLA `p99_ms`. Then it calls its dependencies.
//! - **Dependencies**: each edge is called over real HTTP (`calls` per
//!   request, fractional ones spread evenly), with its `timeout_ms` per
//!   attempt and `retries`; edges run concurrently. A strong edge that
//!   fails fails the caller (502); a weak one falls back (the caller still
//!   answers 200 and counts a fallback).
//! - **Test tag**: requests with the tag header (`x-seawall-test`, or a
//!   rehearsal's own) or baggage member (`seawall-test=`) pass it on to
//!   their dependencies; their writes (non-GET requests answered 200) count
//!   in the shadow store, untagged ones in the real store, and a tagged call
//!   to a partner that is not `shadow_safe` counts as a leak.
//! - **Drills**: [`Sim::set_fault`] makes any service or partner slow or
//!   failing.
//! - **Determinism**: random draws (service-time jitter, failure sampling)
//!   come from a stream keyed by the seed, the node and the request's
//!   arrival number there, so the same seed and request sequence give the
//!   same answers.
//!
//! A **gateway** server answers every entry of the plan at one address
//! (each handled by its service, as on the service's own server), for
//! tools that take one base URL.
//!
//! Everything is also reachable over HTTP on every simulated server under
//! the reserved `/_sim/` prefix: `GET /_sim/truth`, `GET /_sim/counters`,
//! `PUT /_sim/fault`, `POST /_sim/reset` (docs/sim.md).
//!
//! ```no_run
//! # async fn demo(plan: &seawall_plan::Plan) -> Result<(), seawall_sim::SimError> {
//! use seawall_sim::{Fault, Sim, SimOptions};
//!
//! let sim = Sim::start(plan, SimOptions { scale: 0.05, ..SimOptions::default() }).await?;
//! for entry in &sim.truth().entries {
//!     println!("{} at {:?}: knee {:?} (bottleneck {:?})", entry.id, entry.url, entry.knee_qps, entry.bottleneck);
//! }
//! sim.set_fault("coupon-svc", Fault::Fail { ratio: 1.0 })?;
//! println!("{:?}", sim.counters().get("order-svc"));
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod counters;
mod error;
mod fault;
mod rng;
mod server;
mod topology;
mod truth;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hyper::header::HeaderName;
use seawall_plan::Plan;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use counters::{Counters, EntryCounters, NodeCounters};
pub use error::SimError;
pub use fault::{Fault, FaultRequest, MAX_SLOW_MS};
pub use server::{CALL_PATH, CALLER_HEADER};
pub use topology::{
    DEFAULT_CALL_TIMEOUT_MS, DEFAULT_QUEUE_LIMIT_MS, MAX_CALLS, MAX_RETRIES, NodeKind,
};
pub use truth::{EntryTruth, MixKnee, NodeTruth, Truth};

use server::{TagNames, World};
use topology::Topology;

/// Largest accepted `scale`.
pub const MAX_SCALE: f64 = 1000.0;

/// How to start a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// Seed of the random draws (service-time jitter, `fail` sampling).
    pub seed: u64,
    /// Multiplies every capacity and partner quota (e.g. 0.05 so a
    /// 10,000-QPS service fits a laptop); in (0, 1000]. Default 1.
    pub scale: f64,
    /// Address of the first server; services then partners, in plan order,
    /// then the gateway get consecutive ports from it. `None`, or port 0:
    /// each server its own ephemeral port on 127.0.0.1 (or the given IP).
    pub listen_base: Option<SocketAddr>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            scale: 1.0,
            listen_base: None,
        }
    }
}

/// A running simulated system. Servers run on the tokio runtime that
/// started them until [`Sim::shutdown`] (or until the `Sim` is dropped,
/// which stops them without waiting).
pub struct Sim {
    world: Arc<World>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("nodes", &self.world.truth.nodes.len())
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// Start one server per service and partner of `plan`.
    ///
    /// Fails without starting anything on a bad option, a plan the
    /// simulator cannot model (an entry path under `/_sim/`), or a port it
    /// cannot bind.
    pub async fn start(plan: &Plan, opts: SimOptions) -> Result<Sim, SimError> {
        if !(opts.scale > 0.0 && opts.scale <= MAX_SCALE) {
            return Err(SimError::InvalidOption {
                option: "scale",
                reason: format!(
                    "{} is not in (0, {MAX_SCALE}]; use e.g. 0.05 to run a plan's capacities at 5 %",
                    opts.scale
                ),
            });
        }
        let topo = Topology::build(plan, opts.scale)?;
        let reach = topo.reach(plan)?;
        let knees = topo.knees(&reach);
        let base = opts
            .listen_base
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let listeners = server::bind(&topo, base).await?;
        let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.1).collect();
        let nodes = topo.nodes.len();
        let truth = Truth::build(&topo, &knees, &addrs, opts.seed, opts.scale);
        let world = Arc::new(World::new(topo, reach, truth, tag_names(plan)));
        let (stop, rx) = watch::channel(false);
        let tasks = listeners
            .into_iter()
            .enumerate()
            .map(|(i, (listener, _))| {
                // The last listener is the gateway's.
                let node = (i < nodes).then_some(i);
                tokio::spawn(server::serve(world.clone(), node, listener, rx.clone()))
            })
            .collect();
        Ok(Sim { world, stop, tasks })
    }

    /// Where the server of a service or partner listens.
    pub fn addr(&self, id: &str) -> Option<SocketAddr> {
        self.world.truth.node(id).map(|n| n.addr)
    }

    /// `http://addr/path` of an entry at its service's own server (each
    /// `{param}` filled with `1`).
    pub fn entry_url(&self, entry: &str) -> Option<&str> {
        self.world.truth.entry(entry)?.url.as_deref()
    }

    /// Where the gateway listens: one address that answers every entry of
    /// the plan (each handled by its service exactly as on the service's
    /// own server), for tools that take one base URL such as `seawall
    /// rehearse --base-url`.
    pub fn gateway(&self) -> SocketAddr {
        self.world.truth.gateway
    }

    /// The ground truth: scaled capacities, and each entry's knee and bottleneck.
    pub fn truth(&self) -> &Truth {
        &self.world.truth
    }

    /// Each entry's knee when the given entries are loaded **together** at
    /// these rates (QPS, at the simulation's scale) and the whole mix is
    /// scaled up: the factor at which the first node on the entry's strong
    /// call tree reaches its capacity (its load summed over every entry of
    /// the mix, weak calls included), and the entry's rate there. This is
    /// what a capacity search that raises a journey mix finds per entry; a
    /// shared service can make it lower than the entry's knee alone.
    ///
    /// Fails on an unknown entry or a rate that is negative or not finite;
    /// an entry given twice counts with the sum of its rates.
    pub fn mix_knees(&self, rates: &[(&str, f64)]) -> Result<Vec<MixKnee>, SimError> {
        self.world.mix_knees(rates)
    }

    /// A snapshot of every node's counters.
    pub fn counters(&self) -> Counters {
        self.world.counters()
    }

    /// Set every counter back to zero (faults stay).
    pub fn reset_counters(&self) {
        self.world.reset_counters();
    }

    /// Send `caller`'s calls to `target` through `proxy` — a guard sidecar
    /// in front of `target` that follows `caller`'s rules, so its egress
    /// is measured and its fallback switches apply — or straight to
    /// `target` again with `None`.
    pub fn route_via(
        &self,
        caller: &str,
        target: &str,
        proxy: Option<std::net::SocketAddr>,
    ) -> Result<(), SimError> {
        self.world.route_via(caller, target, proxy)
    }

    /// Set the drill switch of a service or partner (`Fault::None` clears it).
    pub fn set_fault(&self, target: &str, fault: Fault) -> Result<(), SimError> {
        self.world.set_fault(target, fault, None)
    }

    /// Set the drill switch for `ttl` only: after it the node behaves
    /// normally again by itself (a drill's lease), whether or not anyone
    /// clears it.
    pub fn set_fault_for(
        &self,
        target: &str,
        fault: Fault,
        ttl: std::time::Duration,
    ) -> Result<(), SimError> {
        self.world.set_fault(target, fault, Some(ttl))
    }

    /// Stop accepting, let in-flight requests finish (up to 2 s), and wait
    /// for every server to stop.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The default tag names plus every rehearsal's own.
fn tag_names(plan: &Plan) -> TagNames {
    let defaults = seawall_plan::model::Tag::default();
    let mut headers: Vec<HeaderName> = Vec::new();
    let mut baggage_keys: Vec<String> = Vec::new();
    let tags = std::iter::once(&defaults).chain(plan.rehearsals.values().map(|s| &s.tag));
    for tag in tags {
        if let Ok(h) = HeaderName::from_bytes(tag.header.as_bytes())
            && !headers.contains(&h)
        {
            headers.push(h);
        }
        if !baggage_keys.contains(&tag.baggage_key) {
            baggage_keys.push(tag.baggage_key.clone());
        }
    }
    TagNames {
        headers,
        baggage_keys,
    }
}
