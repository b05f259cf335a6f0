//! The sidecar's modules form a DAG (ARCHITECTURE.md, the sidecar's
//! layering): `.ci/module-dag.sh` reads `src/**/*.rs` and fails on a
//! `crate::` import cycle. Run here too, so `cargo nextest run -p
//! seawall-sidecar` catches a new cycle without the CI script.

use std::path::Path;
use std::process::Command;

#[test]
fn sidecar_modules_form_a_dag() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = crate_dir.join("../../.ci/module-dag.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(crate_dir)
        .output()
        .expect("bash runs .ci/module-dag.sh");
    assert!(
        out.status.success(),
        "import cycle among the sidecar's modules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("no import cycle"), "{stdout}");
}
