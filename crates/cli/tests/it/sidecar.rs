//! `seawall sidecar` as a process: it proxies to a small upstream on
//! 127.0.0.1, answers its admin port, drains and exits 0 on SIGTERM, and
//! refuses a bad rules file with exit 2 and the file's name.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A one-thread HTTP/1.1 upstream that answers every request with `upstream`.
fn upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut s) = stream else { continue };
            let mut reader = BufReader::new(s.try_clone().expect("clone"));
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line == "\r\n" => {
                        let _ = s.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nupstream",
                        );
                        break;
                    }
                    Ok(_) => {}
                }
            }
        }
    });
    format!("http://{addr}")
}

/// GET `path` from `addr` with a fresh connection; the whole response.
fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

fn temp_rules(name: &str, text: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("seawall-cli-sidecar-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let p = dir.join("rules.yaml");
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn proxies_until_sigterm_then_exits_0() {
    let rules = temp_rules(
        "ok",
        "version: 4\nresources:\n  - name: blocked\n    routes: [{path: /blocked}]\n    flow: [{id: none-allowed, count: 0}]\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args([
            "sidecar",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(["--upstream", &upstream(), "--rules"])
        .arg(&rules)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn seawall");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut first = String::new();
    stderr.read_line(&mut first).expect("first line");
    // "seawall sidecar: listening on ADDR, upstream URL, admin ADDR, rules FILE"
    let field = |key: &str| {
        first
            .split(", ")
            .find_map(|f| f.split_once(key).map(|(_, v)| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("no `{key}` in {first:?}"))
    };
    let addr = field("listening on ");
    let admin = field("admin ");

    let ok = get(&addr, "/anything");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.ends_with("upstream"), "{ok}");
    let blocked = get(&addr, "/blocked");
    assert!(blocked.starts_with("HTTP/1.1 429"), "{blocked}");
    assert!(
        blocked.contains("x-seawall-reason: none-allowed"),
        "{blocked}"
    );
    let metrics = get(&admin, "/metrics");
    assert!(
        metrics.contains("seawall_sidecar_rules_version 4"),
        "{metrics}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("exit");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("rest of stderr");
    assert_eq!(status.code(), Some(0), "{rest}");
    assert!(rest.contains("shutting down"), "{rest}");
}

/// Runs `seawall sidecar` to completion with `upstream` and `rules`.
fn run_to_exit(upstream: &str, rules: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args(["sidecar", "--listen", "127.0.0.1:0", "--upstream", upstream])
        .arg("--rules")
        .arg(rules)
        .output()
        .expect("run seawall")
}

#[test]
fn bad_rules_file_exits_2_naming_the_file() {
    let rules = temp_rules(
        "bad",
        "version: 1\nresources:\n  - name: a\n    flow: [{id: x, count: 1, colour: red}]\n",
    );
    let out = run_to_exit("http://127.0.0.1:9", &rules);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: rules file "), "{err}");
    assert!(err.contains(&rules.display().to_string()), "{err}");
    assert!(err.contains("colour"), "{err}");

    let out = run_to_exit("https://x:1", &rules);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("https"));
}

#[test]
fn durations_take_units_and_refuse_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args(["sidecar", "--listen", "127.0.0.1:0", "--upstream"])
        .args(["http://127.0.0.1:9", "--rules", "/nonexistent.yaml"])
        .args(["--timeout", "0s"])
        .output()
        .expect("run seawall");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--timeout") && err.contains("positive"),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args(["sidecar", "--listen", "127.0.0.1:0", "--upstream"])
        .args(["http://127.0.0.1:9", "--rules", "/nonexistent.yaml"])
        .args(["--drain-timeout", "5 days"])
        .output()
        .expect("run seawall");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--drain-timeout"));
}

#[test]
fn control_flags_come_together_and_refuse_bad_urls() {
    let sidecar = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_seawall"))
            .args(["sidecar", "--listen", "127.0.0.1:0", "--upstream"])
            .args(["http://127.0.0.1:9", "--rules", "/nonexistent.json"])
            .args(extra)
            .env_remove("SEAWALL_TOKEN")
            .output()
            .expect("run seawall")
    };
    // --control needs --service and a token; --service needs --control.
    for (extra, needle) in [
        (
            &["--control", "http://127.0.0.1:9", "--token", "t"][..],
            "--service",
        ),
        (
            &["--control", "http://127.0.0.1:9", "--service", "order-api"][..],
            "--token",
        ),
        (&["--service", "order-api"][..], "--control"),
    ] {
        let out = sidecar(extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{extra:?}: {err}");
    }
    // The control plane's URL is checked before anything starts.
    let out = sidecar(&[
        "--control",
        "ftp://cp:1",
        "--service",
        "order-api",
        "--token",
        "t",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--control") && err.contains("ftp://cp:1"),
        "{err}"
    );
    // https is served (tests/it/tls.rs); a CA file that cannot be used
    // stops the start with a message naming the flag and the file.
    let not_a_ca = temp_rules("not-a-ca", "this is not a certificate\n");
    let out = sidecar(&[
        "--control",
        "https://cp:1",
        "--service",
        "order-api",
        "--token",
        "t",
        "--ca",
        not_a_ca.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--control") && err.contains(not_a_ca.to_str().expect("utf-8")),
        "{err}"
    );
}
