//! `seawall serve` as a child process for the tests that run the real
//! binary (server, crash, tls): started on 127.0.0.1:0 with JSON logs, its
//! address read from the listening line, killed and reaped on drop.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// A directory removed on drop (tempfile's); `.0` is its path.
pub struct TempDir(
    pub PathBuf,
    #[expect(dead_code, reason = "held for its Drop, which removes the directory")]
    tempfile::TempDir,
);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("seawall-cli-{tag}-"))
            .tempdir()
            .expect("temp dir");
        TempDir(dir.path().to_owned(), dir)
    }
}

/// `seawall serve` as a child process, killed and reaped on drop.
pub struct Serve {
    child: Child,
    /// `http://ADDR`, or `https://localhost:PORT` with TLS.
    pub url: String,
    /// Every stderr line before the listening line.
    pub preamble: String,
}

impl Serve {
    /// `seawall serve --listen 127.0.0.1:0 --log-format json --data-dir
    /// DATA` and `extra`, once it says where it listens (30 s at most).
    pub fn start(data: &Path, extra: &[OsString]) -> Serve {
        Serve::start_with_env(data, extra, &[])
    }

    /// [`Serve::start`] with these environment variables set as well.
    pub fn start_with_env(data: &Path, extra: &[OsString], env: &[(String, String)]) -> Serve {
        let child = Command::new(env!("CARGO_BIN_EXE_seawall"))
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .arg("--data-dir")
            .arg(data)
            .args(extra)
            .env_remove("SEAWALL_DB")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn seawall serve");
        let mut serve = Serve {
            child,
            url: String::new(),
            preamble: String::new(),
        };
        let stderr = serve.child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| {
                    panic!(
                        "seawall serve says where it listens within 30 s; it said:\n{}",
                        serve.preamble
                    )
                });
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["fields"]["message"] == "seawall control plane listening"
            {
                let addr: std::net::SocketAddr = v["fields"]["addr"]
                    .as_str()
                    .and_then(|a| a.parse().ok())
                    .expect("addr");
                std::thread::spawn(move || while rx.recv().is_ok() {});
                serve.url = if v["fields"]["scheme"] == "https" {
                    format!("https://localhost:{}", addr.port())
                } else {
                    format!("http://{addr}")
                };
                return serve;
            }
            serve.preamble.push_str(&line);
            serve.preamble.push('\n');
        }
    }

    /// SIGTERM, then the exit status within 10 s.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("seawall serve did not stop within 10 s of SIGTERM");
    }

    /// SIGKILL (no drain, no cleanup), and reap it.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("reap");
        assert!(!status.success(), "killed, not exited: {status}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
