//! Data for templated steps: CSV data sets (parsed before the first
//! request, so a bad file stops the run with its line and column before any
//! load) and `{{var}}` templates checked against the variables a step can
//! see.

use std::collections::HashMap;

use crate::LoadError;

/// A CSV data set: a header row of column names, then rows of values.
///
/// Each journey arrival takes the next row, round-robin in file order
/// (arrival `k` gets row `k mod rows`), and sees every column both as
/// `{{column}}` and as `{{name.column}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSet {
    /// Name of the data set (the key under the scenario's `data`).
    pub name: String,
    /// Column names from the header row.
    pub columns: Vec<String>,
    /// Rows; each has exactly one value per column.
    pub rows: Vec<Vec<String>>,
}

impl DataSet {
    /// Parse CSV text (RFC 4180: comma-separated, `"` quotes fields, `""`
    /// is a quote inside a quoted field, LF or CRLF line ends). `file` is
    /// only used in error messages. The first row names the columns; every
    /// row must have as many fields; at least one data row is required.
    pub fn parse_csv(name: &str, file: &str, text: &str) -> Result<Self, LoadError> {
        let err = |line: usize, column: usize, reason: String| LoadError::Csv {
            file: file.to_owned(),
            line,
            column,
            reason,
        };
        let records = split_records(text).map_err(|(l, c, r)| err(l, c, r))?;
        let mut records = records.into_iter();
        let Some((_, header)) = records.next() else {
            return Err(err(
                1,
                1,
                "empty file: expected a header row of column names".into(),
            ));
        };
        let mut columns = Vec::with_capacity(header.len());
        for (i, col) in header.iter().enumerate() {
            let col = col.trim();
            if col.is_empty()
                || !col
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            {
                return Err(err(
                    1,
                    i + 1,
                    format!(
                        "column name `{col}` must be non-empty letters, digits, `_` or `-` (it is used as {{{{{col}}}}})"
                    ),
                ));
            }
            if columns.iter().any(|c| c == col) {
                return Err(err(1, i + 1, format!("duplicate column `{col}`")));
            }
            columns.push(col.to_owned());
        }
        let mut rows = Vec::new();
        for (line, fields) in records {
            if fields.len() != columns.len() {
                return Err(err(
                    line,
                    1,
                    format!(
                        "{} fields, but the header has {} columns ({})",
                        fields.len(),
                        columns.len(),
                        columns.join(", ")
                    ),
                ));
            }
            rows.push(fields);
        }
        if rows.is_empty() {
            return Err(err(2, 1, "no data rows after the header".into()));
        }
        Ok(Self {
            name: name.to_owned(),
            columns,
            rows,
        })
    }
}

type Records = Vec<(usize, Vec<String>)>;

/// Split CSV text into records, each with its 1-based starting line.
/// Blank lines are skipped.
fn split_records(text: &str) -> Result<Records, (usize, usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut column = 0;
    let mut start_line = 1;
    let mut in_quotes = false;
    let mut quoted = false; // the current field was quoted (and closed)
    let mut chars = text.chars().peekable();
    // Bounded: one iteration per character.
    while let Some(c) = chars.next() {
        column += 1;
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    column += 1;
                    field.push('"');
                }
                '"' => {
                    in_quotes = false;
                    quoted = true;
                }
                '\n' => {
                    field.push('\n');
                    line += 1;
                    column = 0;
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !quoted => in_quotes = true,
            '"' => {
                return Err((
                    line,
                    column,
                    "stray `\"`: quote the whole field and double quotes inside it (`\"a \"\"b\"\"\"`)"
                        .into(),
                ));
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                quoted = false;
                if !(fields.len() == 1 && fields[0].is_empty()) {
                    records.push((start_line, std::mem::take(&mut fields)));
                }
                fields.clear();
                line += 1;
                column = 0;
                start_line = line;
            }
            _ if quoted => {
                return Err((
                    line,
                    column,
                    "text after a closing quote: a quoted field must end at `,` or the line end"
                        .into(),
                ));
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err((
            start_line,
            1,
            "unterminated quoted field (a `\"` is never closed)".into(),
        ));
    }
    if !field.is_empty() || quoted || !fields.is_empty() {
        fields.push(field);
        records.push((start_line, fields));
    }
    Ok(records)
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(String),
}

/// A string with `{{var}}` placeholders, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parse `text`; `{{ name }}` (spaces allowed) is a variable.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        // Bounded: each pass consumes at least the `{{`.
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(format!("`{{{{` without a closing `}}}}` in `{text}`"));
            };
            let name = after[..close].trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                return Err(format!(
                    "`{{{{{name}}}}}` in `{text}` is not a variable name (letters, digits, `_`, `-`, `.`)"
                ));
            }
            pieces.push(Piece::Var(name.to_owned()));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Self { pieces })
    }

    /// Variables the template uses, in order.
    pub(crate) fn vars(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var(v) => Some(v.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// Whether the template has no variables.
    pub(crate) fn is_static(&self) -> bool {
        self.vars().next().is_none()
    }

    /// Substitute variables; `Err(name)` names the first one not in `vars`.
    pub(crate) fn render(&self, vars: &HashMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => match vars.get(v) {
                    Some(value) => out.push_str(value),
                    None => return Err(v.clone()),
                },
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_csv() {
        let d = DataSet::parse_csv(
            "users",
            "u.csv",
            "user_id,name\r\n1,\"Doe, \"\"J\"\"\"\n\n2,\"multi\nline\"\n3,",
        )
        .expect("valid");
        assert_eq!(d.columns, ["user_id", "name"]);
        assert_eq!(d.rows.len(), 3);
        assert_eq!(d.rows[0], ["1", "Doe, \"J\""]);
        assert_eq!(d.rows[1], ["2", "multi\nline"]);
        assert_eq!(d.rows[2], ["3", ""]);
    }

    fn csv_err(text: &str) -> (usize, usize, String) {
        match DataSet::parse_csv("d", "d.csv", text) {
            Err(LoadError::Csv {
                line,
                column,
                reason,
                ..
            }) => (line, column, reason),
            other => panic!("expected a CSV error, got {other:?}"),
        }
    }

    #[test]
    fn reports_bad_csv_with_line_and_column() {
        let (l, _, r) = csv_err("a,b\n1,2\n3\n");
        assert_eq!(l, 3);
        assert!(r.contains("1 fields"), "{r}");
        let (l, c, _) = csv_err("a,b\n1,x\"y\n");
        assert_eq!((l, c), (2, 4));
        let (l, _, r) = csv_err("a,b\n1,\"open\n");
        assert_eq!(l, 2);
        assert!(r.contains("unterminated"), "{r}");
        let (l, c, _) = csv_err("a,a\n1,2\n");
        assert_eq!((l, c), (1, 2));
        let (l, _, r) = csv_err("a,b\n");
        assert_eq!(l, 2);
        assert!(r.contains("no data rows"), "{r}");
        let (l, _, _) = csv_err("");
        assert_eq!(l, 1);
        let (l, c, _) = csv_err("a,{b}\n1,2\n");
        assert_eq!((l, c), (1, 2));
        let e = DataSet::parse_csv("d", "data/d.csv", "a\n\"x\"y\n").expect_err("bad");
        assert!(e.to_string().starts_with("data/d.csv:2:4:"), "{e}");
    }

    #[test]
    fn templates_render_and_name_missing_vars() {
        let t = Template::parse("/api/{{ user_id }}/orders/{{order.id}}?x=1").expect("valid");
        assert_eq!(t.vars().collect::<Vec<_>>(), ["user_id", "order.id"]);
        let mut vars = HashMap::new();
        vars.insert("user_id".to_owned(), "7".to_owned());
        assert_eq!(t.render(&vars), Err("order.id".to_owned()));
        vars.insert("order.id".to_owned(), "o9".to_owned());
        assert_eq!(t.render(&vars).as_deref(), Ok("/api/7/orders/o9?x=1"));
        assert!(Template::parse("/static").expect("valid").is_static());
        assert!(Template::parse("/a/{{x").is_err());
        assert!(Template::parse("/a/{{}}").is_err());
        assert!(Template::parse("/a/{{a b}}").is_err());
    }
}
