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
