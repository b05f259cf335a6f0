//! Fixtures shared by the modules: channels with the documented test
//! secret and a page with every field.

use seawall_notify::{Channel, Mention, Message, Provider, Secret, Severity, Style};

/// The secret of every vector in `docs/respond.md`.
pub const SECRET: &str = "SEC0123456789abcdef";
/// 2023-11-14T22:13:20Z, the vectors' time, in milliseconds.
pub const NOW_MS: i64 = 1_700_000_000_000;
/// Lark's sign for `SECRET` at 1700000000 s (Python `hmac`, `openssl`).
pub const LARK_SIGN: &str = "PiO7POLlSx/DM2qf8Dy/XCWeJK3exVnevp5G99LEN2M=";
/// DingTalk's URL-encoded sign for `SECRET` at 1700000000000 ms.
pub const DINGTALK_SIGN_ENCODED: &str = "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D";

/// A channel of `provider` at `url`, signed with [`SECRET`].
pub fn channel(id: &str, provider: Provider, url: &str) -> Channel {
    Channel {
        id: id.to_owned(),
        provider,
        url: Secret::new(url),
        secret: Some(Secret::new(SECRET)),
        style: Style::Rich,
    }
}

/// A page with mentions, an ack link and ids.
pub fn page() -> Message {
    Message {
        title: "Checkout p99 over 800 ms".to_owned(),
        text: "checkout p99 is 1.2 s for 3 min".to_owned(),
        severity: Severity::Page,
        mentions: vec![
            Mention::Mobile("13800000000".to_owned()),
            Mention::UserId("ou_abc".to_owned()),
        ],
        ack_url: Some("https://seawall.example/ack/INC-7?sig=x".to_owned()),
        incident_id: Some("INC-7".to_owned()),
        alert_id: Some("checkout-p99".to_owned()),
    }
}
