//! The host check (`Sender::with_host_check`): a webhook on loopback, a
//! link-local metadata address or a name resolving to loopback is refused
//! before any connection unless the allow list names it; the refusal is
//! not retried (the queue falls back at once) and names the host only.

use seawall_notify::render::Provider;
use seawall_notify::{SendError, Sender};
use seawall_plan::outbound::parse_allow;

use crate::common::{Fake, Reply, channel, page, sender};

fn checked(allow: &[&str]) -> Sender {
    sender(3).with_host_check(
        allow
            .iter()
            .map(|a| parse_allow(a).expect("allow entry"))
            .collect(),
    )
}

#[tokio::test]
async fn loopback_and_metadata_webhooks_are_refused_before_connecting_unless_allowed() {
    let fake = Fake::start(vec![Reply::new(200, "ok")]).await;
    let on_loopback = channel(
        "war-room",
        Provider::Slack,
        &format!("{}/hook?k=SECRET", fake.base),
    );
    let port = fake.base.rsplit(':').next().expect("port");
    let by_name = channel(
        "by-name",
        Provider::Slack,
        &format!("http://localhost:{port}/hook"),
    );
    let metadata = channel(
        "meta",
        Provider::Slack,
        "http://169.254.169.254/latest/meta-data/iam",
    );

    for (ch, host) in [
        (&on_loopback, "127.0.0.1"),
        (&by_name, "localhost"),
        (&metadata, "169.254.169.254"),
    ] {
        let e = checked(&[]).send(ch, &page()).await.expect_err("refused");
        match &e {
            SendError::Setup { detail, .. } => {
                assert!(detail.contains(host), "{detail}");
                assert!(detail.contains("allow_hosts"), "{detail}");
            }
            other => panic!("{}: not refused at setup: {other:?}", ch.id),
        }
        assert_eq!(e.attempts(), 0, "not retried");
        assert!(!e.to_string().contains("SECRET"), "{e}");
    }
    assert!(fake.requests().is_empty(), "nothing reached the receiver");

    // Allowed (the address, or the name), it is sent; without the check
    // at all (the default sender) too.
    checked(&["127.0.0.1"])
        .send(&on_loopback, &page())
        .await
        .expect("allowed address");
    checked(&["localhost", "127.0.0.1", "::1"])
        .send(&by_name, &page())
        .await
        .expect("allowed name");
    sender(1)
        .send(&on_loopback, &page())
        .await
        .expect("unchecked");
    assert_eq!(fake.requests().len(), 3);
}
