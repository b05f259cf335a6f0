//! Whitelist files (`gray.releases.<id>.whitelist_file`): one user id per
//! line, millions of them, too many to write in the plan.
//!
//! The crate does no IO, so the caller reads the files ([`check_files`]
//! takes the reader) and this module judges their text: an id is visible
//! ASCII (no spaces or control characters) up to [`MAX_ID_LEN`] bytes;
//! blank lines and lines starting with `#` are skipped; leading and
//! trailing whitespace (a Windows `\r` too) is not part of the id. A bad id
//! is reported at its line and column, like a problem in the plan itself
//! (E096); a file that cannot be read at the plan's `whitelist_file` key
//! (E095). The same rules judge a whitelist uploaded to the control plane.

use crate::diag::{Diagnostic, Severity};
use crate::model::Plan;

/// Longest id, in bytes.
pub const MAX_ID_LEN: usize = 256;

/// Most ids one whitelist may hold (counted before duplicates are removed).
pub const MAX_IDS: usize = 10_000_000;

/// A line of a whitelist that is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct BadId {
    /// 1-based line.
    pub line: u32,
    /// 1-based column (characters).
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

/// The ids of a whitelist's text, in file order (duplicates kept), or the
/// first line that is not one.
pub fn ids(text: &str) -> Result<Vec<&str>, BadId> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let id = raw.trim();
        if id.is_empty() || id.starts_with('#') {
            continue;
        }
        // Column of the id's first character on the line.
        let lead = raw.len() - raw.trim_start().len();
        let start = raw[..lead].chars().count();
        let col = |chars_before: usize| u32::try_from(start + chars_before + 1).unwrap_or(u32::MAX);
        if let Some((i, c)) = id.chars().enumerate().find(|(_, c)| !c.is_ascii_graphic()) {
            let what = if c.is_whitespace() {
                "a space inside an id (one id per line)".to_owned()
            } else if c.is_control() {
                format!("a control character (U+{:04X}) in an id", u32::from(c))
            } else {
                format!("`{c}` is not visible ASCII")
            };
            return Err(BadId {
                line,
                column: col(i),
                message: what,
            });
        }
        if id.len() > MAX_ID_LEN {
            return Err(BadId {
                line,
                column: col(MAX_ID_LEN),
                message: format!("an id longer than {MAX_ID_LEN} bytes"),
            });
        }
        if out.len() == MAX_IDS {
            return Err(BadId {
                line,
                column: col(0),
                message: format!("more than {MAX_IDS} ids"),
            });
        }
        out.push(id);
    }
    Ok(out)
}

/// Reads every release's `whitelist_file` through `read` (given the name
/// as the plan writes it; the caller resolves it, usually against the
/// plan's directory) and judges it: E095 where a file cannot be read (at
/// the plan's key, in `plan_file`), E096 at the line and column of a bad
/// id (in the whitelist file). Empty when every file is good.
pub fn check_files(
    plan: &Plan,
    plan_file: &str,
    mut read: impl FnMut(&str) -> Result<String, String>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for r in plan.gray.releases.values() {
        let Some(name) = &r.whitelist_file else {
            continue;
        };
        let at = r.at.field("whitelist_file");
        match read(name) {
            Err(e) => out.push(Diagnostic {
                code: "E095",
                severity: Severity::Error,
                file: plan_file.to_owned(),
                path: at.path,
                line: at.line,
                column: at.column,
                message: format!("cannot read whitelist file `{name}`: {e}"),
                help: Some(
                    "name a file with one user id per line, relative to the plan's directory"
                        .to_owned(),
                ),
            }),
            Ok(text) => {
                if let Err(b) = ids(&text) {
                    out.push(Diagnostic {
                        code: "E096",
                        severity: Severity::Error,
                        file: name.clone(),
                        path: at.path,
                        line: b.line,
                        column: b.column,
                        message: format!("not a user id: {}", b.message),
                        help: Some(
                            "write one id per line (visible ASCII, no spaces); `#` starts a \
                             comment line"
                                .to_owned(),
                        ),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_skip_blanks_and_comments() {
        let text = "# staff\n42\n\n  alice \r\n#x\n007\n";
        assert_eq!(ids(text), Ok(vec!["42", "alice", "007"]));
    }

    #[test]
    fn bad_ids_are_located() {
        let e = ids("1\n2\n  bad id\n").expect_err("space");
        assert_eq!((e.line, e.column), (3, 6));
        let e = ids("ok\nx\u{7}y\n").expect_err("control");
        assert_eq!((e.line, e.column), (2, 2));
        assert!(e.message.contains("U+0007"), "{e}");
        let e = ids("añb\n").expect_err("non-ASCII");
        assert_eq!((e.line, e.column), (1, 2));
        let long = "9".repeat(MAX_ID_LEN + 1);
        let e = ids(&format!("1\n{long}\n")).expect_err("long");
        assert_eq!((e.line, e.column), (2, MAX_ID_LEN as u32 + 1));
    }
}
