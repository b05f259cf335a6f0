//! Nothing Seawall logs or reports about a channel carries its secret,
//! its signature or the credential in its webhook URL: every log line of
//! a send that is refused, throttled, retried and failed over is captured
//! and searched.

use std::io::Write;
use std::sync::{Arc, Mutex};

use seawall_notify::{Provider, SendError, sign};

use crate::common::{Fake, NOW_MS, Reply, SECRET, channel, page, sender};

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
async fn logs_and_errors_carry_no_secret_no_signature_and_no_credential() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let ding = Fake::start(vec![
        Reply::new(503, "busy"),
        Reply::new(200, r#"{"errcode":130101,"errmsg":"send too fast"}"#),
        Reply::new(200, r#"{"errcode":310000,"errmsg":"sign not match"}"#),
    ])
    .await;
    let url = format!("{}/robot/send?access_token=TOKEN_abc123", ding.base);
    let err = sender(3)
        .send(&channel("sre", Provider::DingTalk, &url), &page())
        .await
        .expect_err("refused at last");
    assert!(
        matches!(err, SendError::Refused { attempts: 3, .. }),
        "{err}"
    );
    let lark = Fake::start(vec![Reply::new(500, "oops")]).await;
    let url = format!("{}/open-apis/bot/v2/hook/HOOK_def456", lark.base);
    let err2 = sender(2)
        .send(&channel("war-room", Provider::Lark, &url), &page())
        .await
        .expect_err("unavailable");

    let text = String::from_utf8(logs.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(text.contains("sre"), "nothing was logged: {text}");
    let reported = format!("{text}\n{err}\n{err:?}\n{err2}\n{err2:?}");
    let secrets = [
        SECRET.to_owned(),
        "TOKEN_abc123".to_owned(),
        "HOOK_def456".to_owned(),
        sign::lark_sign(SECRET, NOW_MS / 1000),
        sign::dingtalk_sign(SECRET, NOW_MS),
        sign::dingtalk_sign_encoded(SECRET, NOW_MS),
    ];
    for secret in &secrets {
        assert!(
            !reported.contains(secret.as_str()),
            "{secret} leaked:\n{reported}"
        );
    }
}
