//! Following the control plane: prime the rules file before the sidecar
//! starts, then long-poll for new versions, write each usable one whole
//! and swap it in, and report the version in force; the gray whitelist is
//! followed beside them (`whitelist.rs`). Apart from `control`
//! (the settings and the HTTP exchanges), so that `Config`, which holds a
//! `Control`, stays below the proxy's shared state this loop drives.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::control::{Control, fetch, report};
use crate::proxy::Shared;
use crate::reload::{self, Polled};

/// Writes `text` to `path` whole and durably (`reload::write_atomically`:
/// temporary file, fsync, rename, fsync of the directory).
async fn write_whole(path: &Path, text: &str) -> Result<(), String> {
    reload::write_atomically(path, text.as_bytes().to_vec()).await
}

/// Before the sidecar starts: fetch the latest version (a few seconds at
/// most) into the rules file, if this sidecar can use it. When the control plane does not answer, an
/// existing file is used as it is; without one, an empty rule set (pass
/// everything) is written so the service stays reachable, and a warning
/// says so.
pub(crate) async fn prime(control: &Control, rules_path: &Path, has_gray: bool) {
    let fetched = match fetch(control, 0, Duration::ZERO).await {
        Ok(Some(f)) => match reload::parse(rules_path, f.document.as_bytes(), has_gray) {
            Ok(_) => Ok(Some(f)),
            Err(e) => Err(format!(
                "version {} from the control plane cannot be used here: {e}",
                f.version
            )),
        },
        other => other,
    };
    match fetched {
        Ok(Some(f)) => match write_whole(rules_path, &f.document).await {
            Ok(()) => tracing::info!(
                "control: version {} of {}'s rules from the control plane",
                f.version,
                control.service
            ),
            Err(e) => tracing::warn!("control: {e}"),
        },
        Ok(None) if rules_path.exists() => tracing::info!(
            "control: the control plane has no rules for {} yet; using {}",
            control.service,
            rules_path.display()
        ),
        Err(e) if rules_path.exists() => tracing::warn!(
            "control: {e}; starting with the last rules kept in {}",
            rules_path.display()
        ),
        outcome => {
            let why = match outcome {
                Err(e) => e,
                _ => format!("the control plane has no rules for {} yet", control.service),
            };
            tracing::warn!(
                "control: {why}; no local copy at {} either: starting with no rules (everything passes)",
                rules_path.display()
            );
            if let Err(e) = write_whole(rules_path, "{\"version\": 0}\n").await {
                tracing::warn!("control: {e}");
            }
        }
    }
}

/// Follows the control plane until the task is dropped: long poll, write,
/// apply, report; on failure keep the rules in force and retry with a
/// backoff from 250 ms up to 5 s.
pub(crate) async fn follow(shared: Arc<Shared>, control: Control) {
    // The service's gray whitelist is followed beside the rules, and ends
    // with this task.
    let _whitelist = crate::whitelist::Owned(tokio::spawn(crate::whitelist::follow(
        Arc::clone(&shared),
        control.clone(),
    )));
    let mut backoff = Duration::from_millis(250);
    let mut failing = false;
    let mut reported: Option<u64> = None;
    loop {
        let in_force = shared
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .version;
        let step = async {
            if reported != Some(in_force) {
                report(&control, in_force).await?;
                reported = Some(in_force);
            }
            let Some(f) = fetch(&control, in_force, control.wait).await? else {
                return Ok::<_, String>(());
            };
            // A version the sidecar cannot use never reaches the file: the
            // file only ever holds rules that can be in force.
            if let Err(e) =
                reload::parse(&shared.rules_path, f.document.as_bytes(), shared.has_gray())
            {
                // Counted with the rules files that cannot be used.
                shared.metrics.reloads_failed.inc();
                return Err(format!(
                    "version {} from the control plane cannot be used here: {e}; the rules in force stay",
                    f.version
                ));
            }
            write_whole(&shared.rules_path, &f.document).await?;
            match reload::poll(&shared).await {
                Polled::Swapped => {
                    tracing::info!("control: applied version {}", f.version);
                    report(&control, f.version).await?;
                    reported = Some(f.version);
                    Ok(())
                }
                Polled::Unchanged => Ok(()),
                Polled::Rejected => Err(format!(
                    "version {} from the control plane was refused (see /status); the rules in force stay",
                    f.version
                )),
            }
        };
        match step.await {
            Ok(()) => {
                if failing {
                    tracing::info!("control: reachable again");
                }
                failing = false;
                backoff = Duration::from_millis(250);
            }
            Err(e) => {
                shared.metrics.control_errors.inc();
                if !failing {
                    tracing::warn!("control: {e}; keeping the rules in force");
                }
                failing = true;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
