//! The bearer token is in no log line, no error and no `Debug` output:
//! every line logged while scaling, conflicting, timing out, being
//! forbidden and being refused is captured and searched.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use seawall_kube::testing::{Access, FakeApiServer};
use seawall_kube::{Credentials, KubeClient};

use crate::common::write;

const SECRET_TOKEN: &str = "tok-SECRET-9f8e7d6c";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_token_is_never_logged_nor_reported() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fake = FakeApiServer::start().await.expect("fake");
    fake.add_deployment("shop", "web", 1);
    fake.grant(SECRET_TOKEN, Some(Access::ReadWrite));
    fake.follow_after(Some(Duration::from_millis(10)));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(&dir, "config", &fake.kubeconfig(SECRET_TOKEN, None));
    let credentials = Credentials::from_kubeconfig(&config, None).expect("credentials");
    let client = KubeClient::new(&credentials).expect("client");
    let (timeout, poll) = (Duration::from_secs(30), Duration::from_millis(10));

    let mut reports = vec![format!("{credentials:?}"), format!("{client:?}")];
    fake.write_after_reads(1);
    let scaled = client.scale("shop", "web", 3, timeout, poll).await;
    reports.push(format!("{scaled:?}"));
    let no_op = client.scale("shop", "web", 3, timeout, poll).await;
    reports.push(format!("{no_op:?}"));
    fake.follow_after(None);
    let stuck = client
        .scale("shop", "web", 5, Duration::from_millis(100), poll)
        .await;
    reports.push(format!("{stuck:?}"));
    fake.grant(SECRET_TOKEN, Some(Access::ReadOnly));
    let forbidden = client
        .scale("shop", "web", 1, timeout, poll)
        .await
        .expect_err("forbidden");
    reports.push(format!("{forbidden} {forbidden:?}"));
    fake.grant(SECRET_TOKEN, None);
    let refused = client.get_scale("shop", "web").await.expect_err("unknown");
    reports.push(format!("{refused} {refused:?}"));

    let text = String::from_utf8(logs.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(
        text.contains("reading it again"),
        "the conflict was logged: {text}"
    );
    assert!(text.contains("waiting for status.replicas"), "{text}");
    assert!(text.contains("already at the target"), "{text}");
    assert!(text.contains("did not reach the target"), "{text}");
    for report in reports.iter().chain([&text]) {
        assert!(!report.contains(SECRET_TOKEN), "{report}");
        assert!(!report.contains("SECRET"), "{report}");
    }
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.bearer.as_deref() == Some(SECRET_TOKEN)),
        "the token was sent, only to the server"
    );
}
