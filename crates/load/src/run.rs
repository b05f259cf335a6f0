//! The runner: open-model scheduler and closed-loop workers over one pool
//! and one recorder.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::LoadError;
use crate::arrivals::Schedule;
use crate::client::Pool;
use crate::config::{LoadConfig, Target};
use crate::stats::{ErrorClass, Mode, Progress, Recorder, Summary};

/// Pause of a closed-loop worker after a connection failure, so a dead
/// target does not turn the loop into a busy spin.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// Run a load test and return its summary.
///
/// Checks the configuration and resolves the host before the first
/// request (an `Err` means nothing was sent). Then issues arrivals for
/// `config.duration`, calls `on_progress` about once a second, and waits up
/// to `config.timeout` for requests still in flight.
///
/// Must be called inside a tokio runtime with the time and IO drivers
/// enabled; a multi-threaded runtime keeps the scheduler punctual.
pub async fn run<F>(config: &LoadConfig, mut on_progress: F) -> Result<Summary, LoadError>
where
    F: FnMut(&Progress),
{
    let mut target = config.prepare()?;
    let addr = crate::config::resolve(&target.host_port).await?;
    target.addr = Some(addr);

    // On the timer's grid, as every generator starts (see `timer_grid`).
    let start = crate::timer_grid::on_timer_grid(Instant::now());
    let highest = config
        .timeout
        .saturating_mul(2)
        .saturating_add(Duration::from_secs(1));
    let recorder = Recorder::new(start, highest).map_err(|e| LoadError::InvalidSetting {
        setting: "timeout",
        reason: e.to_string(),
    })?;
    let shared = Arc::new(Shared {
        target,
        pool: Pool::new(addr, config.http, config.timeout),
        recorder: Mutex::new(recorder),
        slots: Arc::new(Semaphore::new(config.connections)),
    });

    let end = start + config.duration;
    let mut issuing = match config.rate {
        Some(rate) => tokio::spawn(open_model(
            Arc::clone(&shared),
            Schedule::new(rate, config.arrivals),
            start,
            end,
        )),
        None => tokio::spawn(closed_loop(Arc::clone(&shared), config.connections, end)),
    };

    // Report progress once a second until the issuing phase is over.
    let mut tick = start + Duration::from_secs(1);
    let issued_at = loop {
        match tokio::time::timeout_at(tick, &mut issuing).await {
            Ok(_) => break Instant::now(),
            Err(_) => {
                let mut progress = shared.record().progress(tick, config.duration);
                let free = shared.slots.available_permits();
                progress.in_flight = config.connections.saturating_sub(free) as u64;
                on_progress(&progress);
                tick += Duration::from_secs(1);
            }
        }
    };

    // Wait for requests in flight: each holds a slot until it completes.
    let all = u32::try_from(config.connections).unwrap_or(u32::MAX);
    let grace = config.timeout.saturating_add(Duration::from_secs(1));
    let _ = tokio::time::timeout(grace, shared.slots.acquire_many(all)).await;

    let (mode, target_rps) = match config.rate {
        Some(rate) => (Mode::Open, Some(rate)),
        None => (Mode::Closed, None),
    };
    let run_id = shared.target.run_id.clone();
    let issued = issued_at.saturating_duration_since(start);
    // Tasks that outlived the grace period may still hold the recorder;
    // the summary is taken from it as it stands.
    let summary = shared.record().finish(mode, target_rps, run_id, issued);
    Ok(summary)
}

/// What the scheduler, the workers and the request tasks share.
#[derive(Debug)]
struct Shared {
    target: Target,
    pool: Pool,
    recorder: Mutex<Recorder>,
    /// One permit per connection slot (HTTP/1.1) or stream (HTTP/2).
    slots: Arc<Semaphore>,
}

impl Shared {
    fn record(&self) -> std::sync::MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Send one request and record its outcome, latency from `intended`.
    async fn request(&self, intended: Instant) -> Result<(), ErrorClass> {
        let result = self.pool.send(&self.target).await;
        let done = Instant::now();
        let mut recorder = self.record();
        match result {
            Ok(status) if status.is_client_error() => {
                recorder.response(intended, done, Some(ErrorClass::Status4xx));
            }
            Ok(status) if status.is_server_error() => {
                recorder.response(intended, done, Some(ErrorClass::Status5xx));
            }
            Ok(_) => recorder.response(intended, done, None),
            Err(class) => {
                recorder.failure(done, class);
                return Err(class);
            }
        }
        Ok(())
    }
}

/// Issue every arrival of `schedule` before `end` at its intended time;
/// an arrival that finds no free slot is dropped, never delayed.
async fn open_model(shared: Arc<Shared>, schedule: Schedule, start: Instant, end: Instant) {
    // Bounded: offsets strictly increase and stop at `end`.
    for offset in schedule {
        let intended = start + offset;
        if intended >= end {
            break;
        }
        // Arrivals already due are issued back to back without sleeping:
        // the timer's millisecond granularity must not thin the rate.
        if intended > Instant::now() {
            tokio::time::sleep_until(intended).await;
        }
        match Arc::clone(&shared.slots).try_acquire_owned() {
            Ok(permit) => {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let _ = shared.request(intended).await;
                    drop(permit);
                });
            }
            Err(_) => shared.record().drop_arrival(intended),
        }
    }
    // The issuing phase lasts the whole configured duration.
    tokio::time::sleep_until(end).await;
}

/// `workers` loops, each sending back to back until `end`.
async fn closed_loop(shared: Arc<Shared>, workers: usize, end: Instant) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let shared = Arc::clone(&shared);
        tasks.spawn(async move {
            let Ok(_permit) = shared.slots.acquire().await else {
                return;
            };
            // Bounded in time: each pass takes at most the timeout (plus
            // the backoff), and the loop ends at `end`.
            while Instant::now() < end {
                if let Err(ErrorClass::Connect) = shared.request(Instant::now()).await {
                    tokio::time::sleep(CONNECT_BACKOFF).await;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
