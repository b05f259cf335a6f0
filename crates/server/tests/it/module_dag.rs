//! The server's layering (ARCHITECTURE.md, "server"): its modules form a
//! DAG, the web UI (`ui`) never imports the API handlers (`api`) nor they
//! the UI, and the service layer (`service`) imports neither — the pages
//! and the handlers meet only in `crate::service` (plus the state, errors
//! and auth). `.ci/module-dag.sh` reads `src/**/*.rs` and fails on a
//! cycle or on a forbidden edge; run here too, so `cargo nextest run -p
//! seawall-server` catches a page reaching into a handler without the CI
//! script.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::TempDir;

/// The boundaries, as `--forbid FROM:TO` pairs (the same as `.ci/run`'s).
const FORBIDDEN: &[&str] = &["ui:api", "api:ui", "service:api", "service:ui"];

fn module_dag(crate_dir: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/module-dag.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script);
    for pair in FORBIDDEN {
        cmd.args(["--forbid", pair]);
    }
    cmd.arg(crate_dir)
        .output()
        .expect("bash runs .ci/module-dag.sh")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn server_modules_form_a_dag_and_the_ui_reaches_the_api_only_through_the_service_layer() {
    let out = module_dag(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        out.status.success(),
        "the server's layering is broken:\n{}",
        text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("no import cycle, no forbidden import"),
        "{stdout}"
    );
}

/// The check itself: a page importing a handler's helper (what
/// `ui/change.rs` did with `crate::api::gate::current_plan`), a handler
/// importing a page, and the service layer importing a handler are each
/// found, however the path is written; a mention in a comment or a string
/// is not an import.
#[test]
fn a_page_importing_a_handler_is_refused() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "ui/change.rs",
            "use crate::api::gate::current_plan;\n",
            "ui::change -> api::gate",
        ),
        (
            "ui/change.rs",
            "fn f() { let _ = crate::api::events::find; }\n",
            "ui::change -> api::events",
        ),
        (
            "ui/mod.rs",
            "mod change;\nuse crate::api::{events, gate};\n",
            "ui -> api::events",
        ),
        (
            "api/mod.rs",
            "mod gate;\nmod events;\nfn r() { crate::ui::router(); }\n",
            "api -> ui",
        ),
        (
            "service/mod.rs",
            "use crate::api::gate;\n",
            "service -> api::gate",
        ),
    ];
    for (file, code, edge) in cases {
        let dir = TempDir::new();
        let src = dir.path().join("src");
        for module in ["ui", "api", "service"] {
            std::fs::create_dir_all(src.join(module)).expect("mkdir");
        }
        for (path, body) in [
            ("lib.rs", "pub mod api;\npub mod service;\npub mod ui;\n"),
            ("api/mod.rs", "mod events;\nmod gate;\n"),
            ("api/gate.rs", "pub fn current_plan() {}\n"),
            ("api/events.rs", "pub fn find() {}\n"),
            (
                "service/mod.rs",
                "// crate::api::gate is named here in a comment only\n",
            ),
            ("ui/mod.rs", "mod change;\npub fn router() {}\n"),
            ("ui/change.rs", "const S: &str = \"crate::api::gate\";\n"),
        ] {
            std::fs::write(src.join(path), body).expect("write");
        }
        let clean = module_dag(dir.path());
        assert!(clean.status.success(), "{}", text(&clean));
        std::fs::write(src.join(file), code).expect("write");
        let out = module_dag(dir.path());
        assert!(!out.status.success(), "{file}: {code:?} was not refused");
        let said = text(&out);
        assert!(
            said.contains(&format!("forbidden import {edge}")),
            "{file}: {code:?}: expected `{edge}`:\n{said}"
        );
    }
}
