//! The providers' request signatures, on `ring::hmac` (HMAC-SHA256), and
//! the verifiers for requests coming back (Slack's interactive buttons,
//! Seawall's own signed webhook). Each function is the provider's
//! documented recipe, word for word; the test vectors in `docs/respond.md`
//! were computed with Python's `hmac` and with `openssl`, not with this
//! code. Verifiers take "now" as a parameter: no clock here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use ring::hmac;

/// How far a signed request's timestamp may be from now (Slack's rule,
/// used for Seawall's webhook too): five minutes.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

fn mac(key: &[u8], message: &[u8]) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Lark/Feishu custom bot: base64(HMAC-SHA256(key = `timestamp + "\n" +
/// secret`, message = empty)). `timestamp` is in seconds.
pub fn lark_sign(secret: &str, timestamp_secs: i64) -> String {
    let key = format!("{timestamp_secs}\n{secret}");
    STANDARD.encode(mac(key.as_bytes(), b"").as_ref())
}

/// DingTalk custom robot, before URL encoding: base64(HMAC-SHA256(key =
/// secret, message = `timestamp + "\n" + secret`)). `timestamp` is in
/// milliseconds.
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let message = format!("{timestamp_ms}\n{secret}");
    STANDARD.encode(mac(secret.as_bytes(), message.as_bytes()).as_ref())
}

/// [`dingtalk_sign`] URL-encoded for the query string (`+`, `/`, `=`
/// escaped, as Java's `URLEncoder` in DingTalk's documentation does).
pub fn dingtalk_sign_encoded(secret: &str, timestamp_ms: i64) -> String {
    utf8_percent_encode(&dingtalk_sign(secret, timestamp_ms), NON_ALPHANUMERIC).to_string()
}

/// Slack request signature: `v0=` + hex(HMAC-SHA256(key = signing
/// secret, message = `v0:` + timestamp + `:` + body)).
pub fn slack_signature(secret: &str, timestamp_secs: i64, body: &[u8]) -> String {
    let mut message = format!("v0:{timestamp_secs}:").into_bytes();
    message.extend_from_slice(body);
    format!("v0={}", hex(mac(secret.as_bytes(), &message).as_ref()))
}

/// Seawall's signed webhook: `sha256=` + hex(HMAC-SHA256(key = secret,
/// message = timestamp + `.` + body)), sent as `X-Seawall-Signature` with
/// the timestamp (seconds) in `X-Seawall-Timestamp`.
pub fn webhook_signature(secret: &str, timestamp_secs: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp_secs}.").into_bytes();
    message.extend_from_slice(body);
    format!("sha256={}", hex(mac(secret.as_bytes(), &message).as_ref()))
}

/// HMAC-SHA256 of `message` with `key`, in lower-case hex: the tag of
/// Seawall's signed links (acknowledge, approve) in page messages.
pub fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    hex(mac(key, message).as_ref())
}

/// Whether `tag` (64 hex digits) is [`hmac_hex`]`(key, message)`;
/// compared in constant time.
pub fn verify_hmac_hex(key: &[u8], message: &[u8], tag: &str) -> bool {
    unhex(tag).is_some_and(|tag| {
        hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key), message, &tag).is_ok()
    })
}

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The timestamp header is missing or not a number.
    #[error("the timestamp header is missing or not a whole number of seconds")]
    BadTimestamp,
    /// The timestamp is more than five minutes from now (a replay).
    #[error(
        "the request's timestamp is {skew_secs} s from now (more than 300 s: refused as a replay)"
    )]
    Skew {
        /// Signed distance from now, in seconds.
        skew_secs: i64,
    },
    /// The signature header is missing or malformed.
    #[error("the signature header is missing or not {prefix}<64 hex digits>")]
    BadSignature {
        /// `v0=` or `sha256=`.
        prefix: &'static str,
    },
    /// The signature does not match the body.
    #[error("the signature does not match the body")]
    Mismatch,
}

/// A signed request as received: its timestamp and signature headers (as
/// sent, `None` when absent) and its raw body.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// `X-Slack-Request-Timestamp` / `X-Seawall-Timestamp`.
    pub timestamp: Option<&'a str>,
    /// `X-Slack-Signature` / `X-Seawall-Signature`.
    pub signature: Option<&'a str>,
    /// The raw body, before any parsing.
    pub body: &'a [u8],
}

/// Checks a Slack interactive request against the app's signing secret
/// at `now_secs` (Unix seconds). Constant-time comparison.
pub fn verify_slack(secret: &str, request: Signed<'_>, now_secs: i64) -> Result<(), VerifyError> {
    verify(secret, request, now_secs, "v0=", |ts| format!("v0:{ts}:"))
}

/// Checks a request signed as Seawall's webhook signs
/// ([`webhook_signature`]); receivers do the same in their language.
pub fn verify_webhook(secret: &str, request: Signed<'_>, now_secs: i64) -> Result<(), VerifyError> {
    verify(secret, request, now_secs, "sha256=", |ts| format!("{ts}."))
}

fn verify(
    secret: &str,
    request: Signed<'_>,
    now_secs: i64,
    prefix: &'static str,
    head: impl Fn(i64) -> String,
) -> Result<(), VerifyError> {
    let ts: i64 = request
        .timestamp
        .and_then(|t| t.trim().parse().ok())
        .ok_or(VerifyError::BadTimestamp)?;
    let skew_secs = ts.saturating_sub(now_secs);
    if skew_secs.saturating_abs() > MAX_SKEW_SECS {
        return Err(VerifyError::Skew { skew_secs });
    }
    let tag = request
        .signature
        .and_then(|s| s.trim().strip_prefix(prefix))
        .and_then(unhex)
        .ok_or(VerifyError::BadSignature { prefix })?;
    let mut message = head(ts).into_bytes();
    message.extend_from_slice(request.body);
    hmac::verify(
        &hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
        &message,
        &tag,
    )
    .map_err(|_| VerifyError::Mismatch)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(*pair.get(1)?)?))
        .collect()
}

#[cfg(test)]
mod tests {
    //! Vectors from `docs/respond.md` ("IM channels: payloads and
    //! signatures"), computed with Python's `hmac` and `openssl`.
    use super::*;

    const SECRET: &str = "SEC0123456789abcdef";
    const BODY: &[u8] = br#"{"text":"hello"}"#;

    fn req<'a>(
        timestamp: Option<&'a str>,
        signature: Option<&'a str>,
        body: &'a [u8],
    ) -> Signed<'a> {
        Signed {
            timestamp,
            signature,
            body,
        }
    }

    /// The signed link vector of `docs/respond.md` ("Signed links"):
    /// Python's `hmac` and `openssl dgst -sha256 -hmac` agree.
    #[test]
    fn link_tag_matches_the_documented_vector() {
        let key = b"link-key-for-tests-0123456789abcdef";
        let msg = b"seawall-link-v1:ack.1.7.chen-jie.1790820000";
        let tag = "21f6bb0ac7920b57d5c947221b82b28108d4a4a6480ff7a47f5cf59514775c0d";
        assert_eq!(hmac_hex(key, msg), tag);
        assert!(verify_hmac_hex(key, msg, tag));
        assert!(!verify_hmac_hex(
            key,
            b"seawall-link-v1:ack.1.8.chen-jie.1790820000",
            tag
        ));
        assert!(!verify_hmac_hex(key, msg, &tag[..63]));
        assert!(!verify_hmac_hex(b"another key", msg, tag));
    }

    #[test]
    fn lark_vector() {
        assert_eq!(
            lark_sign(SECRET, 1_700_000_000),
            "PiO7POLlSx/DM2qf8Dy/XCWeJK3exVnevp5G99LEN2M="
        );
    }

    #[test]
    fn dingtalk_vector() {
        assert_eq!(
            dingtalk_sign(SECRET, 1_700_000_000_000),
            "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="
        );
        assert_eq!(
            dingtalk_sign_encoded(SECRET, 1_700_000_000_000),
            "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D"
        );
    }

    #[test]
    fn slack_vectors() {
        assert_eq!(
            slack_signature(SECRET, 1_700_000_000, BODY),
            "v0=59598d217e717c269c10a3db0c20c6294f6f266965672cae9dd297f4364cd66f"
        );
        // Slack's own example ("Verifying requests from Slack").
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(
            slack_signature(secret, 1_531_420_618, body.as_bytes()),
            expected
        );
        let now = 1_531_420_618 + 60;
        assert_eq!(
            verify_slack(
                secret,
                req(Some("1531420618"), Some(expected), body.as_bytes()),
                now
            ),
            Ok(())
        );
    }

    #[test]
    fn webhook_vector() {
        assert_eq!(
            webhook_signature(SECRET, 1_700_000_000, BODY),
            "sha256=cc80252e1fd152c31cbd170757eb0ed901a3a40f71ff6c1cffd75638a3c89ad6"
        );
    }

    #[test]
    fn verifiers_refuse_skew_tampering_and_garbage() {
        let sig = "sha256=cc80252e1fd152c31cbd170757eb0ed901a3a40f71ff6c1cffd75638a3c89ad6";
        let ts = Some("1700000000");
        let ok = |now| verify_webhook(SECRET, req(ts, Some(sig), BODY), now);
        assert_eq!(ok(1_700_000_000 + 300), Ok(()));
        assert_eq!(ok(1_700_000_000 - 300), Ok(()));
        assert_eq!(
            ok(1_700_000_000 + 301),
            Err(VerifyError::Skew { skew_secs: -301 })
        );
        assert_eq!(
            ok(1_700_000_000 - 301),
            Err(VerifyError::Skew { skew_secs: 301 })
        );
        let now = 1_700_000_000;
        assert_eq!(
            verify_webhook(SECRET, req(ts, Some(sig), br#"{"text":"hellO"}"#), now),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify_webhook("other", req(ts, Some(sig), BODY), now),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify_webhook(SECRET, req(None, Some(sig), BODY), now),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            verify_webhook(SECRET, req(Some("12x"), Some(sig), BODY), now),
            Err(VerifyError::BadTimestamp)
        );
        for bad in [
            None,
            Some("cc80"),
            Some("v0=cc80252e1fd152c31cbd170757eb0ed901a3a40f71ff6c1cffd75638a3c89ad6"),
            Some("sha256=zz80252e1fd152c31cbd170757eb0ed901a3a40f71ff6c1cffd75638a3c89ad6"),
        ] {
            assert!(
                matches!(
                    verify_webhook(SECRET, req(ts, bad, BODY), now),
                    Err(VerifyError::BadSignature { .. })
                ),
                "{bad:?}"
            );
        }
        // The Slack verifier wants v0=, not sha256=.
        assert_eq!(
            verify_slack(
                SECRET,
                req(
                    ts,
                    Some("v0=59598d217e717c269c10a3db0c20c6294f6f266965672cae9dd297f4364cd66f"),
                    BODY
                ),
                now
            ),
            Ok(())
        );
        assert!(verify_slack(SECRET, req(ts, Some(sig), BODY), now).is_err());
    }
}
