//! `seawall token create|list|revoke`: API tokens on the control plane
//! (admin tokens only). A new token's secret is printed once, on stdout,
//! and never again: only its SHA-256 is stored.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use seawall_server::api::tokens::{CreatedToken, Token, TokenList};
use serde_json::json;

use super::api_client::{Api, ServerArgs, expect};
use crate::output::{self, Align, Format, Grid, Page};

/// `seawall token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token; its secret is printed this once.
    Create(CreateArgs),
    /// Every token (never a secret).
    List(ListArgs),
    /// Revoke a token by id or name: it authenticates nothing from then on.
    Revoke(RevokeArgs),
}

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Everything, including tokens.
    Admin,
    /// The guarantee group: events, plans, runs, exception decisions.
    Commander,
    /// A business line's technical PM (needs --line).
    Pm,
    /// On-call staff.
    Oncall,
    /// Reads only.
    Viewer,
    /// CI/CD pipelines: the change gate only.
    Ci,
}

/// Arguments of `token create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Unique name, recorded as the actor of the token's changes (`ci-payments`).
    name: String,
    /// What the token may do (docs/control-plane.md#roles).
    #[arg(long, value_enum)]
    role: RoleArg,
    /// The business line a pm token is scoped to (an id of the plan's organization.business_lines).
    #[arg(long, value_name = "LINE")]
    line: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Arguments of `token list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Arguments of `token revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's id or name.
    #[arg(value_name = "ID|NAME")]
    which: String,
    #[command(flatten)]
    server: ServerArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Run `seawall token …`.
pub fn run(command: &TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create(a) => create(a),
        TokenCommand::List(a) => list(a),
        TokenCommand::Revoke(a) => revoke(a),
    }
}

fn role_name(role: RoleArg) -> &'static str {
    match role {
        RoleArg::Admin => "admin",
        RoleArg::Commander => "commander",
        RoleArg::Pm => "pm",
        RoleArg::Oncall => "oncall",
        RoleArg::Viewer => "viewer",
        RoleArg::Ci => "ci",
    }
}

fn create(args: &CreateArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.server)?;
    let mut body = json!({"name": args.name, "role": role_name(args.role)});
    if let Some(line) = &args.line {
        body["business_line"] = json!(line);
    }
    let r = api.post("/api/v1/tokens", &body)?;
    let created: CreatedToken = expect(&r, 201)?;
    if args.format == Format::Json {
        output::emit_json(&created)?;
    } else {
        eprintln!(
            "made token `{}` (id {}, role {}{}); its secret, shown this once:",
            created.token.name,
            created.token.id,
            role_name(args.role),
            created
                .token
                .business_line
                .as_deref()
                .map(|l| format!(", line {l}"))
                .unwrap_or_default()
        );
        output::emit(&format!("{}\n", created.secret))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn list(args: &ListArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.server)?;
    let tokens: TokenList = api.get("/api/v1/tokens")?;
    match args.format {
        Format::Json => output::emit_json(&tokens)?,
        format => output::emit_page(&page(&tokens.tokens), format)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke(args: &RevokeArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.server)?;
    let id = match args.which.parse::<i64>() {
        Ok(id) => id,
        Err(_) => {
            let tokens: TokenList = api.get("/api/v1/tokens")?;
            tokens
                .tokens
                .iter()
                .find(|t| t.name == args.which)
                .map(|t| t.id)
                .ok_or_else(|| anyhow::anyhow!("no token is named `{}`", args.which))?
        }
    };
    let token: Token = api.delete(&format!("/api/v1/tokens/{id}"))?;
    if args.format == Format::Json {
        output::emit_json(&token)?;
    } else {
        output::emit(&format!(
            "revoked token `{}` (id {})\n",
            token.name, token.id
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The token table.
fn page(tokens: &[Token]) -> Page {
    let mut page = Page::new();
    let mut g = Grid::new(&[
        ("id", Align::Right),
        ("name", Align::Left),
        ("role", Align::Left),
        ("line", Align::Left),
        ("created by", Align::Left),
        ("revoked", Align::Left),
    ]);
    for t in tokens {
        let role = serde_json::to_value(t.role)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        g.row(vec![
            t.id.to_string().into(),
            t.name.as_str().into(),
            role.into(),
            t.business_line.as_deref().unwrap_or("").into(),
            t.created_by.as_str().into(),
            if t.revoked_ms.is_some() { "yes" } else { "" }.into(),
        ]);
    }
    page.grid(g);
    page
}
