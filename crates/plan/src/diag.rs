//! Diagnostics and source locations.
//!
//! Every problem the parser or validator finds becomes a [`Diagnostic`] that
//! points at a line and column of the plan file, so users can fix the plan
//! without guessing. Analyses reuse [`Location`] to say where a finding lives.

use std::fmt;

use serde::Serialize;

/// A 1-based line and column in the plan text (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Loc {
    /// 1-based line; 0 when unknown.
    pub line: u32,
    /// 1-based column; 0 when unknown.
    pub column: u32,
}

impl Loc {
    /// A location at `line`, `column`.
    pub const fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

/// Where a plan item (or one of its keys) lives: a YAML path such as
/// `services.order-api.dependencies[1].timeout_ms` plus its line and column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct Location {
    /// Dotted YAML path from the document root.
    pub path: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} ({})", self.line, self.column, self.path)
    }
}

/// The position of one decoded plan item: its path, the location of its
/// value, and the locations of the keys it had in the file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct At {
    /// Dotted YAML path of the item.
    pub path: String,
    /// Location of the item's value node.
    pub loc: Loc,
    /// Locations of the item's keys' values, by key name.
    pub fields: Vec<(String, Loc)>,
}

impl At {
    /// Location of the item itself.
    pub fn location(&self) -> Location {
        Location {
            path: self.path.clone(),
            line: self.loc.line,
            column: self.loc.column,
        }
    }

    /// Location of `key` within the item when the file has it, else of the
    /// item (so a finding about a *missing* key points at its parent).
    pub fn field(&self, key: &str) -> Location {
        match self.fields.iter().find(|(k, _)| k == key) {
            Some((_, loc)) => Location {
                path: join_path(&self.path, key),
                line: loc.line,
                column: loc.column,
            },
            None => self.location(),
        }
    }

    /// Whether the file spelled out `key` for this item.
    pub fn has(&self, key: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == key)
    }
}

/// `parent.key`, or `key` at the root.
pub fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// How bad a diagnostic or finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Must be fixed; the plan is invalid or the risk is blocking.
    Error,
    /// Should be fixed before the event.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    /// Lower-case name as used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found while reading or validating a plan.
///
/// Rendered as `file:line:col: error[CODE]: message` followed by a
/// `help:` line; codes are stable and listed in `docs/plan-reference.md`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// Stable code such as `E010`.
    pub code: &'static str,
    /// Always [`Severity::Error`] for validation problems.
    pub severity: Severity,
    /// File name as given to the parser.
    pub file: String,
    /// YAML path of the offending node (may be empty for syntax errors).
    pub path: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}[{}]: {}",
            self.file, self.line, self.column, self.severity, self.code, self.message
        )?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// All diagnostics of a plan that failed to parse or validate, in file order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} problem(s) in the plan", .0.len())]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Every diagnostic as text, one block per diagnostic.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.0 {
            out.push_str(&d.to_string());
            out.push('\n');
        }
        out
    }
}
