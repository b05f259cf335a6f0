//! The log subscriber: the libraries (control plane, sidecar, simulator,
//! demo) log with `tracing` and never print; this is the one place that
//! decides where their lines go and how many there are.
//!
//! Level: `info` by default, `-v` debug, `-vv` trace, `-q` warnings and
//! errors, `-qq` errors only; `seawall serve --log-level` sets it for the
//! control plane. `RUST_LOG` (`LEVEL` or `target=LEVEL,…` directives, e.g.
//! `seawall_sidecar=debug,warn`) overrides all of these. Format: text, or
//! one JSON object per line with `--log-format json`.

use std::path::Path;
use std::sync::Mutex;

use clap::{ArgAction, Args, ValueEnum};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `timestamp LEVEL target: message key=value …`.
    Text,
    /// One JSON object per line.
    Json,
}

/// The logging flags, accepted by every command.
#[derive(Debug, Args)]
pub struct Logging {
    /// More log lines on stderr: -v debug, -vv trace (`RUST_LOG` overrides).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Fewer log lines: -q warnings and errors only, -qq errors only.
    #[arg(short, long, action = ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

impl Logging {
    /// The level from -v/-q, starting at `base`.
    fn level(&self, base: LevelFilter) -> LevelFilter {
        const ORDER: [LevelFilter; 6] = [
            LevelFilter::OFF,
            LevelFilter::ERROR,
            LevelFilter::WARN,
            LevelFilter::INFO,
            LevelFilter::DEBUG,
            LevelFilter::TRACE,
        ];
        let at = ORDER.iter().position(|l| *l == base).unwrap_or(3);
        let at = (at + usize::from(self.verbose))
            .saturating_sub(usize::from(self.quiet))
            .clamp(1, ORDER.len() - 1);
        ORDER[at]
    }

    /// Installs the subscriber writing to stderr.
    pub fn to_stderr(&self, base: LevelFilter) {
        self.install(base, std::io::stderr, crate::output::stderr_color());
    }

    /// Installs the subscriber writing to `path` (created or appended to).
    pub fn to_file(&self, base: LevelFilter, path: &Path) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        self.install(base, Mutex::new(file), false);
        Ok(())
    }

    fn install<W>(&self, base: LevelFilter, writer: W, ansi: bool)
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        let filter = match std::env::var("RUST_LOG") {
            Ok(spec) if !spec.trim().is_empty() => match spec.parse::<Targets>() {
                Ok(targets) => targets,
                Err(e) => {
                    eprintln!("warning: RUST_LOG `{spec}`: {e}; using the default level");
                    Targets::new().with_default(self.level(base))
                }
            },
            _ => Targets::new().with_default(self.level(base)),
        };
        let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
        let installed = match self.log_format {
            LogFormat::Text => tracing_subscriber::registry()
                .with(fmt.with_ansi(ansi).with_filter(filter))
                .try_init(),
            LogFormat::Json => tracing_subscriber::registry()
                .with(fmt.json().with_filter(filter))
                .try_init(),
        };
        if installed.is_err() {
            eprintln!("warning: a logger is already installed; keeping it");
        }
    }
}
