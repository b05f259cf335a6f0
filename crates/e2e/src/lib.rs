//! The harness of the war-room UI's browser tests (`tests/ui.rs`): a real
//! control plane over a temporary SQLite store, headless Chromium driven
//! through chromedriver (both from Debian), and a recording proxy that every
//! request not aimed at the control plane goes to, so a test can prove that
//! no page reaches outside — the UI must work offline in a war room.
//!
//! Nothing here is mocked: the browser talks HTTP to the same server the
//! binary runs, on 127.0.0.1. Everything started here stops on drop.

mod browser;
mod metrics;
mod proxy;
mod server;

use std::path::PathBuf;

pub use browser::{Binaries, Browser, LogEntry, Size};
pub use metrics::MetricsPage;
pub use proxy::{BROWSER_OWN_HOSTS, RecordingProxy, host_of};
pub use server::{CARNIVAL, ControlPlane, T0};

/// Debian's Chromium, as `apt-get install chromium` puts it: the browser
/// itself, not the `/usr/bin/chromium` wrapper script, which adds Google
/// API keys and remote extensions from `/etc/chromium.d` that make the
/// browser call Google on its own (the recording proxy would see that).
pub const CHROMIUM: &str = "/usr/lib/chromium/chromium";
/// Debian's chromedriver, as `apt-get install chromium-driver` puts it.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// What can go wrong while setting up or driving a browser test.
#[derive(Debug, thiserror::Error)]
pub enum E2eError {
    /// Chromium or chromedriver is not installed.
    #[error(
        "{what} is not installed ({path} is missing). The browser tests need Debian's \
         Chromium and chromedriver: run `apt-get install chromium chromium-driver` \
         (`bash .ci/run` installs them)"
    )]
    Missing {
        /// Which program.
        what: &'static str,
        /// Where it was looked for.
        path: &'static str,
    },
    /// A local IO operation failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// chromedriver did not come up.
    #[error("chromedriver did not start: {reason}; its log:\n{log}")]
    Driver {
        /// Why it is considered failed.
        reason: String,
        /// The tail of its output.
        log: String,
    },
    /// The WebDriver session could not be created.
    #[error("chromedriver could not start Chromium")]
    Session(#[from] fantoccini::error::NewSessionError),
    /// A WebDriver command failed.
    #[error("WebDriver command failed")]
    Command(#[from] fantoccini::error::CmdError),
    /// The control plane could not be started or answered unexpectedly.
    #[error("control plane: {0}")]
    Server(String),
}

impl E2eError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> E2eError {
        let what = what.into();
        move |source| E2eError::Io { what, source }
    }
}

/// The live (not zombie) processes of process group `group`, from
/// `/proc/<pid>/stat`: what a test checks is empty after dropping a
/// browser.
pub fn live_processes_in_group(group: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.first().is_some_and(|state| *state != "Z")
                && fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(group)
        })
        .collect()
}

/// Where screenshots go: `<target dir>/ui-screenshots`, the target dir
/// being `CARGO_TARGET_DIR` (relative to the workspace root when relative)
/// or the workspace's `target/`. Never committed.
pub fn screenshot_dir() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace.join(dir)
            }
        }
        _ => workspace.join("target"),
    };
    target.join("ui-screenshots")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without Chromium or chromedriver, starting a browser fails (never
    /// skips) naming the missing program and how to install it.
    #[tokio::test]
    async fn a_missing_binary_is_an_error_naming_the_packages() {
        let proxy = RecordingProxy::start().await.expect("proxy");
        for (binaries, what) in [
            (
                Binaries {
                    chromium: "/nonexistent/chromium",
                    ..Binaries::DEBIAN
                },
                "Chromium",
            ),
            (
                Binaries {
                    chromedriver: "/nonexistent/chromedriver",
                    ..Binaries::DEBIAN
                },
                "chromedriver",
            ),
        ] {
            let Err(e) =
                Browser::start_with(binaries, "http://127.0.0.1:1", 1, &proxy, Size::DESKTOP).await
            else {
                panic!("a browser started without {what}");
            };
            assert!(
                matches!(e, E2eError::Missing { what: w, .. } if w == what),
                "{e}"
            );
            assert!(
                e.to_string()
                    .contains("apt-get install chromium chromium-driver")
            );
        }
    }

    #[test]
    fn the_test_process_is_found_in_its_group() {
        let me = std::process::id();
        let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
        let rest = stat.rsplit_once(')').expect("comm").1;
        let group: u32 = rest
            .split_whitespace()
            .nth(2)
            .expect("pgrp")
            .parse()
            .expect("num");
        assert!(live_processes_in_group(group).contains(&me));
        assert!(live_processes_in_group(u32::MAX).is_empty());
    }

    #[test]
    fn screenshots_go_under_the_target_dir() {
        let dir = screenshot_dir();
        assert!(dir.ends_with("ui-screenshots"), "{}", dir.display());
        assert!(
            dir.parent().is_some_and(
                |p| p.ends_with("target") || std::env::var_os("CARGO_TARGET_DIR").is_some()
            ),
            "{}",
            dir.display()
        );
    }
}
