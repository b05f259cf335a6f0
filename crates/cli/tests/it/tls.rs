//! HTTPS as a user runs it: `seawall serve --tls-cert --tls-key` with a CA
//! made at run time (rcgen); `seawall push`/`token`/`audit verify` against
//! it with `--ca`, or with the CA in the system's trust store
//! (`SSL_CERT_FILE`, which rustls-native-certs reads); a client trusting
//! another CA refused with a message naming `--ca`; `seawall sidecar
//! --control https://… --ca` following it; the flags' pairing.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::serve::{Serve, TempDir};

/// A CA (`<tag>-ca.pem`) and a certificate for localhost it signed
/// (`<tag>-server.pem`, `<tag>-server.key`) under `dir`.
fn pki(dir: &Path, tag: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca = rcgen::CertificateParams::new(Vec::new()).expect("params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("{tag} CA"));
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::new(ca, &ca_key);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("certificate");
    let write = |name: &str, text: String| {
        let path = dir.join(format!("{tag}-{name}"));
        std::fs::write(&path, text).expect("write");
        path
    };
    (
        write("ca.pem", ca_cert.pem()),
        write("server.pem", cert.pem()),
        write("server.key", key.serialize_pem()),
    )
}

fn seawall(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_seawall"));
    command
        .args(args)
        .current_dir(crate::common::root())
        .env("NO_COLOR", "1")
        .env_remove("SEAWALL_CA")
        .env_remove("SEAWALL_SERVER")
        .env_remove("SEAWALL_TOKEN")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run seawall")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn serve_over_tls_with_ca_or_system_roots() {
    let dir = TempDir::new("tls-serve");
    let (ca, cert, key) = pki(&dir.0, "good");
    let (other_ca, _, _) = pki(&dir.0, "other");
    let data = dir.0.join("data");
    let serve = Serve::start(
        &data,
        &[
            OsString::from("--tls-cert"),
            cert.into_os_string(),
            OsString::from("--tls-key"),
            key.into_os_string(),
        ],
    );
    assert!(serve.url.starts_with("https://localhost:"), "{}", serve.url);
    let token = std::fs::read_to_string(data.join("admin-token")).expect("admin-token");
    let token = token.trim();
    let ca = ca.to_str().expect("utf-8");
    let url = serve.url.as_str();

    // --ca: a plan pushed, tokens listed, the audit log verified.
    let o = seawall(
        &[
            "push",
            "examples/carnival/plan.yaml",
            "--event",
            "carnival",
            "--create",
            "--server",
            url,
            "--token",
            token,
            "--ca",
            ca,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = seawall(
        &[
            "token", "list", "--server", url, "--token", token, "--ca", ca,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("admin"), "{}", text(&o.stdout));
    let o = seawall(
        &["audit", "verify", "--server", url, "--token", token],
        &[("SEAWALL_CA", Path::new(ca))],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    // No --ca: the system's trust store, here pointed at the CA.
    let o = seawall(
        &["token", "list", "--server", url, "--token", token],
        &[("SSL_CERT_FILE", Path::new(ca))],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    // Another CA: refused before anything is sent, saying what to check.
    let o = seawall(
        &[
            "token",
            "list",
            "--server",
            url,
            "--token",
            token,
            "--ca",
            other_ca.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_ne!(o.status.code(), Some(0));
    let err = text(&o.stderr);
    assert!(
        err.contains("TLS") && err.contains("--ca") && err.contains("certificate"),
        "{err}"
    );

    // A sidecar following it over TLS with --ca: it reaches the control
    // plane, which has no rules for the service yet, and says so (not a
    // TLS or connection failure).
    let said = sidecar_start(url, token, ca, &dir.0.join("sidecar-rules.json"));
    assert!(
        said.contains("has no rules for order-svc yet"),
        "the sidecar did not reach the control plane over TLS:\n{said}"
    );
    // With another CA it starts all the same (the service stays reachable)
    // and says what failed and what to pass.
    let said = sidecar_start(
        url,
        token,
        other_ca.to_str().expect("utf-8"),
        &dir.0.join("sidecar-rules-2.json"),
    );
    assert!(
        said.contains("TLS handshake with the control plane failed") && said.contains("--ca"),
        "{said}"
    );
}

/// Starts `seawall sidecar --control URL --ca CA` and returns what it said
/// on stderr up to its listening line (then stops it).
fn sidecar_start(url: &str, token: &str, ca: &str, rules: &Path) -> String {
    let mut sidecar = Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args(["sidecar", "--listen", "127.0.0.1:0", "--upstream"])
        .args(["http://127.0.0.1:9", "--rules"])
        .arg(rules)
        .args(["--control", url, "--service", "order-svc", "--ca", ca])
        .args(["--token", token])
        .env_remove("SEAWALL_CA")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the sidecar");
    let stderr = BufReader::new(sidecar.stderr.take().expect("stderr"));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut said = String::new();
    let listening = loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                said.push_str(&line);
                said.push('\n');
                if line.contains("listening on") {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    let _ = sidecar.kill();
    let _ = sidecar.wait();
    assert!(listening, "{said}");
    said
}

#[test]
fn tls_flags_come_in_pairs_and_bad_files_are_named() {
    let dir = TempDir::new("tls-flags");
    let (_, cert, key) = pki(&dir.0, "good");
    let o = seawall(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--tls-key"), "{}", text(&o.stderr));

    // A key that is not a key: the server does not start, naming the file.
    let data = dir.0.join("data");
    let o = seawall(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().expect("utf-8"),
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            cert.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_ne!(o.status.code(), Some(0));
    let err = text(&o.stderr);
    assert!(
        err.contains("good-server.pem") && err.contains("private key"),
        "{err}"
    );
    let _ = key;
}
