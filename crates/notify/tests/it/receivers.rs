//! Fake Lark, DingTalk, WeCom, Slack and webhook receivers on real
//! loopback HTTP: each checks method, path, query, content type, JSON shape
//! and the signature exactly as its provider documents it (the vectors of
//! `docs/respond.md`, computed with Python), and answers as the provider
//! does: success, error codes, throttling, 429 with Retry-After, 5xx.

use std::time::Duration;

use seawall_notify::sign::{Signed, verify_webhook};
use seawall_notify::{Provider, SendError};
use serde_json::json;

use crate::common::{
    Captured, DINGTALK_SIGN_ENCODED, Fake, LARK_SIGN, Reply, SECRET, channel, page, sender,
};

fn post_json(r: &Captured) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn lark_bot_gets_a_signed_card() {
    let fake = Fake::start(vec![Reply::new(
        200,
        r#"{"code":0,"msg":"success","data":{}}"#,
    )])
    .await;
    let url = format!("{}/open-apis/bot/v2/hook/HOOK", fake.base);
    let delivery = sender(3)
        .send(&channel("war-room", Provider::Lark, &url), &page())
        .await
        .expect("delivered");
    assert_eq!(delivery.attempts, 1);
    let [r] = fake.requests().try_into().expect("one request");
    post_json(&r);
    assert_eq!(r.path, "/open-apis/bot/v2/hook/HOOK");
    assert_eq!(r.query, None);
    let b = r.json();
    assert_eq!(b["timestamp"], json!("1700000000"));
    assert_eq!(b["sign"], json!(LARK_SIGN));
    assert_eq!(b["msg_type"], json!("interactive"));
    assert!(b["card"]["elements"].is_array());
}

#[tokio::test]
async fn lark_error_code_is_refused_without_retry() {
    let fake = Fake::start(vec![Reply::new(
        200,
        r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
    )])
    .await;
    let url = format!("{}/open-apis/bot/v2/hook/HOOK", fake.base);
    let err = sender(3)
        .send(&channel("war-room", Provider::Lark, &url), &page())
        .await
        .expect_err("refused");
    assert!(
        matches!(err, SendError::Refused { attempts: 1, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("code 19021: sign match fail"),
        "{err}"
    );
    assert!(
        !err.to_string().contains("HOOK"),
        "the hook id leaked: {err}"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn dingtalk_robot_gets_the_signed_query_and_is_retried_when_throttled() {
    let fake = Fake::start(vec![
        Reply::new(
            200,
            r#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#,
        ),
        Reply::new(200, r#"{"errcode":0,"errmsg":"ok"}"#),
    ])
    .await;
    let url = format!("{}/robot/send?access_token=TOKEN", fake.base);
    let delivery = sender(3)
        .send(&channel("sre", Provider::DingTalk, &url), &page())
        .await
        .expect("delivered");
    assert_eq!(delivery.attempts, 2);
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        post_json(r);
        assert_eq!(r.path, "/robot/send");
        assert_eq!(
            r.query.as_deref(),
            Some(
                format!("access_token=TOKEN&timestamp=1700000000000&sign={DINGTALK_SIGN_ENCODED}")
                    .as_str()
            )
        );
        let b = r.json();
        assert_eq!(b["msgtype"], json!("markdown"));
        assert_eq!(b["at"]["atMobiles"], json!(["13800000000"]));
        assert!(
            b["markdown"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("@13800000000"))
        );
    }
}

#[tokio::test]
async fn wecom_robot_throttling_to_the_end_is_an_error() {
    let fake = Fake::start(vec![Reply::new(
        200,
        r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
    )])
    .await;
    let url = format!("{}/cgi-bin/webhook/send?key=KEY", fake.base);
    let err = sender(3)
        .send(&channel("cs", Provider::WeCom, &url), &page())
        .await
        .expect_err("throttled");
    assert!(
        matches!(err, SendError::Throttled { attempts: 3, .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("KEY"), "the key leaked: {err}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    let r = &requests[0];
    post_json(r);
    assert_eq!(r.path, "/cgi-bin/webhook/send");
    assert_eq!(r.query.as_deref(), Some("key=KEY"));
    assert_eq!(
        r.json()["text"]["mentioned_mobile_list"],
        json!(["13800000000"])
    );
}

#[tokio::test]
async fn slack_ok_429_and_channel_not_found() {
    let fake = Fake::start(vec![
        Reply {
            headers: vec![("retry-after", "1")],
            ..Reply::new(429, "rate_limited")
        },
        Reply::new(200, "ok"),
        Reply::new(404, "channel_not_found"),
    ])
    .await;
    let url = format!("{}/services/T000/B000/XXXX", fake.base);
    let ch = channel("slack", Provider::Slack, &url);
    let started = std::time::Instant::now();
    let delivery = sender(3).send(&ch, &page()).await.expect("delivered");
    assert_eq!(delivery.attempts, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    let err = sender(3).send(&ch, &page()).await.expect_err("refused");
    assert!(
        matches!(err, SendError::Refused { attempts: 1, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("HTTP 404 channel_not_found"),
        "{err}"
    );
    assert!(!err.to_string().contains("XXXX"), "{err}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    post_json(&requests[0]);
    assert_eq!(requests[0].path, "/services/T000/B000/XXXX");
    let kinds: Vec<String> = requests[0].json()["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .filter_map(|b| b["type"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(kinds, ["header", "section", "context", "actions"]);
}

#[tokio::test]
async fn webhook_receiver_verifies_the_signature_and_5xx_is_retried() {
    let fake = Fake::start(vec![
        Reply::new(503, "busy"),
        Reply::new(502, "bad gateway"),
        Reply::new(204, ""),
    ])
    .await;
    let url = format!("{}/hooks/seawall", fake.base);
    let delivery = sender(3)
        .send(&channel("hook", Provider::Webhook, &url), &page())
        .await
        .expect("delivered");
    assert_eq!(delivery.attempts, 3);
    for r in fake.requests() {
        post_json(&r);
        assert_eq!(r.path, "/hooks/seawall");
        assert_eq!(r.header("x-seawall-timestamp"), Some("1700000000"));
        // The receiver's own check, with ring directly over the raw body.
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
        let mut signed = b"1700000000.".to_vec();
        signed.extend_from_slice(&r.body);
        let hex: String = ring::hmac::sign(&key, &signed)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            r.header("x-seawall-signature"),
            Some(format!("sha256={hex}").as_str())
        );
        let request = Signed {
            timestamp: r.header("x-seawall-timestamp"),
            signature: r.header("x-seawall-signature"),
            body: &r.body,
        };
        assert_eq!(verify_webhook(SECRET, request, 1_700_000_100), Ok(()));
        assert_eq!(r.json()["severity"], json!("page"));
    }
}

#[tokio::test]
async fn connection_refused_and_timeouts_are_retried_then_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let url = format!("http://{addr}/robot/send?access_token=SECRET_TOKEN");
    let err = sender(2)
        .send(&channel("sre", Provider::DingTalk, &url), &page())
        .await
        .expect_err("nobody listens");
    assert!(
        matches!(err, SendError::Unavailable { attempts: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("cannot connect"), "{err}");
    assert!(!err.to_string().contains("SECRET_TOKEN"), "{err}");

    let slow = Fake::start(vec![Reply {
        delay: Duration::from_secs(3),
        ..Reply::new(200, r#"{"errcode":0}"#)
    }])
    .await;
    let url = format!("{}/cgi-bin/webhook/send?key=KEY", slow.base);
    let err = sender(2)
        .send(&channel("cs", Provider::WeCom, &url), &page())
        .await
        .expect_err("too slow");
    assert!(
        matches!(err, SendError::Unavailable { attempts: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("no answer within"), "{err}");
}

/// A Slack `block_actions` press of the Acknowledge button (form-encoded
/// as Slack sends it) and its signature, computed with Python's `hmac`
/// (`docs/respond.md`).
const SLACK_ACK_BODY: &str = "payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U024BE7LH%22%2C%22username%22%3A%22alice%22%2C%22team_id%22%3A%22T0001%22%7D%2C%22actions%22%3A%5B%7B%22action_id%22%3A%22seawall_ack%22%2C%22block_id%22%3A%22b1%22%2C%22type%22%3A%22button%22%2C%22value%22%3A%22INC-7%22%2C%22action_ts%22%3A%221700000001.000200%22%7D%5D%7D";
const SLACK_ACK_SIGNATURE: &str =
    "v0=23572bbf5751d4db4fdf3d5894697249e35b3a931661ded8a53a1d867dee4146";

fn press<'a>(timestamp: &'a str, signature: &'a str, body: &'a str) -> Signed<'a> {
    Signed {
        timestamp: Some(timestamp),
        signature: Some(signature),
        body: body.as_bytes(),
    }
}

#[test]
fn slack_ack_button_press_is_verified_and_read() {
    use seawall_notify::VerifyError;
    use seawall_notify::slack::{InteractionError, SlackAck, verify_ack};
    let now = 1_700_000_030;
    assert_eq!(
        verify_ack(
            SECRET,
            press("1700000000", SLACK_ACK_SIGNATURE, SLACK_ACK_BODY),
            now
        ),
        Ok(SlackAck {
            incident_id: "INC-7".into(),
            user_id: "U024BE7LH".into(),
            user_name: Some("alice".into()),
        })
    );
    // A replay six minutes later, a tampered body, another secret.
    assert_eq!(
        verify_ack(
            SECRET,
            press("1700000000", SLACK_ACK_SIGNATURE, SLACK_ACK_BODY),
            now + 360
        ),
        Err(InteractionError::Verify(VerifyError::Skew {
            skew_secs: -390
        }))
    );
    let tampered = SLACK_ACK_BODY.replace("INC-7", "INC-8");
    assert_eq!(
        verify_ack(
            SECRET,
            press("1700000000", SLACK_ACK_SIGNATURE, &tampered),
            now
        ),
        Err(InteractionError::Verify(VerifyError::Mismatch))
    );
    assert_eq!(
        verify_ack(
            "other",
            press("1700000000", SLACK_ACK_SIGNATURE, SLACK_ACK_BODY),
            now
        ),
        Err(InteractionError::Verify(VerifyError::Mismatch))
    );
    // Well signed but not an ack, or not a payload at all.
    let other_button = r#"{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"other","value":"x"}]}"#;
    let body = format!("payload={}", other_button.replace('"', "%22"));
    assert_eq!(
        seawall_notify::slack::parse_ack(body.as_bytes()),
        Err(InteractionError::NotAnAck)
    );
    assert!(matches!(
        seawall_notify::slack::parse_ack(b"token=x&text=hi"),
        Err(InteractionError::Malformed(_))
    ));
    assert!(matches!(
        seawall_notify::slack::parse_ack(b"payload=%7Bnot+json"),
        Err(InteractionError::Malformed(_))
    ));
}
