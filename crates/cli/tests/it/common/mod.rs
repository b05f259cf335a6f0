//! Running the `seawall` binary from integration tests: in the workspace
//! root (so paths in output are relative), without colours.

pub mod page;
pub mod serve;

use std::path::PathBuf;
use std::process::Command;

/// Workspace root: commands run there.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Output of one run.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Run `seawall` with `args`.
pub fn seawall(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run seawall");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Run and expect exit 0 with nothing on stderr; the output.
pub fn ok(args: &[&str]) -> String {
    let run = seawall(args);
    assert_eq!(run.code, 0, "seawall {args:?}\nstderr:\n{}", run.stderr);
    assert_eq!(run.stderr, "", "seawall {args:?}");
    run.stdout
}
