//! Each provider's answer, read as one [`Verdict`]: delivered, throttled
//! (retry after a while), worth a retry (5xx), or refused (a 4xx or an
//! error code: retrying would get the same answer; the queue falls back
//! to the next channel). Refusal text is the provider's own code and
//! message, clipped: bodies are the provider's, never Seawall's secrets.

use std::time::Duration;

use serde_json::Value;

use crate::render::{Provider, clip};

/// What an answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The provider accepted the message.
    Delivered,
    /// The provider throttles this robot (HTTP 429, DingTalk 130101,
    /// WeCom 45009, Lark 11232); `Retry-After` when given.
    Throttled {
        /// How long the provider asks to wait.
        retry_after: Option<Duration>,
        /// The provider's words.
        detail: String,
    },
    /// A server-side failure (5xx): worth a retry.
    Retry(String),
    /// Refused: bad payload, bad signature, unknown channel.
    Refused(String),
}

/// DingTalk: "send too fast" (over 20 messages a minute).
pub const DINGTALK_THROTTLED: i64 = 130_101;
/// WeCom: "api freq out of limit" (over 20 messages a minute).
pub const WECOM_THROTTLED: i64 = 45_009;
/// Lark: "request trigger frequency limit".
pub const LARK_THROTTLED: i64 = 11_232;

/// Reads an answer: `status`, its `Retry-After` header if any, its body.
pub fn classify(
    provider: Provider,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> Verdict {
    let text = || clip(String::from_utf8_lossy(body).trim(), 300);
    if status == 429 {
        return Verdict::Throttled {
            retry_after: retry_after
                .and_then(|v| v.trim().parse().ok())
                .map(Duration::from_secs),
            detail: format!("HTTP 429 {}", text()),
        };
    }
    if status >= 500 {
        return Verdict::Retry(format!("HTTP {status} {}", text()));
    }
    if !(200..300).contains(&status) {
        return Verdict::Refused(format!("HTTP {status} {}", text()));
    }
    match provider {
        Provider::Slack => {
            if text() == "ok" {
                Verdict::Delivered
            } else {
                Verdict::Refused(format!("HTTP {status} {}", text()))
            }
        }
        Provider::Webhook => Verdict::Delivered,
        Provider::Lark => coded(
            body,
            &["code", "StatusCode"],
            &["msg", "StatusMessage"],
            LARK_THROTTLED,
        ),
        Provider::DingTalk => coded(body, &["errcode"], &["errmsg"], DINGTALK_THROTTLED),
        Provider::WeCom => coded(body, &["errcode"], &["errmsg"], WECOM_THROTTLED),
    }
}

/// `{"<code>": 0, "<msg>": "…"}` answers (Lark, DingTalk, WeCom).
fn coded(body: &[u8], codes: &[&str], messages: &[&str], throttled: i64) -> Verdict {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return Verdict::Refused(format!(
            "answer is not JSON: {}",
            clip(String::from_utf8_lossy(body).trim(), 300)
        ));
    };
    let code = codes
        .iter()
        .find_map(|k| json.get(*k).and_then(Value::as_i64));
    let message = messages
        .iter()
        .find_map(|k| json.get(*k).and_then(Value::as_str))
        .unwrap_or_default();
    match code {
        Some(0) => Verdict::Delivered,
        Some(c) if c == throttled => Verdict::Throttled {
            retry_after: None,
            detail: format!("code {c}: {}", clip(message, 300)),
        },
        Some(c) => Verdict::Refused(format!("code {c}: {}", clip(message, 300))),
        None => Verdict::Refused(format!("answer has no {}", codes.join("/"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_documented() {
        use Provider::*;
        let ok = |p, body: &[u8]| classify(p, 200, None, body);
        assert_eq!(
            ok(Lark, br#"{"code":0,"msg":"success","data":{}}"#),
            Verdict::Delivered
        );
        assert_eq!(
            ok(Lark, br#"{"StatusCode":0,"StatusMessage":"success"}"#),
            Verdict::Delivered
        );
        assert_eq!(
            ok(Lark, br#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#),
            Verdict::Refused("code 19021: sign match fail or timestamp is not within one hour from current time".into())
        );
        assert_eq!(
            ok(DingTalk, br#"{"errcode":0,"errmsg":"ok"}"#),
            Verdict::Delivered
        );
        assert!(matches!(
            ok(
                DingTalk,
                br#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#
            ),
            Verdict::Throttled {
                retry_after: None,
                ..
            }
        ));
        assert_eq!(
            ok(DingTalk, br#"{"errcode":310000,"errmsg":"sign not match"}"#),
            Verdict::Refused("code 310000: sign not match".into())
        );
        assert_eq!(
            ok(WeCom, br#"{"errcode":0,"errmsg":"ok"}"#),
            Verdict::Delivered
        );
        assert!(matches!(
            ok(
                WeCom,
                br#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
            ),
            Verdict::Throttled { .. }
        ));
        assert_eq!(ok(Slack, b"ok"), Verdict::Delivered);
        assert_eq!(
            classify(Slack, 400, None, b"invalid_payload"),
            Verdict::Refused("HTTP 400 invalid_payload".into())
        );
        assert_eq!(
            classify(Slack, 404, None, b"channel_not_found"),
            Verdict::Refused("HTTP 404 channel_not_found".into())
        );
        assert_eq!(
            classify(Slack, 429, Some("30"), b"rate_limited"),
            Verdict::Throttled {
                retry_after: Some(Duration::from_secs(30)),
                detail: "HTTP 429 rate_limited".into()
            }
        );
        assert_eq!(classify(Webhook, 204, None, b""), Verdict::Delivered);
        assert_eq!(
            classify(Webhook, 503, None, b"busy"),
            Verdict::Retry("HTTP 503 busy".into())
        );
        assert!(matches!(ok(WeCom, b"<html>"), Verdict::Refused(_)));
    }
}
