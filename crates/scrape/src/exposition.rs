//! A parser for the Prometheus text exposition format (0.0.4) and
//! OpenMetrics text (1.0): what a sidecar's `/metrics` answers
//! (prometheus-client writes OpenMetrics: `# TYPE`, `# HELP`, `# UNIT`,
//! counters as `_total` and `_created`, histograms as `_bucket{le=…}`,
//! `_sum` and `_count`, and a closing `# EOF`).
//!
//! Why hand-written: the crates that exist are either heavy for what they
//! do (`openmetrics-parser` brings the `pest` grammar generator and its
//! proc macros, and changes its API often) or lose what a control plane
//! must report (`prometheus-parse` depends on `regex` and `chrono`, knows
//! no `# UNIT`/`# EOF`, and its errors carry no position). The format is a
//! line grammar of a page; this parser is one pass over the text with no
//! dependency, every error says its line and column (1-based, in bytes),
//! and a property test checks that rendered samples parse back to
//! themselves and that arbitrary bytes never panic it.
//!
//! It is lenient where both formats disagree and nothing is lost: empty
//! lines are skipped, `untyped` and `unknown` are the same type, a
//! timestamp may be an integer (milliseconds, Prometheus) or a float
//! (seconds, OpenMetrics) and is kept as written, and OpenMetrics
//! exemplars (` # {…} value`) are skipped.

use std::collections::HashMap;
use std::fmt::Write as _;

/// A metric family's type, as `# TYPE` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Monotonic counter (`_total`, `_created`).
    Counter,
    /// Gauge.
    Gauge,
    /// Histogram (`_bucket{le}`, `_sum`, `_count`, `_created`).
    Histogram,
    /// OpenMetrics gauge histogram (`_bucket`, `_gsum`, `_gcount`).
    GaugeHistogram,
    /// Summary (`{quantile}`, `_sum`, `_count`, `_created`).
    Summary,
    /// OpenMetrics info (`_info`).
    Info,
    /// OpenMetrics state set.
    StateSet,
    /// `untyped` (Prometheus) or `unknown` (OpenMetrics), or no `# TYPE`.
    Unknown,
}

impl MetricType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "counter" => Self::Counter,
            "gauge" => Self::Gauge,
            "histogram" => Self::Histogram,
            "gaugehistogram" => Self::GaugeHistogram,
            "summary" => Self::Summary,
            "info" => Self::Info,
            "stateset" => Self::StateSet,
            "untyped" | "unknown" => Self::Unknown,
            _ => return None,
        })
    }

    /// The name `# TYPE` uses (Prometheus' `untyped` for [`Self::Unknown`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::GaugeHistogram => "gaugehistogram",
            Self::Summary => "summary",
            Self::Info => "info",
            Self::StateSet => "stateset",
            Self::Unknown => "untyped",
        }
    }

    /// The suffixes a sample of a family of this type may add to the
    /// family's name.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            Self::Counter => &["_total", "_created"],
            Self::Histogram => &["_bucket", "_sum", "_count", "_created"],
            Self::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
            Self::Summary => &["_sum", "_count", "_created"],
            Self::Info => &["_info"],
            Self::Gauge | Self::StateSet | Self::Unknown => &[],
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's full name (with `_total`, `_bucket`, … as written).
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    /// The value (`NaN`, `+Inf` and `-Inf` included).
    pub value: f64,
    /// The timestamp as written: milliseconds in the Prometheus format,
    /// seconds in OpenMetrics.
    pub timestamp: Option<f64>,
}

impl Sample {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether every `(name, value)` of `selector` is a label of this sample.
    pub fn matches(&self, selector: &[(&str, &str)]) -> bool {
        selector.iter().all(|(k, v)| self.label(k) == Some(*v))
    }
}

/// A metric family: its metadata and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The family's name (without sample suffixes when typed).
    pub name: String,
    /// Its type.
    pub kind: MetricType,
    /// `# HELP` text, unescaped.
    pub help: Option<String>,
    /// `# UNIT`.
    pub unit: Option<String>,
    /// Its samples, in the order written.
    pub samples: Vec<Sample>,
}

/// A parsed page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// Families in the order first seen.
    pub families: Vec<Family>,
    /// Whether the page ended with OpenMetrics' `# EOF`.
    pub eof: bool,
}

impl Exposition {
    /// Every sample of every family.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.families.iter().flat_map(|f| f.samples.iter())
    }

    /// The samples named `name` (full name, suffix included) whose labels
    /// include `selector`.
    pub fn select<'a>(
        &'a self,
        name: &'a str,
        selector: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples()
            .filter(move |s| s.name == name && s.matches(selector))
    }

    /// The family named `name`.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }
}

/// Why a page cannot be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in bytes.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses a page given as bytes (a scrape's body): not UTF-8 is an error
/// at the first bad byte.
pub fn parse_bytes(body: &[u8]) -> Result<Exposition, ParseError> {
    match std::str::from_utf8(body) {
        Ok(text) => parse(text),
        Err(e) => {
            let good = &body[..e.valid_up_to()];
            let line = 1 + good.iter().filter(|b| **b == b'\n').count();
            let start = good.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
            Err(ParseError {
                line,
                column: good.len() - start + 1,
                message: "not UTF-8".to_owned(),
            })
        }
    }
}

/// Parses a Prometheus text or OpenMetrics text page.
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut page = Builder::default();
    for (i, line) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if page.out.eof {
            if line.is_empty() {
                continue;
            }
            return Err(ParseError {
                line: line_no,
                column: 1,
                message: "text after `# EOF`".to_owned(),
            });
        }
        if line.trim().is_empty() {
            continue;
        }
        let mut cur = Cursor {
            s: line,
            pos: 0,
            line: line_no,
        };
        if line.starts_with('#') {
            page.comment(&mut cur)?;
        } else {
            let sample = cur.sample()?;
            page.add(sample);
        }
    }
    Ok(page.out)
}

#[derive(Default)]
struct Builder {
    out: Exposition,
    /// Family index by name.
    index: HashMap<String, usize>,
    /// The family of the last metadata line or sample.
    current: Option<usize>,
}

impl Builder {
    fn family_mut(&mut self, name: &str) -> &mut Family {
        let i = match self.index.get(name) {
            Some(i) => *i,
            None => {
                self.out.families.push(Family {
                    name: name.to_owned(),
                    kind: MetricType::Unknown,
                    help: None,
                    unit: None,
                    samples: Vec::new(),
                });
                let i = self.out.families.len() - 1;
                self.index.insert(name.to_owned(), i);
                i
            }
        };
        self.current = Some(i);
        &mut self.out.families[i]
    }

    fn comment(&mut self, cur: &mut Cursor<'_>) -> Result<(), ParseError> {
        let line = cur.s;
        if line.trim_end() == "# EOF" {
            self.out.eof = true;
            return Ok(());
        }
        let Some(rest) = line.strip_prefix("# ") else {
            return Ok(());
        };
        let keyword = rest.split_once(' ').map_or(rest, |(k, _)| k);
        if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
            return Ok(()); // a plain comment
        }
        cur.pos = 2 + keyword.len() + 1;
        let name = cur.name()?;
        let text = match cur.rest().strip_prefix(' ') {
            Some(t) => t,
            None if cur.rest().is_empty() => "",
            None => return Err(cur.error("expected a space after the metric name")),
        };
        match keyword {
            "HELP" => {
                let help = unescape_help(text).map_err(|off| {
                    cur.error_at(
                        cur.pos + 1 + off,
                        "invalid escape in HELP (only \\\\ and \\n)",
                    )
                })?;
                self.family_mut(name).help = Some(help);
            }
            "TYPE" => {
                let kind = MetricType::parse(text.trim_end()).ok_or_else(|| {
                    cur.error_at(cur.pos + 1, format!("unknown metric type {text:?}"))
                })?;
                let family = self.family_mut(name);
                if !family.samples.is_empty() && family.kind != kind {
                    return Err(cur.error_at(1, format!("TYPE of {name} after its samples")));
                }
                family.kind = kind;
            }
            _ => {
                self.family_mut(name).unit = Some(text.trim_end().to_owned());
            }
        }
        Ok(())
    }

    fn add(&mut self, sample: Sample) {
        // The current family, when the sample is one of its series.
        if let Some(i) = self.current {
            let f = &self.out.families[i];
            if belongs(&sample.name, &f.name, f.kind) {
                self.out.families[i].samples.push(sample);
                return;
            }
        }
        // A typed family declared earlier.
        let by_suffix =
            self.out.families.iter().position(|f| {
                f.kind != MetricType::Unknown && belongs(&sample.name, &f.name, f.kind)
            });
        let i = match by_suffix {
            Some(i) => i,
            None => {
                let name = sample.name.clone();
                self.family_mut(&name);
                self.index[&name]
            }
        };
        self.current = Some(i);
        self.out.families[i].samples.push(sample);
    }
}

fn belongs(sample: &str, family: &str, kind: MetricType) -> bool {
    match sample.strip_prefix(family) {
        Some("") => true,
        Some(suffix) => kind.suffixes().contains(&suffix),
        None => false,
    }
}

fn unescape_help(s: &str) -> Result<String, usize> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, '"')) => out.push('"'),
                _ => return Err(i),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.pos + 1, message)
    }

    fn error_at(&self, column: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            column,
            message: message.into(),
        }
    }

    /// A metric or label name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    fn name(&mut self) -> Result<&'a str, ParseError> {
        let start = self.pos;
        let bytes = self.s.as_bytes();
        while let Some(b) = bytes.get(self.pos) {
            let ok = b.is_ascii_alphabetic()
                || *b == b'_'
                || *b == b':'
                || (self.pos > start && b.is_ascii_digit());
            if !ok {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected a name"));
        }
        Ok(&self.s[start..self.pos])
    }

    fn skip_blanks(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn expect(&mut self, b: u8) -> Result<(), ParseError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected `{}`", b as char)))
        }
    }

    fn sample(&mut self) -> Result<Sample, ParseError> {
        let name = self.name()?.to_owned();
        let mut labels = Vec::new();
        if self.peek() == Some(b'{') {
            self.pos += 1;
            loop {
                self.skip_blanks();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    break;
                }
                let at = self.pos + 1;
                let label = self.name()?.to_owned();
                if labels.iter().any(|(k, _): &(String, String)| *k == label) {
                    return Err(self.error_at(at, format!("label {label} twice")));
                }
                self.skip_blanks();
                self.expect(b'=')?;
                self.skip_blanks();
                let value = self.quoted()?;
                labels.push((label, value));
                self.skip_blanks();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.error("expected `,` or `}`")),
                }
            }
        }
        if self.skip_blanks() == 0 {
            return Err(self.error("expected a space before the value"));
        }
        let value = self.number("value")?;
        let mut timestamp = None;
        if self.skip_blanks() > 0 && !matches!(self.peek(), None | Some(b'#')) {
            timestamp = Some(self.number("timestamp")?);
            self.skip_blanks();
        }
        match self.peek() {
            None => {}
            // An OpenMetrics exemplar: ` # {labels} value [timestamp]`.
            Some(b'#') => {}
            Some(_) => return Err(self.error("unexpected text after the sample")),
        }
        Ok(Sample {
            name,
            labels,
            value,
            timestamp,
        })
    }

    fn number(&mut self, what: &str) -> Result<f64, ParseError> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if !matches!(b, b' ' | b'\t')) {
            self.pos += 1;
        }
        let token = &self.s[start..self.pos];
        parse_float(token)
            .ok_or_else(|| self.error_at(start + 1, format!("{what} {token:?} is not a number")))
    }

    fn quoted(&mut self) -> Result<String, ParseError> {
        self.expect(b'"')?;
        let mut out = String::new();
        let rest = self.rest();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, '"')) => out.push('"'),
                    Some((_, 'n')) => out.push('\n'),
                    _ => {
                        return Err(self.error_at(
                            self.pos + i + 1,
                            "invalid escape in a label value (only \\\\, \\\" and \\n)",
                        ));
                    }
                },
                c => out.push(c),
            }
        }
        Err(self.error_at(self.s.len() + 1, "unterminated label value"))
    }
}

/// A sample value or timestamp: Go's `ParseFloat` spellings, which both
/// formats use (`NaN`, `+Inf`, `-Inf`, `Inf`, decimals, exponents).
pub fn parse_float(token: &str) -> Option<f64> {
    let ok = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !ok {
        return None;
    }
    match token {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ if token
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') =>
        {
            None
        }
        _ => token.parse().ok(),
    }
}

/// Writes a value the way both formats spell it.
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v:?}")
    }
}

/// Renders a page in the Prometheus text format (used by tests and by
/// whoever re-exposes scraped samples).
pub fn render(page: &Exposition) -> String {
    let mut out = String::new();
    for f in &page.families {
        if let Some(help) = &f.help {
            let help = help.replace('\\', "\\\\").replace('\n', "\\n");
            let _ = writeln!(out, "# HELP {} {help}", f.name);
        }
        if f.kind != MetricType::Unknown {
            let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind.as_str());
        }
        if let Some(unit) = &f.unit {
            let _ = writeln!(out, "# UNIT {} {unit}", f.name);
        }
        for s in &f.samples {
            out.push_str(&s.name);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let v = v
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n");
                    let _ = write!(out, "{k}=\"{v}\"");
                }
                out.push('}');
            }
            let _ = write!(out, " {}", format_float(s.value));
            if let Some(t) = s.timestamp {
                let _ = write!(out, " {}", format_float(t));
            }
            out.push('\n');
        }
    }
    if page.eof {
        out.push_str("# EOF\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIDECAR: &str = "# HELP seawall_sidecar_requests Requests by resource.\n\
# TYPE seawall_sidecar_requests counter\n\
seawall_sidecar_requests_total{resource=\"a\",result=\"ok\"} 3\n\
seawall_sidecar_requests_created{resource=\"a\",result=\"ok\"} 1700000000.5\n\
# HELP seawall_sidecar_request_duration_seconds Time.\n\
# TYPE seawall_sidecar_request_duration_seconds histogram\n\
# UNIT seawall_sidecar_request_duration_seconds seconds\n\
seawall_sidecar_request_duration_seconds_sum{resource=\"a\"} 0.25\n\
seawall_sidecar_request_duration_seconds_count{resource=\"a\"} 3\n\
seawall_sidecar_request_duration_seconds_bucket{le=\"0.1\",resource=\"a\"} 2\n\
seawall_sidecar_request_duration_seconds_bucket{le=\"+Inf\",resource=\"a\"} 3 # {trace_id=\"x\"} 0.2 1.5\n\
weird{path=\"a\\\\b\\\"c\\nd\"} NaN 1700000000000\n\
neg -Inf\n\
# EOF\n";

    #[test]
    fn reads_what_the_sidecar_writes() {
        let page = parse(SIDECAR).expect("parses");
        assert!(page.eof);
        let req = page.family("seawall_sidecar_requests").expect("family");
        assert_eq!(req.kind, MetricType::Counter);
        assert_eq!(req.samples.len(), 2);
        assert_eq!(req.help.as_deref(), Some("Requests by resource."));
        let h = page
            .family("seawall_sidecar_request_duration_seconds")
            .expect("histogram");
        assert_eq!(h.kind, MetricType::Histogram);
        assert_eq!(h.unit.as_deref(), Some("seconds"));
        assert_eq!(h.samples.len(), 4);
        assert_eq!(h.samples[3].label("le"), Some("+Inf"));
        let w = page.family("weird").expect("weird");
        assert_eq!(w.samples[0].label("path"), Some("a\\b\"c\nd"));
        assert!(w.samples[0].value.is_nan());
        assert_eq!(w.samples[0].timestamp, Some(1_700_000_000_000.0));
        assert_eq!(
            page.family("neg").expect("neg").samples[0].value,
            f64::NEG_INFINITY
        );
    }

    #[test]
    fn errors_say_line_and_column() {
        let e = parse("ok 1\nbad{x=\"1\" 2\n").expect_err("bad");
        assert_eq!((e.line, e.column), (2, 11), "{e}");
        let e = parse("a{x=\"\\q\"} 1\n").expect_err("bad escape");
        assert_eq!((e.line, e.column), (1, 6), "{e}");
        let e = parse("a 1\n# TYPE a wobble\n").expect_err("bad type");
        assert_eq!(e.line, 2, "{e}");
        let e = parse("a one\n").expect_err("bad value");
        assert_eq!((e.line, e.column), (1, 3), "{e}");
        let e = parse("# EOF\na 1\n").expect_err("after eof");
        assert_eq!(e.line, 2, "{e}");
        let e = parse_bytes(b"a 1\nb\xff 2\n").expect_err("utf8");
        assert_eq!((e.line, e.column), (2, 2), "{e}");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn value() -> impl Strategy<Value = f64> {
            prop_oneof![
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
                any::<f64>().prop_filter("finite", |v| v.is_finite()),
                (-1_000_000i64..1_000_000).prop_map(|v| v as f64),
            ]
        }

        fn family(i: usize) -> impl Strategy<Value = Family> {
            let kinds = prop_oneof![
                Just(MetricType::Counter),
                Just(MetricType::Gauge),
                Just(MetricType::Histogram),
                Just(MetricType::Summary),
                Just(MetricType::Unknown),
            ];
            (
                kinds,
                proptest::option::of("[ -~\\n\\\\é]{0,20}"),
                proptest::option::of("[a-z]{1,8}"),
                proptest::collection::vec(
                    (
                        proptest::collection::btree_map(
                            "[a-z_][a-z0-9_]{0,6}",
                            "[ -~\\n\\\\\"é]{0,12}",
                            0..4,
                        ),
                        value(),
                        proptest::option::of(
                            (-1_000_000_000_000i64..1_000_000_000_000).prop_map(|t| t as f64),
                        ),
                    ),
                    0..5,
                ),
            )
                .prop_map(move |(kind, help, unit, samples)| {
                    let name = format!("fam{i}_m");
                    let sample_name = match kind {
                        MetricType::Counter => format!("{name}_total"),
                        MetricType::Histogram | MetricType::Summary => format!("{name}_count"),
                        _ => name.clone(),
                    };
                    Family {
                        samples: samples
                            .into_iter()
                            .map(|(labels, value, timestamp)| Sample {
                                name: sample_name.clone(),
                                labels: labels.into_iter().collect(),
                                value,
                                timestamp,
                            })
                            .collect(),
                        // A family with no metadata and no sample leaves
                        // no trace in the text.
                        help: if kind == MetricType::Unknown && unit.is_none() {
                            Some(help.unwrap_or_default())
                        } else {
                            help
                        },
                        name,
                        kind,
                        unit,
                    }
                })
        }

        fn page() -> impl Strategy<Value = Exposition> {
            (0usize..5, any::<bool>()).prop_flat_map(|(n, eof)| {
                let fams: Vec<_> = (0..n).map(family).collect();
                fams.prop_map(move |families| Exposition { families, eof })
            })
        }

        /// NaN never equals itself: compare through the rendered text.
        fn same(a: &Exposition, b: &Exposition) -> bool {
            render(a) == render(b)
        }

        proptest! {
            #[test]
            fn rendered_pages_parse_back(page in page()) {
                let text = render(&page);
                let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
                prop_assert!(same(&page, &back), "{text}\n{back:?}");
                prop_assert_eq!(back.samples().count(), page.samples().count());
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                if let Err(e) = parse_bytes(&bytes) {
                    prop_assert!(e.line >= 1 && e.column >= 1);
                }
            }

            #[test]
            fn near_miss_text_never_panics(text in "[a-z_{}=\",# \\\\\\n.0-9+InfNa-]{0,200}") {
                if let Err(e) = parse(&text) {
                    prop_assert!(e.line >= 1 && e.column >= 1);
                }
            }
        }
    }
}
