//! Prometheus exposition while a run is going (`--metrics-listen ADDR`), so
//! a rehearsal shows up on the same dashboards as the system under test.
//!
//! The hot path is not touched: the runner's once-a-second [`Progress`]
//! (or the caller's per-entry numbers) is copied into a [`Metrics`]
//! snapshot, and a scrape renders that snapshot in the OpenMetrics text
//! format with `prometheus-client`. Values are therefore at most a second
//! old, which is finer than any scrape interval.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;

use crate::report::Bucket;
use crate::stats::{ErrorCounts, Progress};

/// Content type of the OpenMetrics text exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One entry's counters at the last update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryMetrics {
    /// Responses with a status below 400.
    pub ok: u64,
    /// Failed requests by class.
    pub errors: ErrorCounts,
    /// Dropped arrivals.
    pub dropped: u64,
    /// Requests completed in the last full second.
    pub achieved_rps: f64,
    /// Intended rate, when there is one.
    pub target_rps: Option<f64>,
    /// Failures not split by class (a scenario's aggregate progress),
    /// exposed as outcome `error`.
    pub unclassified_errors: u64,
    /// Latency counts per bucket (not cumulative).
    pub latency_histogram: Vec<Bucket>,
    /// Sum of the latencies, in milliseconds.
    pub latency_sum_ms: f64,
}

impl EntryMetrics {
    /// The numbers of a single-target run's progress view.
    pub fn from_progress(p: &Progress, target_rps: Option<f64>) -> Self {
        Self {
            ok: p.ok,
            errors: p.errors_by_class,
            unclassified_errors: 0,
            dropped: p.dropped,
            achieved_rps: p.last.requests as f64,
            target_rps,
            latency_histogram: p.latency_histogram.clone(),
            latency_sum_ms: p.latency_sum_ms,
        }
    }
}

/// What a scrape shows.
#[derive(Debug, Clone, Default, PartialEq)]
struct Snapshot {
    run_id: Option<String>,
    /// Requests in flight, when the runner reports them.
    in_flight: Option<u64>,
    entries: BTreeMap<String, EntryMetrics>,
}

/// A cheaply cloneable handle: the runner's side updates it, the HTTP side
/// renders it.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    state: Arc<Mutex<Snapshot>>,
}

impl Metrics {
    /// Empty metrics for the run `run_id`.
    pub fn new(run_id: Option<String>) -> Self {
        let metrics = Self::default();
        metrics.lock().run_id = run_id;
        metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replace one entry's numbers.
    pub fn set_entry(&self, entry: &str, numbers: EntryMetrics) {
        self.lock().entries.insert(entry.to_owned(), numbers);
    }

    /// Set the number of requests in flight over all entries.
    pub fn set_in_flight(&self, in_flight: u64) {
        self.lock().in_flight = Some(in_flight);
    }

    /// Update from a single-target run's progress view, as entry `entry`.
    pub fn update(&self, entry: &str, p: &Progress, target_rps: Option<f64>) {
        let numbers = EntryMetrics::from_progress(p, target_rps);
        let mut state = self.lock();
        state.in_flight = Some(p.in_flight);
        state.entries.insert(entry.to_owned(), numbers);
    }

    /// Update from a scenario run's aggregate progress, as entry `entry`:
    /// requests, failures (not split by class: outcome `error`), dropped
    /// steps and the requests of the last whole second. No latency
    /// histogram is published for it.
    pub fn update_totals(
        &self,
        entry: &str,
        requests: u64,
        errors: u64,
        dropped: u64,
        last_second: u64,
    ) {
        let numbers = EntryMetrics {
            ok: requests.saturating_sub(errors),
            unclassified_errors: errors,
            dropped,
            achieved_rps: last_second as f64,
            ..EntryMetrics::default()
        };
        self.lock().entries.insert(entry.to_owned(), numbers);
    }

    /// The OpenMetrics text exposition of the current snapshot.
    pub fn render(&self) -> String {
        let snapshot = self.lock().clone();
        let mut registry = Registry::default();
        registry.register_collector(Box::new(SnapshotCollector(snapshot)));
        let mut text = String::new();
        // Writing to a String cannot fail; an encoder error would be a bug
        // in a label, and an incomplete page is still better than none.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }

    /// Serve `GET /metrics` on `listener` until the returned task is
    /// aborted. Other paths get 404. Each connection is served on its own
    /// task; a broken connection only ends that task.
    pub fn serve(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        let metrics = self.clone();
        tokio::spawn(async move {
            // Bounded by the run: the caller aborts this task at the end.
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let metrics = metrics.clone();
                        async move { Ok::<_, Infallible>(respond(&metrics, &req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
    }
}

/// Bind `addr` for [`Metrics::serve`]; the error names the address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} for metrics: {e}"),
        )
    })
}

fn respond(metrics: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = if req.uri().path() == "/metrics" {
        (StatusCode::OK, CONTENT_TYPE, metrics.render())
    } else {
        (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: metrics are at /metrics\n".to_owned(),
        )
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    response
}

/// Renders one snapshot; registered afresh for every scrape.
#[derive(Debug)]
struct SnapshotCollector(Snapshot);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        {
            let mut m = encoder.encode_descriptor(
                "seawall_load_run",
                "The run being measured (value 1), labelled with its test-tag run id.",
                None,
                MetricType::Gauge,
            )?;
            let run_id = s.run_id.clone().unwrap_or_default();
            ConstGauge::new(1_i64).encode(m.encode_family(&[("run_id", run_id.as_str())])?)?;
        }
        {
            let mut m = encoder.encode_descriptor(
                "seawall_load_requests",
                "Requests completed, by entry and outcome (ok or the error class).",
                None,
                MetricType::Counter,
            )?;
            for (entry, e) in &s.entries {
                let x = &e.errors;
                for (outcome, n) in [
                    ("ok", e.ok),
                    ("connect", x.connect),
                    ("timeout", x.timeout),
                    ("io", x.io),
                    ("status_4xx", x.status_4xx),
                    ("status_5xx", x.status_5xx),
                    ("body", x.body),
                ] {
                    let labels = [("entry", entry.as_str()), ("outcome", outcome)];
                    ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
                }
                if e.unclassified_errors > 0 {
                    let labels = [("entry", entry.as_str()), ("outcome", "error")];
                    ConstCounter::new(e.unclassified_errors).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "seawall_load_dropped",
                "Arrivals dropped because the connection cap was reached.",
                None,
                MetricType::Counter,
            )?;
            for (entry, e) in &s.entries {
                ConstCounter::new(e.dropped)
                    .encode(m.encode_family(&[("entry", entry.as_str())])?)?;
            }
        }
        if let Some(in_flight) = s.in_flight {
            ConstGauge::new(i64::try_from(in_flight).unwrap_or(i64::MAX)).encode(
                encoder.encode_descriptor(
                    "seawall_load_in_flight",
                    "Requests sent and not yet answered.",
                    None,
                    MetricType::Gauge,
                )?,
            )?;
        }
        {
            let mut m = encoder.encode_descriptor(
                "seawall_load_achieved_rps",
                "Requests completed in the last full second.",
                None,
                MetricType::Gauge,
            )?;
            for (entry, e) in &s.entries {
                ConstGauge::new(e.achieved_rps)
                    .encode(m.encode_family(&[("entry", entry.as_str())])?)?;
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "seawall_load_target_rps",
                "Intended requests per second (open model).",
                None,
                MetricType::Gauge,
            )?;
            for (entry, e) in &s.entries {
                if let Some(target) = e.target_rps {
                    ConstGauge::new(target)
                        .encode(m.encode_family(&[("entry", entry.as_str())])?)?;
                }
            }
        }
        {
            let mut m = encoder.encode_descriptor(
                "seawall_load_latency",
                "Latency from the intended send time, every response.",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            for (entry, e) in s
                .entries
                .iter()
                .filter(|(_, e)| !e.latency_histogram.is_empty())
            {
                let buckets: Vec<(f64, u64)> = e
                    .latency_histogram
                    .iter()
                    .map(|b| {
                        let le = if b.le_ms.is_finite() {
                            b.le_ms / 1000.0
                        } else {
                            f64::MAX
                        };
                        (le, b.count)
                    })
                    .collect();
                let count = buckets.iter().map(|b| b.1).sum();
                m.encode_family(&[("entry", entry.as_str())])?
                    .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    e.latency_sum_ms / 1000.0,
                    count,
                    &buckets,
                    None,
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::{LoadConfig, TestTag};

    /// `GET path` over a fresh loopback connection; the whole response.
    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    }

    /// The value of the sample line starting with `prefix`.
    fn sample(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scrape_during_a_run_shows_its_counters() {
        // The target: answers 200, or 503 for /fail.
        let target = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let target_addr = target.local_addr().expect("addr");
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        tokio::spawn(async move { axum::serve(target, app).await.expect("serve") });

        let metrics = Metrics::new(Some("m-1".to_owned()));
        let listener = bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let metrics_addr = listener.local_addr().expect("addr");
        let server = metrics.serve(listener);

        let mut config = LoadConfig::new(format!("http://{target_addr}/"));
        config.rate = Some(200.0);
        config.duration = Duration::from_millis(2500);
        config.tag = Some(TestTag::new("m-1"));
        let updater = metrics.clone();
        let run = tokio::spawn(async move {
            crate::run(&config, |p| updater.update("GET /", p, Some(200.0))).await
        });
        // After two progress ticks (at 1 s and 2 s) the counters are live.
        tokio::time::sleep(Duration::from_millis(2200)).await;
        let during = get(metrics_addr, "/metrics").await;
        let summary = run.await.expect("join").expect("run");
        server.abort();

        assert!(during.starts_with("HTTP/1.1 200"), "{during}");
        assert!(during.contains("application/openmetrics-text"), "{during}");
        assert!(
            during.contains("seawall_load_run{run_id=\"m-1\"} 1"),
            "{during}"
        );
        let ok = sample(
            &during,
            "seawall_load_requests_total{entry=\"GET /\",outcome=\"ok\"}",
        )
        .expect("ok counter");
        // Two seconds at 200 rps were complete at the second tick.
        assert!((350.0..=450.0).contains(&ok), "{ok}: {during}");
        assert!(
            ok < summary.requests as f64,
            "a snapshot taken during the run"
        );
        let rps = sample(&during, "seawall_load_achieved_rps{entry=\"GET /\"}").expect("rps");
        assert!((180.0..=220.0).contains(&rps), "{rps}");
        assert_eq!(
            sample(&during, "seawall_load_target_rps{entry=\"GET /\"}"),
            Some(200.0)
        );
        assert_eq!(
            sample(&during, "seawall_load_dropped_total{entry=\"GET /\"}"),
            Some(0.0)
        );
        assert!(
            sample(&during, "seawall_load_in_flight").is_some(),
            "{during}"
        );
        let count = sample(
            &during,
            "seawall_load_latency_seconds_count{entry=\"GET /\"}",
        )
        .expect("histogram count");
        assert_eq!(count, ok, "every response is in the histogram");
        let inf = sample(
            &during,
            "seawall_load_latency_seconds_bucket{le=\"+Inf\",entry=\"GET /\"}",
        )
        .or_else(|| {
            sample(
                &during,
                "seawall_load_latency_seconds_bucket{entry=\"GET /\",le=\"+Inf\"}",
            )
        })
        .expect("+Inf bucket");
        assert_eq!(inf, count);
        assert!(during.trim_end().ends_with("# EOF"));
    }

    #[tokio::test]
    async fn other_paths_are_not_found() {
        let metrics = Metrics::new(None);
        let listener = bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = metrics.serve(listener);
        let response = get(addr, "/").await;
        server.abort();
        assert!(response.starts_with("HTTP/1.1 404"), "{response}");
        // Nothing measured yet: the page still parses, with no entries.
        let text = metrics.render();
        assert!(text.contains("seawall_load_run{run_id=\"\"} 1"), "{text}");
        assert!(!text.contains("entry="), "{text}");
    }

    #[test]
    fn scenario_totals_count_unclassified_errors() {
        let metrics = Metrics::new(Some("rh".to_owned()));
        metrics.update_totals("all", 100, 7, 3, 25);
        metrics.set_in_flight(4);
        let text = metrics.render();
        let line = |prefix: &str| sample(&text, prefix);
        assert_eq!(
            line("seawall_load_requests_total{entry=\"all\",outcome=\"ok\"}"),
            Some(93.0)
        );
        assert_eq!(
            line("seawall_load_requests_total{entry=\"all\",outcome=\"error\"}"),
            Some(7.0)
        );
        assert_eq!(line("seawall_load_dropped_total{entry=\"all\"}"), Some(3.0));
        assert_eq!(line("seawall_load_achieved_rps{entry=\"all\"}"), Some(25.0));
        assert_eq!(line("seawall_load_in_flight"), Some(4.0));
        assert!(
            !text.contains("seawall_load_latency_seconds_count"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn binding_a_used_port_names_the_address() {
        let taken = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = taken.local_addr().expect("addr");
        let err = bind(addr).await.expect_err("port in use");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
}
