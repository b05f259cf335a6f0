//! `seawall serve`, `push`, `token` and `audit verify` as a user runs
//! them: the server binary on 127.0.0.1:0 over SQLite in a temporary data
//! dir, the other verbs against it with SEAWALL_SERVER / SEAWALL_TOKEN,
//! exit codes and output checked, the audit log tampered with raw SQL,
//! SIGTERM for a clean stop, and a restart that prints no token.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;

fn seawall_bin() -> &'static str {
    env!("CARGO_BIN_EXE_seawall")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

use crate::common::serve::{Serve, TempDir};

/// Run `seawall` with the server and token in the environment.
fn run(url: &str, token: &str, args: &[&str]) -> Output {
    Command::new(seawall_bin())
        .args(args)
        .current_dir(root())
        .env("SEAWALL_SERVER", url)
        .env("SEAWALL_TOKEN", token)
        .env("NO_COLOR", "1")
        .env_remove("SEAWALL_DB")
        .output()
        .expect("run seawall")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

#[test]
fn serve_push_token_and_audit_verify() {
    let dir = TempDir::new("serve");
    let data = dir.0.join("data");
    let server = Serve::start(&data, &[]);
    let admin_file = data.join("admin-token");
    let admin = std::fs::read_to_string(&admin_file).expect("admin-token written");
    let admin = admin.trim().to_owned();
    assert!(admin.starts_with("sw_"), "{admin}");
    // The secret goes to its file only: stderr names the file.
    assert!(
        !server.preamble.contains(&admin) && !server.preamble.contains(&admin[3..]),
        "the first start must not print the token: {}",
        server.preamble
    );
    assert!(
        server
            .preamble
            .contains(admin_file.to_str().expect("utf-8 path")),
        "the first start names the token's file: {}",
        server.preamble
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&admin_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "admin-token is private");
    }
    let url = server.url.clone();

    // An invalid plan: plan check's report and exit 1, nothing sent.
    let bad = dir.0.join("bad.yaml");
    std::fs::write(&bad, "event: {nmae: x}\n").expect("write");
    let bad = bad.to_str().expect("utf-8");
    let pushed = run(
        &url,
        &admin,
        &["push", bad, "--event", "carnival", "--create"],
    );
    let checked = run(&url, &admin, &["plan", "check", bad]);
    assert_eq!(code(&pushed), 1, "{}", text(&pushed.stderr));
    assert_eq!(text(&pushed.stderr), text(&checked.stderr));
    let pushed = run(&url, &admin, &["push", bad, "--format", "json"]);
    let checked = run(&url, &admin, &["plan", "check", bad, "--format", "json"]);
    assert_eq!(code(&pushed), 1);
    assert_eq!(text(&pushed.stdout), text(&checked.stdout));

    // No event yet, and no --event: a clear error.
    let plan = "examples/carnival/plan.yaml";
    let o = run(&url, &admin, &["push", plan]);
    assert_eq!(code(&o), 2);
    assert!(text(&o.stderr).contains("--event"), "{}", text(&o.stderr));

    // Pushed: version and hash.
    let o = run(
        &url,
        &admin,
        &["push", plan, "--event", "carnival", "--create"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let source = std::fs::read(root().join(plan)).expect("plan");
    let sha = seawall_store::sha256_hex(&source);
    let out = text(&o.stdout);
    assert!(out.contains("version 1 of event `carnival`"), "{out}");
    assert!(out.contains(&sha), "{out}");
    // The only event is the default; JSON output.
    let o = run(&url, &admin, &["push", plan, "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["plan"]["version"], 2);
    assert_eq!(v["plan"]["sha256"], sha.as_str());
    assert_eq!(v["runs"], serde_json::json!([]));

    // Rehearsal results, byte for byte; a bad file stops everything first.
    let run_file = dir.0.join("run.json");
    let run_text = "{\"schema\": \"seawall.run/v1\", \"scenario\": \"smoke\",\n \"entries\": [], \"services\": []}\n";
    std::fs::write(&run_file, run_text).expect("write");
    let bad_file = dir.0.join("bad-run.json");
    std::fs::write(
        &bad_file,
        r#"{"schema": "seawall.run/v2", "scenario": "s"}"#,
    )
    .expect("write");
    let run_file = run_file.to_str().expect("utf-8");
    let bad_file = bad_file.to_str().expect("utf-8");
    let o = run(
        &url,
        &admin,
        &["push", plan, "--results", run_file, "--results", bad_file],
    );
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("seawall.run/v2"),
        "{}",
        text(&o.stderr)
    );
    let o = run(
        &url,
        &admin,
        &["push", "--results", run_file, "--event", "carnival"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(
        text(&o.stdout)
            .contains("stored as run 1 of event `carnival` (scenario smoke, plan version 2)"),
        "{}",
        text(&o.stdout)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stored = rt
        .block_on(
            seawall_server::client::Client::new(&url)
                .expect("client")
                .with_token(&admin)
                .get("/api/v1/events/carnival/runs/1"),
        )
        .expect("get run");
    let stored: Value = stored.json().expect("json");
    assert_eq!(stored["json"], run_text, "stored byte for byte");
    assert_eq!(
        stored["sha256"],
        seawall_store::sha256_hex(run_text.as_bytes()).as_str()
    );

    // Tokens.
    let o = run(
        &url,
        &admin,
        &["token", "create", "ana", "--role", "viewer"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let viewer = text(&o.stdout).trim().to_owned();
    assert!(viewer.starts_with("sw_") && viewer.len() == 67, "{viewer}");
    let o = run(&url, &admin, &["token", "create", "pm", "--role", "pm"]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("business_line"),
        "{}",
        text(&o.stderr)
    );
    // A sidecar token scoped to one service, expiring in 30 days.
    let o = run(
        &url,
        &admin,
        &[
            "token",
            "create",
            "order-sidecar",
            "--role",
            "sidecar",
            "--service",
            "order-api",
            "--expires",
            "30d",
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("role sidecar, service order-api, expires 20"),
        "{stderr}"
    );
    let o = run(
        &url,
        &admin,
        &["token", "create", "sc", "--role", "sidecar"],
    );
    assert_eq!(code(&o), 2);
    assert!(text(&o.stderr).contains("service"), "{}", text(&o.stderr));
    let o = run(
        &url,
        &admin,
        &[
            "token",
            "create",
            "sc",
            "--role",
            "viewer",
            "--expires",
            "30",
        ],
    );
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("needs a unit"),
        "{}",
        text(&o.stderr)
    );
    let o = run(&url, &admin, &["token", "list", "-f", "json"]);
    let list: Value = serde_json::from_slice(&o.stdout).expect("json");
    let sc = list["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == "order-sidecar")
        .expect("listed")
        .clone();
    assert_eq!(sc["role"], "sidecar");
    assert_eq!(sc["service"], "order-api");
    let expires = sc["expires_ms"].as_i64().expect("expires");
    let created = sc["created_ms"].as_i64().expect("created");
    assert_eq!(expires - created, 30 * 86_400_000);
    let o = run(&url, &admin, &["token", "list"]);
    assert_eq!(code(&o), 0);
    assert!(text(&o.stdout).contains("ana"), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("service order-api"),
        "{}",
        text(&o.stdout)
    );
    assert!(!text(&o.stdout).contains(&viewer), "no secret listed");
    // A viewer reads the log but may not make tokens.
    let o = run(&url, &viewer, &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let o = run(&url, &viewer, &["token", "list"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o.stderr).contains("403"), "{}", text(&o.stderr));
    let o = run(&url, &admin, &["token", "revoke", "ana"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let o = run(&url, &viewer, &["audit", "verify"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o.stderr).contains("revoked"), "{}", text(&o.stderr));

    // The log verifies through the API and from the database.
    let o = run(&url, &admin, &["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("audit log intact: 8 entries"), "{out}");
    let data_dir = data.to_str().expect("utf-8");
    let o = run(
        &url,
        &admin,
        &["audit", "verify", "--data-dir", data_dir, "-f", "json"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["intact"], true);
    assert_eq!(v["head"]["entries"], 8);

    // Tampered: found both ways, with the entry and what happened.
    let db = data.join("seawall.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("open");
        sqlx::query("UPDATE audit SET target = 'event:elsewhere' WHERE seq = 2")
            .execute(&mut conn)
            .await
            .expect("tamper");
        conn.close().await.expect("close");
    });
    let o = run(&url, &admin, &["audit", "verify"]);
    assert_eq!(code(&o), 1, "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("BROKEN at entry 2 (edited)"),
        "{}",
        text(&o.stdout)
    );
    let o = run(
        &url,
        &admin,
        &["audit", "verify", "--data-dir", data_dir, "-f", "json"],
    );
    assert_eq!(code(&o), 1);
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["intact"], false);
    assert_eq!(v["seq"], 2);
    assert_eq!(v["kind"], "edited");
    let o = run(
        &url,
        &admin,
        &["audit", "verify", "--data-dir", "/nonexistent/dir"],
    );
    assert_eq!(code(&o), 2);

    // A clean stop on SIGTERM; a restart prints no token and keeps it.
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    let again = Serve::start(&data, &[]);
    assert!(
        !again.preamble.contains("sw_"),
        "no token printed again: {}",
        again.preamble
    );
    assert_eq!(
        std::fs::read_to_string(&admin_file).expect("kept").trim(),
        admin
    );
    let o = run(&again.url, &admin, &["token", "list", "-f", "json"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let status = again.stop();
    assert!(status.success(), "{status:?}");

    // Unreachable server: exit 2 with what to check.
    let o = run(&url, &admin, &["token", "list"]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("cannot reach"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn serve_refuses_a_bad_database_url() {
    let dir = TempDir::new("baddb");
    let o = Command::new(seawall_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--db", "mysql://x"])
        .arg("--data-dir")
        .arg(&dir.0)
        .output()
        .expect("run");
    assert_eq!(code(&o), 2);
    let err = text(&o.stderr);
    assert!(err.contains("postgres://"), "{err}");
}

/// `--ack-key-file` with a short key, or `--public-url` that is no URL,
/// is refused before anything is served.
#[test]
fn serve_refuses_a_short_ack_key_and_a_bad_public_url() {
    let dir = TempDir::new("ackkey");
    let key = dir.0.join("ack-key");
    std::fs::write(&key, "too-short\n").expect("key");
    let o = Command::new(seawall_bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--public-url", "https://seawall.example", "--ack-key-file"])
        .arg(&key)
        .arg("--data-dir")
        .arg(dir.0.join("data"))
        .output()
        .expect("run");
    assert_eq!(code(&o), 2);
    let err = text(&o.stderr);
    assert!(err.contains("at least 32"), "{err}");
    let o = Command::new(seawall_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "seawall.example",
        ])
        .arg("--data-dir")
        .arg(dir.0.join("data"))
        .output()
        .expect("run");
    assert_eq!(code(&o), 2);
    let err = text(&o.stderr);
    assert!(err.contains("not an http:// or https:// URL"), "{err}");
}

/// An error says its cause once: a busy port's OS error appears a single
/// time (the message names the address, the cause is its `source()`,
/// and the command line prints the chain).
#[test]
fn serve_on_a_busy_port_says_the_os_error_once() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let dir = TempDir::new("busy");
    let o = Command::new(seawall_bin())
        .args(["serve", "--listen", &addr])
        .arg("--data-dir")
        .arg(&dir.0)
        .output()
        .expect("run");
    assert_eq!(code(&o), 2);
    let err = text(&o.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    let os = std::io::Error::from(std::io::ErrorKind::AddrInUse).to_string();
    let os = std::net::TcpListener::bind(&addr)
        .err()
        .map_or(os, |e| e.to_string());
    assert_eq!(err.matches(&os).count(), 1, "`{os}` not said once:\n{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
    drop(busy);
}

/// A control plane that refuses the connection is said with its OS error
/// once (`ClientError::Connect` names the address, the OS error is its
/// source, and the command line prints the chain).
#[test]
fn unreachable_control_plane_says_the_os_error_once() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr").to_string();
    drop(closed);
    let o = Command::new(seawall_bin())
        .args(["token", "list", "--server", &format!("http://{addr}")])
        .args(["--token", "not-needed"])
        .env_remove("SEAWALL_CA")
        .output()
        .expect("run");
    assert_eq!(code(&o), 2);
    let err = text(&o.stderr);
    assert!(err.contains(&format!("cannot connect to {addr}")), "{err}");
    assert!(err.contains("check --server"), "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

/// The log level: `-q` keeps only warnings and errors (the listening line
/// is info), and `RUST_LOG` overrides the flags.
#[test]
fn quiet_hides_info_lines_and_rust_log_overrides_it() {
    let run = |rust_log: Option<&str>| -> String {
        let dir = TempDir::new(if rust_log.is_some() {
            "rustlog"
        } else {
            "quiet"
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(seawall_bin());
        cmd.args(["-q", "serve", "--listen", &addr])
            .arg("--data-dir")
            .arg(&dir.0)
            .env_remove("SEAWALL_DB")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(spec) = rust_log {
            cmd.env("RUST_LOG", spec);
        }
        let child = cmd.spawn().expect("spawn seawall serve");
        // Up when /healthz answers (at most 30 s).
        let mut up = false;
        for _ in 0..300 {
            if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
                use std::io::{Read, Write};
                let _ =
                    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.1 200") {
                    up = true;
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let out = child.wait_with_output().expect("exit");
        let stderr = text(&out.stderr);
        assert!(up, "seawall serve never answered /healthz:\n{stderr}");
        assert_eq!(code(&out), 0, "{stderr}");
        stderr
    };
    let quiet = run(None);
    assert!(
        !quiet.contains("seawall control plane listening"),
        "{quiet}"
    );
    assert!(!quiet.contains(" INFO "), "{quiet}");
    let overridden = run(Some("info"));
    assert!(
        overridden.contains("seawall control plane listening"),
        "{overridden}"
    );
}
