//! Fuzzing the plan parser on stable Rust: arbitrary bytes, and structured
//! mutations of the flagship plan (`examples/carnival/plan.yaml`) — bytes
//! and lines deleted, duplicated, swapped and re-indented, YAML tokens
//! inserted, the text cut short. The parser never panics, and every
//! diagnostic it returns points at a real place in the text it was given
//! (a line of the file, a column within that line or just past its end),
//! carries a code and a help line, and the list is sorted.
//!
//! Bounded: `SEAWALL_FUZZ_CASES` cases per target (default 256). A failure
//! is shrunk and its seed kept in `tests/it/proptest-regressions/` (replayed
//! first on every run); inputs that once broke an invariant are kept in
//! [`REGRESSIONS`].

use crate::common::CARNIVAL;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// Inputs kept as regression cases.
const REGRESSIONS: &[&str] = &[
    "",
    "\u{feff}",
    "\u{feff}event: {name: x}\n",
    "event: {name: x}\n\t",
    "event: {name: \"x",
    "event:\n  name: x\n  name: y\n",
    "a: &a [*a]",
    "<<: *nothing",
    "event: {name: x}\n---\nevent: {name: y}\n",
    "event: {name: x}\r\nservices:\r\n  a: {instances: 0}\r\n",
    // A lone CR ends a line for YAML: positions after it count it.
    "event: {name: x}\rorganization: {business_lines: {b: {services: [nowhere]}}}\r",
    "event: {name: é漢字}\nservices: {a: {instances: x}}",
    "\"\\u",
    "? - a\n: b",
    "event: {name: x}\nservices:\n  a:\n    dependencies: [{to: a}]\n",
];

fn config(file: &'static str) -> Config {
    Config {
        cases: std::env::var("SEAWALL_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(file))),
        ..Config::default()
    }
}

/// Parse `src` and check every diagnostic points into it.
fn check(src: &str) -> Result<(), TestCaseError> {
    let Err(diags) = seawall_plan::parse(src, "fuzz.yaml") else {
        return Ok(());
    };
    prop_assert!(!diags.0.is_empty(), "Err without diagnostics");
    // Lines as the parser counts them: `\n`, `\r\n` and a lone `\r` end a
    // line; a final line without a newline still counts.
    let lines = yaml_lines(src);
    let mut previous = (0, 0);
    for d in &diags.0 {
        prop_assert_eq!(&d.file, "fuzz.yaml");
        prop_assert!(
            d.code.len() == 4 && d.code.starts_with('E'),
            "code {}",
            d.code
        );
        prop_assert!(d.help.is_some(), "no help: {}", d);
        prop_assert!(d.line >= 1 && d.column >= 1, "no position: {}", d);
        prop_assert!(
            (d.line as usize) <= lines.len() + 1,
            "line {} of {} lines: {}",
            d.line,
            lines.len(),
            d
        );
        if let Some(line) = lines.get(d.line as usize - 1) {
            let width = line.chars().count() + 1;
            prop_assert!(
                (d.column as usize) <= width,
                "column {} past the end of line {} ({} characters): {}",
                d.column,
                d.line,
                width - 1,
                d
            );
        }
        prop_assert!(
            (d.line, d.column) >= previous,
            "unsorted: {}",
            diags.render()
        );
        previous = (d.line, d.column);
    }
    Ok(())
}

/// The lines of `src` as YAML counts them (`\r\n`, `\r` or `\n` end one).
fn yaml_lines(src: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&src[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&src[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    lines.push(&src[start..]);
    lines
}

/// One change to the flagship plan's text.
#[derive(Debug, Clone)]
enum Mutation {
    /// Delete `len` bytes at `at` (both scaled to the text).
    DeleteBytes { at: usize, len: usize },
    /// Insert a YAML token at `at`.
    Insert { at: usize, token: &'static str },
    /// Replace the character at `at`.
    Replace { at: usize, with: char },
    /// Duplicate line `line`.
    DuplicateLine { line: usize },
    /// Delete line `line`.
    DeleteLine { line: usize },
    /// Swap lines `a` and `b`.
    SwapLines { a: usize, b: usize },
    /// Re-indent line `line` by `by` spaces (negative: dedent).
    Indent { line: usize, by: i8 },
    /// Cut the text at `at`.
    Truncate { at: usize },
}

/// Tokens that change YAML structure or plan meaning.
const TOKENS: &[&str] = &[
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "&a ",
    "*a",
    "<<: *a",
    "!!str ",
    "!!binary ",
    "? ",
    "|\n",
    ">-\n",
    "#",
    "\n",
    "\t",
    "  ",
    "---\n",
    "...\n",
    "~",
    "null",
    "-1",
    "0",
    "1e400",
    ".nan",
    "\u{0}",
    "\u{feff}",
    "é",
    "services:",
    "dependencies:",
    "to: ",
    "event:",
    "steps:",
    "entry: ",
    "conversion: 2",
    "instances: 0",
    "timezone: Mars/Base",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        (at, 1usize..64).prop_map(|(at, len)| Mutation::DeleteBytes { at, len }),
        (at, prop::sample::select(TOKENS)).prop_map(|(at, token)| Mutation::Insert { at, token }),
        (at, any::<char>()).prop_map(|(at, with)| Mutation::Replace { at, with }),
        at.prop_map(|line| Mutation::DuplicateLine { line }),
        at.prop_map(|line| Mutation::DeleteLine { line }),
        (at, any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        (at, -6i8..6).prop_map(|(line, by)| Mutation::Indent { line, by }),
        at.prop_map(|at| Mutation::Truncate { at }),
    ]
}

/// The largest character boundary at or before `at % (len + 1)`.
fn boundary(s: &str, at: usize) -> usize {
    let mut i = at % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &mut String, m: &Mutation) {
    let mut lines: Vec<String> = Vec::new();
    let by_line = matches!(
        m,
        Mutation::DuplicateLine { .. }
            | Mutation::DeleteLine { .. }
            | Mutation::SwapLines { .. }
            | Mutation::Indent { .. }
    );
    if by_line {
        lines = text.split('\n').map(str::to_string).collect();
    }
    let n = lines.len().max(1);
    match m {
        Mutation::DeleteBytes { at, len } => {
            let a = boundary(text, *at);
            let b = boundary(text, a + len).max(a);
            // `boundary` wraps around; keep the range forward.
            let b = if b < a { text.len() } else { b };
            text.replace_range(a..b, "");
        }
        Mutation::Insert { at, token } => {
            let a = boundary(text, *at);
            text.insert_str(a, token);
        }
        Mutation::Replace { at, with } => {
            let a = boundary(text, *at);
            if let Some(c) = text[a..].chars().next() {
                text.replace_range(a..a + c.len_utf8(), &with.to_string());
            }
        }
        Mutation::Truncate { at } => {
            let a = boundary(text, *at);
            text.truncate(a);
        }
        Mutation::DuplicateLine { line } => {
            let i = line % n;
            let copy = lines[i].clone();
            lines.insert(i, copy);
        }
        Mutation::DeleteLine { line } => {
            lines.remove(line % n);
        }
        Mutation::SwapLines { a, b } => lines.swap(a % n, b % n),
        Mutation::Indent { line, by } => {
            let l = &mut lines[line % n];
            if *by >= 0 {
                l.insert_str(0, &" ".repeat(*by as usize));
            } else {
                let strip = l
                    .bytes()
                    .take(by.unsigned_abs() as usize)
                    .take_while(|b| *b == b' ')
                    .count();
                l.replace_range(..strip, "");
            }
        }
    }
    if by_line {
        *text = lines.join("\n");
    }
}

#[test]
fn regression_inputs_keep_their_invariants() {
    for src in REGRESSIONS {
        if let Err(e) = check(src) {
            panic!("{src:?}: {e}");
        }
    }
}

#[test]
fn the_carnival_plan_itself_parses() {
    assert!(seawall_plan::parse(CARNIVAL, "carnival.yaml").is_ok());
}

proptest! {
    #![proptest_config(config("tests/it/proptest-regressions/fuzz_parser_bytes.txt"))]

    /// Arbitrary bytes (as the lossy UTF-8 text a file reader would give).
    #[test]
    fn arbitrary_bytes_give_diagnostics_with_valid_positions(
        bytes in prop::collection::vec(any::<u8>(), 0..2048)
    ) {
        check(&String::from_utf8_lossy(&bytes))?;
    }
}

proptest! {
    #![proptest_config(config("tests/it/proptest-regressions/fuzz_parser_mutations.txt"))]

    /// One to six structured mutations of the flagship plan.
    #[test]
    fn mutated_carnival_plans_give_diagnostics_with_valid_positions(
        mutations in prop::collection::vec(mutation(), 1..6)
    ) {
        let mut text = CARNIVAL.to_string();
        for m in &mutations {
            apply(&mut text, m);
        }
        check(&text)?;
    }
}
