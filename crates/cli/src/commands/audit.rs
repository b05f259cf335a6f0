//! `seawall audit verify`: check the control plane's hash-chained audit
//! log. The entries are read through the API (`--server`, any token but
//! ci) or straight from the database (`--db` / `--data-dir`), and every
//! hash is recomputed here: the server's word is not taken for it. Exit 0
//! intact (the head is printed, to be written down and compared later:
//! a chain cannot show entries cut off its end), 1 broken (the first
//! broken entry's seq and what happened to it), 2 it could not be read.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};
use seawall_server::client::Client;
use seawall_server::verify;
use seawall_store::audit::{self, Break};
use seawall_store::{AuditEntry, StoreSpec};
use serde::Serialize;

use super::api_client::{runtime, unreachable};
use crate::input;
use crate::output::{self, Format};

/// `seawall audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every hash of the audit log; exit 0 intact, 1 broken.
    Verify(VerifyArgs),
}

/// Arguments of `audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Read through this control plane (https://HOST:PORT or http://HOST:PORT).
    #[arg(long, env = "SEAWALL_SERVER", value_name = "URL")]
    server: Option<String>,
    /// For an https:// --server: the PEM file of the CA that signed its
    /// certificate [default: the system's trust store].
    #[arg(long, env = "SEAWALL_CA", value_name = "FILE")]
    ca: Option<PathBuf>,
    /// API token for --server (any role but ci).
    #[arg(
        long,
        env = "SEAWALL_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Read straight from this database instead (`postgres://…`, `sqlite://PATH`).
    #[arg(long, value_name = "URL", hide_env_values = true, env = "SEAWALL_DB")]
    db: Option<String>,
    /// Read straight from the SQLite database in this data directory instead.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Give up on the server after this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = input::duration)]
    timeout: Duration,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Run `seawall audit …`.
pub fn run(command: &AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify(a) => verify_log(a),
    }
}

/// `{"intact": …}` as printed with `--format json`.
#[derive(Debug, Serialize)]
struct Verdict {
    intact: bool,
    /// Where the entries came from.
    source: String,
    /// Entries read.
    entries: usize,
    /// Last seq and hash (intact only).
    #[serde(skip_serializing_if = "Option::is_none")]
    head: Option<audit::Head>,
    /// First broken entry (broken only).
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<i64>,
    /// `edited`, `gap` or `link` (broken only).
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    /// What happened, in a sentence (broken only).
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

fn verify_log(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let (entries, source) = if args.db.is_some() || args.data_dir.is_some() {
        let dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("seawall-data"));
        let spec = StoreSpec::from_args(args.db.as_deref(), &dir)?;
        if let StoreSpec::Sqlite(path) = &spec
            && !path.is_file()
        {
            return Err(anyhow!(
                "no database at {}; give the --data-dir of `seawall serve` or --db",
                path.display()
            ));
        }
        let source = match &spec {
            StoreSpec::Sqlite(path) => path.display().to_string(),
            StoreSpec::Postgres(_) => "the PostgreSQL database".to_owned(),
        };
        let entries = runtime.block_on(async {
            let store = seawall_store::open(&spec)
                .await
                .context("cannot open the database")?;
            anyhow::Ok(verify::read_store(store.as_ref()).await?)
        })?;
        (entries, source)
    } else {
        let server = args.server.as_deref().ok_or_else(|| {
            anyhow!("say where the log is: --server URL (with --token), or --data-dir / --db")
        })?;
        let token = args
            .token
            .as_deref()
            .ok_or_else(|| anyhow!("--server needs --token (or SEAWALL_TOKEN)"))?;
        let client = Client::new_with_ca(server, args.ca.as_deref())
            .map_err(|e| anyhow!("{e}; check --server (SEAWALL_SERVER) and --ca (SEAWALL_CA)"))?
            .with_token(token.trim())
            .with_timeout(args.timeout);
        let entries = runtime
            .block_on(verify::fetch_all(&client))
            .map_err(|e| match e {
                verify::ReadError::Client(e) => unreachable(e, client.base()),
                other => anyhow!("cannot read the audit log: {other}"),
            })?;
        (entries, client.base().to_owned())
    };
    let verdict = judge(&entries, source);
    if args.format == Format::Json {
        output::emit_json(&verdict)?;
    } else {
        output::emit(&render(&verdict))?;
    }
    Ok(if verdict.intact {
        ExitCode::SUCCESS
    } else {
        super::invalid()
    })
}

fn judge(entries: &[AuditEntry], source: String) -> Verdict {
    let mut verdict = Verdict {
        intact: true,
        source,
        entries: entries.len(),
        head: None,
        seq: None,
        kind: None,
        message: None,
    };
    match audit::verify(entries) {
        Ok(head) => verdict.head = Some(head),
        Err(b) => {
            let (seq, kind) = match b {
                Break::Gap { found, .. } => (found, "gap"),
                Break::Link { seq } => (seq, "link"),
                Break::Edited { seq } => (seq, "edited"),
            };
            verdict.intact = false;
            verdict.seq = Some(seq);
            verdict.kind = Some(kind);
            verdict.message = Some(b.to_string());
        }
    }
    verdict
}

fn render(v: &Verdict) -> String {
    match (&v.head, &v.message) {
        (Some(head), _) => format!(
            "audit log intact: {} entries from {}\nhead: entry {} hash {}\n",
            v.entries, v.source, head.entries, head.hash
        ),
        (None, Some(message)) => format!(
            "audit log BROKEN at entry {} ({}): {message}\n({} entries read from {})\n",
            v.seq.unwrap_or_default(),
            v.kind.unwrap_or("?"),
            v.entries,
            v.source
        ),
        (None, None) => "audit log: no verdict\n".to_owned(),
    }
}
