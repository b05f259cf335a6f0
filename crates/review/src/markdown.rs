//! The review as Markdown (a wiki page): the sections of
//! [`crate::text::sections`] as headings, sentences and pipe tables.

use crate::model::Review;
use crate::text::sections;

/// A cell safe inside a pipe table (no `|`, no line break).
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The Markdown text.
pub fn render(r: &Review) -> String {
    let mut out = format!("# Review of {}\n", cell(&r.name));
    for s in sections(r) {
        out.push_str(&format!("\n## {}\n\n", s.title));
        for l in &s.lines {
            out.push_str(&cell(l));
            out.push('\n');
        }
        for (header, rows) in &s.tables {
            if !s.lines.is_empty() || !out.ends_with("\n\n") {
                out.push('\n');
            }
            if rows.is_empty() {
                out.push_str("None.\n");
                continue;
            }
            out.push_str(&format!("| {} |\n", header.join(" | ")));
            out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
            for row in rows {
                let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
                out.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
        }
    }
    out
}
