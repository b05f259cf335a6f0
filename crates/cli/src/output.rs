//! Rendering reports as terminal tables, GitHub Markdown or JSON.
//!
//! Commands build a [`Page`] of headings, lines and [`Grid`]s; this module
//! turns it into text. Numbers are formatted here and only here so every
//! report rounds the same way:
//!
//! - rates (QPS, users per second) with one decimal and thousands
//!   separators: `12,345.6`;
//! - counts (goal totals, online users, instances) as integers with
//!   thousands separators: `50,000,000`;
//! - water levels as percentages with one decimal: `73.4%`;
//! - ratios and factors with up to three decimals, trailing zeros dropped.
//!
//! JSON is printed from serializable values and never from a [`Page`].

use std::io::{self, IsTerminal, Write};

use clap::ValueEnum;
use comfy_table::{
    Attribute, Cell as TableCell, CellAlignment, Color, ColumnConstraint, ContentArrangement,
    Table, modifiers, presets,
};
use serde::Serialize;

/// Output format of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Human-readable tables (the default).
    #[default]
    Table,
    /// Stable JSON documented in `docs/cli.md`.
    Json,
    /// GitHub-flavoured Markdown tables.
    Markdown,
}

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// How a cell should stand out on a colour terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    /// No emphasis.
    #[default]
    Plain,
    /// Good news (ok, go).
    Good,
    /// Needs attention (warn, warning).
    Warn,
    /// Bad news (critical, error, no-go).
    Bad,
    /// Less important (info, accepted).
    Dim,
}

/// One table cell: text plus an optional tone.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// Text as printed.
    pub text: String,
    /// Emphasis on colour terminals.
    pub tone: Tone,
}

impl Cell {
    /// A cell with a tone.
    pub fn toned(text: impl Into<String>, tone: Tone) -> Self {
        Self {
            text: text.into(),
            tone,
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Self {
            text,
            tone: Tone::Plain,
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Self::from(text.to_string())
    }
}

/// A table with a header row.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<Cell>>,
    /// Columns that may wrap; empty: the grid is never wrapped off a terminal.
    wrap: Vec<usize>,
}

/// Width that grids holding prose wrap to when stdout is not a terminal.
pub const PROSE_WIDTH: u16 = 140;

impl Grid {
    /// An empty grid with these columns.
    pub fn new(columns: &[(&'static str, Align)]) -> Self {
        Self {
            columns: columns.to_vec(),
            rows: Vec::new(),
            wrap: Vec::new(),
        }
    }

    /// Mark columns `wrap` as holding sentences: off a terminal the grid
    /// wraps them to fit [`PROSE_WIDTH`] instead of growing without bound;
    /// the other columns keep their content on one line.
    pub fn prose(mut self, wrap: &[usize]) -> Self {
        self.wrap = wrap.to_vec();
        self
    }

    /// Add a row (missing cells are blank, extra cells are dropped).
    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// Whether the grid has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn cells(&self, row: &[Cell]) -> Vec<Cell> {
        (0..self.columns.len())
            .map(|i| row.get(i).cloned().unwrap_or_default())
            .collect()
    }

    /// A terminal table; on a `tty` long cells wrap to the terminal's width,
    /// elsewhere lines are never wrapped (stable output for files and tests).
    fn to_table(&self, color: bool, tty: bool) -> String {
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .apply_modifier(modifiers::UTF8_ROUND_CORNERS)
            .set_content_arrangement(ContentArrangement::Dynamic);
        if !tty {
            table.force_no_tty();
            if !self.wrap.is_empty() {
                table.set_width(PROSE_WIDTH);
            }
        }
        if color {
            table.enforce_styling();
        }
        table.set_header(self.columns.iter().map(|(name, _)| {
            let cell = TableCell::new(name);
            if color {
                cell.add_attribute(Attribute::Bold)
            } else {
                cell
            }
        }));
        for row in &self.rows {
            table.add_row(self.cells(row).into_iter().map(|c| {
                let cell = TableCell::new(&c.text);
                match (color, c.tone) {
                    (false, _) | (true, Tone::Plain) => cell,
                    (true, Tone::Good) => cell.fg(Color::Green),
                    (true, Tone::Warn) => cell.fg(Color::Yellow),
                    (true, Tone::Bad) => cell.fg(Color::Red).add_attribute(Attribute::Bold),
                    (true, Tone::Dim) => cell.add_attribute(Attribute::Dim),
                }
            }));
        }
        let keep = !self.wrap.is_empty();
        for (i, (_, align)) in self.columns.iter().enumerate() {
            if let Some(col) = table.column_mut(i) {
                if keep && !self.wrap.contains(&i) {
                    col.set_constraint(ColumnConstraint::ContentWidth);
                }
                col.set_cell_alignment(match align {
                    Align::Left => CellAlignment::Left,
                    Align::Right => CellAlignment::Right,
                });
            }
        }
        table.trim_fmt()
    }

    fn to_markdown(&self) -> String {
        let mut out = String::new();
        out.push('|');
        for (name, _) in &self.columns {
            out.push(' ');
            out.push_str(&md_escape(name));
            out.push_str(" |");
        }
        out.push_str("\n|");
        for (_, align) in &self.columns {
            out.push_str(match align {
                Align::Left => " --- |",
                Align::Right => " ---: |",
            });
        }
        out.push('\n');
        for row in &self.rows {
            out.push('|');
            for cell in self.cells(row) {
                out.push(' ');
                out.push_str(&md_escape(&cell.text));
                out.push_str(" |");
            }
            out.push('\n');
        }
        out.pop();
        out
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// One block of a report.
#[derive(Debug, Clone)]
enum Block {
    Heading(String),
    Line(String),
    Grid(Grid),
}

/// A human-readable report: headings, lines and tables, in order.
#[derive(Debug, Clone, Default)]
pub struct Page {
    blocks: Vec<Block>,
}

impl Page {
    /// An empty page.
    pub fn new() -> Self {
        Self::default()
    }

    /// A section heading.
    pub fn heading(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Heading(text.into()));
    }

    /// A line of text.
    pub fn line(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Line(text.into()));
    }

    /// A table; an empty one prints as `(none)`.
    pub fn grid(&mut self, grid: Grid) {
        self.blocks.push(Block::Grid(grid));
    }

    /// Render as terminal tables (`color`: ANSI styling; `tty`: wrap to the
    /// terminal's width) or Markdown.
    pub fn render(&self, format: Format, color: bool, tty: bool) -> String {
        let markdown = format == Format::Markdown;
        // (is a heading, text) per paragraph; consecutive lines form one.
        let mut parts: Vec<(bool, String)> = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        let flush = |lines: &mut Vec<String>, parts: &mut Vec<(bool, String)>| {
            if !lines.is_empty() {
                parts.push((false, lines.join("\n")));
                lines.clear();
            }
        };
        for block in &self.blocks {
            match block {
                Block::Heading(text) => {
                    flush(&mut lines, &mut parts);
                    let text = if markdown {
                        format!("## {text}")
                    } else if color {
                        format!("\x1b[1m{text}\x1b[0m")
                    } else {
                        text.clone()
                    };
                    parts.push((true, text));
                }
                Block::Line(text) => lines.push(text.clone()),
                Block::Grid(grid) => {
                    flush(&mut lines, &mut parts);
                    let text = if grid.is_empty() {
                        if markdown { "_none_" } else { "(none)" }.to_string()
                    } else if markdown {
                        grid.to_markdown()
                    } else {
                        grid.to_table(color, tty)
                    };
                    parts.push((false, text));
                }
            }
        }
        flush(&mut lines, &mut parts);
        // On a terminal a table sits right under its heading; Markdown needs
        // blank lines between blocks.
        let mut out = String::new();
        let mut after_heading = false;
        for (i, (heading, text)) in parts.iter().enumerate() {
            if i > 0 {
                out.push_str(if after_heading && !markdown {
                    "\n"
                } else {
                    "\n\n"
                });
            }
            out.push_str(text);
            after_heading = *heading;
        }
        out.push('\n');
        out
    }
}

/// Whether stderr gets ANSI colours: a terminal and no `NO_COLOR`.
pub fn stderr_color() -> bool {
    io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Print text to stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Print a value as pretty JSON to stdout.
pub fn emit_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    emit(&text)
}

/// Print a page in `format` (which must not be JSON) to stdout.
pub fn emit_page(page: &Page, format: Format) -> anyhow::Result<()> {
    let tty = io::stdout().is_terminal();
    let color = tty && std::env::var_os("NO_COLOR").is_none();
    emit(&page.render(format, color, tty))
}

/// `1234567.89` → `1,234,567.9`.
pub fn rate(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".to_string();
    }
    let tenths = (x * 10.0).round();
    let sign = if tenths < 0.0 { "-" } else { "" };
    let tenths = tenths.abs();
    let whole = (tenths / 10.0).trunc();
    let frac = tenths - whole * 10.0;
    format!("{sign}{}.{}", group(whole), frac as u8)
}

/// `1234567.4` → `1,234,567`.
pub fn count(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".to_string();
    }
    let r = x.round();
    let sign = if r < 0.0 { "-" } else { "" };
    format!("{sign}{}", group(r.abs()))
}

/// `0.7345` → `73.5%`.
pub fn percent(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".to_string();
    }
    format!("{:.1}%", x * 100.0)
}

/// `0.04` → `0.04`, `3.0` → `3`, `0.123456` → `0.123`.
pub fn ratio(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".to_string();
    }
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// An optional value through `f`, or `—`.
pub fn opt<T>(x: Option<T>, f: impl FnOnce(T) -> String) -> String {
    x.map(f).unwrap_or_else(|| DASH.to_string())
}

/// What an absent value prints as.
pub const DASH: &str = "—";

/// Thousands separators for a non-negative whole number.
fn group(whole: f64) -> String {
    let digits = format!("{whole:.0}");
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(rate(0.0), "0.0");
        assert_eq!(rate(1234567.89), "1,234,567.9");
        assert_eq!(rate(999.96), "1,000.0");
        assert_eq!(rate(-12.34), "-12.3");
        assert_eq!(count(50_000_000.0), "50,000,000");
        assert_eq!(count(999.5), "1,000");
        assert_eq!(percent(0.7345), "73.5%");
        assert_eq!(ratio(0.04), "0.04");
        assert_eq!(ratio(3.0), "3");
        assert_eq!(ratio(0.123456), "0.123");
        assert_eq!(rate(f64::NAN), "n/a");
    }

    #[test]
    fn markdown_escapes_pipes() {
        let mut g = Grid::new(&[("a", Align::Left), ("b", Align::Right)]);
        g.row(vec!["x|y".into(), "1".into()]);
        assert_eq!(g.to_markdown(), "| a | b |\n| --- | ---: |\n| x\\|y | 1 |");
    }
}
