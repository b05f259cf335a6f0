//! The corpus of broken plans: each file under `tests/invalid/` starts with
//! `# expect: CODE line N` (optionally `column C`), and parsing it must fail
//! with that code at that line (and column) — alongside any other
//! diagnostics — without panicking.

use std::fs;
use std::path::Path;

fn expectation(src: &str) -> Option<(String, u32, Option<u32>)> {
    let first = src.lines().next()?;
    let rest = first.strip_prefix("# expect: ")?;
    let mut parts = rest.split_whitespace();
    let code = parts.next()?.to_string();
    let _ = parts.next().filter(|w| *w == "line")?;
    let line = parts.next()?.parse().ok()?;
    let column = match parts.next() {
        Some("column") => Some(parts.next()?.parse().ok()?),
        Some(_) => return None,
        None => None,
    };
    Some((code, line, column))
}

#[test]
fn every_broken_plan_reports_its_diagnostic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("tests/invalid exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "only {} broken plans", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let src = fs::read_to_string(path).expect("readable");
        let (code, line, column) = expectation(&src)
            .unwrap_or_else(|| panic!("{}: no `# expect:` header", path.display()));
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("plan.yaml");
        match seawall_plan::parse(&src, name) {
            Ok(_) => failures.push(format!("{name}: parsed, expected {code} at line {line}")),
            Err(diags) => {
                for d in &diags.0 {
                    assert_eq!(d.file, name);
                    assert!(
                        d.line > 0 && d.column > 0,
                        "{name}: diagnostic without position: {d}"
                    );
                    assert!(d.help.is_some(), "{name}: diagnostic without help: {d}");
                }
                if !diags.0.iter().any(|d| {
                    d.code == code && d.line == line && column.is_none_or(|c| d.column == c)
                }) {
                    failures.push(format!(
                        "{name}: expected {code} at line {line}{}, got:\n{}",
                        column.map_or(String::new(), |c| format!(" column {c}")),
                        diags.render()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_problems_are_reported_at_once() {
    let src = "event: {name: x, timezone: Mars/Base}\n\
               services:\n  a: {instances: -1, tier: top}\n  b: {latency: 3}\n\
               entries:\n  e: {service: c}\n";
    let diags = seawall_plan::parse(src, "p.yaml").expect_err("invalid");
    let codes: Vec<&str> = diags.0.iter().map(|d| d.code).collect();
    for code in ["E042", "E030", "E013", "E010", "E020"] {
        assert!(codes.contains(&code), "missing {code} in {codes:?}");
    }
    let rendered = diags.render();
    assert!(rendered.contains("p.yaml:1:"), "{rendered}");
    assert!(
        rendered.contains("help: did you mean `latency_ms`?"),
        "{rendered}"
    );
}

#[test]
fn truncated_and_garbage_inputs_never_panic() {
    let src = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/carnival/plan.yaml"),
    )
    .unwrap_or_else(|_| "event: {name: x}\nservices:\n  a: {instances: 1}\n".to_string());
    // Every prefix of a real plan is either a plan or a list of diagnostics.
    let mut cut = 0;
    while cut < src.len() {
        if src.is_char_boundary(cut) {
            let _ = seawall_plan::parse(&src[..cut], "cut.yaml");
        }
        cut += 97;
    }
    for junk in [
        "",
        "\0",
        "{",
        "- - -",
        ":",
        "event: *a",
        "&a [*a]",
        "event: !!binary x",
        "? [a]\n: b",
    ] {
        let _ = seawall_plan::parse(junk, "junk.yaml");
    }
}

#[test]
fn a_broken_item_is_not_also_reported_as_unknown() {
    let src =
        "event: {name: demo}\nentries:\n  home: {service: api}\nservices:\n  api: {instances: 0}\n";
    let diags = seawall_plan::parse(src, "p.yaml").expect_err("invalid");
    let codes: Vec<&str> = diags.0.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E030"], "{}", diags.render());
}
