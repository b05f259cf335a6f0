//! Following a service's gray-release whitelist on the control plane
//! (`GET /api/v1/guard/whitelist`, docs/scale-out.md): long-poll for a
//! version other than the one installed, apply the answer — the change
//! from that version, or the whole set — off the runtime, and install the
//! result into the guard atomically (`Guard::install_whitelist`, the rule
//! swap's path), so a check sees the old set or the new one.
//!
//! Why beside the rules rather than in them: millions of ids would make
//! every rule version tens of megabytes of JSON, parsed on every change;
//! a whitelist version costs only its delta. The set is kept in memory
//! only: a restarted sidecar fetches it whole again on its first poll
//! (until then, gray routing uses the rules' inline whitelist).

use std::sync::Arc;
use std::time::Duration;

use seawall_guard::whitelist::Delta;

use crate::control::{Control, fetch_whitelist};
use crate::proxy::Shared;

/// Follows the whitelist until the task is dropped; on failure keeps the
/// set in force and retries with a backoff from 250 ms up to 5 s.
pub(crate) async fn follow(shared: Arc<Shared>, control: Control) {
    let mut backoff = Duration::from_millis(250);
    let mut failing = false;
    // After a change that does not apply, ask for the whole set.
    let mut whole = false;
    loop {
        let have = shared.guard().whitelist();
        let since = if whole {
            0
        } else {
            have.as_ref().map_or(0, |w| w.version())
        };
        let step = async {
            let Some(bytes) = fetch_whitelist(&control, since, control.wait).await? else {
                return Ok::<_, String>(());
            };
            let base = have.unwrap_or_default();
            let next = tokio::task::spawn_blocking(move || {
                Delta::decode(&bytes).and_then(|d| base.apply(&d))
            })
            .await
            .map_err(|e| format!("whitelist: {e}"))?;
            match next {
                Ok(set) => {
                    let (version, len) = (set.version(), set.len());
                    shared.guard().install_whitelist(Arc::new(set));
                    tracing::info!("control: whitelist version {version} in force ({len} ids)");
                    whole = false;
                    Ok(())
                }
                Err(e) => {
                    whole = true;
                    Err(format!(
                        "a whitelist from the control plane cannot be used: {e}"
                    ))
                }
            }
        };
        match step.await {
            Ok(()) => {
                failing = false;
                backoff = Duration::from_millis(250);
            }
            Err(e) => {
                shared.metrics.control_errors.inc();
                if !failing {
                    tracing::warn!("control: {e}; keeping the whitelist in force");
                }
                failing = true;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Aborts a spawned task when dropped (the rule follower owns the
/// whitelist follower, so both end together).
pub(crate) struct Owned(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for Owned {
    fn drop(&mut self) {
        self.0.abort();
    }
}
