//! Each provider's request for one page, field by field, with the
//! signatures of `docs/respond.md` (computed with Python's `hmac`).

use seawall_notify::render::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use seawall_notify::{Provider, Style, render};
use serde_json::{Value, json};

use crate::common::{DINGTALK_SIGN_ENCODED, LARK_SIGN, NOW_MS, SECRET, channel, page};

fn body(out: &seawall_notify::Outgoing) -> Value {
    serde_json::from_slice(&out.body).expect("JSON body")
}

#[test]
fn lark_card_carries_timestamp_sign_and_mentions() {
    let ch = channel(
        "war-room",
        Provider::Lark,
        "https://open.feishu.cn/open-apis/bot/v2/hook/x",
    );
    let out = render(&ch, &page(), NOW_MS);
    assert_eq!(out.url, "https://open.feishu.cn/open-apis/bot/v2/hook/x");
    let b = body(&out);
    assert_eq!(b["timestamp"], json!("1700000000"));
    assert_eq!(b["sign"], json!(LARK_SIGN));
    assert_eq!(b["msg_type"], json!("interactive"));
    assert_eq!(
        b["card"]["header"]["title"]["content"],
        json!("Checkout p99 over 800 ms")
    );
    assert_eq!(b["card"]["header"]["template"], json!("red"));
    let div = b["card"]["elements"][0]["text"]["content"]
        .as_str()
        .expect("div");
    assert!(div.contains("<at id=ou_abc></at>"), "{div}");
    assert_eq!(
        b["card"]["elements"][1]["elements"][0]["content"],
        json!("PAGE · incident INC-7 · alert checkout-p99")
    );
    assert_eq!(
        b["card"]["elements"][2]["actions"][0]["url"],
        json!("https://seawall.example/ack/INC-7?sig=x")
    );

    let mut text = ch.clone();
    text.style = Style::Text;
    let b = body(&render(&text, &page(), NOW_MS));
    assert_eq!(b["msg_type"], json!("text"));
    let t = b["content"]["text"].as_str().expect("text");
    assert!(t.contains("<at user_id=\"ou_abc\"></at>"), "{t}");
    assert_eq!(b["sign"], json!(LARK_SIGN));
}

#[test]
fn dingtalk_signs_the_query_and_mentions_mobiles_in_text_and_at() {
    let ch = channel(
        "sre",
        Provider::DingTalk,
        "https://oapi.dingtalk.com/robot/send?access_token=T0",
    );
    let out = render(&ch, &page(), NOW_MS);
    assert_eq!(
        out.url,
        format!(
            "https://oapi.dingtalk.com/robot/send?access_token=T0&timestamp=1700000000000&sign={DINGTALK_SIGN_ENCODED}"
        )
    );
    let b = body(&out);
    assert_eq!(b["msgtype"], json!("markdown"));
    assert_eq!(b["markdown"]["title"], json!("Checkout p99 over 800 ms"));
    let text = b["markdown"]["text"].as_str().expect("text");
    assert!(
        text.starts_with("### Checkout p99 over 800 ms\n\n"),
        "{text}"
    );
    assert!(text.contains("@13800000000"), "{text}");
    assert!(
        text.contains("[Acknowledge](https://seawall.example/ack/INC-7?sig=x)"),
        "{text}"
    );
    assert_eq!(
        b["at"],
        json!({"atMobiles": ["13800000000"], "atUserIds": ["ou_abc"], "isAtAll": false})
    );
}

#[test]
fn wecom_uses_text_to_mention_mobiles_and_markdown_otherwise() {
    let ch = channel(
        "cs",
        Provider::WeCom,
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K",
    );
    let out = render(&ch, &page(), NOW_MS);
    assert_eq!(
        out.url,
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K"
    );
    let b = body(&out);
    assert_eq!(b["msgtype"], json!("text"));
    assert_eq!(b["text"]["mentioned_mobile_list"], json!(["13800000000"]));
    assert_eq!(b["text"]["mentioned_list"], json!(["ou_abc"]));
    let mut quiet = page();
    quiet.mentions.clear();
    let b = body(&render(&ch, &quiet, NOW_MS));
    assert_eq!(b["msgtype"], json!("markdown"));
    let content = b["markdown"]["content"].as_str().expect("content");
    assert!(
        content.starts_with("### Checkout p99 over 800 ms\n"),
        "{content}"
    );
    assert!(
        content.contains("<font color=\"warning\">PAGE · incident INC-7"),
        "{content}"
    );
}

#[test]
fn slack_block_kit_has_header_section_context_and_ack_button() {
    let ch = channel(
        "slack",
        Provider::Slack,
        "https://hooks.slack.com/services/T/B/X",
    );
    let mut message = page();
    message.text = "p99 <1.2 s> & rising".to_owned();
    let b = body(&render(&ch, &message, NOW_MS));
    let blocks = b["blocks"].as_array().expect("blocks");
    let kinds: Vec<&str> = blocks.iter().filter_map(|x| x["type"].as_str()).collect();
    assert_eq!(kinds, ["header", "section", "context", "actions"]);
    assert_eq!(
        blocks[0]["text"],
        json!({"type": "plain_text", "text": "Checkout p99 over 800 ms", "emoji": true})
    );
    assert_eq!(
        blocks[1]["text"]["text"],
        json!("p99 &lt;1.2 s&gt; &amp; rising\n<@ou_abc> @13800000000")
    );
    assert_eq!(
        blocks[3]["elements"][0]["url"],
        json!("https://seawall.example/ack/INC-7?sig=x")
    );
    assert_eq!(blocks[3]["elements"][0]["value"], json!("INC-7"));
    assert!(
        b["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("[PAGE] Checkout"))
    );
    let mut no_ack = message.clone();
    no_ack.ack_url = None;
    let b = body(&render(&ch, &no_ack, NOW_MS));
    assert_eq!(b["blocks"].as_array().map(Vec::len), Some(3));
}

#[test]
fn webhook_is_signed_over_timestamp_dot_body() {
    let ch = channel("hook", Provider::Webhook, "https://hooks.example/seawall");
    let out = render(&ch, &page(), NOW_MS);
    let headers: Vec<(&str, &str)> = out.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(headers[0], (TIMESTAMP_HEADER, "1700000000"));
    // Independent check: HMAC-SHA256 over "1700000000." + body, computed
    // here with ring directly rather than through the crate's sign module.
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let mut signed = b"1700000000.".to_vec();
    signed.extend_from_slice(&out.body);
    let tag = ring::hmac::sign(&key, &signed);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        headers[1],
        (SIGNATURE_HEADER, format!("sha256={hex}").as_str())
    );
    let b = body(&out);
    assert_eq!(b["channel"], json!("hook"));
    assert_eq!(b["severity"], json!("page"));
    assert_eq!(
        b["mentions"],
        json!([{"mobile": "13800000000"}, {"user_id": "ou_abc"}])
    );
}
