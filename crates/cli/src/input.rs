//! Reading the plan and other inputs, and reporting invalid plans.
//!
//! Everything that touches the file system or the clock lives here, so the
//! commands stay thin. Invalid plans are reported with miette: one graphical
//! report per [`Diagnostic`], with the plan's source line, a label at the
//! diagnostic's line and column, and its `help`.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use jiff::Timestamp;
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode, SourceSpan,
};
use seawall_plan::capacity::Measured;
use seawall_plan::{Diagnostic, Plan};
use serde::{Deserialize, Serialize};

use crate::output::{self, Format};

/// Read and parse the plan at `path`.
///
/// `Ok(None)` means the plan is invalid: its diagnostics have been rendered
/// to stderr (and, with `--format json`, printed as JSON to stdout). An
/// `Err` is an input problem such as an unreadable file.
pub fn load(path: &Path, format: Format) -> anyhow::Result<Option<Plan>> {
    let src = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan file `{}`", path.display()))?;
    let file = path.display().to_string();
    match seawall_plan::parse(&src, &file) {
        Ok(plan) => {
            // Whitelist files, relative to the plan's directory.
            let dir = path.parent().unwrap_or(Path::new("."));
            let bad = seawall_plan::whitelist::check_files(&plan, &file, |name| {
                std::fs::read_to_string(dir.join(name)).map_err(|e| e.to_string())
            });
            if bad.is_empty() {
                return Ok(Some(plan));
            }
            // Located in their own files (E096) or at the plan's key
            // (E095): the plain `file:line:col` form, then the help.
            for d in &bad {
                eprintln!("{d}");
            }
            if format == Format::Json {
                output::emit_json(&Invalid {
                    valid: false,
                    diagnostics: &bad,
                })?;
            }
            Ok(None)
        }
        Err(diagnostics) => {
            report(&src, &file, &diagnostics.0);
            if format == Format::Json {
                output::emit_json(&Invalid {
                    valid: false,
                    diagnostics: &diagnostics.0,
                })?;
            }
            Ok(None)
        }
    }
}

/// `{"valid": false, "diagnostics": [...]}`.
#[derive(Serialize)]
struct Invalid<'a> {
    valid: bool,
    diagnostics: &'a [Diagnostic],
}

/// Render diagnostics to stderr with miette, then a one-line total.
pub fn report(src: &str, file: &str, diagnostics: &[Diagnostic]) {
    eprint!("{}", render(src, file, diagnostics, output::stderr_color()));
}

/// The text [`report`] prints.
pub fn render(src: &str, file: &str, diagnostics: &[Diagnostic], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let source = NamedSource::new(file, src.to_string());
    let mut out = String::new();
    for d in diagnostics {
        // The grep-able `file:line:col: error[CODE]: message` line first,
        // then miette's snippet with the label and help.
        let plain = d.to_string();
        out.push_str(plain.lines().next().unwrap_or_default());
        out.push('\n');
        let report = Report {
            d,
            source: &source,
            // miette draws a label with a format width of its visual column,
            // and Rust refuses widths past 65,535 (a panic): far out on a
            // long line (a minified plan, a limit crossed mid-line) the
            // snippet is left out and the first line says where.
            span: (d.column <= MAX_SNIPPET_COLUMN)
                .then(|| span_at(src, d.line, d.column))
                .flatten(),
        };
        if handler.render_report(&mut out, &report).is_err() {
            // Fall back to the plain one-line form.
            out.push_str(&d.to_string());
            out.push('\n');
        }
        out.push('\n');
    }
    match diagnostics.len() {
        0 => out.push_str(&format!("error: `{file}` is not a valid plan\n")),
        1 => out.push_str(&format!("error: `{file}` has 1 problem\n")),
        n => out.push_str(&format!("error: `{file}` has {n} problems\n")),
    }
    out
}

/// The last column with a source snippet: tabs drawn 4 wide and wide
/// characters 2 wide stay far below miette's 65,535.
const MAX_SNIPPET_COLUMN: u32 = 10_000;

/// Byte span of the token at a 1-based line and (character) column.
fn span_at(src: &str, line: u32, column: u32) -> Option<SourceSpan> {
    if line == 0 {
        return None;
    }
    let mut offset = 0usize;
    let mut text = None;
    for (i, l) in src.split_inclusive('\n').enumerate() {
        if i + 1 == line as usize {
            text = Some(l);
            break;
        }
        offset += l.len();
    }
    let text = text?;
    let col = column.max(1) as usize - 1;
    let (start, rest) = match text.char_indices().nth(col) {
        Some((b, _)) => (b, &text[b..]),
        None => (text.trim_end_matches(['\n', '\r']).len(), ""),
    };
    let len = rest
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || matches!(c, ':' | ',' | '{' | '}' | '[' | ']' | '#'))
        .map(|(b, _)| b)
        .unwrap_or(rest.trim_end().len());
    Some(SourceSpan::new(
        (offset + start).into(),
        len.max(usize::from(!rest.is_empty())),
    ))
}

/// A [`Diagnostic`] seen through miette.
struct Report<'a> {
    d: &'a Diagnostic,
    source: &'a NamedSource<String>,
    span: Option<SourceSpan>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.d, f)
    }
}

impl fmt::Display for Report<'_> {
    /// The message is already on the header line; miette's `×` line names
    /// where in the plan the problem is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.d.path.is_empty() {
            f.write_str("in the plan")
        } else {
            write!(f, "in `{}`", self.d.path)
        }
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.severity {
            seawall_plan::Severity::Error => miette::Severity::Error,
            seawall_plan::Severity::Warning => miette::Severity::Warning,
            seawall_plan::Severity::Info => miette::Severity::Advice,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.d
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'b>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.span.map(|_| self.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span?;
        let label = Some(format!("{}[{}]", self.d.severity, self.d.code));
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            label, span,
        ))))
    }
}

/// A time given on the command line: RFC 3339, or a plan time in the
/// event's time zone; `None` means now.
pub fn time(arg: Option<&str>, plan: &Plan) -> anyhow::Result<Timestamp> {
    match arg {
        None => Ok(Timestamp::now()),
        Some(s) => seawall_plan::time::parse_time(s, &plan.event.tz)
            .map_err(|e| anyhow::anyhow!("invalid --at: {e}")),
    }
}

/// The provisional rehearsal-results file (`seawall.run/v1`).
#[derive(Debug, Deserialize)]
struct RunFile {
    schema: String,
    #[serde(default)]
    entries: Vec<RunEntry>,
    #[serde(default)]
    services: Vec<RunService>,
}

#[derive(Debug, Deserialize)]
struct RunEntry {
    id: String,
    /// `null` or absent: the run found no knee for this entry.
    #[serde(default)]
    knee_qps: Option<f64>,
    /// Set when the search was generator-bound for this entry: its
    /// capacity is at least this, its knee unmeasured.
    #[serde(default)]
    lower_bound_qps: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct RunService {
    id: String,
    capacity_per_instance: f64,
}

/// Schema id of the results file.
pub const RUN_SCHEMA: &str = "seawall.run/v1";

/// Read measured capacities from a `seawall.run/v1` JSON file. Ids the plan
/// does not know are ignored with a warning on stderr.
pub fn measured(path: &Path, plan: &Plan) -> anyhow::Result<Measured> {
    measured_with_notes(path, plan).map(|(m, _)| m)
}

/// [`measured`], and one note per plan entry whose search was
/// generator-bound (its declared capacity is kept: a lower bound is not a
/// capacity).
pub fn measured_with_notes(path: &Path, plan: &Plan) -> anyhow::Result<(Measured, Vec<String>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read results file `{}`", path.display()))?;
    let run: RunFile = serde_json::from_str(&text)
        .with_context(|| format!("`{}` is not a {RUN_SCHEMA} results file", path.display()))?;
    if run.schema != RUN_SCHEMA {
        bail!(
            "`{}` has schema `{}`; this seawall reads `{RUN_SCHEMA}`",
            path.display(),
            run.schema
        );
    }
    let mut measured = Measured {
        source: Some(path.display().to_string()),
        ..Measured::default()
    };
    let mut notes = Vec::new();
    for e in run.entries {
        let Some(knee_qps) = e.knee_qps else {
            if let Some(lower) = e.lower_bound_qps
                && plan.entries.contains_key(&e.id)
            {
                notes.push(format!(
                    "entry `{}`: measured ≥ {} qps, generator-bound (the load generator, not the system, was the limit), so its declared capacity is kept",
                    e.id,
                    crate::output::rate(lower)
                ));
            }
            continue;
        };
        if !(knee_qps.is_finite() && knee_qps >= 0.0) {
            bail!(
                "`{}`: entry `{}` has knee_qps {}; it must be a number ≥ 0",
                path.display(),
                e.id,
                knee_qps
            );
        }
        if plan.entries.contains_key(&e.id) {
            measured.entries.insert(e.id, knee_qps);
        } else {
            eprintln!(
                "warning: `{}`: entry `{}` is not in the plan; ignored",
                path.display(),
                e.id
            );
        }
    }
    for s in run.services {
        if !(s.capacity_per_instance.is_finite() && s.capacity_per_instance > 0.0) {
            bail!(
                "`{}`: service `{}` has capacity_per_instance {}; it must be a number > 0",
                path.display(),
                s.id,
                s.capacity_per_instance
            );
        }
        if plan.services.contains_key(&s.id) {
            measured
                .services_per_instance
                .insert(s.id, s.capacity_per_instance);
        } else {
            eprintln!(
                "warning: `{}`: service `{}` is not in the plan; ignored",
                path.display(),
                s.id
            );
        }
    }
    Ok((measured, notes))
}

/// `10s`, `500ms`, `2m`, `1h`, or a bare number of seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30s, 500ms, 2m"))?;
    let factor = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}` (use ms, s, m, h)"
            ));
        }
    };
    Duration::try_from_secs_f64(n * factor)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("`{text}` must be a positive duration"))
}

/// Refuse, before any load, an output path that cannot be written: its
/// directory is missing or read-only, or the path is a directory.
pub fn writable(path: &Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let meta = std::fs::metadata(dir).with_context(|| {
        format!(
            "cannot write `{}`: directory `{}` does not exist",
            path.display(),
            dir.display()
        )
    })?;
    if !meta.is_dir() || meta.permissions().readonly() {
        bail!(
            "cannot write `{}`: `{}` is not a writable directory",
            path.display(),
            dir.display()
        );
    }
    if path.is_dir() {
        bail!("cannot write `{}`: it is a directory", path.display());
    }
    Ok(())
}

/// Write to a temporary file beside `path`, then rename: readers see the
/// old file or the whole new one, never a part; the temporary file is
/// removed when either step fails.
pub fn write_whole(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot write `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnostic_far_out_on_a_long_line_renders_without_a_snippet() {
        // One line of 200,000 values: the duplicate key is at column
        // ~1.9 million, where miette's label would panic.
        let mut src = String::from("event: {name: x}\nx: {a: 1, ");
        for i in 0..200_000 {
            src.push_str(&format!("k{i}: 1, "));
        }
        src.push_str("a: 2}\n");
        let diags = seawall_plan::parse(&src, "long.yaml").expect_err("duplicate key");
        assert!(diags.0[0].column > MAX_SNIPPET_COLUMN, "{}", diags.render());
        let text = render(&src, "long.yaml", &diags.0, false);
        assert!(text.starts_with("long.yaml:2:"), "{text}");
        assert!(text.contains("duplicate"), "{text}");
    }

    #[test]
    fn durations_of_load_flags() {
        assert_eq!(duration("10s"), Ok(std::time::Duration::from_secs(10)));
        assert_eq!(duration("10"), Ok(std::time::Duration::from_secs(10)));
        assert_eq!(duration("250ms"), Ok(std::time::Duration::from_millis(250)));
        assert_eq!(duration("1.5m"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(duration("1h"), Ok(std::time::Duration::from_secs(3600)));
        assert!(duration("ten").is_err());
        assert!(duration("5d").is_err());
        assert!(duration("-1s").is_err());
    }

    #[test]
    fn parses_durations() {
        use std::time::Duration;
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert!(duration("0s").is_err());
        assert!(duration("5 days").is_err());
        assert!(duration("s").is_err());
    }

    #[test]
    fn writes_whole_files_or_refuses_early() {
        let dir = std::env::temp_dir().join(format!("seawall-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("out.json");
        assert!(writable(&path).is_ok());
        write_whole(&path, b"{}").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"{}");
        assert!(writable(&dir.join("missing").join("out.json")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn spans_cover_the_token() {
        let src = "event:\n  nmae: demo\n";
        let span = span_at(src, 2, 3).expect("span");
        assert_eq!(&src[span.offset()..span.offset() + span.len()], "nmae");
        let span = span_at(src, 2, 9).expect("span");
        assert_eq!(&src[span.offset()..span.offset() + span.len()], "demo");
        assert!(span_at(src, 0, 0).is_none());
        assert!(span_at(src, 9, 1).is_none());
        // Past the end of a line: an empty span at its end.
        let span = span_at(src, 1, 40).expect("span");
        assert_eq!(span.offset(), 6);
    }

    #[test]
    fn renders_code_label_and_help() {
        let src = "event:\n  nmae: demo\n";
        let d = Diagnostic {
            code: "E010",
            severity: seawall_plan::Severity::Error,
            file: "plan.yaml".into(),
            path: "event.nmae".into(),
            line: 2,
            column: 3,
            message: "unknown key `nmae`".into(),
            help: Some("did you mean `name`?".into()),
        };
        let text = render(src, "plan.yaml", &[d], false);
        assert!(text.contains("E010"), "{text}");
        assert!(text.contains("plan.yaml:2:3"), "{text}");
        assert!(text.contains("did you mean `name`?"), "{text}");
        assert!(text.contains("event.nmae"), "{text}");
        assert!(
            text.ends_with("error: `plan.yaml` has 1 problem\n"),
            "{text}"
        );
    }
}
