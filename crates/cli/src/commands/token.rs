//! `seawall token create|list|revoke`: API tokens on the control plane
//! (admin tokens only). A new token's secret is printed once, on stdout,
//! and never again: only its SHA-256 is stored. `--expires 30d` makes a
//! token that stops working after that long; `--role sidecar --service S`
//! one that only follows service S's rules; `--role ci --event E` one that
//! only asks the gate about event E.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use seawall_api::tokens::{CreatedToken, NewToken, Role, Token, TokenList};

use super::api_client::{Api, ServerArgs};
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

/// Arguments of `token create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Unique name, recorded as the actor of the token's changes (`ci-payments`).
    name: String,
    /// What the token may do (docs/control-plane.md#roles).
    #[arg(long, value_enum)]
    role: Role,
    /// The business line a pm token is scoped to (an id of the plan's organization.business_lines).
    #[arg(long, value_name = "LINE")]
    line: Option<String>,
    /// The service a sidecar token is scoped to.
    #[arg(long, value_name = "SERVICE")]
    service: Option<String>,
    /// The event (slug) a ci token is bound to.
    #[arg(long, value_name = "EVENT")]
    event: Option<String>,
    /// The token stops working this long after it is made: 90m, 12h, 30d, 2w
    /// (1 minute to 10 years) [default: never].
    #[arg(long, value_name = "DURATION", value_parser = expiry)]
    expires: Option<u64>,
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

/// `--expires`: a duration with a unit (s, m, h, d, w), in seconds.
fn expiry(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90m, 12h, 30d or 2w"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "" => return Err(format!("`{text}` needs a unit: s, m, h, d or w (e.g. 30d)")),
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use s, m, h, d, w)"
            ));
        }
    };
    let secs = n
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too long"))?;
    if !(60..=10 * 365 * 86_400).contains(&secs) {
        return Err(format!("`{text}` is out of range: 1 minute to 10 years"));
    }
    Ok(secs)
}

fn create(args: &CreateArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.server)?;
    let new = NewToken {
        name: args.name.clone(),
        role: args.role,
        business_line: args.line.clone(),
        expires_in_seconds: args.expires,
        service: args.service.clone(),
        event: args.event.clone(),
    };
    let created: CreatedToken = api.call(api.client().create_token(&new))?;
    if args.format == Format::Json {
        output::emit_json(&created)?;
    } else {
        let t = &created.token;
        let scope = [
            t.business_line.as_deref().map(|l| format!(", line {l}")),
            t.service.as_deref().map(|s| format!(", service {s}")),
            t.event.as_deref().map(|e| format!(", event {e}")),
            t.expires_ms.map(|ms| format!(", expires {}", when(ms))),
        ]
        .into_iter()
        .flatten()
        .collect::<String>();
        eprintln!(
            "made token `{}` (id {}, role {}{scope}); its secret, shown this once:",
            t.name,
            t.id,
            args.role.as_str(),
        );
        output::emit(&format!("{}\n", created.secret))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn list(args: &ListArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.server)?;
    let tokens: TokenList = api.call(api.client().tokens())?;
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
            let tokens: TokenList = api.call(api.client().tokens())?;
            tokens
                .tokens
                .iter()
                .find(|t| t.name == args.which)
                .map(|t| t.id)
                .ok_or_else(|| anyhow::anyhow!("no token is named `{}`", args.which))?
        }
    };
    let token: Token = api.call(api.client().revoke_token(id))?;
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
        ("scope", Align::Left),
        ("created by", Align::Left),
        ("expires", Align::Left),
        ("revoked", Align::Left),
    ]);
    for t in tokens {
        g.row(vec![
            t.id.to_string().into(),
            t.name.as_str().into(),
            t.role.as_str().into(),
            t.business_line.as_deref().unwrap_or("").into(),
            t.service
                .as_deref()
                .map(|s| format!("service {s}"))
                .or_else(|| t.event.as_deref().map(|e| format!("event {e}")))
                .unwrap_or_default()
                .into(),
            t.created_by.as_str().into(),
            t.expires_ms.map(when).unwrap_or_default().into(),
            if t.revoked_ms.is_some() { "yes" } else { "" }.into(),
        ]);
    }
    page.grid(g);
    page
}

/// A time in ms since the epoch as RFC 3339 UTC, to the second.
fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| format!("{ms} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_takes_a_unit_and_a_sane_range() {
        assert_eq!(expiry("30d"), Ok(30 * 86_400));
        assert_eq!(expiry("2w"), Ok(14 * 86_400));
        assert_eq!(expiry("12h"), Ok(12 * 3_600));
        assert_eq!(expiry("90m"), Ok(90 * 60));
        for bad in [
            "30",
            "30x",
            "d",
            "",
            "59s",
            "3651d",
            "99999999999999999999w",
        ] {
            assert!(expiry(bad).is_err(), "{bad}");
        }
    }
}
