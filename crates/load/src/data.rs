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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
        Self::parse_csv_bytes(name, file, text.as_bytes())
    }

    /// [`parse_csv`](Self::parse_csv) of a file's bytes: text that is not
    /// UTF-8 is refused with the line and column of its first bad byte.
    pub fn parse_csv_bytes(name: &str, file: &str, bytes: &[u8]) -> Result<Self, LoadError> {
        let err = |(line, column, reason): (usize, usize, String)| LoadError::Csv {
            file: file.to_owned(),
            line,
            column,
            reason,
        };
        let text = std::str::from_utf8(bytes).map_err(|e| err(not_utf8(bytes, &e)))?;
        let mut records = read_records(text).map_err(err)?.into_iter();
        let Some((_, header)) = records.next() else {
            return Err(err((
                1,
                1,
                "empty file: expected a header row of column names".into(),
            )));
        };
        let columns = column_names(&header).map_err(err)?;
        let mut rows = Vec::new();
        for (line, fields) in records {
            if fields.len() != columns.len() {
                return Err(err((
                    line,
                    1,
                    format!(
                        "{} fields, but the header has {} columns ({})",
                        fields.len(),
                        columns.len(),
                        columns.join(", ")
                    ),
                )));
            }
            rows.push(fields);
        }
        if rows.is_empty() {
            return Err(err((2, 1, "no data rows after the header".into())));
        }
        Ok(Self {
            name: name.to_owned(),
            columns,
            rows,
        })
    }
}

/// A CSV problem: 1-based line and column, and what is wrong.
type CsvProblem = (usize, usize, String);

/// The header's column names: each usable as `{{name}}`, none twice.
fn column_names(header: &[String]) -> Result<Vec<String>, CsvProblem> {
    let mut columns: Vec<String> = Vec::with_capacity(header.len());
    for (i, col) in header.iter().enumerate() {
        let col = col.trim();
        if col.is_empty()
            || !col
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            return Err((
                1,
                i + 1,
                format!(
                    "column name `{col}` must be non-empty letters, digits, `_` or `-` (it is used as {{{{{col}}}}})"
                ),
            ));
        }
        if columns.iter().any(|c| c == col) {
            return Err((1, i + 1, format!("duplicate column `{col}`")));
        }
        columns.push(col.to_owned());
    }
    Ok(columns)
}

/// Where the first byte that is not UTF-8 sits.
fn not_utf8(bytes: &[u8], e: &std::str::Utf8Error) -> CsvProblem {
    let good = &bytes[..e.valid_up_to()];
    let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
    // The prefix is valid UTF-8 up to `valid_up_to`, so this is lossless.
    let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
    (
        line,
        column,
        "not UTF-8 text (save the file as UTF-8)".into(),
    )
}

/// The records of CSV text, each with its 1-based starting line; blank
/// lines are skipped. The `csv` crate splits and unquotes; it reads
/// leniently (a stray quote is text, an unclosed one runs to the end), so
/// [`check_quotes`] first refuses what it would silently accept.
fn read_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, CsvProblem> {
    check_quotes(text)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = Vec::new();
    let mut record = csv::StringRecord::new();
    // Bounded: each read consumes at least one record of the text.
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(records),
            Err(e) => {
                let start = e
                    .position()
                    .and_then(|p| usize::try_from(p.byte()).ok())
                    .unwrap_or(0);
                return Err((line_at(text, start), 1, e.to_string()));
            }
        }
        let start = record
            .position()
            .and_then(|p| usize::try_from(p.byte()).ok())
            .unwrap_or(0);
        records.push((
            line_at(text, start),
            record.iter().map(str::to_owned).collect(),
        ));
    }
}

/// The 1-based line of the record that starts at byte `start` or after
/// the blank lines there (the `csv` crate's own line count leaves blank
/// lines out).
fn line_at(text: &str, start: usize) -> usize {
    let rest = text.get(start..).unwrap_or("");
    let blank = rest.len() - rest.trim_start_matches(['\r', '\n']).len();
    let end = (start + blank).min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Refuse a quote the strict grammar does not allow: one inside an
/// unquoted field, text after a closing quote, or a quote never closed.
fn check_quotes(text: &str) -> Result<(), CsvProblem> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (mut line, mut column, mut start_line) = (1, 0, 1);
    let (mut in_quotes, mut closed, mut field_start) = (false, false, true);
    let mut chars = text.chars().peekable();
    // Bounded: one iteration per character.
    while let Some(c) = chars.next() {
        column += 1;
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    column += 1;
                }
                '"' => (in_quotes, closed) = (false, true),
                '\n' => (line, column) = (line + 1, 0),
                _ => {}
            }
            continue;
        }
        match c {
            '"' if field_start => in_quotes = true,
            '"' => {
                return Err((
                    line,
                    column,
                    "stray `\"`: quote the whole field and double quotes inside it (`\"a \"\"b\"\"\"`)"
                        .into(),
                ));
            }
            ',' => {
                (field_start, closed) = (true, false);
                continue;
            }
            '\r' if chars.peek() == Some(&'\n') => continue,
            '\n' => {
                (line, column, start_line) = (line + 1, 0, line + 1);
                (field_start, closed) = (true, false);
                continue;
            }
            _ if closed => {
                return Err((
                    line,
                    column,
                    "text after a closing quote: a quoted field must end at `,` or the line end"
                        .into(),
                ));
            }
            _ => {}
        }
        field_start = false;
    }
    if in_quotes {
        return Err((
            start_line,
            1,
            "unterminated quoted field (a `\"` is never closed)".into(),
        ));
    }
    Ok(())
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
    fn bad_input_names_its_line() {
        // An unterminated quote: the line its record starts on.
        let (l, c, r) = csv_err("a,b\n1,2\n3,\"open\nmore\n");
        assert_eq!((l, c), (3, 1));
        assert!(r.contains("unterminated"), "{r}");
        // Ragged rows, counted in lines of the file (a quoted field spans
        // two; blank lines count too).
        let (l, c, r) = csv_err("a,b\n1,\"x\ny\"\n2,3,4\n");
        assert_eq!((l, c), (4, 1));
        assert!(
            r.contains("3 fields, but the header has 2 columns (a, b)"),
            "{r}"
        );
        let (l, _, r) = csv_err("a,b\n\n1,2\n\n3\n");
        assert_eq!(l, 5);
        assert!(r.contains("1 fields"), "{r}");
        // Not UTF-8: the line and column of the first bad byte.
        let e = DataSet::parse_csv_bytes("d", "d.csv", b"a,b\n1,2\n\xc3\xa9,\xff\n")
            .expect_err("not UTF-8");
        let LoadError::Csv { line, column, .. } = &e else {
            panic!("expected a CSV error, got {e:?}");
        };
        assert_eq!((*line, *column), (3, 3));
        assert!(e.to_string().starts_with("d.csv:3:3: not UTF-8"), "{e}");
    }

    #[test]
    fn crlf_bom_and_blank_lines_are_read() {
        let d =
            DataSet::parse_csv("d", "d.csv", "\u{feff}a,b\r\n\r\n1,\"2\r\n3\"\r\n").expect("valid");
        assert_eq!(d.columns, ["a", "b"]);
        assert_eq!(d.rows, [["1", "2\r\n3"]]);
    }

    proptest::proptest! {
        /// Any table written the RFC 4180 way (every field quoted, quotes
        /// doubled, LF or CRLF) reads back as it was, each row on its line.
        #[test]
        fn written_tables_read_back(
            rows in proptest::collection::vec(
                proptest::collection::vec("[a-z\"\\n ,é]{0,6}", 3),
                1..6,
            ),
            crlf in proptest::bool::ANY,
        ) {
            let end = if crlf { "\r\n" } else { "\n" };
            let quote = |f: &str| format!("\"{}\"", f.replace('"', "\"\""));
            let mut text = format!("a,b,c{end}");
            for row in &rows {
                let fields: Vec<String> = row.iter().map(|f| quote(f)).collect();
                text.push_str(&fields.join(","));
                text.push_str(end);
            }
            let d = DataSet::parse_csv("d", "d.csv", &text).expect("valid");
            proptest::prop_assert_eq!(&d.rows, &rows);
            // A short last row is named by its own line.
            let line = text.matches('\n').count() + 1;
            let (l, _, _) = csv_err(&format!("{text}x{end}"));
            proptest::prop_assert_eq!(l, line);
        }
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
